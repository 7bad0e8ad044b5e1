// Issue 9 review: `portcullis token verify` and the gateway in workerd run one verification
// (`jose::verify::jwt_verify`). jwt-verify-parity covers the cases where they used to differ; this
// file walks the rest of the refusal codes a bearer token can get — each check of the verification
// in its order — and asserts that both refuse with the same code. Real wasm, a real JWKS server on
// 127.0.0.1, the real CLI binary with the JWKS that server publishes.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { cliPath } from "../support/seed.mjs";

const AUD = "https://api.portcullis.test";
// The issuer publishes RS256 and ES256 keys; the gateway (and the CLI) accept ES256 only.
const ACCEPTED = ["ES256"];
const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });
const b64u = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/**
 * A gateway in workerd in front of an echo origin, trusting one issuer that accepts `accepted`,
 * and `cli(token, extra)`: `portcullis token verify` with the same issuer settings and the JWKS
 * that issuer publishes (the token on stdin). `tweak(issuer)` runs before the JWKS is read.
 */
async function startParity({ algs, accepted, config = {}, tweak = () => {} }) {
  const origin = await startEchoOrigin();
  const issuer = await startIssuer({ algs });
  tweak(issuer);
  const gw = await startGateway({ ...baseConfig({ origin: origin.url, issuer, algorithms: accepted }), ...config });
  const dir = mkdtempSync(path.join(tmpdir(), "portcullis-parity-"));
  const jwksFile = path.join(dir, "jwks.json");
  writeFileSync(jwksFile, await (await fetch(issuer.jwksUri)).text());
  const cli = (token, extra = []) =>
    spawnSync(
      cliPath(),
      ["token", "verify", "-", "--jwks", jwksFile, "--issuer", issuer.url, "--audience", AUD, "--alg", accepted.join(","), ...extra],
      { input: token, encoding: "utf8", timeout: 30_000 },
    );
  const dispose = async () => {
    await gw.dispose();
    await origin.close();
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { issuer, gw, cli, dispose };
}

describe("every bearer-token refusal: the same code from the CLI and the gateway", () => {
  let env, issuer, gw, cli;

  before(async () => {
    env = await startParity({ algs: ["RS256", "ES256"], accepted: ACCEPTED });
    ({ issuer, gw, cli } = env);
  });
  after(() => env?.dispose());

  async function expectBoth(token, code, why) {
    const p = await problemOf(await gw.fetch("/api/items", bearer(token)));
    assert.equal(p.status, 401, `${why}: gateway ${JSON.stringify(p.body)}`);
    assert.equal(p.code, code, `${why}: gateway`);
    assert.match(p.headers.get("www-authenticate") ?? "", /error="invalid_token"/, `${why}: challenge`);
    const r = cli(token);
    assert.equal(r.status, 6, `${why}: cli exit ${r.status}, stdout ${r.stdout}, stderr ${r.stderr}`);
    assert.ok(r.stderr.startsWith(`error: ${code}: `), `${why}: cli ${r.stderr}`);
    assert.ok(!r.stderr.includes(token) && !r.stdout.includes(token), `${why}: the token is never printed`);
  }

  const now = () => Math.floor(Date.now() / 1000);

  test("control: a valid ES256 token passes both", async () => {
    const token = await issuer.mint({ alg: "ES256" });
    assert.equal((await gw.fetch("/api/items", bearer(token))).status, 200);
    assert.equal(cli(token).status, 0);
  });

  test("compact-JWS shape: token_malformed", async () => {
    await expectBoth("abc.def", "token_malformed", "two segments");
    await expectBoth("a.b.c.d.e", "token_malformed", "five segments (JWE)");
    const good = await issuer.mint({ alg: "ES256" });
    const [, p, s] = good.split(".");
    await expectBoth(`${b64u("not json")}.${p}.${s}`, "token_malformed", "header not JSON");
    await expectBoth(`${b64u({ alg: "ES256", alg2: 1, typ: "at+jwt" }).slice(0, -1)}!.${p}.${s}`, "token_malformed", "header not base64url");
  });

  test("over the default size cap (8192 bytes, the CLI's and this gateway's): token_too_large", async () => {
    const [h, p, s] = (await issuer.mint({ alg: "ES256" })).split(".");
    await expectBoth(`${h}.${p}${"A".repeat(8192)}.${s}`, "token_too_large", "8 KiB of payload");
  });

  test("header: alg none and HS256 are token_algorithm_refused before the issuer is looked at", async () => {
    const good = await issuer.mint({ alg: "ES256" });
    const [, p] = good.split(".");
    await expectBoth(`${b64u({ alg: "none", typ: "at+jwt" })}.${p}.`, "token_algorithm_refused", "alg none, empty signature");
    await expectBoth(`${b64u({ alg: "HS256", typ: "at+jwt" })}.${p}.${b64u("x".repeat(32))}`, "token_algorithm_refused", "HS256");
  });

  test("crit: token_crit_unsupported (checked on the header, before the signature)", async () => {
    const [, p, s] = (await issuer.mint({ alg: "ES256" })).split(".");
    const header = { alg: "ES256", typ: "at+jwt", crit: ["x-portcullis-test"], "x-portcullis-test": 1 };
    await expectBoth(`${b64u(header)}.${p}.${s}`, "token_crit_unsupported", "crit");
  });

  test("an algorithm the issuer is not configured for: token_algorithm_refused", async () => {
    await expectBoth(await issuer.mint({ alg: "RS256" }), "token_algorithm_refused", "RS256 not accepted");
  });

  test("a kid the JWKS does not publish: token_key_unknown", async () => {
    await expectBoth(await issuer.mint({ alg: "ES256", header: { kid: "no-such-kid" } }), "token_key_unknown", "kid");
  });

  test("a signature that does not verify: token_signature_invalid", async () => {
    const [h, p, s] = (await issuer.mint({ alg: "ES256" })).split(".");
    const sig = Buffer.from(s, "base64url");
    sig[5] ^= 0x01;
    await expectBoth(`${h}.${p}.${sig.toString("base64url")}`, "token_signature_invalid", "flipped bit");
  });

  test("claims in the gateway's order: each refusal with its own code", async () => {
    const t = now();
    const cases = [
      [{ claims: { aud: "https://other.example" } }, "token_audience_mismatch", "aud"],
      [{ ttl: -120 }, "token_expired", "exp 120 s ago"],
      [{ claims: { nbf: t + 600 } }, "token_not_yet_valid", "nbf in 10 min"],
      [{ claims: { iat: t + 600, exp: t + 900 } }, "token_issued_in_future", "iat in 10 min"],
      [{ claims: { sub: undefined } }, "token_claim_missing", "no sub"],
      [{ claims: { exp: "soon" } }, "token_claim_invalid", "exp a string"],
      [{ header: { typ: "JWT+foo" } }, "token_type_invalid", "typ"],
      [{ ttl: 3 * 86_400 }, "token_lifetime_too_long", "three days"],
    ];
    for (const [opts, code, why] of cases) {
      await expectBoth(await issuer.mint({ alg: "ES256", ...opts }), code, why);
    }
  });
});

describe("the token-size cap: the CLI takes the gateway's max_token_bytes", () => {
  let env, issuer, gw, cli;

  before(async () => {
    env = await startParity({ algs: ["ES256"], accepted: ["ES256"], config: { max_token_bytes: 12_288 } });
    ({ issuer, gw, cli } = env);
  });
  after(() => env?.dispose());

  test("a 10 KB token: accepted by a gateway capped at 12288 bytes, and by the CLI given that cap", async () => {
    const token = await issuer.mint({ alg: "ES256", claims: { pad: "x".repeat(7_000) } });
    assert.ok(token.length > 8192 && token.length <= 12_288, `token of ${token.length} bytes`);
    assert.equal((await gw.fetch("/api/items", bearer(token))).status, 200);
    const withCap = cli(token, ["--max-token-bytes", "12288"]);
    assert.equal(withCap.status, 0, withCap.stderr);
    // Without it, the CLI applies the default cap, 8192 bytes.
    const byDefault = cli(token);
    assert.equal(byDefault.status, 6, byDefault.stderr);
    assert.ok(byDefault.stderr.startsWith("error: token_too_large: "), byDefault.stderr);
  });

  test("over the gateway's cap: token_too_large in both", async () => {
    const token = await issuer.mint({ alg: "ES256", claims: { pad: "x".repeat(9_500) } });
    assert.ok(token.length > 12_288, `token of ${token.length} bytes`);
    const p = await problemOf(await gw.fetch("/api/items", bearer(token)));
    assert.deepEqual([p.status, p.code], [401, "token_too_large"]);
    const r = cli(token, ["--max-token-bytes", "12288"]);
    assert.equal(r.status, 6, r.stderr);
    assert.ok(r.stderr.startsWith("error: token_too_large: "), r.stderr);
  });

  test("the CLI refuses a cap the gateway's config would refuse", () => {
    for (const cap of ["511", "65537"]) {
      const r = cli("x.y.z", ["--max-token-bytes", cap]);
      assert.equal(r.status, 2, `${cap}: exit ${r.status} ${r.stderr}`);
      assert.match(r.stderr, /--max-token-bytes must be between 512 and 65536/, cap);
    }
  });
});

describe("a published key the runtime cannot import: the CLI and the gateway agree", () => {
  let env, issuer, gw, cli;

  before(async () => {
    // An ES256 key whose point is off the curve: parse_jwk takes it (the curve check belongs to
    // the import), WebCrypto's importKey refuses it.
    const offCurve = (iss) => {
      const good = iss.state.keys[0].publicJwk;
      const y = Buffer.from(good.y, "base64url");
      y[31] ^= 0x01;
      iss.state.extraKeys.push({ ...good, kid: "off-curve", y: y.toString("base64url") });
    };
    env = await startParity({ algs: ["ES256"], accepted: ["ES256"], tweak: offCurve });
    ({ issuer, gw, cli } = env);
  });
  after(() => env?.dispose());

  test("a token naming the off-curve key: token_key_unknown in both", async () => {
    const token = await issuer.mint({ alg: "ES256", header: { kid: "off-curve" } });
    const p = await problemOf(await gw.fetch("/api/items", bearer(token)));
    assert.deepEqual([p.status, p.code], [401, "token_key_unknown"], JSON.stringify(p.body));
    assert.ok(gw.logs.some((l) => l.includes('"event":"jwk_import_failed"') && l.includes('"kid":"off-curve"')));
    const r = cli(token);
    assert.equal(r.status, 6, r.stderr);
    assert.ok(r.stderr.startsWith("error: token_key_unknown: "), r.stderr);
  });
});
