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
