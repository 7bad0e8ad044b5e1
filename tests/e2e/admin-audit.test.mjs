// Issue 9 review: the admin API behind one router (admin::handle) answers and audits as the two
// routers before it did. Every call the admin API serves — answered, refused by the method or size
// guard, on an unknown route, in the key part or the revocation part — writes exactly one audit
// line whose status and code are the response's; a key revoke is mirrored on the revocation list
// once, and only when the revoke succeeded. Real wasm, real KV and Durable Objects.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";

import { startGateway, startEchoOrigin, startIssuer, baseConfig } from "./harness.mjs";
import { seedKey } from "../support/seed.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function jsonLines(logs) {
  return logs.flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });
}

describe("one admin router: one audit line per call, the mirror after a successful revoke only", () => {
  let origin, issuer, gw, adminKey;

  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer({ algs: ["ES256"] });
    gw = await startGateway(
      baseConfig({
        origin: origin.url,
        issuer,
        algorithms: ["ES256"],
        extra: { api_keys: { prefix: "pc_test", accepted_prefixes: ["pc_test"] }, admin: { enabled: true } },
      }),
    );
    adminKey = (await seedKey(gw, ["--prefix", "pc_test", "--client-id", "ops", "--scopes", "portcullis:admin"])).key;
  });
  after(async () => {
    await gw?.dispose();
    await origin?.close();
    await issuer?.close();
  });

  const lines = () => jsonLines(gw.logs);
  const audits = () => lines().filter((l) => l.audit);
  const events = (name) => lines().filter((l) => l.event === name);

  /** One admin call; waits for its audit line and returns { status, headers, body, audit }. */
  async function call(method, path, body) {
    const before = audits().length;
    const init = { method, headers: { "x-api-key": adminKey } };
    if (body !== undefined) {
      init.body = typeof body === "string" ? body : JSON.stringify(body);
      init.headers["content-type"] = "application/json";
    }
    const res = await gw.fetch(`/admin${path}`, init);
    const text = await res.text();
    for (let i = 0; i < 40 && audits().length === before; i++) await sleep(50);
    // A second line would arrive with the first: give it the same chance before counting.
    await sleep(100);
    const added = audits().slice(before);
    assert.equal(added.length, 1, `${method} ${path}: ${added.length} audit lines ${JSON.stringify(added)}`);
    const [audit] = added;
    const parsed = text ? JSON.parse(text) : null;
    assert.equal(audit.status, res.status, `${method} ${path}: audited status`);
    assert.equal(audit.code ?? null, res.status >= 400 ? parsed.code : null, `${method} ${path}: audited code`);
    assert.equal(audit.outcome, res.status < 400 ? "success" : res.status >= 500 ? "error" : "refused");
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(
      res.headers.get("content-type"),
      res.status < 400 ? "application/json" : "application/problem+json",
      `${method} ${path}: content-type`,
    );
    if (res.status >= 400) assert.equal(parsed.status, res.status, `${method} ${path}: the document's status`);
    return { status: res.status, headers: res.headers, body: parsed, audit };
  }

  test("the key part: served, refused by a guard, unknown", async () => {
    const created = await call("POST", "/keys", { client_id: "billing", scopes: ["read:echo"] });
    assert.deepEqual([created.status, created.audit.audit, created.audit.key_id], [201, "api_key.create", created.body.record.key_id]);
    assert.ok(!JSON.stringify(created.audit).includes(created.body.key), "the key is never audited");

    const listed = await call("GET", "/keys");
    assert.deepEqual([listed.status, listed.audit.audit], [200, "api_key.list"]);

    const wrong = await call("DELETE", "/keys");
    assert.deepEqual([wrong.status, wrong.body.code, wrong.headers.get("allow"), wrong.audit.audit], [405, "request_invalid", "GET, POST", "admin.method_not_allowed"]);

    const big = await call("POST", "/keys", `{"client_id":"${"x".repeat(70_000)}"}`);
    assert.deepEqual([big.status, big.body.code, big.audit.audit], [413, "request_invalid", "api_key.create"]);

    const unknown = await call("GET", "/nothing");
    assert.deepEqual([unknown.status, unknown.body.code, unknown.audit.audit, unknown.audit.key_id], [404, "route_not_found", "admin.unknown_route", null]);

    const missing = await call("GET", "/keys/key_AAAAAAAAAAAAAAAA");
    assert.deepEqual([missing.status, missing.body.code, missing.audit.audit], [404, "api_key_not_found", "api_key.get"]);
  });

  test("the revocation part: served, refused by a guard, unknown", async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const written = await call("POST", "/revocations/tokens", { jti: "jti-admin-audit", exp });
    assert.deepEqual([written.status, written.audit.audit, written.audit.jti], [201, "revocation.token", "jti-admin-audit"]);
    const again = await call("POST", "/revocations/tokens", { jti: "jti-admin-audit", exp });
    assert.deepEqual([again.status, again.body.created], [200, false]);

    const wrong = await call("PUT", "/revocations/tokens", { jti: "x", exp });
    assert.deepEqual([wrong.status, wrong.headers.get("allow"), wrong.audit.audit], [405, "POST", "revocation.token"]);

    const big = await call("POST", "/revocations/subjects", `{"sub":"${"x".repeat(70_000)}"}`);
    assert.deepEqual([big.status, big.audit.audit], [413, "revocation.subject"]);

    const bad = await call("POST", "/revocations/keys", { key_id: "nope" });
    assert.deepEqual([bad.status, bad.body.code, bad.audit.audit], [400, "request_invalid", "revocation.key"]);

    const unknown = await call("GET", "/revocations/everything");
    assert.deepEqual([unknown.status, unknown.body.code, unknown.audit.audit], [404, "route_not_found", "revocation.unknown_route"]);

    const list = await call("GET", "/revocations");
    assert.deepEqual([list.status, list.audit.audit], [200, "revocation.list"]);
    assert.ok(list.body.tokens.some((t) => t.jti === "jti-admin-audit"));
  });

  test("a key revoke is mirrored on the revocation list once, and a failed revoke not at all", async () => {
    const created = await call("POST", "/keys", { client_id: "mirror", scopes: ["read:echo"] });
    const keyId = created.body.record.key_id;

    const unknownId = "key_BBBBBBBBBBBBBBBB";
    const failed = await call("POST", `/keys/${unknownId}/revoke`);
    assert.deepEqual([failed.status, failed.body.code], [404, "api_key_not_found"]);
    await sleep(300);
    assert.equal(events("api_key_revocation_listed").filter((e) => e.key_id === unknownId).length, 0, "no mirror for a failed revoke");

    const revoked = await call("POST", `/keys/${keyId}/revoke`, { reason: "test" });
    assert.deepEqual([revoked.status, revoked.audit.audit, revoked.audit.already_revoked], [200, "api_key.revoke", false]);
    for (let i = 0; i < 40 && events("api_key_revocation_listed").length === 0; i++) await sleep(50);
    assert.equal(events("api_key_revocation_listed").filter((e) => e.key_id === keyId).length, 1, "mirrored once");

    const list = await call("GET", "/revocations");
    assert.ok(list.body.keys.some((k) => k.key_id === keyId), "the key is on the revocation list");
  });
});

describe("a refused admin call's audit line shows the path as the access log does", () => {
  let origin, issuer, gw;

  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer({ algs: ["ES256"] });
    gw = await startGateway(
      baseConfig({
        origin: origin.url,
        issuer,
        algorithms: ["ES256"],
        extra: {
          api_keys: { prefix: "pc_test", accepted_prefixes: ["pc_test"] },
          admin: { enabled: true },
          path_parameters: "allow",
        },
      }),
    );
  });
  after(async () => {
    await gw?.dispose();
    await origin?.close();
    await issuer?.close();
  });

  test("`;` parameters (a session id) are cut from the audited path, as from the request log", async () => {
    const res = await gw.fetch("/admin/keys;jsessionid=S3CR3T-SESSION/key_AAAAAAAAAAAAAAAA");
    assert.equal(res.status, 401);
    await res.text();
    let audit;
    for (let i = 0; i < 40 && !audit; i++) {
      audit = jsonLines(gw.logs).find((l) => l.audit === "admin.unauthenticated");
      if (!audit) await sleep(50);
    }
    assert.ok(audit, "audited");
    assert.equal(audit.path, "/admin/keys/key_AAAAAAAAAAAAAAAA");
    const request = jsonLines(gw.logs).find((l) => l.event === "request" && l.path?.startsWith("/admin/"));
    assert.equal(request?.path, audit.path, "the request log's path");
    assert.ok(!gw.logs.some((l) => l.includes("S3CR3T")), "the session id reaches no log line");
  });
});
