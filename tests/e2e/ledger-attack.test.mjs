// Adversarial review of the API-key ledger (issue 18), end to end: two gateway isolates
// (tests/support/isolates.mjs) share one KV namespace and one set of ApiKeyLedger objects.
// Each test here failed before the fix it covers.

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";

let origin, issuer, env, A, B, adminToken;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  const cfg = baseConfig({
    origin: origin.url,
    issuer,
    extra: { admin: { enabled: true }, api_keys: { prefix: "pc_test" } },
  });
  cfg.routes.push({ name: "machine", methods: ["GET"], path: "/machine/*", auth: ["api_key"], scopes: ["read:echo"] });
  env = await startIsolates(cfg, { count: 2 });
  [A, B] = env.isolates;
  adminToken = await issuer.mint({ alg: "ES256", claims: { sub: "ops", scope: "portcullis:admin" }, ttl: 3600 });
});

after(async () => {
  await env?.dispose();
  await origin?.close();
  await issuer?.close();
});

async function admin(iso, method, p, body, headers = {}) {
  const init = { method, headers: { authorization: `Bearer ${adminToken}`, ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const res = await iso.fetch(`/admin${p}`, init);
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, code: json?.code, headers: res.headers };
}

async function useKey(iso, key) {
  const res = await iso.fetch("/machine/x", { headers: { "x-api-key": key } });
  const p = await problemOf(res);
  return { status: res.status, code: p.code };
}

describe("an idempotent replay after the key was revoked", () => {
  test("a replayed rotation does not hand out the successor revoked since as if new", async () => {
    const created = await admin(A, "POST", "/keys", { client_id: "replay-revoked", scopes: ["read:echo"] });
    assert.equal(created.status, 201);
    const id = created.json.record.key_id;
    const idem = randomUUID();
    const first = await admin(A, "POST", `/keys/${id}/rotate`, {}, { "idempotency-key": idem });
    assert.equal(first.status, 201);
    const successorId = first.json.record.key_id;
    const revoked = await admin(B, "POST", `/keys/${successorId}/revoke`, { reason: "leaked" });
    assert.equal(revoked.status, 200);
    assert.equal((await useKey(B, first.json.key)).code, "api_key_revoked");
    // The retry, from the other isolate: no 201, no plaintext, no "active" record.
    const replay = await admin(A, "POST", `/keys/${id}/rotate`, {}, { "idempotency-key": idem });
    assert.equal(replay.status, 409, JSON.stringify(replay.json));
    assert.equal(replay.code, "request_invalid");
    assert.equal(replay.json.detail, `${successorId}, issued under this Idempotency-Key, has been revoked since; create or rotate with a new Idempotency-Key`);
    assert.equal(replay.json.key, undefined);
    assert.equal(JSON.stringify(replay.json).includes(first.json.key), false);
  });

  test("a replayed create does not hand out the key revoked since", async () => {
    const idem = randomUUID();
    const body = { client_id: "replay-revoked-create", scopes: ["read:echo"] };
    const first = await admin(A, "POST", "/keys", body, { "idempotency-key": idem });
    assert.equal(first.status, 201);
    assert.equal((await admin(B, "POST", `/keys/${first.json.record.key_id}/revoke`, {})).status, 200);
    const replay = await admin(B, "POST", "/keys", body, { "idempotency-key": idem });
    assert.equal(replay.status, 409, JSON.stringify(replay.json));
    assert.equal(replay.code, "request_invalid");
    assert.equal(replay.json.key, undefined);
  });

  test("a replay while the key still works returns it as before", async () => {
    const idem = randomUUID();
    const body = { client_id: "replay-active", scopes: ["read:echo"] };
    const first = await admin(A, "POST", "/keys", body, { "idempotency-key": idem });
    const replay = await admin(B, "POST", "/keys", body, { "idempotency-key": idem });
    assert.equal(replay.status, 201);
    assert.equal(replay.headers.get("idempotent-replayed"), "true");
    assert.equal(replay.json.key, first.json.key);
    assert.equal((await useKey(B, replay.json.key)).status, 200);
  });
});

describe("a call whose caller has given up", () => {
  // The gateway waits 10 s for a key's object, then answers 503. A call still queued in the object
  // after that must not be carried out later: a rotation nobody is told about would start the old
  // key's grace period with a successor whose key nobody has. (A revoke still is: late, it only
  // makes the key safer.) Called here straight on the object, as the gateway calls it.
  async function callObject(keyId, until, request) {
    const ns = await env.mf.getDurableObjectNamespace("PORTCULLIS_API_KEYS", "a");
    const res = await ns.get(ns.idFromName(keyId)).fetch(`http://do/${keyId}?until=${until}`, {
      method: "POST",
      body: JSON.stringify(request),
    });
    return { status: res.status, text: await res.text() };
  }

  test("a rotation past the caller's deadline is refused and changes nothing", async () => {
    const created = await admin(A, "POST", "/keys", { client_id: "gave-up", scopes: ["read:echo"] });
    const id = created.json.record.key_id;
    const rotate = {
      rotate: {
        grace_secs: 60,
        expires: "inherit",
        prefix: "pc_test",
        successor_id: "key_GaveUpGaveUp0001",
        successor_hash: "0".repeat(64),
      },
    };
    const late = await callObject(id, Date.now() - 1000, rotate);
    assert.equal(late.status, 503, late.text);
    assert.equal(JSON.parse(late.text).error, "the caller gave up waiting");
    const after = await admin(B, "GET", `/keys/${id}`);
    assert.equal(after.json.rotated_to, undefined);
    assert.equal(after.json.expires_at, null);
    // Within its deadline the same call goes through.
    const inTime = await callObject(id, Date.now() + 10_000, rotate);
    assert.equal(inTime.status, 200, inTime.text);
    assert.equal((await admin(B, "GET", `/keys/${id}`)).json.rotated_to, "key_GaveUpGaveUp0001");
  });

  test("a revoke past the caller's deadline is still carried out", async () => {
    const created = await admin(A, "POST", "/keys", { client_id: "gave-up-revoke", scopes: ["read:echo"] });
    const id = created.json.record.key_id;
    const late = await callObject(id, Date.now() - 1000, { revoke: { reason: "late" } });
    assert.equal(late.status, 200, late.text);
    assert.equal((await admin(B, "GET", `/keys/${id}`)).json.status, "revoked");
    assert.equal((await useKey(B, created.json.key)).code, "api_key_revoked");
  });
});
