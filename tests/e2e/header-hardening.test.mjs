// Issue 8 (hardening), items 1, 4 and 5, in workerd against a real echo origin on 127.0.0.1:
// identity and credential headers spelled with `_` (which CGI/WSGI origins read as `-`), method
// and URL override headers and the `_method` query parameter, and scopes that would split in
// `x-user-scopes`, for JWTs and API keys (admin API writes and records read back from KV).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { seedKey } from "../support/seed.mjs";

let origin;
let issuer;
let gw;
let adminKey;
let machineKey;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["RS256"] });
  gw = await startGateway(
    baseConfig({
      origin: origin.url,
      issuer,
      extra: {
        api_keys: { prefix: "pc_test", accepted_prefixes: ["pc_test"] },
        admin: { enabled: true },
        routes: [
          { name: "health", methods: ["GET"], path: "/health", auth: ["public"] },
          { name: "read", methods: ["GET"], path: "/api/*", auth: ["jwt"], scopes: ["read:echo"] },
          { name: "write", methods: ["POST"], path: "/api/*", auth: ["jwt"], scopes: ["write:echo"] },
          { name: "delete", methods: ["DELETE"], path: "/api/*", auth: ["jwt"], scopes: ["admin"] },
          { name: "machines", methods: ["GET"], path: "/m/*", auth: ["api_key"], scopes: ["echo:read"] },
        ],
      },
    }),
  );
  adminKey = (await seedKey(gw, ["--prefix", "pc_test", "--client-id", "ops", "--scopes", "portcullis:admin"])).key;
  machineKey = (await seedKey(gw, ["--prefix", "pc_test", "--client-id", "machine-1", "--scopes", "echo:read"])).key;
});

after(async () => {
  await gw?.dispose();
  await origin?.close();
  await issuer?.close();
});

/** The identity headers the origin saw, by name. */
function identityOf(seen) {
  return Object.fromEntries(Object.entries(seen.headers).filter(([n]) => /^x-(user|auth|token|client|key)-/.test(n)));
}

function assertNoUnderscoreHeaders(seen, label) {
  for (const name of Object.keys(seen.headers)) assert.ok(!name.includes("_"), `${label}: ${name} reached the origin`);
}

// ------------------------------------------------------------------ item 1: `_` spellings

const UNDERSCORE_SPOOF = {
  X_User_Id: "admin",
  X_User_Scopes: "admin",
  "X-User_Id": "admin",
  X_Key_Id: "key_AAAAAAAAAAAAAAAA",
  X_Auth_Method: "api_key",
  X_Auth_Issuer: "https://evil.example",
  X_Token_Id: "t-1",
  X_Client_Id: "billing",
  "x-portcullis_debug": "1",
  X_API_Key: "pc_test_spoofed",
  "X-Api_Key": "pc_test_spoofed",
  // Hop-by-hop credential: the same HTTP_PROXY_AUTHORIZATION to a CGI origin.
  Proxy_Authorization: "Basic YWRtaW46YWRtaW4=",
};

test("identity and credential headers spelled with _ never reach the origin (public, JWT, API key)", async () => {
  const token = await issuer.mint({ claims: { sub: "user-42", jti: "j-42" } });
  const cases = [
    ["public", "/health", {}, { "x-auth-method": "public" }],
    [
      "jwt",
      "/api/items",
      { authorization: `Bearer ${token}` },
      {
        "x-auth-method": "jwt",
        "x-user-id": "user-42",
        "x-user-scopes": "read:echo",
        "x-auth-issuer": issuer.url,
        "x-token-id": "j-42",
      },
    ],
    ["api_key", "/m/items", { "x-api-key": machineKey }, null],
  ];
  for (const [kind, path, credential, expected] of cases) {
    const res = await gw.fetch(path, { headers: { ...UNDERSCORE_SPOOF, ...credential } });
    assert.equal(res.status, 200, kind);
    const seen = await res.json();
    assertNoUnderscoreHeaders(seen, kind);
    const identity = identityOf(seen);
    if (expected) assert.deepEqual(identity, expected, kind);
    else {
      assert.equal(identity["x-auth-method"], "api_key");
      assert.equal(identity["x-user-id"], "machine-1");
      assert.equal(identity["x-client-id"], "machine-1");
      assert.equal(identity["x-user-scopes"], "echo:read");
      assert.match(identity["x-key-id"], /^key_[0-9A-Za-z]{16}$/);
    }
    assert.equal(seen.headers["x-api-key"], undefined, kind);
  }
});

test("an X_API_Key header is not a credential: the API-key route still says api_key_missing", async () => {
  const before = origin.requests.length;
  const p = await problemOf(await gw.fetch("/m/items", { headers: { X_API_Key: machineKey } }));
  assert.equal(p.status, 401);
  assert.equal(p.code, "api_key_missing");
  assert.equal(origin.requests.length, before);
});

// ------------------------------------------------------------------ item 4: method overrides

const OVERRIDE_SPOOF = {
  "X-HTTP-Method-Override": "DELETE",
  "X-HTTP-Method": "DELETE",
  "X-Method-Override": "DELETE",
  "X-Original-URL": "/admin/keys",
  "X-Rewrite-URL": "/admin/keys",
  X_HTTP_Method_Override: "DELETE",
  "x-method_override": "DELETE",
  X_Original_URL: "/admin/keys",
};

test("a POST admitted by the write route carries no method or URL override to the origin", async () => {
  const writer = await issuer.mint({ claims: { scope: "write:echo" } });
  // A direct DELETE needs the admin scope.
  const direct = await problemOf(await gw.fetch("/api/items/7", { method: "DELETE", headers: { authorization: `Bearer ${writer}` } }));
  assert.equal(direct.status, 403);
  assert.equal(direct.code, "insufficient_scope");

  const res = await gw.fetch("/api/items/7", { method: "POST", headers: { ...OVERRIDE_SPOOF, authorization: `Bearer ${writer}` } });
  assert.equal(res.status, 200);
  const seen = await res.json();
  assert.equal(seen.method, "POST");
  assert.equal(seen.url, "/api/items/7");
  for (const name of Object.keys(OVERRIDE_SPOOF)) assert.equal(seen.headers[name.toLowerCase()], undefined, name);
  assertNoUnderscoreHeaders(seen, "override");
});

test("a POST with a _method query parameter is refused 400 request_invalid, never forwarded", async () => {
  const writer = await issuer.mint({ claims: { scope: "write:echo" } });
  const before = origin.requests.length;
  for (const query of ["_method=DELETE", "a=1&_method=delete", "%5Fmethod=DELETE", ".method=DELETE", "_method[]=DELETE", "_METHOD=PUT"]) {
    const p = await problemOf(await gw.fetch(`/api/items/7?${query}`, { method: "POST", headers: { authorization: `Bearer ${writer}` } }));
    assert.equal(p.status, 400, query);
    assert.equal(p.code, "request_invalid", query);
    assert.match(p.body.detail, /_method/);
  }
  assert.equal(origin.requests.length, before);
  // Other parameters, and _method on a GET (no framework overrides a GET), pass.
  const ok = await gw.fetch("/api/items/7?method=DELETE&x_method=1", { method: "POST", headers: { authorization: `Bearer ${writer}` } });
  assert.equal(ok.status, 200);
  const reader = await issuer.mint();
  const get = await gw.fetch("/api/items/7?_method=DELETE", { headers: { authorization: `Bearer ${reader}` } });
  assert.equal(get.status, 200);
});

// ------------------------------------------------------------------ item 5: scope separator

test("a JWT scope containing the separator is refused (401 token_claim_invalid), not split at the origin", async () => {
  const before = origin.requests.length;
  const token = await issuer.mint({ claims: { scope: "read:echo profile,admin" } });
  const p = await problemOf(await gw.fetch("/api/items", { headers: { authorization: `Bearer ${token}` } }));
  assert.equal(p.status, 401);
  assert.equal(p.code, "token_claim_invalid");
  assert.match(p.body.detail, /"scope" claim/);
  assert.match(p.headers.get("www-authenticate"), /error="invalid_token"/);
  // And on the route that requires admin (where it was refused before too).
  const del = await problemOf(await gw.fetch("/api/items", { method: "DELETE", headers: { authorization: `Bearer ${token}` } }));
  assert.equal(del.code, "token_claim_invalid");
  assert.equal(origin.requests.length, before);
});

async function admin(method, path, body) {
  const res = await gw.fetch(`/admin${path}`, {
    method,
    headers: { "x-api-key": adminKey, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

test("the admin API refuses an API-key scope containing the separator, on create and update", async () => {
  const created = await admin("POST", "/keys", { client_id: "scoped", scopes: ["echo:read", "profile,admin"] });
  assert.equal(created.status, 400);
  assert.equal(created.json.code, "request_invalid");
  assert.equal(created.json.field, "scopes");
  assert.match(created.json.detail, /the separator/);

  const ok = await admin("POST", "/keys", { client_id: "scoped", scopes: ["echo:read"] });
  assert.equal(ok.status, 201);
  const patched = await admin("PATCH", `/keys/${ok.json.record.key_id}`, { scopes: ["echo:read", "x,admin"] });
  assert.equal(patched.status, 400);
  assert.equal(patched.json.code, "request_invalid");
  assert.equal(patched.json.field, "scopes");
  const unchanged = await admin("GET", `/keys/${ok.json.record.key_id}`);
  assert.deepEqual(unchanged.json.scopes, ["echo:read"]);
});

test("a stored API-key record with the separator in a scope is refused when read back", async () => {
  // A record written before the rule (or by hand): the key's scopes in KV hold "profile,admin".
  const seeded = await seedKey(gw, ["--prefix", "pc_test", "--client-id", "legacy", "--scopes", "echo:read"]);
  const entry = seeded.kv.find((e) => e.key.startsWith("apikey:hash:"));
  const record = JSON.parse(entry.value);
  record.scopes = ["echo:read", "profile,admin"];
  const kv = await gw.mf.getKVNamespace("PORTCULLIS_KV");
  await kv.put(entry.key, JSON.stringify(record));

  const before = origin.requests.length;
  const p = await problemOf(await gw.fetch("/m/items", { headers: { "x-api-key": seeded.key } }));
  assert.equal(p.status, 503);
  assert.equal(p.code, "credential_store_unavailable");
  assert.equal(origin.requests.length, before);
  await gw.settleLogs();
  assert.ok(
    gw.logs.some((l) => l.includes('"event":"api_key_record_invalid"') && l.includes(record.key_id) && l.includes("scope 1")),
    gw.logs.join("\n"),
  );
  assert.ok(!gw.logs.some((l) => l.includes(seeded.key)), "the key reached a log line");
});
