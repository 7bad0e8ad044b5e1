// End-to-end: a passkey login with a DPoP proof starts a session bound to the proof's key, exactly
// as `/auth/login` does (RFC 9449 §5): `token_type` DPoP, `cnf.jkt` of that key, a refresh that
// needs the key; a proof that fails a check refuses the login with the code `/auth/login` gives
// for the same proof, and never falls back to a Bearer session. Both endpoints read the proof
// through one function (`dpop::issuance::binding_for_new_session`).
// Real WebAuthn answers (tests/support/webauthn-authenticator.mjs), the real PasskeyStore,
// SessionFamily and DpopReplay objects in workerd; DPoP proofs by panva's `jose`.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { generateKeyPair, exportJWK, calculateJwkThumbprint, SignJWT } from "jose";
import { startEchoOrigin, startIssuer, startGateway, baseConfig, problemOf } from "./harness.mjs";
import { startLoginOrigin, USERS } from "../support/login-origin.mjs";
import { SoftAuthenticator, FLAGS } from "../support/webauthn-authenticator.mjs";

const RP_ID = "app.example.test";
const APP = "https://app.example.test";
const GATEWAY = "http://gateway.test";
const LOGIN = `${GATEWAY}/auth/login`;
const PASSKEY_LOGIN = `${GATEWAY}/auth/passkeys/login/verify`;
const COOKIE = "__Host-portcullis_refresh";
const secret = randomBytes(32).toString("hex");
const json = { "content-type": "application/json", origin: APP };
let origin, issuer, login, gw, holder, other, auth;

function signingKeys() {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...privateKey.export({ format: "jwk" }), kid: "gw-1", alg: "ES256" };
  return JSON.stringify({ active: "gw-1", keys: [jwk] });
}

async function makeHolder() {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk, "sha256") };
}

function proof(h, htm, htu, extra = {}) {
  const claims = { jti: randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000), ...extra };
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk: h.jwk }).sign(h.privateKey);
}

const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
const cookieOf = (res) => new RegExp(`^${COOKIE}=([^;]*)`).exec(res.headers.get("set-cookie") ?? "")?.[1];

async function post(path, body, { token, dpop } = {}) {
  const headers = { ...json };
  if (token) headers.authorization = `Bearer ${token}`;
  if (dpop) headers.dpop = dpop;
  return gw.fetch(path, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body ?? {}) });
}

/** A passkey login's assertion (the options fetched first): the request body, not yet sent. */
async function assertion() {
  const res = await post("/auth/passkeys/login/options", {});
  const options = await res.json();
  assert.equal(res.status, 200, JSON.stringify(options));
  return JSON.stringify(auth.assert(options.publicKey, APP));
}

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["RS256"] });
  login = await startLoginOrigin({ secret });
  const cfg = baseConfig({
    origin: origin.url,
    issuer,
    extra: {
      dpop: { enabled: true },
      sessions: {
        enabled: true,
        issuer: "http://127.0.0.1:9/portcullis",
        audiences: ["https://api.portcullis.test"],
        app_origins: [APP],
        login: { url: login.loginUrl },
      },
      passkeys: { enabled: true, rp_id: RP_ID, rp_name: "Portcullis tests", allowed_origins: [APP], login_scope: "read:echo" },
    },
  });
  gw = await startGateway(cfg, { extraBindings: { PORTCULLIS_SIGNING_KEYS: signingKeys(), PORTCULLIS_LOGIN_SECRET: secret } });
  holder = await makeHolder();
  other = await makeHolder();

  // alice registers a passkey from a Bearer password session.
  const session = await (await post("/auth/login", { username: "alice", password: USERS.alice.password })).json();
  assert.equal(session.token_type, "Bearer");
  auth = new SoftAuthenticator({ rpId: RP_ID, flags: FLAGS.UP | FLAGS.UV, signCount: 0 });
  const options = await (await post("/auth/passkeys/register/options", {}, { token: session.access_token })).json();
  const reg = await post("/auth/passkeys/register/verify", auth.register(options.publicKey, APP), { token: session.access_token });
  assert.equal(reg.status, 201, await reg.clone().text());
});

after(async () => {
  await gw?.dispose();
  await origin?.close();
  await issuer?.close();
  await login?.close();
});

test("a passkey login with a DPoP proof starts a session bound to its key: token_type DPoP, cnf.jkt, refresh needs the key", async () => {
  const res = await post("/auth/passkeys/login/verify", await assertion(), { dpop: await proof(holder, "POST", PASSKEY_LOGIN) });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.token_type, "DPoP");
  const claims = claimsOf(body.access_token);
  assert.equal(claims.sub, "alice");
  assert.deepEqual(claims.cnf, { jkt: holder.jkt });

  // The token works only with a proof by that key, as a bound `/auth/login` token does.
  const asBearer = await problemOf(await gw.fetch("/api/x", { headers: { authorization: `Bearer ${body.access_token}` } }));
  assert.deepEqual([asBearer.status, asBearer.code], [401, "token_bound_as_bearer"]);

  // Its refresh needs the key: none is dpop_proof_missing, another key's token_binding_mismatch.
  const cookie = cookieOf(res);
  assert.ok(cookie, "a refresh cookie");
  const refresh = async (dpop) =>
    problemOf(await gw.fetch("/auth/refresh", { method: "POST", headers: { ...json, cookie: `${COOKIE}=${cookie}`, ...(dpop ? { dpop } : {}) }, body: "{}" }));
  assert.deepEqual((await refresh()).code, "dpop_proof_missing");
  assert.deepEqual((await refresh(await proof(other, "POST", `${GATEWAY}/auth/refresh`))).code, "token_binding_mismatch");
  const good = await refresh(await proof(holder, "POST", `${GATEWAY}/auth/refresh`));
  assert.equal(good.status, 200, JSON.stringify(good.body));
  assert.equal(good.body.token_type, "DPoP");
  assert.deepEqual(claimsOf(good.body.access_token).cnf, { jkt: holder.jkt });
});

test("a passkey login without a proof is still a Bearer session", async () => {
  const res = await post("/auth/passkeys/login/verify", await assertion());
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.token_type, "Bearer");
  assert.equal(claimsOf(body.access_token).cnf, undefined);
});

test("a bad proof refuses a passkey login with the code /auth/login gives for it, never a Bearer session", async () => {
  const password = JSON.stringify({ username: "alice", password: USERS.alice.password });
  const cases = [
    ["not a JWS", () => "not-a-proof", "dpop_proof_invalid"],
    ["htm GET", (htu) => proof(holder, "GET", htu), "dpop_method_mismatch"],
    ["htu another endpoint", () => proof(holder, "POST", `${GATEWAY}/auth/token`), "dpop_url_mismatch"],
    ["iat an hour ago", (htu) => proof(holder, "POST", htu, { iat: Math.floor(Date.now() / 1000) - 3600 }), "dpop_proof_stale"],
  ];
  for (const [name, make, code] of cases) {
    const viaLogin = await problemOf(await post("/auth/login", password, { dpop: await make(LOGIN) }));
    assert.deepEqual([viaLogin.status, viaLogin.code], [401, code], `/auth/login, ${name}`);
    const viaPasskey = await problemOf(await post("/auth/passkeys/login/verify", await assertion(), { dpop: await make(PASSKEY_LOGIN) }));
    assert.deepEqual([viaPasskey.status, viaPasskey.code], [viaLogin.status, viaLogin.code], `passkey login, ${name}`);
    assert.equal(viaPasskey.headers.get("set-cookie"), null, `no session started, ${name}`);
  }
  // A replayed proof: refused the same way on both endpoints.
  const once = await proof(holder, "POST", PASSKEY_LOGIN);
  assert.equal((await post("/auth/passkeys/login/verify", await assertion(), { dpop: once })).status, 200);
  const replayed = await problemOf(await post("/auth/passkeys/login/verify", await assertion(), { dpop: once }));
  assert.deepEqual([replayed.status, replayed.code], [401, "dpop_proof_replayed"]);
});

test("a refused proof leaves the passkey assertion unspent: the same assertion with a good proof logs in", async () => {
  const body = await assertion();
  const refused = await problemOf(await post("/auth/passkeys/login/verify", body, { dpop: "not-a-proof" }));
  assert.deepEqual([refused.status, refused.code], [401, "dpop_proof_invalid"]);
  const res = await post("/auth/passkeys/login/verify", body, { dpop: await proof(holder, "POST", PASSKEY_LOGIN) });
  const session = await res.json();
  assert.equal(res.status, 200, JSON.stringify(session));
  assert.equal(session.token_type, "DPoP");
  assert.deepEqual(claimsOf(session.access_token).cnf, { jkt: holder.jkt });
});
