// End-to-end: the admin API's refusals that docs/api-keys.md and docs/revocation.md document — a
// malformed key id, and the revocation API's rule, path, method and size refusals — answered by the
// real worker in workerd with the real revocation Durable Object.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEchoOrigin, startIssuer, startGateway, baseConfig, problemOf } from "./harness.mjs";

const nowSecs = () => Math.floor(Date.now() / 1000);

let origin, issuer, gateway, adminToken;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  gateway = await startGateway(
    baseConfig({
      origin: origin.url,
      issuer,
      extra: { revocation: {}, admin: { enabled: true }, api_keys: {} },
    }),
  );
  adminToken = await issuer.mint({ alg: "ES256", claims: { sub: "ops", scope: "portcullis:admin" }, ttl: 3600 });
});

after(async () => {
  await gateway?.dispose();
  await origin?.close();
  await issuer?.close();
});

async function admin(method, path, body, { raw } = {}) {
  const init = { method, headers: { authorization: `Bearer ${adminToken}` } };
  if (body !== undefined) {
    init.body = raw ? body : JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  return problemOf(await gateway.fetch(`/admin${path}`, init));
}

test("a malformed key id is 404 api_key_not_found, saying what ids look like", async () => {
  for (const method of ["GET", "PATCH"]) {
    const r = await admin(method, "/keys/not-a-key-id", method === "PATCH" ? { name: "x" } : undefined);
    assert.equal(r.status, 404, `${method}: ${JSON.stringify(r.body)}`);
    assert.equal(r.code, "api_key_not_found");
    assert.match(r.body.detail, /ids look like key_ followed by 16 base62 characters/);
  }
  const revoke = await admin("POST", "/keys/not-a-key-id/revoke", {});
  assert.equal(revoke.status, 404, JSON.stringify(revoke.body));
  assert.equal(revoke.code, "api_key_not_found");
  // A well-formed id of no key: the same code, naming the id.
  const unknown = await admin("GET", "/keys/key_0000000000000000");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.code, "api_key_not_found");
  assert.equal(unknown.body.detail, "no API key with id key_0000000000000000");
});

test("a revocation body breaking a rule is 400 request_invalid naming the field", async () => {
  const cases = [
    ["/revocations/keys", { key_id: "not-a-key-id" }, /key_id/],
    ["/revocations/tokens", { jti: "j", exp: nowSecs() - 600 }, /exp/],
    ["/revocations/tokens", { jti: "", exp: nowSecs() + 600 }, /jti/],
    ["/revocations/subjects", { sub: "alice", before: nowSecs() + 3600 }, /before: must not be in the future/],
    ["/revocations/subjects", { sub: "alice", iss: "https://not-configured.example" }, /iss/],
    ["/revocations/keys", { key_id: "key_0000000000000000", until: nowSecs() + 500 * 86400 }, /until/],
    ["/revocations/subjects", { sub: "alice", typo: 1 }, /typo/],
  ];
  for (const [path, body, detail] of cases) {
    const r = await admin("POST", path, body);
    assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    assert.equal(r.code, "request_invalid");
    assert.match(r.body.detail, detail, JSON.stringify(r.body));
  }
  const bad = await admin("POST", "/revocations/tokens", "{not json", { raw: true });
  assert.equal(bad.status, 400);
  assert.equal(bad.code, "request_invalid");
});

test("revocation API paths, methods and sizes: 404 route_not_found, 405 with Allow, 413", async () => {
  for (const path of ["/revocations/tokens/x", "/revocations/nope"]) {
    const r = await admin("POST", path, {});
    assert.equal(r.status, 404, `${path}: ${JSON.stringify(r.body)}`);
    assert.equal(r.code, "route_not_found");
  }
  const wrong = await admin("GET", "/revocations/tokens");
  assert.equal(wrong.status, 405);
  assert.equal(wrong.code, "request_invalid");
  assert.equal(wrong.headers.get("allow"), "POST");
  const big = await admin("POST", "/revocations/tokens", JSON.stringify({ jti: "x".repeat(70 * 1024), exp: nowSecs() + 60 }), { raw: true });
  assert.equal(big.status, 413);
  assert.equal(big.code, "request_invalid");
});
