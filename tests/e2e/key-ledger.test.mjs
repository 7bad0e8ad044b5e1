// Linearizable API-key writes (issue 18), end to end: three gateway isolates (separate Miniflare
// workers, tests/support/isolates.mjs) share one KV namespace and one set of Durable Objects, as
// several isolates and locations of one deployment do. Every admin write goes through the key's
// ApiKeyLedger object, so concurrent writes from different isolates are serialized there:
// one rotation per key, nothing changes a revoked key, idempotent retries see the same outcome,
// and keys written straight into KV before the objects existed keep working.

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";

import { startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TRIALS = 5;

let origin, issuer, env, A, B, C, adminToken;

function cliPath() {
  if (process.env.PORTCULLIS_CLI) return process.env.PORTCULLIS_CLI;
  const bin = path.join(ROOT, "target", "debug", "portcullis");
  if (!existsSync(bin)) {
    execFileSync("cargo", ["build", "--quiet", "-p", "portcullis-cli"], { cwd: ROOT, stdio: "inherit" });
  }
  return bin;
}

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  const cfg = baseConfig({
    origin: origin.url,
    issuer,
    extra: { admin: { enabled: true }, api_keys: { prefix: "pc_test" } },
  });
  cfg.routes.push(
    { name: "machine", methods: ["GET"], path: "/machine/*", auth: ["api_key"], scopes: ["read:echo"] },
    // KV read on every request plus the revocation object: what the stores say now, not what an
    // isolate cached (a revoke reaches cached isolates within the documented revocation bound).
    { name: "strict", methods: ["GET"], path: "/strict/*", auth: ["api_key"], scopes: ["read:echo"], revocation: "strict" },
  );
  env = await startIsolates(cfg, { count: 3 });
  [A, B, C] = env.isolates;
  adminToken = await issuer.mint({ alg: "ES256", claims: { sub: "ops", scope: "portcullis:admin" }, ttl: 3600 });
});

after(async () => {
  await env?.dispose();
  await origin?.close();
  await issuer?.close();
});

/** An admin call through isolate `iso`; returns { status, json, code, headers }. */
async function admin(iso, method, p, body, headers = {}) {
  const init = { method, headers: { authorization: `Bearer ${adminToken}`, ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
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

async function useKey(iso, key, route = "/machine/x") {
  const res = await iso.fetch(route, { headers: { "x-api-key": key } });
  const p = await problemOf(res);
  return { status: res.status, code: p.code };
}

async function createKey(clientId) {
  const r = await admin(A, "POST", "/keys", { client_id: clientId, scopes: ["read:echo"] });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json;
}

/** Every key of `clientId`, from the listing (KV). */
async function keysOf(clientId) {
  const r = await admin(C, "GET", `/keys?client_id=${clientId}&limit=100`);
  assert.equal(r.status, 200);
  const all = [...r.json.keys];
  let cursor = r.json.cursor;
  while (cursor) {
    const next = await admin(C, "GET", `/keys?client_id=${clientId}&limit=100&cursor=${encodeURIComponent(cursor)}`);
    all.push(...next.json.keys);
    cursor = next.json.cursor;
  }
  return all;
}

describe("concurrent rotations of one key from two isolates", () => {
  for (let trial = 1; trial <= TRIALS; trial++) {
    test(`trial ${trial}: exactly one of six rotations succeeds, and exactly one successor works`, async () => {
      const clientId = `race-${trial}`;
      const created = await createKey(clientId);
      const id = created.record.key_id;
      const isolates = [A, A, A, B, B, B];
      const results = await Promise.all(isolates.map((iso) => admin(iso, "POST", `/keys/${id}/rotate`, {})));
      const won = results.filter((r) => r.status === 201);
      const lost = results.filter((r) => r.status !== 201);
      assert.equal(won.length, 1, `statuses: ${results.map((r) => r.status)}`);
      for (const r of lost) {
        assert.equal(r.status, 409);
        assert.equal(r.code, "request_invalid");
        assert.match(r.json.detail, /already rotated/);
      }
      const successor = won[0].json;
      // The old record links to the one successor, in the object and in KV.
      const old = await admin(B, "GET", `/keys/${id}`);
      assert.equal(old.json.rotated_to, successor.record.key_id);
      const successors = (await keysOf(clientId)).filter((k) => k.rotated_from === id);
      assert.deepEqual(successors.map((k) => k.key_id), [successor.record.key_id]);
      for (const iso of [A, B, C]) {
        assert.deepEqual(await useKey(iso, successor.key), { status: 200, code: undefined });
        assert.deepEqual(await useKey(iso, created.key), { status: 200, code: undefined }, "old key in its grace period");
      }
    });
  }
});

describe("rotation racing revocation", () => {
  for (let trial = 1; trial <= TRIALS; trial++) {
    test(`trial ${trial}: a revoke is never lost, and no successor is issued after it`, async () => {
      const clientId = `revoke-race-${trial}`;
      const created = await createKey(clientId);
      const id = created.record.key_id;
      const [rotated, revoked] = await Promise.all([
        admin(A, "POST", `/keys/${id}/rotate`, {}),
        admin(B, "POST", `/keys/${id}/revoke`, { reason: "leaked" }),
      ]);
      assert.equal(revoked.status, 200);
      assert.equal(revoked.json.status, "revoked");
      const old = (await admin(C, "GET", `/keys/${id}`)).json;
      assert.equal(old.status, "revoked", "the revoke stands in the object");
      assert.equal(old.revoked_reason, "leaked");
      const listed = (await keysOf(clientId)).find((k) => k.key_id === id);
      assert.equal(listed.status, "revoked", "and in KV");
      for (const iso of [A, B, C]) {
        assert.equal((await useKey(iso, created.key, "/strict/x")).code, "api_key_revoked");
      }
      const successors = (await keysOf(clientId)).filter((k) => k.rotated_from === id);
      if (rotated.status === 201) {
        // The rotation came first: its successor is the one the old key links to.
        assert.equal(old.rotated_to, rotated.json.record.key_id);
        assert.deepEqual(successors.map((k) => k.key_id), [rotated.json.record.key_id]);
        assert.equal(revoked.json.rotated_to, rotated.json.record.key_id);
      } else {
        // The revoke came first: no successor exists.
        assert.equal(rotated.status, 409);
        assert.match(rotated.json.detail, /revoked/);
        assert.equal(old.rotated_to, undefined);
        assert.deepEqual(successors, []);
      }
      // After the revoke, every isolate refuses to rotate or change the key.
      for (const iso of [A, B, C]) {
        const again = await admin(iso, "POST", `/keys/${id}/rotate`, {});
        assert.equal(again.status, 409);
        const patch = await admin(iso, "PATCH", `/keys/${id}`, { name: "changed" });
        assert.equal(patch.status, 409);
      }
      // A second revoke keeps the first time and reason.
      const twice = await admin(C, "POST", `/keys/${id}/revoke`, { reason: "second" });
      assert.equal(twice.json.revoked_reason, "leaked");
      assert.equal(twice.json.revoked_at, revoked.json.revoked_at);
    });
  }
});

describe("Idempotency-Key", () => {
  test("a retried create, on another isolate, returns the same key", async () => {
    const idem = randomUUID();
    const body = { client_id: "idem-create", scopes: ["read:echo"] };
    const first = await admin(A, "POST", "/keys", body, { "idempotency-key": idem });
    assert.equal(first.status, 201);
    assert.equal(first.headers.get("idempotent-replayed"), null);
    const retry = await admin(B, "POST", "/keys", { scopes: ["read:echo"], client_id: "idem-create" }, { "idempotency-key": idem });
    assert.equal(retry.status, 201);
    assert.equal(retry.headers.get("idempotent-replayed"), "true");
    assert.equal(retry.json.key, first.json.key);
    assert.equal(retry.json.record.key_id, first.json.record.key_id);
    assert.equal((await keysOf("idem-create")).length, 1, "one key created");
    assert.equal((await useKey(C, first.json.key)).status, 200);
  });

  test("a retried rotation returns the same successor; concurrent duplicates too", async () => {
    const created = await createKey("idem-rotate");
    const id = created.record.key_id;
    const idem = randomUUID();
    const [one, two] = await Promise.all([
      admin(A, "POST", `/keys/${id}/rotate`, { grace_secs: 600 }, { "idempotency-key": idem }),
      admin(B, "POST", `/keys/${id}/rotate`, { grace_secs: 600 }, { "idempotency-key": idem }),
    ]);
    assert.equal(one.status, 201);
    assert.equal(two.status, 201);
    assert.equal(one.json.key, two.json.key);
    assert.equal(one.json.record.key_id, two.json.record.key_id);
    const later = await admin(C, "POST", `/keys/${id}/rotate`, { grace_secs: 600 }, { "idempotency-key": idem });
    assert.equal(later.status, 201);
    assert.equal(later.headers.get("idempotent-replayed"), "true");
    assert.equal(later.json.key, one.json.key);
    assert.equal(later.json.previous.rotated_to, one.json.record.key_id);
    const successors = (await keysOf("idem-rotate")).filter((k) => k.rotated_from === id);
    assert.equal(successors.length, 1);
    assert.equal((await useKey(C, one.json.key)).status, 200);
    // Without the key, a second rotation is refused: the key was rotated once.
    const plain = await admin(A, "POST", `/keys/${id}/rotate`, {});
    assert.equal(plain.status, 409);
  });

  test("the same key with another request: 422 idempotency_key_reused", async () => {
    const created = await createKey("idem-mismatch");
    const id = created.record.key_id;
    const idem = randomUUID();
    const first = await admin(A, "POST", `/keys/${id}/rotate`, { grace_secs: 60 }, { "idempotency-key": idem });
    assert.equal(first.status, 201);
    const other = await admin(B, "POST", `/keys/${id}/rotate`, { grace_secs: 120 }, { "idempotency-key": idem });
    assert.equal(other.status, 422);
    assert.equal(other.code, "idempotency_key_reused");
    assert.equal(other.json.key, undefined, "no key in a refusal");
    const createIdem = randomUUID();
    assert.equal((await admin(A, "POST", "/keys", { client_id: "idem-mismatch" }, { "idempotency-key": createIdem })).status, 201);
    const changed = await admin(B, "POST", "/keys", { client_id: "idem-other" }, { "idempotency-key": createIdem });
    assert.equal(changed.status, 422);
    assert.equal(changed.code, "idempotency_key_reused");
  });

  test("a malformed Idempotency-Key: 400 idempotency_key_invalid, nothing done", async () => {
    const created = await createKey("idem-bad");
    for (const bad of ["short", "has spaces in the key value", "x".repeat(256)]) {
      const r = await admin(A, "POST", `/keys/${created.record.key_id}/rotate`, {}, { "idempotency-key": bad });
      assert.equal(r.status, 400, bad);
      assert.equal(r.code, "idempotency_key_invalid");
    }
    assert.equal((await admin(B, "GET", `/keys/${created.record.key_id}`)).json.rotated_to, undefined);
  });
});

describe("migration", () => {
  test("a key written straight into KV (the old format) works, and its object adopts it on the first write", async () => {
    const r = spawnSync(cliPath(), ["keys", "seed", "--json", "--prefix", "pc_test", "--client-id", "legacy", "--scopes", "read:echo"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const seeded = JSON.parse(r.stdout);
    const kv = await env.mf.getKVNamespace("PORTCULLIS_KV", "a");
    for (const e of seeded.kv) await kv.put(e.key, e.value);
    const id = seeded.key_id;
    for (const iso of [A, B]) assert.equal((await useKey(iso, seeded.key)).status, 200);
    const got = await admin(B, "GET", `/keys/${id}`);
    assert.equal(got.status, 200);
    assert.equal(got.json.status, "active");
    // Two isolates rotate it at once: its object adopts the KV state and lets one through.
    const results = await Promise.all([A, B, A, B].map((iso) => admin(iso, "POST", `/keys/${id}/rotate`, {})));
    const won = results.filter((x) => x.status === 201);
    assert.equal(won.length, 1, `statuses: ${results.map((x) => x.status)}`);
    assert.equal(won[0].json.previous.rotated_to, won[0].json.record.key_id);
    assert.equal((await useKey(C, won[0].json.key)).status, 200);
    assert.equal((await useKey(C, seeded.key)).status, 200, "grace period");
    const revoked = await admin(C, "POST", `/keys/${id}/revoke`, {});
    assert.equal(revoked.status, 200);
    for (const iso of [A, B, C]) assert.equal((await useKey(iso, seeded.key, "/strict/x")).code, "api_key_revoked");
    assert.equal((await useKey(A, won[0].json.key)).status, 200, "the successor stands");
  });
});
