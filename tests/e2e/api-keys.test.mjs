// API keys end to end: the real wasm in workerd with real local KV, an echo origin on 127.0.0.1,
// the admin API, and the `portcullis` CLI driven against the running gateway.
//
// The first admin key is bootstrapped the way operators do it: `portcullis keys seed` prints the
// KV entries, which go into the gateway's KV before any request.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The CLI binary: $PORTCULLIS_CLI, or target/debug/portcullis (built here when missing). */
function cliPath() {
  if (process.env.PORTCULLIS_CLI) return process.env.PORTCULLIS_CLI;
  const bin = path.join(ROOT, "target", "debug", "portcullis");
  if (!existsSync(bin)) {
    execFileSync("cargo", ["build", "--quiet", "-p", "portcullis-cli"], { cwd: ROOT, stdio: "inherit" });
  }
  return bin;
}

let CLI;
let origin;
let issuer;
let gw;
let adminKey;
/** Every plaintext key seen in this file: none may reach a log line or the origin. */
const secrets = [];

/** Runs the CLI; returns { code, stdout, stderr, json }. */
function cli(args, { adminKey: key = adminKey, gateway = gw?.url } = {}) {
  const env = { ...process.env };
  delete env.PORTCULLIS_ADMIN_TOKEN;
  if (key) env.PORTCULLIS_ADMIN_KEY = key;
  else delete env.PORTCULLIS_ADMIN_KEY;
  if (gateway) env.PORTCULLIS_GATEWAY = gateway;
  const r = spawnSync(CLI, args, { env, encoding: "utf8", timeout: 30_000 });
  let json = null;
  try {
    json = JSON.parse(r.stdout);
  } catch {}
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

function seedKey(args) {
  const r = cli(["keys", "seed", "--json", ...args], { adminKey: null, gateway: null });
  assert.equal(r.code, 0, r.stderr);
  secrets.push(r.json.key);
  return r.json;
}

async function putEntries(entries) {
  const kv = await gw.mf.getKVNamespace("PORTCULLIS_KV");
  for (const e of entries) await kv.put(e.key, e.value);
}

const call = (p, key, init = {}) =>
  gw.fetch(p, { ...init, headers: { ...(init.headers ?? {}), ...(key === undefined ? {} : { "x-api-key": key }) } });

async function admin(method, p, body, key = adminKey) {
  const init = { method, headers: { "x-api-key": key } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const res = await gw.fetch(`/admin${p}`, init);
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  if (json?.key) secrets.push(json.key);
  return { status: res.status, json, headers: res.headers };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  CLI = cliPath();
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["RS256"] });
  const config = baseConfig({
    origin: origin.url,
    issuer,
    extra: {
      api_keys: { prefix: "pc_test", accepted_prefixes: ["pc_test"] },
      admin: { enabled: true },
      routes: [
        { name: "health", methods: ["GET"], path: "/health", auth: ["public"] },
        { name: "machines", methods: ["GET", "POST"], path: "/m/*", auth: ["api_key"], scopes: ["echo:read"] },
        { name: "writers", methods: ["GET"], path: "/w/*", auth: ["api_key"], scopes: ["echo:write"] },
        { name: "either", methods: ["GET"], path: "/both/*", auth: ["api_key", "jwt"], scopes: ["echo:read"] },
      ],
    },
  });
  gw = await startGateway(config);
  const seeded = seedKey(["--prefix", "pc_test", "--client-id", "ops", "--scopes", "portcullis:admin"]);
  adminKey = seeded.key;
  await putEntries(seeded.kv);
});

after(async () => {
  await gw?.dispose();
  await origin?.close();
  await issuer?.close();
});

test("missing key: 401 api_key_missing, or credentials_missing listing every scheme", async () => {
  let p = await problemOf(await call("/m/x"));
  assert.equal(p.status, 401);
  assert.equal(p.code, "api_key_missing");
  assert.match(p.headers.get("www-authenticate"), /^ApiKey realm="test", header="X-API-Key"/);
  p = await problemOf(await call("/both/x"));
  assert.equal(p.status, 401);
  assert.equal(p.code, "credentials_missing");
  const challenge = p.headers.get("www-authenticate");
  assert.match(challenge, /Bearer realm="test"/);
  assert.match(challenge, /ApiKey realm="test", header="X-API-Key"/);
});

test("malformed keys are 401 api_key_malformed, never 5xx", async () => {
  const good = seedKey(["--client-id", "probe", "--scopes", "echo:read"]).key;
  const live = seedKey(["--prefix", "pc_live", "--client-id", "probe"]).key;
  const flipped = good.slice(0, 12) + (good[12] === "A" ? "B" : "A") + good.slice(13);
  const cases = {
    "wrong prefix": live,
    "bad checksum": flipped,
    "truncated": good.slice(0, -1),
    "10 KB": "k".repeat(10 * 1024),
    "non-ASCII": `pc_test_${"\u00e9".repeat(28)}`,
    "bad alphabet": good.slice(0, 10) + "+" + good.slice(11),
  };
  for (const [name, key] of Object.entries(cases)) {
    const p = await problemOf(await call("/m/x", key));
    assert.equal(p.status, 401, name);
    assert.equal(p.code, "api_key_malformed", name);
    assert.equal(p.body.status, 401, name);
    assert.ok(!JSON.stringify(p.body).includes(key) || key === "", `${name}: key echoed`);
  }
  // workerd does not surface an empty header value: an empty X-API-Key is no API key at all.
  const empty = await problemOf(await call("/m/x", ""));
  assert.equal(empty.status, 401);
  assert.equal(empty.code, "api_key_missing");
  const unknown = await problemOf(await call("/m/x", good));
  assert.equal(unknown.status, 401);
  assert.equal(unknown.code, "api_key_invalid");
});

test("create via the admin API → origin gets identity headers, never the key", async () => {
  const created = await admin("POST", "/keys", { client_id: "billing", name: "billing exporter", scopes: ["echo:read"] });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  assert.equal(created.headers.get("cache-control"), "no-store");
  const { key, record } = created.json;
  assert.match(key, /^pc_test_[0-9A-Za-z]{28}$/);
  assert.equal(record.status, "active");

  origin.requests.length = 0;
  const res = await call("/m/hello", key);
  assert.equal(res.status, 200);
  const seen = await res.json();
  assert.equal(seen.headers["x-auth-method"], "api_key");
  assert.equal(seen.headers["x-client-id"], "billing");
  assert.equal(seen.headers["x-key-id"], record.key_id);
  assert.equal(seen.headers["x-user-scopes"], "echo:read");
  assert.equal(seen.headers["x-api-key"], undefined);
  assert.ok(!JSON.stringify(seen).includes(key), "the origin never sees the key");

  // Valid key, missing scope: 403.
  const p = await problemOf(await call("/w/x", key));
  assert.equal(p.status, 403);
  assert.equal(p.code, "insufficient_scope");
  // A client-sent identity header is not trusted.
  const spoof = await (await call("/m/x", key, { headers: { "x-client-id": "admin" } })).json();
  assert.equal(spoof.headers["x-client-id"], "billing");
});

test("rotate: both keys work in the grace window, the old one is refused after it; revoke", async () => {
  const { json: created } = await admin("POST", "/keys", { client_id: "rotator", scopes: ["echo:read"] });
  const oldKey = created.key;
  const oldId = created.record.key_id;
  const rotated = await admin("POST", `/keys/${oldId}/rotate`, { grace_secs: 2 });
  assert.equal(rotated.status, 201, JSON.stringify(rotated.json));
  const newKey = rotated.json.key;
  const newId = rotated.json.record.key_id;
  assert.equal(rotated.json.previous.rotated_to, newId);
  assert.equal(rotated.json.record.rotated_from, oldId);

  for (const k of [oldKey, newKey]) assert.equal((await call("/m/x", k)).status, 200);
  const seenNew = await (await call("/m/x", newKey)).json();
  assert.equal(seenNew.headers["x-key-id"], newId);

  await sleep(3200);
  const expired = await problemOf(await call("/m/x", oldKey));
  assert.equal(expired.status, 401);
  assert.equal(expired.code, "api_key_expired");
  assert.equal((await call("/m/x", newKey)).status, 200);

  const revoked = await admin("POST", `/keys/${newId}/revoke`, { reason: "e2e" });
  assert.equal(revoked.status, 200);
  assert.equal(revoked.json.status, "revoked");
  const p = await problemOf(await call("/m/x", newKey));
  assert.equal(p.status, 401);
  assert.equal(p.code, "api_key_revoked");
});

test("expiry set at creation is honoured", async () => {
  const { json } = await admin("POST", "/keys", { client_id: "short", scopes: ["echo:read"], ttl_secs: 2 });
  assert.equal((await call("/m/x", json.key)).status, 200);
  await sleep(2200);
  assert.equal((await problemOf(await call("/m/x", json.key))).code, "api_key_expired");
});

test("the admin API refuses non-admin credentials and bad input", async () => {
  const { json } = await admin("POST", "/keys", { client_id: "plain", scopes: ["echo:read"] });
  let r = await admin("GET", "/keys", undefined, json.key);
  assert.equal(r.status, 403);
  assert.equal(r.json.code, "insufficient_scope");
  r = await admin("GET", "/keys", undefined, "pc_test_" + "0".repeat(28));
  assert.equal(r.status, 401);
  const noCred = await problemOf(await gw.fetch("/admin/keys"));
  assert.equal(noCred.status, 401);
  // A JWT without the admin scope is refused too.
  const token = await issuer.mint({ claims: { scope: "echo:read" } });
  const jwtRes = await problemOf(await gw.fetch("/admin/keys", { headers: { authorization: `Bearer ${token}` } }));
  assert.equal(jwtRes.status, 403);
  assert.equal(jwtRes.code, "insufficient_scope");

  r = await admin("POST", "/keys", { client_id: "x", scope: ["typo"] });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, "request_invalid");
  assert.match(r.json.detail, /unknown field `scope`/);
  r = await admin("GET", "/keys/key_0000000000000000");
  assert.equal(r.status, 404);
  assert.equal(r.json.code, "api_key_not_found");
  r = await admin("DELETE", "/keys/key_0000000000000000");
  assert.equal(r.status, 405);
  assert.equal(r.headers.get("allow"), "GET, PATCH");
});

test("the CLI drives the running gateway", () => {
  let r = cli(["keys", "create", "--json", "--client-id", "cli-client", "--scopes", "echo:read", "--ttl", "1h"]);
  assert.equal(r.code, 0, r.stderr);
  secrets.push(r.json.key);
  const id = r.json.record.key_id;
  r = cli(["keys", "show", id, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.client_id, "cli-client");
  r = cli(["keys", "list", "--json", "--all", "--client-id", "cli-client"]);
  assert.equal(r.json.keys.length, 1);
  r = cli(["keys", "update", id, "--json", "--scopes", "echo:read,echo:write"]);
  assert.deepEqual(r.json.scopes, ["echo:read", "echo:write"]);
  r = cli(["keys", "rotate", id, "--json", "--grace", "1m"]);
  assert.equal(r.code, 0, r.stderr);
  secrets.push(r.json.key);
  r = cli(["keys", "revoke", r.json.record.key_id, "--json"]);
  assert.equal(r.json.status, "revoked");
  // Clear errors: unknown id (5), bad credential (4), unreachable gateway (3).
  r = cli(["keys", "show", "key_0000000000000000"]);
  assert.equal(r.code, 5);
  assert.match(r.stderr, /no API key with id key_0000000000000000/);
  const stranger = seedKey(["--client-id", "stranger", "--scopes", "portcullis:admin"]).key; // never loaded into KV
  r = cli(["keys", "list"], { adminKey: stranger });
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /api_key_invalid/);
  r = cli(["keys", "list"], { gateway: "http://127.0.0.1:9" });
  assert.equal(r.code, 3);
  assert.match(r.stderr, /cannot reach the gateway/);
});

test("no key ever reaches a log line; every admin action is audited", async () => {
  await gw.settleLogs();
  const text = gw.logs.join("\n");
  for (const s of secrets) assert.ok(!text.includes(s), "a key was logged");
  const audits = gw.logs
    .map((l) => {
      try {
        return JSON.parse(l.slice(l.indexOf("{")));
      } catch {
        return null;
      }
    })
    .filter((v) => v?.audit);
  const actions = new Set(audits.map((a) => a.audit));
  for (const a of ["api_key.create", "api_key.list", "api_key.get", "api_key.update", "api_key.rotate", "api_key.revoke"]) {
    assert.ok(actions.has(a), `${a} audited`);
  }
});
