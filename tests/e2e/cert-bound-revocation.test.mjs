// End-to-end (RFC 8705 §3): revoking a client certificate also revokes the tokens bound to it. A
// JWT with `cnf.x5t#S256` passes with its (still cryptographically valid) certificate; once that
// certificate is revoked — admin `POST /admin/certs/{fp}/revoke` or `portcullis certs revoke`, the
// same `cert:<fingerprint>` entry on the revocation list — the token is refused 403
// `client_cert_revoked` like the certificate itself: in the isolate that wrote the entry at once,
// on `strict` routes of every isolate at once (they ask the RevocationStore object), and on
// `snapshot` routes of the others within the revocation bound. Two isolates in workerd sharing the
// real RevocationStore; certificates made here, Cloudflare's verdict as `request.cf`.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";
import { makeCa, makeClientCert, cfFor } from "../support/certs.mjs";
import { cliPath } from "../support/seed.mjs";

let origin, issuer, env, a, b, adminToken, ca;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  const cfg = baseConfig({
    origin: origin.url,
    issuer,
    extra: { admin: { enabled: true }, revocation: { refresh_interval_ms: 200 } },
  });
  cfg.routes.unshift(
    { name: "bound", methods: ["GET"], path: "/bound/*", auth: ["jwt"], binding: "required" },
    { name: "strict", methods: ["GET"], path: "/strict/*", auth: ["jwt"], binding: "required", revocation: "strict" },
  );
  env = await startIsolates(JSON.stringify(cfg), { count: 2 });
  [a, b] = env.isolates;
  adminToken = await issuer.mint({ alg: "ES256", claims: { sub: "ops", scope: "portcullis:admin" }, ttl: 3600 });
  ca = await makeCa();
});

after(async () => {
  await env?.dispose();
  await origin?.close();
  await issuer?.close();
});

async function register(cert, clientId) {
  const res = await a.fetch("/admin/certs", {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ pem: cert.pem, client_id: clientId, scopes: ["invoices:read"] }),
  });
  assert.equal(res.status, 201, await res.text());
}

const bind = (cert) => issuer.mint({ alg: "ES256", claims: { cnf: { "x5t#S256": cert.x5tS256 } } });

async function outcome(gw, path, token, cert) {
  const res = await gw.fetch(path, { headers: { authorization: `Bearer ${token}` }, cf: cfFor(cert) });
  const p = await problemOf(res);
  return { status: res.status, code: p.code };
}

const PASSES = { status: 200, code: undefined };
const REVOKED = { status: 403, code: "client_cert_revoked" };

test("a certificate revoked through the admin API takes its bound tokens with it, on every route and isolate", async () => {
  const cert = await makeClientCert(ca, { subject: "CN=bound-exporter" });
  const bystander = await makeClientCert(ca, { subject: "CN=bystander" });
  await register(cert, "bound-exporter");
  await register(bystander, "bystander");
  const token = await bind(cert);
  const other = await bind(bystander);
  for (const gw of [a, b]) {
    for (const path of ["/bound/x", "/strict/x"]) {
      assert.deepEqual(await outcome(gw, path, token, cert), PASSES, `before: ${path}`);
    }
  }

  const rev = await a.fetch(`/admin/certs/${cert.fingerprint}/revoke`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ reason: "key compromise" }),
  });
  assert.equal(rev.status, 200, await rev.text());

  // The writing isolate at once; strict routes everywhere at once (the object decides).
  assert.deepEqual(await outcome(a, "/bound/x", token, cert), REVOKED, "writer, snapshot");
  assert.deepEqual(await outcome(a, "/strict/x", token, cert), REVOKED, "writer, strict");
  assert.deepEqual(await outcome(b, "/strict/x", token, cert), REVOKED, "other isolate, strict");
  // Another isolate's snapshot route within the revocation bound (refresh_interval_ms 200).
  let seen;
  for (let i = 0; i < 50; i++) {
    seen = await outcome(b, "/bound/x", token, cert);
    if (seen.status !== 200) break;
    await sleep(100);
  }
  assert.deepEqual(seen, REVOKED, "other isolate, snapshot");

  // A token bound to another certificate is untouched.
  assert.deepEqual(await outcome(a, "/bound/x", other, bystander), PASSES);
  assert.deepEqual(await outcome(b, "/strict/x", other, bystander), PASSES);
});

test("portcullis certs revoke: the same entry, the same refusal of a bound token", async () => {
  const cert = await makeClientCert(ca, { subject: "CN=cli-bound" });
  await register(cert, "cli-bound");
  const token = await bind(cert);
  assert.deepEqual(await outcome(a, "/strict/x", token, cert), PASSES);
  // The CLI talks to the admin API over HTTP: Miniflare's URL reaches the first isolate.
  const gateway = (await env.mf.ready).toString().replace(/\/$/, "");
  const revoke = spawnSync(cliPath(), ["certs", "revoke", cert.fingerprint], {
    encoding: "utf8",
    env: { ...process.env, PORTCULLIS_GATEWAY: gateway, PORTCULLIS_ADMIN_TOKEN: adminToken },
    timeout: 30_000,
  });
  assert.equal(revoke.status, 0, revoke.stderr);
  assert.deepEqual(await outcome(a, "/strict/x", token, cert), REVOKED, "strict");
  assert.deepEqual(await outcome(b, "/strict/x", token, cert), REVOKED, "strict, other isolate");
});
