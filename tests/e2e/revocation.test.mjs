// End-to-end: revocation in workerd with the real Durable Object. Two gateway isolates share the
// revocation object (tests/support/isolates.mjs): isolate A serves the admin calls, isolate B is a
// warm isolate elsewhere that only learns of a revocation through its snapshot refresh. A proxy in
// front of the object can be switched off to inject an outage.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";

const REFRESH_MS = 200;
const MAX_STALENESS_MS = 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowSecs = () => Math.floor(Date.now() / 1000);

let origin, issuer, env, A, B, adminToken;

function config() {
  const cfg = baseConfig({
    origin: origin.url,
    issuer,
    issuerExtra: { leeway_seconds: 0, max_token_lifetime_seconds: 3600 },
    extra: {
      revocation: { refresh_interval_ms: REFRESH_MS, max_staleness_ms: MAX_STALENESS_MS },
      admin: { enabled: true },
      api_keys: {},
    },
  });
  cfg.routes.push(
    { name: "strict", methods: ["GET"], path: "/strict/*", auth: ["jwt", "api_key"], scopes: ["read:echo"], revocation: "strict" },
    { name: "machine", methods: ["GET"], path: "/machine/*", auth: ["api_key"], scopes: ["read:echo"] },
  );
  return cfg;
}

const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

async function status(iso, path, init) {
  const res = await iso.fetch(path, init);
  const p = await problemOf(res);
  return { status: res.status, code: p.code, headers: res.headers, body: p.body };
}

async function admin(method, path, body) {
  const init = { method, headers: { authorization: `Bearer ${adminToken}` } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const res = await A.fetch(`/admin${path}`, init);
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers };
}

/** workerd's log stream is delivered asynchronously: waits up to 2 s for `cond`. */
async function eventually(cond) {
  for (let i = 0; i < 40 && !cond(); i++) await sleep(50);
  return cond();
}

/** Polls `iso` with `init` every 10 ms until `path` answers 401; returns ms from `since` to the start of that request. */
async function msUntilRefused(iso, path, init, since, limitMs) {
  for (;;) {
    const started = Date.now();
    const r = await status(iso, path, init);
    if (r.status === 401) {
      assert.equal(r.code === "token_revoked" || r.code === "api_key_revoked", true, JSON.stringify(r.body));
      return started - since;
    }
    assert.equal(r.status, 200, JSON.stringify(r.body));
    if (started - since > limitMs + 2000) throw new Error(`still admitted ${started - since} ms after the revocation`);
    await sleep(10);
  }
}

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  env = await startIsolates(config(), { count: 2, flakyRevocation: true });
  [A, B] = env.isolates;
  adminToken = await issuer.mint({ alg: "ES256", claims: { sub: "ops", scope: "portcullis:admin" }, ttl: 3600 });
});

after(async () => {
  await env?.dispose();
  await origin?.close();
  await issuer?.close();
});

describe("revoking a token id", () => {
  test("refused at once on a strict route and by the revoking isolate, and by a warm isolate within max_staleness_ms — verified-token cache hits included", async (t) => {
    const token = await issuer.mint({ alg: "ES256", claims: { jti: "jti-propagation" } });
    // Both isolates have verified (and cached) the token and hold a fresh snapshot.
    assert.equal((await status(A, "/api/x", bearer(token))).status, 200);
    assert.equal((await status(B, "/api/x", bearer(token))).status, 200);
    assert.equal((await status(B, "/api/x", bearer(token))).status, 200);

    const exp = nowSecs() + 300;
    const revoked = await admin("POST", "/revocations/tokens", { jti: "jti-propagation", exp });
    assert.equal(revoked.status, 201);
    assert.deepEqual(revoked.json.entry, { jti: "jti-propagation", until: exp, v: revoked.json.version });
    const at = Date.now();

    const strict = await status(B, "/strict/x", bearer(token));
    assert.equal(strict.status, 401);
    assert.equal(strict.code, "token_revoked");
    assert.match(strict.headers.get("www-authenticate"), /^Bearer realm="test", error="invalid_token"/);
    assert.equal((await status(A, "/api/x", bearer(token))).code, "token_revoked");

    const ms = await msUntilRefused(B, "/api/x", bearer(token), at, MAX_STALENESS_MS);
    t.diagnostic(`warm isolate refused the revoked jti ${ms} ms after the revocation (refresh ${REFRESH_MS} ms, bound ${MAX_STALENESS_MS} ms)`);
    assert.ok(ms <= MAX_STALENESS_MS, `${ms} ms`);
    // The bound is a guarantee: past it no isolate can decide from a snapshot older than the
    // revocation, and the refusal stays.
    await sleep(Math.max(0, at + MAX_STALENESS_MS - Date.now()));
    for (const iso of [A, B]) {
      assert.equal((await status(iso, "/api/x", bearer(token))).code, "token_revoked");
    }
    // Another token of the same subject is not affected.
    const other = await issuer.mint({ alg: "ES256", claims: { jti: "jti-other" } });
    assert.equal((await status(B, "/api/x", bearer(other))).status, 200);
  });

  test("an issuer-scoped revocation refuses only that issuer's jti; entries end at the token's exp", async () => {
    const exp = nowSecs() + 2;
    const token = await issuer.mint({ alg: "ES256", claims: { jti: "jti-short", exp } });
    const r = await admin("POST", "/revocations/tokens", { jti: "jti-short", exp, iss: issuer.url });
    assert.equal(r.status, 201);
    assert.equal(r.json.entry.iss, issuer.url);
    assert.equal((await status(A, "/strict/x", bearer(token))).code, "token_revoked");
    const listed = await admin("GET", "/revocations");
    assert.equal(listed.status, 200);
    assert.ok(listed.json.tokens.some((e) => e.jti === "jti-short"));
    const before = await (await env.revocation("/stats")).json();
    assert.ok(before.entries >= 2);

    // After exp (leeway 0) the token is refused as expired anyway, and the entry is gone: from the
    // list at once, from the object's storage when its alarm fires.
    await sleep(Math.max(0, exp * 1000 - Date.now()) + 100);
    assert.equal((await status(A, "/strict/x", bearer(token))).code, "token_expired");
    const after = await admin("GET", "/revocations");
    assert.equal(after.json.tokens.some((e) => e.jti === "jti-short"), false);
    let stats;
    for (let i = 0; i < 40; i++) {
      stats = await (await env.revocation("/stats")).json();
      if (stats.entries === before.entries - 1) break;
      await sleep(50);
    }
    assert.equal(stats.entries, before.entries - 1, "the expired entry left the object's storage");
  });

  test("a revocation of an expired token, an unknown issuer or a malformed body is refused with its reason", async () => {
    const cases = [
      [{ jti: "x", exp: nowSecs() - 1 }, /expired/],
      [{ jti: "x", exp: nowSecs() + 60, iss: "https://not-trusted.example" }, /iss/],
      [{ jti: "", exp: nowSecs() + 60 }, /jti/],
      [{ jti: "x" }, /exp/],
      [{ jti: "x", exp: nowSecs() + 60, extra: true }, /unknown field/],
    ];
    for (const [body, detail] of cases) {
      const r = await admin("POST", "/revocations/tokens", body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.code, "request_invalid");
      assert.match(r.json.detail, detail);
    }
    const wrong = await admin("PUT", "/revocations/tokens", {});
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "POST");
  });
});

describe("revoking a subject", () => {
  test("refuses every token issued before, admits one issued after", async () => {
    const sub = "user-subject-wide";
    const old = await issuer.mint({ alg: "ES256", claims: { sub, iat: nowSecs() - 10 } });
    assert.equal((await status(B, "/api/x", bearer(old))).status, 200);
    const r = await admin("POST", "/revocations/subjects", { sub, iss: issuer.url });
    assert.equal(r.status, 201);
    const { before } = r.json.entry;
    assert.ok(before >= nowSecs() && before <= nowSecs() + 1, `${before}`);
    assert.equal(r.json.entry.until, before + 3600);

    const refused = await status(A, "/api/x", bearer(old));
    assert.equal(refused.status, 401);
    assert.equal(refused.code, "token_revoked");
    assert.match(refused.body.detail, new RegExp(`issued before ${before}`));
    assert.equal((await status(B, "/strict/x", bearer(old))).code, "token_revoked");
    const sameSecond = await issuer.mint({ alg: "ES256", claims: { sub, iat: before - 1 } });
    assert.equal((await status(A, "/api/x", bearer(sameSecond))).code, "token_revoked");

    // A token issued at `before` (the next login) is admitted; `before` may still be a fraction of a
    // second ahead, and the issuer does not sign in the future.
    await sleep(Math.max(0, before * 1000 - Date.now()));
    const fresh = await issuer.mint({ alg: "ES256", claims: { sub, iat: before } });
    const admitted = await status(A, "/api/x", bearer(fresh));
    assert.equal(admitted.status, 200, JSON.stringify(admitted.body));
    assert.equal((await status(B, "/strict/x", bearer(fresh))).status, 200);
    const ms = await msUntilRefused(B, "/api/x", bearer(old), Date.now() - 0, MAX_STALENESS_MS);
    assert.ok(ms <= MAX_STALENESS_MS);
    assert.equal((await status(B, "/api/x", bearer(fresh))).status, 200);
    // Other subjects are untouched.
    const other = await issuer.mint({ alg: "ES256", claims: { sub: "someone-else", iat: nowSecs() - 10 } });
    assert.equal((await status(A, "/api/x", bearer(other))).status, 200);
  });
});

describe("revoking an API key id", () => {
  test("refused at once on a strict route and within the bound on a warm isolate", async () => {
    const created = await admin("POST", "/keys", { client_id: "revocable", scopes: ["read:echo"] });
    assert.equal(created.status, 201);
    const { key } = created.json;
    const keyId = created.json.record.key_id;
    const withKey = { headers: { "x-api-key": key } };
    assert.equal((await status(B, "/machine/x", withKey)).status, 200);
    assert.equal((await status(B, "/machine/x", withKey)).status, 200);

    const r = await admin("POST", "/revocations/keys", { key_id: keyId });
    assert.equal(r.status, 201);
    assert.equal(r.json.entry.key_id, keyId);
    const at = Date.now();
    const strict = await status(B, "/strict/x", withKey);
    assert.equal(strict.status, 401);
    assert.equal(strict.code, "api_key_revoked");
    assert.match(strict.headers.get("www-authenticate"), /ApiKey realm="test", header="X-API-Key", error="api_key_revoked"/);
    assert.equal((await status(A, "/machine/x", withKey)).code, "api_key_revoked");
    const ms = await msUntilRefused(B, "/machine/x", withKey, at, MAX_STALENESS_MS);
    assert.ok(ms <= MAX_STALENESS_MS, `${ms} ms`);

    const bad = await admin("POST", "/revocations/keys", { key_id: "not-a-key-id" });
    assert.equal(bad.status, 400);
  });

  test("a key revoked through the key API is listed too: refused by a warm isolate within the bound, not after KV's 90 s", async () => {
    const created = await admin("POST", "/keys", { client_id: "revocable-2", scopes: ["read:echo"] });
    const keyId = created.json.record.key_id;
    const withKey = { headers: { "x-api-key": created.json.key } };
    assert.equal((await status(B, "/machine/x", withKey)).status, 200);
    const r = await admin("POST", `/keys/${keyId}/revoke`, { reason: "e2e" });
    assert.equal(r.status, 200);
    const at = Date.now();
    const listed = await admin("GET", "/revocations");
    assert.ok(listed.json.keys.some((e) => e.key_id === keyId));
    const ms = await msUntilRefused(B, "/machine/x", withKey, at, MAX_STALENESS_MS);
    assert.ok(ms <= MAX_STALENESS_MS, `${ms} ms`);
  });
});

describe("the admin API", () => {
  test("lists what is active and audits every action", async () => {
    const listed = await admin("GET", "/revocations");
    await eventually(() => env.logs.some((l) => l.includes('"audit":"revocation.list"')));
    assert.equal(listed.status, 200);
    assert.deepEqual(Object.keys(listed.json).sort(), ["keys", "now", "sessions", "subjects", "tokens", "version"]);
    assert.ok(listed.json.tokens.some((e) => e.jti === "jti-propagation"));
    assert.ok(listed.json.subjects.some((e) => e.sub === "user-subject-wide"));
    assert.equal(listed.json.keys.length, 2);
    const audits = env.logs.filter((l) => l.includes('"audit":"revocation.')).map((l) => JSON.parse(l));
    for (const action of ["revocation.token", "revocation.subject", "revocation.key", "revocation.list"]) {
      const line = audits.find((a) => a.audit === action && a.outcome === "success");
      assert.ok(line, `${action} audited`);
      assert.equal(line.actor, "ops");
      assert.equal(line.actor_method, "jwt");
    }
    assert.ok(audits.some((a) => a.audit === "revocation.token" && a.outcome === "refused" && a.code === "request_invalid"));
  });

  test("needs the admin scope", async () => {
    const plain = await issuer.mint({ alg: "ES256", claims: { scope: "read:echo" } });
    const r = await status(A, "/admin/revocations", bearer(plain));
    assert.equal(r.status, 403);
    assert.equal(r.code, "insufficient_scope");
  });
});

describe("the revocation object unreachable", () => {
  test("a warm snapshot serves until max_staleness_ms, then 503 revocation_unavailable; strict routes fail at once; recovery is immediate", async () => {
    const token = await issuer.mint({ alg: "ES256" });
    assert.equal((await status(B, "/api/x", bearer(token))).status, 200);
    await env.setRevocationDown(true);
    try {
      const down = Date.now();
      const strict = await status(B, "/strict/x", bearer(token));
      assert.equal(strict.status, 503);
      assert.equal(strict.code, "revocation_unavailable");
      assert.equal(strict.headers.get("retry-after"), "1");
      // Within the staleness allowance the last snapshot still decides.
      assert.equal((await status(B, "/api/x", bearer(token))).status, 200);
      await sleep(MAX_STALENESS_MS + 50 - (Date.now() - down));
      const r = await status(B, "/api/x", bearer(token));
      assert.equal(r.status, 503);
      assert.equal(r.code, "revocation_unavailable");
      assert.equal(r.headers.get("retry-after"), "1");
      assert.equal(r.headers.get("content-type"), "application/problem+json");
      assert.ok(await eventually(() => env.logs.some((l) => l.includes('"event":"revocation_refresh_failed"'))));
      const write = await admin("POST", "/revocations/tokens", { jti: "during-outage", exp: nowSecs() + 60 });
      assert.equal(write.status, 503);
      assert.equal(write.json.code, "revocation_unavailable");
    } finally {
      await env.setRevocationDown(false);
    }
    assert.equal((await status(B, "/api/x", bearer(token))).status, 200);
    assert.equal((await status(B, "/strict/x", bearer(token))).status, 200);
  });
});
