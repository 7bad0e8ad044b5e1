// End-to-end: the passkey listing and delete with a DPoP-bound session (RFC 9449). The caller
// proves its key as on the ceremonies (`session::caller`): a proof for this call's method and URL.
// A stolen bound token — as Bearer, with another key's proof, without a proof, or with a proof
// made for another method — neither lists nor deletes the owner's passkeys. Real WebAuthn
// answers, the real PasskeyStore, SessionFamily and DpopReplay objects in workerd; DPoP proofs by
// panva's `jose`.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startEchoOrigin, startIssuer, startGateway, problemOf } from "./harness.mjs";
import { startLoginOrigin } from "../support/login-origin.mjs";
import { SoftAuthenticator, b64url } from "../support/webauthn-authenticator.mjs";
import { makeHolder, proof } from "../support/dpop.mjs";
import { signingKeys, dpopSessionsConfig, postLogin, claimsOf } from "../support/sessions.mjs";

const RP_ID = "app.example.test";
const APP = "https://app.example.test";
const GATEWAY = "http://gateway.test";
const secret = randomBytes(32).toString("hex");
let origin, issuer, login, gw, holder, thief;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["RS256"] });
  login = await startLoginOrigin({ secret });
  const cfg = dpopSessionsConfig({
    origin,
    issuer,
    sessions: { app_origins: [APP], login: { url: login.loginUrl } },
    extra: { passkeys: { enabled: true, rp_id: RP_ID, rp_name: "Portcullis tests", allowed_origins: [APP], login_scope: "read:echo" } },
  });
  gw = await startGateway(cfg, { extraBindings: { PORTCULLIS_SIGNING_KEYS: signingKeys(), PORTCULLIS_LOGIN_SECRET: secret } });
  holder = await makeHolder();
  thief = await makeHolder();
});

after(async () => {
  await gw?.dispose();
  await origin?.close();
  await issuer?.close();
  await login?.close();
});

/** A call with DPoP-bound `token` and a proof by `key` for `htm` (the call's method by default). */
async function call(method, path, token, { key = holder, htm = method, body } = {}) {
  const headers = { origin: APP, authorization: `DPoP ${token}`, dpop: await proof(key, { htm, htu: `${GATEWAY}${path}`, token }) };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await gw.fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return problemOf(res);
}

test("a DPoP-bound session lists and deletes its passkeys with proofs; a stolen token without the key cannot", async () => {
  const res = await postLogin(gw, "/auth/login", { origin: APP, username: "alice", dpop: await proof(holder, { htm: "POST", htu: `${GATEWAY}/auth/login` }) });
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
