// End-to-end: a passkey (WebAuthn) step-up of a DPoP-bound session keeps the session's binding.
// The stepped-up access token carries the same `cnf.jkt` as the session's and is refused without a
// proof by that key — a step-up never turns a sender-constrained session into a bearer token. The
// TOTP step-up keeps it the same way (`identity::Confirmation::claim`, one path for both).
// And the caller of those endpoints proves its key as on a route (`session::caller`): a stolen
// DPoP-bound token without its key registers no passkey and enrolls no TOTP secret, and neither
// lists nor deletes the owner's passkeys (as Bearer, with another key's proof, without a proof,
// or with a proof made for another method).
// Real WebAuthn answers (tests/support/webauthn-authenticator.mjs), the real PasskeyStore,
// SessionFamily and DpopReplay objects in workerd; DPoP proofs by panva's `jose`.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startEchoOrigin, startIssuer, startGateway, problemOf } from "./harness.mjs";
import { startLoginOrigin } from "../support/login-origin.mjs";
import { SoftAuthenticator, FLAGS, b64url } from "../support/webauthn-authenticator.mjs";
import { makeHolder, proof } from "../support/dpop.mjs";
import { signingKeys, dpopSessionsConfig, postLogin, claimsOf } from "../support/sessions.mjs";

const RP_ID = "app.example.test";
const APP = "https://app.example.test";
const GATEWAY = "http://gateway.test";
const MFA_ACR = "urn:portcullis:acr:mfa";
const secret = randomBytes(32).toString("hex");
const SIGNING = signingKeys();
const json = { "content-type": "application/json", origin: APP };
let origin, issuer, login, gw, holder, thief;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["RS256"] });
  login = await startLoginOrigin({ secret });
  const cfg = dpopSessionsConfig({
    origin,
    issuer,
    sessions: { app_origins: [APP], login: { url: login.loginUrl } },
    extra: {
      passkeys: { enabled: true, rp_id: RP_ID, rp_name: "Portcullis tests", allowed_origins: [APP], login_scope: "read:echo" },
      mfa: { enabled: true, totp_issuer: "Portcullis tests" },
    },
  });
  cfg.routes.unshift({ name: "mfa", methods: ["GET"], path: "/mfa/*", auth: ["jwt"], scopes: ["read:echo"], mfa: "required" });
  gw = await startGateway(cfg, {
    extraBindings: { PORTCULLIS_SIGNING_KEYS: SIGNING, PORTCULLIS_LOGIN_SECRET: secret, PORTCULLIS_MFA_KEY: randomBytes(32).toString("base64url") },
  });
  holder = await makeHolder();
  thief = await makeHolder();
});

after(async () => {
  await gw?.dispose();
  await origin?.close();
  await issuer?.close();
  await login?.close();
});

/** A POST by the holder of DPoP-bound `token`: `Authorization: DPoP` and a proof for this call. */
async function post(path, body, token, key = holder) {
  const headers = { ...json };
  if (token) {
    headers.authorization = `DPoP ${token}`;
    headers.dpop = await proof(key, { htm: "POST", htu: `${GATEWAY}${path}`, token });
  }
  const res = await gw.fetch(path, { method: "POST", headers, body: JSON.stringify(body ?? {}) });
  return problemOf(res);
}

async function ok(path, body, token) {
  const p = await post(path, body, token);
  assert.equal(p.status < 300, true, `${path}: ${p.status} ${JSON.stringify(p.body)}`);
  return p.body;
}

async function boundSession(username = "alice") {
  const res = await postLogin(gw, "/auth/login", { origin: APP, username, dpop: await proof(holder, { htm: "POST", htu: `${GATEWAY}/auth/login` }) });
  const session = await res.json();
  assert.equal(res.status, 200, JSON.stringify(session));
  assert.equal(session.token_type, "DPoP");
  assert.deepEqual(claimsOf(session.access_token).cnf, { jkt: holder.jkt });
  return session.access_token;
}

test("a passkey step-up of a DPoP-bound session mints a token bound to the same key, refused without its proof", async () => {
  const bound = await boundSession();

  // Register a passkey, then step up with it (each call proving the session's key).
  const auth = new SoftAuthenticator({ rpId: RP_ID, flags: FLAGS.UP | FLAGS.UV, signCount: 1 });
  await ok("/auth/passkeys/register/verify", auth.register((await ok("/auth/passkeys/register/options", {}, bound)).publicKey, APP), bound);
  const options = (await ok("/auth/passkeys/step-up/options", {}, bound)).publicKey;
  const stepped = await ok("/auth/passkeys/step-up/verify", auth.assert(options, APP), bound);

  const claims = claimsOf(stepped.access_token);
  assert.equal(claims.sid, claimsOf(bound).sid, "the same session");
  assert.equal(claims.acr, MFA_ACR);
  assert.deepEqual(claims.cnf, { jkt: holder.jkt }, "the step-up keeps the session's binding");
  assert.equal(stepped.token_type, "DPoP");

  // Without the proof the stepped-up token is refused; with it, it passes the mfa route.
  const asBearer = await problemOf(await gw.fetch("/mfa/x", { headers: { authorization: `Bearer ${stepped.access_token}` } }));
  assert.equal(asBearer.status, 401);
  assert.equal(asBearer.code, "token_bound_as_bearer");
  const noProof = await problemOf(await gw.fetch("/mfa/x", { headers: { authorization: `DPoP ${stepped.access_token}` } }));
  assert.equal(noProof.status, 401);
  assert.equal(noProof.code, "dpop_proof_missing");
  const withProof = await gw.fetch("/mfa/x", {
    headers: { authorization: `DPoP ${stepped.access_token}`, dpop: await proof(holder, { htu: `${GATEWAY}/mfa/x`, token: stepped.access_token }) },
  });
  assert.equal(withProof.status, 200, await withProof.clone().text());
  assert.equal((await withProof.json()).headers["x-user-id"], "alice");
});

test("a DPoP-bound token without its key registers no passkey and enrolls no TOTP secret", async () => {
  const stolen = await boundSession("bob");
  const asBearer = async (path) => {
    const res = await gw.fetch(path, { method: "POST", headers: { ...json, authorization: `Bearer ${stolen}` }, body: "{}" });
    return problemOf(res);
  };
  for (const path of ["/auth/passkeys/register/options", "/auth/passkeys/step-up/options", "/auth/mfa/totp/enroll"]) {
    const bearer = await asBearer(path);
    assert.deepEqual([bearer.status, bearer.code], [401, "token_bound_as_bearer"], `${path} as Bearer`);
    const thiefs = await post(path, {}, stolen, thief);
    assert.deepEqual([thiefs.status, thiefs.code], [401, "token_binding_mismatch"], `${path} with another key's proof`);
    const noProof = await problemOf(await gw.fetch(path, { method: "POST", headers: { ...json, authorization: `DPoP ${stolen}` }, body: "{}" }));
    assert.deepEqual([noProof.status, noProof.code], [401, "dpop_proof_missing"], `${path} without a proof`);
  }
  // The holder itself gets through, on both endpoints.
  assert.ok((await ok("/auth/passkeys/register/options", {}, stolen)).publicKey.challenge);
  const enrolled = await ok("/auth/mfa/totp/enroll", {}, stolen);
  assert.equal(typeof enrolled.secret, "string");
});

/** A call with DPoP-bound `token` and a proof by `key` for `htm` (the call's method by default). */
async function call(method, path, token, { key = holder, htm = method, body } = {}) {
  const headers = { origin: APP, authorization: `DPoP ${token}`, dpop: await proof(key, { htm, htu: `${GATEWAY}${path}`, token }) };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await gw.fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return problemOf(res);
}

test("a DPoP-bound session lists and deletes its passkeys with proofs; a stolen token without the key cannot", async () => {
  const res = await postLogin(gw, "/auth/login", { origin: APP, username: "bob", dpop: await proof(holder, { htm: "POST", htu: `${GATEWAY}/auth/login` }) });
  const bound = (await res.json()).access_token;
  assert.deepEqual(claimsOf(bound).cnf, { jkt: holder.jkt });
  const auth = new SoftAuthenticator({ rpId: RP_ID });
  const options = await call("POST", "/auth/passkeys/register/options", bound, { body: {} });
  assert.equal(options.status, 200, JSON.stringify(options.body));
  const registered = await call("POST", "/auth/passkeys/register/verify", bound, { body: auth.register(options.body.publicKey, APP) });
  assert.equal(registered.status, 201, JSON.stringify(registered.body));
  const id = b64url(auth.credentialId);
  const path = `/auth/passkeys/${id}`;

  const listed = await call("GET", "/auth/passkeys", bound);
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  assert.deepEqual(listed.body.passkeys.map((p) => p.credential_id), [id]);

  const plain = (method, p, scheme) => gw.fetch(p, { method, headers: { origin: APP, authorization: `${scheme} ${bound}` } }).then(problemOf);
  for (const [method, p] of [["GET", "/auth/passkeys"], ["DELETE", path]]) {
    const asBearer = await plain(method, p, "Bearer");
    assert.deepEqual([asBearer.status, asBearer.code], [401, "token_bound_as_bearer"], `${method} as Bearer`);
    const noProof = await plain(method, p, "DPoP");
    assert.deepEqual([noProof.status, noProof.code], [401, "dpop_proof_missing"], `${method} without a proof`);
    const thiefs = await call(method, p, bound, { key: thief });
    assert.deepEqual([thiefs.status, thiefs.code], [401, "token_binding_mismatch"], `${method} with another key's proof`);
  }
  // The holder's proof made for another method does not delete either.
  const wrongMethod = await call("DELETE", path, bound, { htm: "GET" });
  assert.deepEqual([wrongMethod.status, wrongMethod.code], [401, "dpop_method_mismatch"]);
  assert.equal((await call("GET", "/auth/passkeys", bound)).body.passkeys.length, 1, "nothing deleted");

  const deleted = await call("DELETE", path, bound);
  assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
  assert.deepEqual((await call("GET", "/auth/passkeys", bound)).body, { passkeys: [] });
});
