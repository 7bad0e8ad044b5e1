// End-to-end in workerd for issue 8: the lifetime cap (`max_token_lifetime_seconds`), RFC 9864's
// `Ed25519` algorithm name, and the audit line of admin calls refused before the admin API
// (401/403 on the admin prefix). Real wasm, real KV, a real JWKS server and echo origin on 127.0.0.1.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT, generateKeyPair, exportJWK } from "jose";

import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const AUD = "https://api.portcullis.test";
const nowSecs = () => Math.floor(Date.now() / 1000);
const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

/** The JSON log lines of a gateway (workerd prefixes nothing, but be lenient). */
function jsonLines(logs) {
  return logs
    .map((l) => {
      try {
        return JSON.parse(l.slice(l.indexOf("{")));
      } catch {
        return null;
      }
    })
    .filter(Boolean);
}

async function eventually(cond, ms = 2000) {
  for (let waited = 0; waited < ms && !cond(); waited += 50) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

describe("token lifetime cap and the Ed25519 name (RFC 9864)", () => {
  let origin, issuer, edKey, gw, gwEdDSAOnly;

  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer({ algs: ["RS256"] });
    // An Ed25519 key published with the fully-specified alg name.
    const { publicKey, privateKey } = await generateKeyPair("Ed25519", { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: "ed-9864", alg: "Ed25519", use: "sig" };
    edKey = { alg: "Ed25519", kid: jwk.kid, publicJwk: jwk, privateKey };
    issuer.state.keys.push(edKey);
    gw = await startGateway(
      baseConfig({
        origin: origin.url,
        issuer,
        algorithms: ["RS256", "Ed25519"],
        issuerExtra: { max_token_lifetime_seconds: 3600 },
      }),
    );
    // The default cap (24 h) and no `Ed25519` in the allowlist (and a configuration the gateway
    // accepted before issue 8, so the tests below show the old behaviour, not a config error).
    gwEdDSAOnly = await startGateway(baseConfig({ origin: origin.url, issuer, algorithms: ["RS256", "EdDSA"] }));
  });
  after(async () => {
    await gw?.dispose();
    await gwEdDSAOnly?.dispose();
    await origin?.close();
    await issuer?.close();
  });

  /** A token signed with the Ed25519 key under header alg `alg`. */
  const edToken = (alg, claims = {}) =>
    new SignJWT({ iss: issuer.url, sub: "ed-user", aud: AUD, iat: nowSecs(), exp: nowSecs() + 300, scope: "read:echo", ...claims })
      .setProtectedHeader({ alg, kid: edKey.kid, typ: "at+jwt" })
      .sign(edKey.privateKey);

  test("exp far in the future (1e30) is refused with token_lifetime_too_long, not accepted as never", async () => {
    // jose refuses to put 1e30 in `exp` itself: sign the payload by hand.
    const { privateKey } = issuer.keyFor("RS256");
    // One clock reading for `iat` and `exp` alike: read twice, a second boundary in between made
    // "a day and a second" exactly a day (admitted).
    const t = nowSecs();
    for (const [gateway, claims, why] of [
      [gwEdDSAOnly, { exp: 1e30 }, "exp 1e30 under the default cap"],
      [gwEdDSAOnly, { exp: t + 86_401 }, "a day and a second under the default cap"],
      [gw, { exp: 1e30 }, "exp 1e30"],
      [gw, { exp: t + 3601, iat: t }, "one second over the cap"],
      [gw, { exp: t + 7200, iat: undefined }, "no iat: exp - now over the cap"],
    ]) {
      const body = { iss: issuer.url, sub: "u", aud: AUD, iat: t, scope: "read:echo", ...claims };
      for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
      const token = await new SignJWT(body)
        .setProtectedHeader({ alg: "RS256", kid: issuer.keyFor("RS256").kid, typ: "at+jwt" })
        .sign(privateKey);
      const res = await gateway.fetch("/api/x", bearer(token));
      const p = await problemOf(res);
      assert.equal(p.status, 401, `${why}: ${JSON.stringify(p.body)}`);
      assert.equal(p.code, "token_lifetime_too_long", why);
      assert.match(res.headers.get("www-authenticate"), /error="invalid_token"/);
    }
    // Exactly at the cap is admitted.
    const ok = await issuer.mint({ claims: { iat: nowSecs(), exp: nowSecs() + 3600 } });
    assert.equal((await gw.fetch("/api/x", bearer(ok))).status, 200);
  });

  test("a token signed under alg Ed25519 verifies through WebCrypto; EdDSA-only issuers refuse the name", async () => {
    const before = origin.requests.length;
    const res = await gw.fetch("/api/x", bearer(await edToken("Ed25519")));
    assert.equal(res.status, 200, await res.clone().text());
    const seen = await res.json();
    assert.equal(seen.headers["x-user-id"], "ed-user");
    assert.equal(origin.requests.length, before + 1);

    // A tampered Ed25519 signature is refused.
    const t = await edToken("Ed25519");
    const tampered = t.slice(0, -4) + (t.endsWith("AAAA") ? "BBBB" : "AAAA");
    assert.equal((await problemOf(await gw.fetch("/api/x", bearer(tampered)))).code, "token_signature_invalid");

    // `algorithms` is matched by exact name: an issuer listing only EdDSA refuses "Ed25519" …
    const refused = await problemOf(await gwEdDSAOnly.fetch("/api/x", bearer(await edToken("Ed25519"))));
    assert.equal(refused.status, 401);
    assert.equal(refused.code, "token_algorithm_refused");
    // … and still accepts EdDSA tokens, here verified with the key published as alg "Ed25519"
    // (one operation on an Ed25519 key).
    assert.equal((await gwEdDSAOnly.fetch("/api/x", bearer(await edToken("EdDSA")))).status, 200);
  });
});

/** The CLI binary, as in api-keys.test.mjs: $PORTCULLIS_CLI, or target/debug/portcullis. */
function cliPath() {
  if (process.env.PORTCULLIS_CLI) return process.env.PORTCULLIS_CLI;
  const bin = path.join(ROOT, "target", "debug", "portcullis");
  if (!existsSync(bin)) execFileSync("cargo", ["build", "--quiet", "-p", "portcullis-cli"], { cwd: ROOT, stdio: "inherit" });
  return bin;
}

describe("admin calls refused before the admin API are audited", () => {
  let origin, issuer, gw, adminKey, plainKey, plainKeyId, strangerKey;

  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer({ algs: ["RS256"] });
    gw = await startGateway(
      baseConfig({
        origin: origin.url,
        issuer,
        extra: { api_keys: { prefix: "pc_test", accepted_prefixes: ["pc_test"] }, admin: { enabled: true } },
      }),
    );
    const seedKey = (clientId) => {
      const r = spawnSync(cliPath(), ["keys", "seed", "--json", "--prefix", "pc_test", "--client-id", clientId, "--scopes", "portcullis:admin"], {
        encoding: "utf8",
        timeout: 30_000,
      });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const seed = seedKey("ops");
    adminKey = seed.key;
    strangerKey = seedKey("stranger").key; // well-formed, never stored: unknown to the gateway
    const kv = await gw.mf.getKVNamespace("PORTCULLIS_KV");
    for (const e of seed.kv) await kv.put(e.key, e.value);
    const created = await gw.fetch("/admin/keys", {
      method: "POST",
      headers: { "x-api-key": adminKey, "content-type": "application/json" },
      body: JSON.stringify({ client_id: "billing", scopes: ["read:echo"] }),
    });
    assert.equal(created.status, 201);
    const body = await created.json();
    plainKey = body.key;
    plainKeyId = body.record.key_id;
  });
  after(async () => {
    await gw?.dispose();
    await origin?.close();
    await issuer?.close();
  });

  const audits = () => jsonLines(gw.logs).filter((l) => l.audit);

  test("a non-admin key calling /admin/keys: 403 and an audit line naming actor and path, never the key", async () => {
    const res = await gw.fetch("/admin/keys?limit=5", { headers: { "x-api-key": plainKey } });
    const p = await problemOf(res);
    assert.equal(p.status, 403);
    assert.equal(p.code, "insufficient_scope");
    assert.ok(await eventually(() => audits().some((a) => a.audit === "admin.forbidden")), "audited");
    const line = audits().find((a) => a.audit === "admin.forbidden");
    assert.deepEqual(
      { ...line, ts: 0 },
      {
        audit: "admin.forbidden",
        ts: 0,
        actor: "billing",
        actor_method: "api_key",
        actor_key_id: plainKeyId,
        outcome: "refused",
        status: 403,
        code: "insufficient_scope",
        method: "GET",
        path: "/admin/keys",
      },
    );
    await gw.settleLogs();
    const text = gw.logs.join("\n");
    assert.ok(!text.includes(plainKey) && !text.includes(adminKey), "a key reached the log");
  });

  test("a JWT without the admin scope is audited with its issuer; failed authentication as admin.unauthenticated", async () => {
    const token = await issuer.mint({ claims: { sub: "mallory", scope: "read:echo" } });
    assert.equal((await gw.fetch("/admin/keys/key_0000000000000000/revoke", { method: "POST", ...bearer(token) })).status, 403);
    const unknownKey = strangerKey;
    assert.equal((await gw.fetch("/admin/keys", { headers: { "x-api-key": unknownKey } })).status, 401);
    assert.equal((await gw.fetch("/admin/keys")).status, 401);
    assert.ok(await eventually(() => audits().filter((a) => a.audit === "admin.unauthenticated").length >= 2));
    const jwt = audits().find((a) => a.audit === "admin.forbidden" && a.actor === "mallory");
    assert.equal(jwt.actor_method, "jwt");
    assert.equal(jwt.actor_issuer, issuer.url);
    assert.equal(jwt.path, "/admin/keys/key_0000000000000000/revoke");
    assert.equal(jwt.method, "POST");
    const unauth = audits().filter((a) => a.audit === "admin.unauthenticated");
    assert.deepEqual(
      unauth.map((a) => [a.actor, a.status, a.code, a.path]),
      [
        [null, 401, "api_key_invalid", "/admin/keys"],
        [null, 401, "credentials_missing", "/admin/keys"],
      ],
    );
    await gw.settleLogs();
    assert.ok(!gw.logs.join("\n").includes(unknownKey), "the presented key reached the log");
    assert.ok(!gw.logs.join("\n").includes(token), "the presented token reached the log");
    // Calls the admin API serves are audited once, as before (not twice).
    const before = audits().length;
    assert.equal((await gw.fetch("/admin/keys", { headers: { "x-api-key": adminKey } })).status, 200);
    assert.ok(await eventually(() => audits().length === before + 1));
    await gw.settleLogs();
    assert.equal(audits().length, before + 1);
    assert.equal(audits().at(-1).audit, "api_key.list");
  });
});
