// End-to-end (issue 13): mTLS client identity and certificate-bound tokens (RFC 8705) in workerd.
// Certificates are generated here (a CA, a client certificate, an expired one, one never
// registered); Cloudflare's verdict on the handshake reaches the worker as `request.cf`, which
// Miniflare's dispatchFetch sets from `{ cf }` exactly as the edge would. The registry is filled
// through the admin API and the CLI.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEchoOrigin, startIssuer, startGateway, baseConfig, problemOf } from "./harness.mjs";
import { makeCa, makeClientCert, cfFor } from "../support/certs.mjs";
import { cliPath } from "../support/seed.mjs";

const DAY = 86_400_000;
let origin, issuer, gateway, adminToken;
let ca, client, expired, notYet, unknown, revoked, limited, other;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  const cfg = baseConfig({
    origin: origin.url,
    issuer,
    extra: { admin: { enabled: true }, revocation: {}, rate_limits: { machines: "2 per 600 s" } },
  });
  cfg.routes.unshift(
    { name: "machine", methods: ["GET", "POST"], path: "/machine/*", auth: ["mtls"], scopes: ["invoices:read"] },
    { name: "limited", methods: ["GET"], path: "/limited/*", auth: ["mtls"], rate_limit: "machines" },
    { name: "either", methods: ["GET"], path: "/either/*", auth: ["jwt", "mtls"] },
    { name: "bound", methods: ["GET"], path: "/bound/*", auth: ["jwt"], binding: "required" },
  );
  gateway = await startGateway(cfg);
  adminToken = await issuer.mint({ alg: "ES256", claims: { sub: "ops", scope: "portcullis:admin" }, ttl: 3600 });
  ca = await makeCa();
  client = await makeClientCert(ca, { subject: "CN=billing-exporter,O=Example Corp" });
  expired = await makeClientCert(ca, { subject: "CN=old", notBefore: new Date(Date.now() - 60 * DAY), notAfter: new Date(Date.now() - DAY) });
  notYet = await makeClientCert(ca, { subject: "CN=early", notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 60 * DAY) });
  unknown = await makeClientCert(ca, { subject: "CN=stranger" });
  revoked = await makeClientCert(ca, { subject: "CN=revoked" });
  limited = await makeClientCert(ca, { subject: "CN=limited" });
  other = await makeClientCert(ca, { subject: "CN=Zoë Müller,O=Example" });
  for (const [c, id, scopes] of [
    [client, "billing-exporter", ["invoices:read"]],
    [expired, "old", ["invoices:read"]],
    [notYet, "early", ["invoices:read"]],
    [revoked, "revoked", ["invoices:read"]],
    [other, "zoe", ["invoices:read"]],
  ]) {
    const r = await admin("POST", "/certs", { pem: c.pem, client_id: id, scopes });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.fingerprint, c.fingerprint, "the gateway computes Cloudflare's fingerprint from the PEM");
  }
  const r = await admin("POST", "/certs", { fingerprint: limited.fingerprint.toUpperCase(), client_id: "limited", rate_limit_policy: "machines" });
  assert.equal(r.status, 201, JSON.stringify(r.body));
});

after(async () => {
  await gateway?.dispose();
  await origin?.close();
  await issuer?.close();
});

async function admin(method, p, body) {
  const init = { method, headers: { authorization: `Bearer ${adminToken}` } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  return problemOf(await gateway.fetch(`/admin${p}`, init));
}

const get = (p, init = {}) => gateway.fetch(p, init);

test("a registered, verified certificate reaches the origin as mtls: client id, scopes, fingerprint and subject", async () => {
  const res = await get("/machine/invoices", { cf: cfFor(client) });
  assert.equal(res.status, 200, await res.clone().text());
  const seen = await res.json();
  assert.equal(seen.headers["x-auth-method"], "mtls");
  assert.equal(seen.headers["x-client-id"], "billing-exporter");
  assert.equal(seen.headers["x-user-id"], "billing-exporter");
  assert.equal(seen.headers["x-user-scopes"], "invoices:read");
  assert.equal(seen.headers["x-client-cert-fingerprint"], client.fingerprint);
  assert.equal(seen.headers["x-client-cert-subject"], "CN=billing-exporter, O=Example Corp");
});

test("a subject reaches the origin header-safe: printable ASCII, anything else (and %) percent-encoded", async () => {
  const res = await get("/machine/x", { cf: cfFor(client, { certSubjectDNRFC2253: "CN=100% real,O=A\r\nX-User-Id: admin" }) });
  assert.equal(res.status, 200);
  const seen = await res.json();
  assert.equal(seen.headers["x-client-cert-subject"], "CN=100%25 real,O=A%0D%0AX-User-Id: admin");
  assert.equal(seen.headers["x-user-id"], "billing-exporter");
  // Miniflare carries `cf` in a header, which turns non-ASCII into U+FFFD before the worker sees
  // it; whatever arrives, the origin gets ASCII only.
  const utf8 = await (await get("/machine/x", { cf: cfFor(other) })).json();
  assert.match(utf8.headers["x-client-cert-subject"], /^CN=Zo%[0-9A-F]{2}(%[0-9A-F]{2})* M%[0-9A-F]{2}(%[0-9A-F]{2})*ller, O=Example$/);
});

test("Cloudflare's fingerprint is matched in any case", async () => {
  const res = await get("/machine/x", { cf: cfFor(client, { certFingerprintSHA256: client.fingerprint.toUpperCase() }) });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).headers["x-client-cert-fingerprint"], client.fingerprint);
});

test("no certificate: 401 client_cert_missing, with no cf object (a plain local request) or none presented", async () => {
  for (const init of [{}, { cf: { tlsClientAuth: { certPresented: "0", certVerified: "NONE" } } }, { cf: { colo: "DFW" } }]) {
    const r = await problemOf(await get("/machine/x", init));
    assert.equal(r.status, 401, JSON.stringify(init));
    assert.equal(r.code, "client_cert_missing");
    assert.equal(r.headers.get("www-authenticate"), null, "no HTTP scheme exists for a TLS client certificate");
  }
});

test("a client header claiming a certificate authenticates nothing and never reaches the origin", async () => {
  const spoof = {
    "x-client-cert-fingerprint": client.fingerprint,
    "x-forwarded-client-cert": `Hash=${client.fingerprint};Subject="CN=billing-exporter"`,
    "x-ssl-client-verify": "SUCCESS",
    "x-client-cert": encodeURIComponent(client.pem),
  };
  const r = await problemOf(await get("/machine/x", { headers: spoof }));
  assert.equal(r.status, 401);
  assert.equal(r.code, "client_cert_missing");
  const through = await get("/machine/x", { cf: cfFor(unknown), headers: spoof });
  assert.equal(through.status, 403);
  const ok = await get("/machine/x", { cf: cfFor(client), headers: { ...spoof, "x-client-cert-fingerprint": unknown.fingerprint } });
  const seen = await ok.json();
  assert.equal(seen.headers["x-client-cert-fingerprint"], client.fingerprint);
  assert.equal(seen.headers["x-forwarded-client-cert"], undefined);
  assert.equal(seen.headers["x-ssl-client-verify"], undefined);
  assert.equal(seen.headers["x-client-cert"], undefined);
});

test("a certificate Cloudflare did not verify: 401 client_cert_unverified", async () => {
  const r = await problemOf(await get("/machine/x", { cf: cfFor(client, { certVerified: "FAILED:unable to get local issuer certificate" }) }));
  assert.equal(r.status, 401);
  assert.equal(r.code, "client_cert_unverified");
});

test("outside its validity: 401 client_cert_expired (expired, and not yet valid)", async () => {
  for (const c of [expired, notYet]) {
    const r = await problemOf(await get("/machine/x", { cf: cfFor(c) }));
    assert.equal(r.status, 401);
    assert.equal(r.code, "client_cert_expired");
  }
});

test("a verified certificate that is not registered: 403 client_cert_unknown", async () => {
  const r = await problemOf(await get("/machine/x", { cf: cfFor(unknown) }));
  assert.equal(r.status, 403);
  assert.equal(r.code, "client_cert_unknown");
});

test("revoked by fingerprint through the admin API: 403 client_cert_revoked; and by Cloudflare's own list", async () => {
  assert.equal((await get("/machine/x", { cf: cfFor(revoked) })).status, 200);
  const rev = await admin("POST", `/certs/${revoked.fingerprint.toUpperCase()}/revoke`, { reason: "key compromise" });
  assert.equal(rev.status, 200, JSON.stringify(rev.body));
  assert.equal(typeof rev.body.revoked_at, "number");
  const r = await problemOf(await get("/machine/x", { cf: cfFor(revoked) }));
  assert.equal(r.status, 403);
  assert.equal(r.code, "client_cert_revoked");
  const list = await admin("GET", "/revocations");
  assert.ok(list.body.keys.some((k) => k.key_id === `cert:${revoked.fingerprint}`), "on the revocation list");
  const cf = await problemOf(await get("/machine/x", { cf: cfFor(client, { certRevoked: "1" }) }));
  assert.equal(cf.status, 403);
  assert.equal(cf.code, "client_cert_revoked");
});

test("a certificate identity is held to the route's scopes", async () => {
  const cfg = await admin("POST", "/certs", { fingerprint: unknown.fingerprint, client_id: "no-scopes" });
  assert.equal(cfg.status, 201);
  const r = await problemOf(await get("/machine/x", { cf: cfFor(unknown) }));
  assert.equal(r.status, 403);
  assert.equal(r.code, "insufficient_scope");
});

test("rate limits key on cert:<fingerprint>", async () => {
  for (let i = 0; i < 2; i++) assert.equal((await get("/limited/x", { cf: cfFor(limited) })).status, 200);
  const third = await problemOf(await get("/limited/x", { cf: cfFor(limited) }));
  assert.equal(third.status, 429);
  assert.equal(third.code, "rate_limited");
  const ns = await gateway.mf.getDurableObjectNamespace("PORTCULLIS_RATE_LIMITER");
  const stats = await (await ns.get(ns.idFromName(`cert:${limited.fingerprint}`)).fetch("http://do/stats")).json();
  assert.ok(stats.buckets >= 1, JSON.stringify(stats));
});

test("a route taking jwt or mtls authenticates by certificate when no token is sent", async () => {
  const res = await get("/either/x", { cf: cfFor(client) });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).headers["x-auth-method"], "mtls");
  const none = await problemOf(await get("/either/x"));
  assert.equal(none.code, "token_missing");
});

// --- RFC 8705: certificate-bound access tokens

test("a token bound with cnf.x5t#S256 passes with that client certificate (any route taking jwt)", async () => {
  const token = await issuer.mint({ alg: "ES256", claims: { cnf: { "x5t#S256": client.x5tS256 } } });
  const res = await get("/api/x", { headers: { authorization: `Bearer ${token}` }, cf: cfFor(client) });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal((await res.json()).headers["x-auth-method"], "jwt");
});

test("a certificate-bound token with another certificate, or none: 401 token_binding_mismatch", async () => {
  const token = await issuer.mint({ alg: "ES256", claims: { cnf: { "x5t#S256": client.x5tS256 } } });
  for (const cf of [cfFor(unknown), undefined, { tlsClientAuth: { certPresented: "0" } }]) {
    const r = await problemOf(await get("/api/x", { headers: { authorization: `Bearer ${token}` }, ...(cf ? { cf } : {}) }));
    assert.equal(r.status, 401);
    assert.equal(r.code, "token_binding_mismatch");
    assert.match(r.headers.get("www-authenticate"), /error="invalid_token"/);
  }
});

test("a certificate-bound token with its certificate unverified, expired or revoked by Cloudflare: that certificate's code", async () => {
  const token = await issuer.mint({ alg: "ES256", claims: { cnf: { "x5t#S256": client.x5tS256 } } });
  const expiredToken = await issuer.mint({ alg: "ES256", claims: { cnf: { "x5t#S256": expired.x5tS256 } } });
  for (const [tok, cf, status, code] of [
    [token, cfFor(client, { certVerified: "FAILED:x" }), 401, "client_cert_unverified"],
    [token, cfFor(client, { certRevoked: "1" }), 403, "client_cert_revoked"],
    [expiredToken, cfFor(expired), 401, "client_cert_expired"],
  ]) {
    const r = await problemOf(await get("/api/x", { headers: { authorization: `Bearer ${tok}` }, cf }));
    assert.equal(r.status, status, code);
    assert.equal(r.code, code);
  }
});

test("a cnf the gateway cannot check is refused, not accepted unbound", async () => {
  for (const cnf of [{ jwk: { kty: "EC" } }, {}, { "x5t#S256": "short" }, "x"]) {
    const token = await issuer.mint({ alg: "ES256", claims: { cnf } });
    const r = await problemOf(await get("/api/x", { headers: { authorization: `Bearer ${token}` }, cf: cfFor(client) }));
    assert.equal(r.status, 401, JSON.stringify(cnf));
    assert.equal(r.code, "token_claim_invalid");
  }
});

test("binding = \"required\": an unbound token is 401 token_binding_required, a bound one passes", async () => {
  const plain = await issuer.mint({ alg: "ES256" });
  const r = await problemOf(await get("/bound/x", { headers: { authorization: `Bearer ${plain}` }, cf: cfFor(client) }));
  assert.equal(r.status, 401);
  assert.equal(r.code, "token_binding_required");
  const bound = await issuer.mint({ alg: "ES256", claims: { cnf: { "x5t#S256": client.x5tS256 } } });
  assert.equal((await get("/bound/x", { headers: { authorization: `Bearer ${bound}` }, cf: cfFor(client) })).status, 200);
});

test("with DPoP off, a DPoP-bound token is still refused as Bearer and the DPoP scheme is unsupported", async () => {
  const token = await issuer.mint({ alg: "ES256", claims: { cnf: { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" } } });
  const bearer = await problemOf(await get("/api/x", { headers: { authorization: `Bearer ${token}` } }));
  assert.equal(bearer.code, "token_bound_as_bearer");
  const dpop = await problemOf(await get("/api/x", { headers: { authorization: `DPoP ${token}` } }));
  assert.equal(dpop.code, "authorization_scheme_unsupported");
});

// --- the registry's admin API and the CLI

test("the certificate API: show, list, duplicates, unknown fingerprints and bad input", async () => {
  const show = await admin("GET", `/certs/${client.fingerprint}`);
  assert.equal(show.status, 200);
  assert.equal(show.body.client_id, "billing-exporter");
  const list = await admin("GET", "/certs");
  assert.equal(list.status, 200);
  assert.ok(list.body.certs.some((c) => c.fingerprint === client.fingerprint));
  const dup = await admin("POST", "/certs", { pem: client.pem, client_id: "again" });
  assert.equal(dup.status, 409);
  const missing = await admin("GET", `/certs/${"0".repeat(64)}`);
  assert.equal(missing.status, 404);
  assert.equal(missing.code, "client_cert_not_found");
  const revokeMissing = await admin("POST", `/certs/${"0".repeat(64)}/revoke`, {});
  assert.equal(revokeMissing.code, "client_cert_not_found");
  const badPath = await admin("GET", "/certs/not-hex");
  assert.equal(badPath.status, 404);
  assert.equal(badPath.code, "route_not_found");
  for (const body of [
    { client_id: "x" },
    { pem: client.pem, fingerprint: client.fingerprint, client_id: "x" },
    { pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", client_id: "x" },
    { fingerprint: "abc", client_id: "x" },
    { fingerprint: "1".repeat(64), client_id: "bad id" },
    { fingerprint: "1".repeat(64), client_id: "x", scopes: ["a,b"] },
    { fingerprint: "1".repeat(64), client_id: "x", extra: 1 },
  ]) {
    const r = await admin("POST", "/certs", body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.code, "request_invalid");
  }
  const method = await admin("DELETE", `/certs/${client.fingerprint}`);
  assert.equal(method.status, 405);
});

test("portcullis certs register --pem computes the fingerprint Cloudflare reports and registers it", async () => {
  const fresh = await makeClientCert(ca, { subject: "CN=cli-registered" });
  const dir = mkdtempSync(path.join(tmpdir(), "pc-certs-"));
  const file = path.join(dir, "client.pem");
  writeFileSync(file, fresh.pem);
  const fp = spawnSync(cliPath(), ["certs", "fingerprint", "--pem", file], { encoding: "utf8" });
  assert.equal(fp.status, 0, fp.stderr);
  assert.equal(fp.stdout.trim(), fresh.fingerprint);
  const r = spawnSync(
    cliPath(),
    ["certs", "register", "--json", "--pem", file, "--client-id", "cli-client", "--scopes", "invoices:read"],
    { encoding: "utf8", env: { ...process.env, PORTCULLIS_GATEWAY: gateway.url, PORTCULLIS_ADMIN_TOKEN: adminToken }, timeout: 30_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).fingerprint, fresh.fingerprint);
  const res = await get("/machine/x", { cf: cfFor(fresh) });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).headers["x-client-id"], "cli-client");
  const revoke = spawnSync(cliPath(), ["certs", "revoke", fresh.fingerprint], {
    encoding: "utf8",
    env: { ...process.env, PORTCULLIS_GATEWAY: gateway.url, PORTCULLIS_ADMIN_TOKEN: adminToken },
    timeout: 30_000,
  });
  assert.equal(revoke.status, 0, revoke.stderr);
  assert.equal((await problemOf(await get("/machine/x", { cf: cfFor(fresh) }))).code, "client_cert_revoked");
});
