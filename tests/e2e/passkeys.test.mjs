// End-to-end: WebAuthn passkeys in workerd. A software authenticator (tests/support/webauthn-
// authenticator.mjs: node:crypto keys, real CBOR, real signatures) answers the gateway's options;
// the gateway verifies through WebCrypto and the real PasskeyStore Durable Object. Registration
// for a password session, passkey login (a new session), step-up (same sid, amr extended), a
// `mfa = "required"` route before and after; then every refusal code, a challenge raced by two
// isolates, and the store missing (fail closed).

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startEchoOrigin, startIssuer, startGateway, baseConfig, problemOf, DURABLE_OBJECTS } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";
import { startLoginOrigin, USERS } from "../support/login-origin.mjs";
import { SoftAuthenticator, FLAGS, cbor, b64url, sha256 } from "../support/webauthn-authenticator.mjs";
import { signingKeys, claimsOf } from "../support/sessions.mjs";

const RP_ID = "app.example.test";
const APP = "https://app.example.test";
const GW_ISSUER = "http://127.0.0.1:9/portcullis";
const AUDIENCE = "https://api.portcullis.test";
const MFA_ACR = "urn:portcullis:acr:mfa";
const secret = randomBytes(32).toString("hex");
const json = { "content-type": "application/json", origin: APP };

function config({ origin, issuer, login, passkeys = {} }) {
  const cfg = baseConfig({
    origin: origin.url,
    issuer,
    extra: {
      sessions: {
        enabled: true,
        issuer: GW_ISSUER,
        audiences: [AUDIENCE],
        access_token_ttl_seconds: 300,
        app_origins: [APP],
        login: { url: login.loginUrl },
      },
      passkeys: {
        enabled: true,
        rp_id: RP_ID,
        rp_name: "Portcullis tests",
        allowed_origins: [APP],
        login_scope: "read:echo",
        max_credentials_per_user: 6,
        ...passkeys,
      },
    },
  });
  cfg.routes.unshift({ name: "mfa", methods: ["GET"], path: "/mfa/*", auth: ["jwt"], scopes: ["read:echo"], mfa: "required" });
  return cfg;
}

/** A client of one gateway (`fetch` of startGateway or of an isolate). `httpOrigin` is the Origin
 * header the page's requests carry (Miniflare's getWorker accepts only the gateway's own). */
function client(fetch, httpOrigin = APP) {
  const post = async (path, body, token) => {
    const headers = { ...json, origin: httpOrigin };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(path, { method: "POST", headers, body: body === undefined ? "{}" : JSON.stringify(body) });
    const p = await problemOf(res);
    return { status: res.status, code: p.code, body: p.body, headers: res.headers };
  };
  return {
    post,
    async password(username = "alice") {
      const r = await post("/auth/login", { username, password: USERS[username].password });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.access_token;
    },
    async options(kind, token) {
      const r = await post(`/auth/passkeys/${kind}/options`, {}, token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.publicKey;
    },
    async register(auth, token, opts = {}) {
      const options = await this.options("register", token);
      return post("/auth/passkeys/register/verify", auth.register(options, opts.origin ?? APP, opts), token);
    },
    async login(auth, opts = {}) {
      const options = await this.options("login");
      return post("/auth/passkeys/login/verify", auth.assert(options, opts.origin ?? APP, opts));
    },
    async stepUp(auth, token, opts = {}) {
      const options = await this.options("step-up", token);
      return post("/auth/passkeys/step-up/verify", auth.assert(options, opts.origin ?? APP, opts), token);
    },
    async mfaRoute(token) {
      const res = await fetch("/mfa/x", { headers: { authorization: `Bearer ${token}` } });
      const p = await problemOf(res);
      return { status: res.status, code: p.code };
    },
  };
}

let origin, issuer, login, gw, c;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["RS256"] });
  login = await startLoginOrigin({ secret });
  gw = await startGateway(config({ origin, issuer, login }), {
    extraBindings: { PORTCULLIS_SIGNING_KEYS: signingKeys(), PORTCULLIS_LOGIN_SECRET: secret },
  });
  c = client(gw.fetch);
});

after(async () => {
  await gw?.dispose();
  await origin?.close();
  await issuer?.close();
  await login?.close();
});

describe("passkeys: register, log in, step up", () => {
  for (const alg of ["ES256", "EdDSA", "RS256"]) {
    test(`${alg}: a password session registers a passkey; the passkey logs in and passes an mfa route`, async () => {
      const password = await c.password("alice");
      assert.deepEqual((await c.mfaRoute(password)), { status: 401, code: "mfa_required" });
      const auth = new SoftAuthenticator({ alg, rpId: RP_ID });
      const options = await c.options("register", password);
      assert.equal(options.rp.id, RP_ID);
      assert.equal(options.attestation, "none");
      assert.equal(options.authenticatorSelection.residentKey, "required");
      assert.notEqual(Buffer.from(options.user.id, "base64url").toString(), "alice", "the user handle is not the subject");
      const reg = await c.post("/auth/passkeys/register/verify", auth.register(options, APP), password);
      assert.equal(reg.status, 201, JSON.stringify(reg.body));
      assert.deepEqual(reg.body, { credential_id: b64url(auth.credentialId), alg, backup_eligible: true, attestation: "none" });

      const session = await c.login(auth);
      assert.equal(session.status, 200, JSON.stringify(session.body));
      assert.equal(session.headers.get("cache-control"), "no-store");
      assert.match(session.headers.get("set-cookie") ?? "", /portcullis_refresh=/);
      const claims = claimsOf(session.body.access_token);
      assert.equal(claims.sub, "alice");
      assert.deepEqual(claims.amr, ["swk", "user"]);
      assert.equal(claims.acr, MFA_ACR);
      assert.equal(session.body.scope, "read:echo");
      assert.notEqual(claims.sid, claimsOf(password).sid, "a new session");
      assert.deepEqual(await c.mfaRoute(session.body.access_token), { status: 200, code: undefined });
    });
  }

  test("step-up: a new access token in the same session, amr extended, acr and auth_time set", async () => {
    const password = await c.password("bob");
    const auth = new SoftAuthenticator({ rpId: RP_ID, flags: FLAGS.UP | FLAGS.UV, signCount: 1 });
    assert.equal((await c.register(auth, password)).status, 201);
    const before = claimsOf(password);
    const stepped = await c.stepUp(auth, password);
    assert.equal(stepped.status, 200, JSON.stringify(stepped.body));
    assert.equal(stepped.headers.get("set-cookie"), null, "the session is the same: no new refresh cookie");
    const after = claimsOf(stepped.body.access_token);
    assert.equal(after.sid, before.sid);
    assert.equal(after.sub, "bob");
    assert.deepEqual(after.amr, [...before.amr, "hwk", "user"]);
    assert.equal(after.acr, MFA_ACR);
    assert.ok(after.auth_time >= before.iat);
    assert.deepEqual(await c.mfaRoute(password), { status: 401, code: "mfa_required" });
    assert.deepEqual(await c.mfaRoute(stepped.body.access_token), { status: 200, code: undefined });
  });
});

describe("passkeys: every refusal in workerd", () => {
  let token, auth;
  before(async () => {
    token = await c.password("alice");
    auth = new SoftAuthenticator({ rpId: RP_ID, flags: FLAGS.UP | FLAGS.UV, signCount: 5 });
    assert.equal((await c.register(auth, token)).status, 201);
  });

  const expect = (r, status, code) => assert.deepEqual({ status: r.status, code: r.code }, { status, code }, JSON.stringify(r.body));

  test("no session: token_missing on registration and step-up", async () => {
    expect(await c.post("/auth/passkeys/register/options", {}), 401, "token_missing");
    expect(await c.post("/auth/passkeys/step-up/verify", {}), 401, "token_missing");
  });

  test("passkey_origin_refused: another origin, and a cross-origin frame", async () => {
    expect(await c.login(auth, { origin: "https://evil.example.test" }), 403, "passkey_origin_refused");
    expect(await c.login(auth, { clientData: { crossOrigin: true, topOrigin: "https://evil.example.test" } }), 403, "passkey_origin_refused");
    expect(await c.register(new SoftAuthenticator({ rpId: RP_ID }), token, { origin: "http://app.example.test" }), 403, "passkey_origin_refused");
  });

  test("passkey_challenge_invalid: a replayed answer, a challenge never issued", async () => {
    const options = await c.options("login");
    const answer = auth.assert(options, APP);
    assert.equal((await c.post("/auth/passkeys/login/verify", answer)).status, 200);
    expect(await c.post("/auth/passkeys/login/verify", answer), 400, "passkey_challenge_invalid");
    expect(await c.post("/auth/passkeys/login/verify", auth.assert({ challenge: b64url(randomBytes(32)) }, APP)), 400, "passkey_challenge_invalid");
    // A login challenge answered on the step-up endpoint.
    const login = await c.options("login");
    expect(await c.post("/auth/passkeys/step-up/verify", auth.assert(login, APP), token), 400, "passkey_challenge_invalid");
  });

  test("passkey_client_data_invalid: the registration type on login", async () => {
    const options = await c.options("login");
    expect(await c.post("/auth/passkeys/login/verify", auth.assert(options, APP, { clientData: { type: "webauthn.create" } })), 400, "passkey_client_data_invalid");
  });

  test("passkey_rp_id_mismatch, passkey_signature_invalid, passkey_counter_regressed", async () => {
    expect(await c.login(auth, { rpId: "evil.example.test" }), 400, "passkey_rp_id_mismatch");
    expect(await c.login(auth, { tamper: true }), 401, "passkey_signature_invalid");
    assert.equal((await c.login(auth, { signCount: 50 })).status, 200);
    expect(await c.login(auth, { signCount: 50 }), 401, "passkey_counter_regressed");
    expect(await c.login(auth, { signCount: 7 }), 401, "passkey_counter_regressed");
    await gw.settleLogs();
    const line = gw.logs.map((l) => { try { return JSON.parse(l); } catch { return null; } }).find((l) => l?.event === "passkey_counter_regressed");
    assert.deepEqual({ subject: line?.subject, stored: line?.stored, presented: line?.presented }, { subject: "alice", stored: 50, presented: 50 });
    assert.equal((await c.login(auth, { signCount: 51 })).status, 200);
  });

  test("passkey_user_presence_missing, passkey_user_verification_missing", async () => {
    const saved = auth.flags;
    auth.flags = FLAGS.UV;
    expect(await c.login(auth), 400, "passkey_user_presence_missing");
    auth.flags = FLAGS.UP;
    expect(await c.login(auth), 400, "passkey_user_verification_missing");
    auth.flags = saved;
    expect(await c.register(new SoftAuthenticator({ rpId: RP_ID, flags: FLAGS.UP }), token), 400, "passkey_user_verification_missing");
  });

  test("passkey_credential_unknown: never registered; another user's passkey on step-up", async () => {
    const stranger = new SoftAuthenticator({ rpId: RP_ID });
    stranger.userHandle = b64url(randomBytes(32));
    expect(await c.login(stranger), 401, "passkey_credential_unknown");
    const bob = await c.password("bob");
    expect(await c.stepUp(auth, bob), 401, "passkey_credential_unknown");
  });

  test("passkey_attestation_unsupported, passkey_attestation_invalid, packed self-attestation accepted", async () => {
    const options = await c.options("register", token);
    const u2f = new SoftAuthenticator({ rpId: RP_ID }).register(options, APP, { fmt: "fido-u2f" });
    expect(await c.post("/auth/passkeys/register/verify", u2f, token), 400, "passkey_attestation_unsupported");
    // packed: its signature covers the client data hash; another clientDataJSON breaks it.
    const a = new SoftAuthenticator({ rpId: RP_ID });
    const o2 = await c.options("register", token);
    const packed = a.register(o2, APP, { fmt: "packed" });
    const other = a.register(o2, APP, { fmt: "none", clientData: { extra: 1 } });
    packed.response.clientDataJSON = other.response.clientDataJSON;
    expect(await c.post("/auth/passkeys/register/verify", packed, token), 400, "passkey_attestation_invalid");
    // An intact packed self-attestation (EdDSA: the statement is verified through WebCrypto).
    const self = new SoftAuthenticator({ alg: "EdDSA", rpId: RP_ID });
    const ok = await c.post("/auth/passkeys/register/verify", self.register(await c.options("register", token), APP, { fmt: "packed" }), token);
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal(ok.body.attestation, "packed");
  });

  test("passkey_authenticator_data_invalid, passkey_public_key_invalid, passkey_request_invalid", async () => {
    const a = new SoftAuthenticator({ rpId: RP_ID });
    const options = await c.options("register", token);
    const truncated = a.register(options, APP);
    const object = Buffer.from(truncated.response.attestationObject, "base64url");
    truncated.response.attestationObject = b64url(object.subarray(0, object.length - 5));
    expect(await c.post("/auth/passkeys/register/verify", truncated, token), 400, "passkey_authenticator_data_invalid");
    // A P-256 point off the curve: WebCrypto in workerd refuses to import it.
    a.cose.set(-2, randomBytes(32));
    a.cose.set(-3, randomBytes(32));
    expect(await c.register(a, token), 400, "passkey_public_key_invalid");
    expect(await c.post("/auth/passkeys/login/verify", { id: "AA", rawId: "AA" }), 400, "passkey_request_invalid");
    expect(await c.post("/auth/passkeys/register/options", { display_name: "" }, token), 400, "passkey_request_invalid");
  });

  test("passkey_credential_exists, passkey_credential_limit", async () => {
    expect(await c.register(auth, token), 409, "passkey_credential_exists");
    const carol = await c.password("alice");
    // alice has the passkeys of the first tests and of `before`; fill up to the limit (6).
    let r;
    for (let i = 0; i < 8; i++) {
      r = await c.post("/auth/passkeys/register/options", {}, carol);
      if (r.status !== 200) break;
      const extra = new SoftAuthenticator({ rpId: RP_ID });
      assert.equal((await c.post("/auth/passkeys/register/verify", extra.register(r.body.publicKey, APP), carol)).status, 201);
    }
    expect(r, 409, "passkey_credential_limit");
  });
});

test("passkey_algorithm_unsupported: a key outside passkeys.algorithms", async () => {
  const only = await startGateway(config({ origin, issuer, login, passkeys: { algorithms: ["ES256"] } }), {
    extraBindings: { PORTCULLIS_SIGNING_KEYS: signingKeys(), PORTCULLIS_LOGIN_SECRET: secret },
  });
  try {
    const oc = client(only.fetch);
    const token = await oc.password("alice");
    assert.deepEqual((await oc.options("register", token)).pubKeyCredParams, [{ type: "public-key", alg: -7 }]);
    const r = await oc.register(new SoftAuthenticator({ alg: "EdDSA", rpId: RP_ID }), token);
    assert.deepEqual({ status: r.status, code: r.code }, { status: 400, code: "passkey_algorithm_unsupported" });
  } finally {
    await only.dispose();
  }
});

test("passkey_store_unavailable: without the PasskeyStore binding every ceremony fails closed (503)", async () => {
  const { PORTCULLIS_PASSKEYS, ...others } = DURABLE_OBJECTS;
  assert.ok(PORTCULLIS_PASSKEYS);
  const broken = await startGateway(config({ origin, issuer, login }), {
    durableObjects: others,
    extraBindings: { PORTCULLIS_SIGNING_KEYS: signingKeys(), PORTCULLIS_LOGIN_SECRET: secret },
  });
  try {
    const r = await client(broken.fetch).post("/auth/passkeys/login/options", {});
    assert.deepEqual({ status: r.status, code: r.code }, { status: 503, code: "passkey_store_unavailable" });
  } finally {
    await broken.dispose();
  }
});

test("one challenge answered through two isolates at once: exactly one session", async () => {
  const env = await startIsolates(JSON.stringify(config({ origin, issuer, login })), {
    count: 2,
    extraBindings: { PORTCULLIS_SIGNING_KEYS: signingKeys(), PORTCULLIS_LOGIN_SECRET: secret },
  });
  try {
    // Miniflare's getWorker accepts a loopback Origin only: the page is the gateway's own here.
    const own = "http://localhost:8787";
    const [A, B] = env.isolates.map((i) => client((p, init) => i.fetch(own + p, init), own));
    const auth = new SoftAuthenticator({ rpId: RP_ID });
    assert.equal((await A.register(auth, await A.password("alice"))).status, 201);
    for (let trial = 0; trial < 5; trial++) {
      const answer = auth.assert(await A.options("login"), APP);
      const results = await Promise.all([A, B, A, B].map((x) => x.post("/auth/passkeys/login/verify", answer)));
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 400, 400, 400], `trial ${trial}`);
      assert.ok(results.filter((r) => r.status === 400).every((r) => r.code === "passkey_challenge_invalid"));
    }
  } finally {
    await env.dispose();
  }
});
