// Issue 9, item 3: `portcullis token verify` and the gateway run one verification
// (`jose::verify::jwt_verify`), so the CLI refuses what the gateway in workerd refuses, with the same
// code. These are the cases where the CLI used to differ: header safety of `sub`/`jti`, the per-token
// key limit, and an unknown issuer checked before the algorithm allowlist. Real wasm, a real JWKS
// server on 127.0.0.1, the real CLI binary with the JWKS that server publishes.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { makeKey } from "../support/servers.mjs";
import { cliPath } from "../support/seed.mjs";

const AUD = "https://api.portcullis.test";
const ALGS = ["RS256", "ES256"];
const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

describe("the CLI and the gateway refuse the same tokens with the same code", () => {
  let origin, issuer, foreign, gw, dir, jwksFile, realKey;

  before(async () => {
    origin = await startEchoOrigin();
    // Four decoy ES256 keys under one kid, then the key that signs: past the per-token limit of 4.
    const keys = [await makeKey("RS256"), await makeKey("ES256", "es-main")];
    for (let i = 0; i < 4; i++) keys.push(await makeKey("ES256", "shared"));
    realKey = await makeKey("ES256", "shared");
    keys.push(realKey);
    issuer = await startIssuer({ keys });
    foreign = await startIssuer({ algs: ["PS256"] });
    gw = await startGateway(baseConfig({ origin: origin.url, issuer, algorithms: ALGS }));
    dir = mkdtempSync(path.join(tmpdir(), "portcullis-parity-"));
    jwksFile = path.join(dir, "jwks.json");
    writeFileSync(jwksFile, await (await fetch(issuer.jwksUri)).text());
  });
  after(async () => {
    await gw?.dispose();
    await origin?.close();
    await issuer?.close();
    await foreign?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** `portcullis token verify` with the gateway's issuer settings; the token on stdin. */
  function cli(token) {
    const r = spawnSync(
      cliPath(),
      ["token", "verify", "-", "--jwks", jwksFile, "--issuer", issuer.url, "--audience", AUD, "--alg", ALGS.join(",")],
      { input: token, encoding: "utf8", timeout: 30_000 },
    );
    return r;
  }

  async function expectBoth(token, code, why) {
    const p = await problemOf(await gw.fetch("/api/items", bearer(token)));
    assert.equal(p.status, 401, `${why}: gateway ${JSON.stringify(p.body)}`);
    assert.equal(p.code, code, `${why}: gateway`);
    const r = cli(token);
    assert.equal(r.status, 6, `${why}: cli exit ${r.status}, stdout ${r.stdout}, stderr ${r.stderr}`);
    assert.ok(r.stderr.startsWith(`error: ${code}: `), `${why}: cli ${r.stderr}`);
    assert.ok(!r.stderr.includes(token) && !r.stdout.includes(token), `${why}: the token is never printed`);
  }

  test("control: a valid token passes both", async () => {
    const token = await issuer.mint({ alg: "ES256" });
    assert.equal((await gw.fetch("/api/items", bearer(token))).status, 200);
    const r = cli(token);
    assert.equal(r.status, 0, r.stderr);
  });

  test("sub or jti that cannot be an origin header value: token_claim_invalid in both", async () => {
    for (const claims of [{ sub: "alic\u00e9" }, { sub: " alice" }, { jti: "j1\r\nx-user-id: admin" }]) {
      await expectBoth(await issuer.mint({ alg: "ES256", claims }), "token_claim_invalid", JSON.stringify(claims));
    }
  });

  test("the signing key is the fifth with its kid: token_signature_invalid in both", async () => {
    await expectBoth(await issuer.mint({ key: realKey }), "token_signature_invalid", "key limit");
  });

  test("an unknown issuer with an algorithm not allowed here: token_issuer_unknown in both", async () => {
    await expectBoth(await foreign.mint({ alg: "PS256" }), "token_issuer_unknown", "unknown issuer first");
  });
});
