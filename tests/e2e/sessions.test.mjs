// End-to-end: sessions in workerd — password login through the origin's login endpoint, the
// rotating refresh cookie decided by the real SessionFamily Durable Object, replay detection that
// ends the whole session (its sid on the revocation list), concurrent refreshes inside the grace
// window, the CSRF checks, logout, the admin session API and RFC 8693 token exchange. Two gateway
// isolates share the objects and KV (tests/support/isolates.mjs), as two isolates of one location.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, createHash } from "node:crypto";
import { startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";
import { startLoginOrigin, USERS } from "../support/login-origin.mjs";
import { startOidcProvider } from "./oidc-provider.mjs";
import { REFRESH_COOKIE as COOKIE, signingKeys } from "../support/sessions.mjs";

const REFRESH_MS = 200;
const MAX_STALENESS_MS = 1000;
// Miniflare refuses a request through `getWorker().fetch` whose Origin is not a loopback host
// ("Invalid Origin header"), so the gateway, the app and the foreign origin are all loopback
// origins told apart by port.
const GATEWAY = "http://localhost:8787";
const APP = "http://127.0.0.1:5173";
const FOREIGN = "http://localhost:6666";
const GW_ISSUER = "http://127.0.0.1:9/portcullis";
const AUDIENCE = "https://api.portcullis.test";
const IDLE_TTL = 604800;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let origin, issuer, login, op, env, A, B, adminToken;
const PKCE_REDIRECT = "http://127.0.0.1:9/spa/";
const secret = randomBytes(32).toString("hex");

function config() {
  const cfg = baseConfig({
    origin: origin.url,
    issuer,
    issuerExtra: { leeway_seconds: 0, max_token_lifetime_seconds: 3600 },
    extra: {
      revocation: { refresh_interval_ms: REFRESH_MS, max_staleness_ms: MAX_STALENESS_MS },
      admin: { enabled: true },
      sessions: {
        enabled: true,
        issuer: GW_ISSUER,
        audiences: [AUDIENCE],
        access_token_ttl_seconds: 300,
        app_origins: [APP],
        login: { url: login.loginUrl },
        token_exchange: { issuers: [issuer.url, op.issuer], scope_map: { "read:echo": ["read:echo"], "openid": [] } },
      },
    },
  });
  // The PKCE demo's OpenID provider, trusted like any issuer (its access tokens are RFC 9068 JWTs).
  cfg.issuers.push({ issuer: op.issuer, jwks_uri: op.jwksUri, audiences: [op.audience], algorithms: ["RS256"] });
  return cfg;
}

const decode = (jwt) => jwt.split(".").slice(0, 2).map((p) => JSON.parse(Buffer.from(p, "base64url").toString()));

/** The refresh token in a Set-Cookie value. */
function cookieValue(setCookie) {
  const m = new RegExp(`^${COOKIE}=([^;]*)`).exec(setCookie ?? "");
  return m ? m[1] : null;
}

/** Parses one Set-Cookie header: { name, value, attrs: [[name, value]] } in order. */
function parseSetCookie(h) {
  const [first, ...rest] = h.split(";").map((s) => s.trim());
  const eq = first.indexOf("=");
  return {
    name: first.slice(0, eq),
    value: first.slice(eq + 1),
    attrs: rest.map((a) => {
      const i = a.indexOf("=");
      return i < 0 ? [a, null] : [a.slice(0, i), a.slice(i + 1)];
    }),
  };
}

const json = { "content-type": "application/json" };

async function doLogin(iso, username = "alice", password = USERS.alice.password, headers = { origin: GATEWAY }) {
  const res = await iso.fetch(GATEWAY + "/auth/login", { method: "POST", headers: { ...json, ...headers }, body: JSON.stringify({ username, password }) });
  const text = await res.text();
  return { res, status: res.status, body: text ? JSON.parse(text) : null, cookie: cookieValue(res.headers.get("set-cookie")) };
}

async function doRefresh(iso, token, headers = { origin: GATEWAY, ...json }) {
  const res = await iso.fetch(GATEWAY + "/auth/refresh", { method: "POST", headers: { ...headers, cookie: `${COOKIE}=${token}` }, body: "{}" });
  const text = await res.text();
  return { res, status: res.status, body: text ? JSON.parse(text) : null, setCookie: res.headers.get("set-cookie"), cookie: cookieValue(res.headers.get("set-cookie")) };
}

async function api(iso, accessToken) {
  const res = await iso.fetch(GATEWAY + "/api/x", { headers: { authorization: `Bearer ${accessToken}` } });
  const p = await problemOf(res);
  return { status: res.status, code: p.code };
}

async function admin(method, path, body) {
  const init = { method, headers: { authorization: `Bearer ${adminToken}` } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const res = await A.fetch(`${GATEWAY}/admin${path}`, init);
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** Polls `f` until it returns true or `ms` pass; returns the elapsed time, or null. */
async function within(ms, f) {
  const start = Date.now();
  while (Date.now() - start <= ms) {
    if (await f()) return Date.now() - start;
    await sleep(50);
  }
  return null;
}

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["RS256"] });
  login = await startLoginOrigin({ secret });
  op = await startOidcProvider({ redirectUris: [PKCE_REDIRECT] });
  env = await startIsolates(JSON.stringify(config()), {
    count: 2,
    extraBindings: { PORTCULLIS_SIGNING_KEYS: signingKeys(), PORTCULLIS_LOGIN_SECRET: secret },
  });
  [A, B] = env.isolates;
  adminToken = await issuer.mint({ claims: { sub: "ops", scope: "portcullis:admin" } });
});

after(async () => {
  await env?.dispose();
  await origin?.close();
  await issuer?.close();
  await login?.close();
  await op?.close();
});

/**
 * The PKCE flow against the demo's OpenID provider, scripted (its development login and consent
 * pages, any login): authorization request with S256 → login → consent → code → token request with
 * the verifier and the API resource. Returns the JWT access token.
 */
async function pkceAccessToken(loginName) {
  const jar = new Map();
  const go = async (url, init = {}) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(url, { redirect: "manual", ...init, headers: { ...(init.headers ?? {}), ...(cookie ? { cookie } : {}) } });
    for (const c of res.headers.getSetCookie()) {
      const [nv] = c.split(";");
      const i = nv.indexOf("=");
      jar.set(nv.slice(0, i), nv.slice(i + 1));
    }
    return res;
  };
  const verifier = randomBytes(32).toString("base64url");
  const auth = new URL(op.authorizationEndpoint);
  auth.search = new URLSearchParams({
    client_id: op.clientId,
    redirect_uri: PKCE_REDIRECT,
    response_type: "code",
    scope: `openid ${op.scope}`,
    resource: op.audience,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    state: randomBytes(8).toString("hex"),
    nonce: randomBytes(8).toString("hex"),
  }).toString();
  let res = await go(auth.href);
  let code = null;
  for (let step = 0; step < 12 && !code; step++) {
    if (res.status === 200) {
      const html = (await res.text()).replaceAll("&#x2F;", "/").replaceAll("&#47;", "/").replaceAll("&amp;", "&");
      const action = /action="([^"]+)"/.exec(html)?.[1];
      const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
      assert.ok(action && prompt, `an interaction page: ${html.slice(0, 200)}`);
      const form = prompt === "login" ? { prompt, login: loginName, password: "any" } : { prompt };
      res = await go(new URL(action, op.issuer).href, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() });
      continue;
    }
    const location = res.headers.get("location");
    assert.ok(location, `a redirect (HTTP ${res.status})`);
    const next = new URL(location, op.issuer);
    if (next.href.startsWith(PKCE_REDIRECT)) code = next.searchParams.get("code");
    else res = await go(next.href);
  }
  assert.ok(code, "the flow ends at the redirect URI with a code");
  const token = await fetch(op.tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: PKCE_REDIRECT, client_id: op.clientId, code_verifier: verifier, resource: op.audience }).toString(),
  });
  const body = await token.json();
  assert.equal(token.status, 200, JSON.stringify(body));
  return body.access_token;
}

describe("login", () => {
  test("a password login answers the token response and the exact refresh cookie", async () => {
    const { res, status, body } = await doLogin(A);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(res.headers.get("pragma"), "no-cache");
    assert.deepEqual(Object.keys(body).sort(), ["access_token", "expires_in", "scope", "token_type"]);
    assert.equal(body.token_type, "Bearer");
    assert.equal(body.expires_in, 300);
    assert.equal(body.scope, "read:echo write:echo");
    const set = res.headers.getSetCookie();
    assert.equal(set.length, 1);
    const c = parseSetCookie(set[0]);
    assert.equal(c.name, COOKIE);
    assert.match(c.value, /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(c.attrs, [["HttpOnly", null], ["Secure", null], ["SameSite", "Strict"], ["Path", "/"], ["Max-Age", String(IDLE_TTL)]]);
    const [header, claims] = decode(body.access_token);
    assert.equal(header.typ, "at+jwt");
    assert.equal(header.kid, "gw-1");
    for (const claim of ["iss", "sub", "aud", "exp", "iat", "jti", "sid", "scope", "amr"]) assert.ok(claim in claims, claim);
    assert.equal(claims.iss, GW_ISSUER);
    assert.equal(claims.sub, "alice");
    assert.deepEqual(claims.amr, ["pwd"]);
    assert.equal(claims.sid, c.value.split(".")[0]);
    assert.equal(JSON.stringify(body).includes(c.value), false, "the refresh token is never in the body");
    // The gateway's own token opens the gateway's routes.
    assert.deepEqual(await api(A, body.access_token), { status: 200, code: undefined });
    assert.equal(login.state.refusedSecret, 0);
  });

  test("wrong password → 401 login_refused, no cookie", async () => {
    const { res, status, body } = await doLogin(A, "alice", "wrong");
    assert.equal(status, 401);
    assert.equal(body.code, "login_refused");
    assert.equal(res.headers.get("set-cookie"), null);
  });

  test("a login endpoint that answers out of contract → 502 login_unavailable", async () => {
    login.state.mode = "garbage";
    try {
      const { status, body } = await doLogin(A);
      assert.equal(status, 502);
      assert.equal(body.code, "login_unavailable");
    } finally {
      login.state.mode = "normal";
    }
  });

  test("login from a foreign Origin, or not as JSON, is refused", async () => {
    const foreign = await doLogin(A, "alice", USERS.alice.password, { origin: FOREIGN });
    assert.deepEqual([foreign.status, foreign.body.code], [403, "session_origin_refused"]);
    const res = await A.fetch(GATEWAY + "/auth/login", { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" });
    assert.deepEqual([res.status, (await problemOf(res)).code], [415, "session_content_type_refused"]);
  });
});

describe("refresh rotation and replay", () => {
  test("login → 20 rotations → replay of #3 kills the family: #20 refused, its access tokens refused within the revocation bound", async () => {
    const first = await doLogin(A);
    assert.equal(first.status, 200);
    const tokens = [first.cookie];
    let access = first.body.access_token;
    for (let i = 1; i <= 20; i++) {
      // Alternate isolates: the family object is the one authority.
      const r = await doRefresh(i % 2 ? A : B, tokens[i - 1]);
      assert.equal(r.status, 200, `rotation ${i}: ${JSON.stringify(r.body)}`);
      assert.notEqual(r.cookie, tokens[i - 1]);
      tokens.push(r.cookie);
      access = r.body.access_token;
      assert.equal(decode(access)[1].sid, decode(first.body.access_token)[1].sid);
    }
    // Warm isolate B on the latest access token (verified, cached, snapshot fresh).
    assert.deepEqual(await api(B, access), { status: 200, code: undefined });
    // Wait out the grace window of #3 (rotated long before #20; no wait needed) and replay it.
    const replay = await doRefresh(A, tokens[3]);
    assert.equal(replay.status, 401);
    assert.equal(replay.body.code, "refresh_token_reused");
    assert.equal(replay.setCookie, `${COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0`);
    const current = await doRefresh(B, tokens[20]);
    assert.equal(current.status, 401);
    assert.equal(current.body.code, "refresh_token_invalid");
    // The isolate that saw the replay refuses the family's access token at once …
    assert.deepEqual(await api(A, access), { status: 401, code: "token_revoked" });
    // … and the other within its snapshot's staleness bound.
    const took = await within(MAX_STALENESS_MS + 1000, async () => (await api(B, access)).code === "token_revoked");
    assert.notEqual(took, null, "isolate B never refused the ended session's access token");
    const audit = env.logs.find((l) => l.includes('"audit":"session.refresh_reused"'));
    assert.ok(audit, "the replay is audited");
    assert.equal(audit.includes(tokens[3]), false, "no token in the audit line");
  });

  test("10 concurrent refreshes of one token over two isolates → one successor, no family killed", async () => {
    const first = await doLogin(A);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => doRefresh(i % 2 ? A : B, first.cookie)));
    for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
    const successors = new Set(results.map((r) => r.cookie));
    assert.equal(successors.size, 1, "every presenter got the same successor");
    const accessTokens = new Set(results.map((r) => r.body.access_token));
    assert.equal(accessTokens.size, 10, "each got its own access token");
    const [successor] = successors;
    const next = await doRefresh(B, successor);
    assert.equal(next.status, 200, "the family is alive");
    for (const r of results) assert.deepEqual(await api(A, r.body.access_token), { status: 200, code: undefined });
  });

  test("the CSRF checks: a foreign Origin, no Origin, a form-shaped request", async () => {
    const first = await doLogin(A);
    const foreign = await doRefresh(A, first.cookie, { origin: FOREIGN, ...json });
    assert.deepEqual([foreign.status, foreign.body.code], [403, "session_origin_refused"]);
    const none = await doRefresh(A, first.cookie, { ...json });
    assert.deepEqual([none.status, none.body.code], [403, "session_origin_refused"]);
    const form = await doRefresh(A, first.cookie, { origin: GATEWAY, "content-type": "application/x-www-form-urlencoded" });
    assert.deepEqual([form.status, form.body.code], [415, "session_content_type_refused"]);
    // None of them touched the family: the token still rotates.
    const ok = await doRefresh(A, first.cookie);
    assert.equal(ok.status, 200);
    // A configured app origin gets CORS with credentials.
    const app = await doRefresh(A, ok.cookie, { origin: APP, ...json });
    assert.equal(app.status, 200);
    assert.equal(app.res.headers.get("access-control-allow-origin"), APP);
    assert.equal(app.res.headers.get("access-control-allow-credentials"), "true");
  });

  test("no cookie → 401 refresh_token_missing; a forged token → 401 refresh_token_invalid and the real one still works", async () => {
    const res = await A.fetch(GATEWAY + "/auth/refresh", { method: "POST", headers: { origin: GATEWAY, ...json }, body: "{}" });
    assert.deepEqual([res.status, (await problemOf(res)).code], [401, "refresh_token_missing"]);
    const first = await doLogin(A);
    const forged = `${first.cookie.split(".")[0]}.${randomBytes(32).toString("base64url")}`;
    const f = await doRefresh(A, forged);
    assert.deepEqual([f.status, f.body.code], [401, "refresh_token_invalid"]);
    const ok = await doRefresh(A, first.cookie);
    assert.equal(ok.status, 200, "a guessed secret never ends the family");
  });
});

describe("logout and admin", () => {
  test("logout ends the session: 204, cookie cleared, refresh refused, access token revoked", async () => {
    const first = await doLogin(A);
    const res = await A.fetch(GATEWAY + "/auth/logout", { method: "POST", headers: { origin: GATEWAY, ...json, cookie: `${COOKIE}=${first.cookie}` }, body: "{}" });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("set-cookie"), `${COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0`);
    const again = await doRefresh(A, first.cookie);
    assert.deepEqual([again.status, again.body.code], [401, "refresh_token_invalid"]);
    assert.deepEqual(await api(A, first.body.access_token), { status: 401, code: "token_revoked" });
  });

  test("admin: list a subject's sessions (no secrets), revoke one, revoke all", async () => {
    const one = await doLogin(A, "bob", USERS.bob.password);
    const two = await doLogin(B, "bob", USERS.bob.password);
    const listed = await admin("GET", "/sessions?sub=bob");
    assert.equal(listed.status, 200, JSON.stringify(listed.json));
    const sids = listed.json.sessions.map((s) => s.sid).sort();
    const expected = [one.cookie, two.cookie].map((c) => c.split(".")[0]).sort();
    assert.deepEqual(sids, expected);
    const text = JSON.stringify(listed.json);
    for (const c of [one.cookie, two.cookie]) assert.equal(text.includes(c.split(".")[1]), false, "no secret listed");
    assert.deepEqual(Object.keys(listed.json.sessions[0]).sort(), ["amr", "created_at", "expires_at", "last_used", "rotations", "scope", "sid", "sub"]);

    const revoked = await admin("POST", `/sessions/${expected[0]}/revoke`);
    assert.deepEqual([revoked.status, revoked.json.revoked], [200, true]);
    const gone = one.cookie.startsWith(expected[0]) ? one : two;
    const kept = gone === one ? two : one;
    assert.equal((await doRefresh(A, gone.cookie)).body.code, "refresh_token_invalid");
    assert.deepEqual(await api(A, gone.body.access_token), { status: 401, code: "token_revoked" });
    const keptNext = await doRefresh(A, kept.cookie);
    assert.equal(keptNext.status, 200);

    // Subject-wide: every session of bob, and every token issued before.
    const three = await doLogin(B, "bob", USERS.bob.password);
    await sleep(1100); // revoked-before is rounded up to the second: a token of this second would be covered too
    const all = await admin("POST", "/sessions/revoke-all", { sub: "bob" });
    assert.equal(all.status, 200, JSON.stringify(all.json));
    assert.equal(all.json.ended, 2);
    for (const [iso, c] of [[A, keptNext.cookie], [B, three.cookie]]) {
      const r = await doRefresh(iso, c);
      assert.deepEqual([r.status, r.body.code], [401, "refresh_token_invalid"]);
    }
    assert.deepEqual(await api(A, three.body.access_token), { status: 401, code: "token_revoked" });
    // A new login after the revocation works.
    await sleep(1100);
    const fresh = await doLogin(A, "bob", USERS.bob.password);
    assert.equal(fresh.status, 200);
    assert.equal((await doRefresh(A, fresh.cookie)).status, 200);
  });
});

describe("token exchange", () => {
  test("the PKCE demo issuer's access token is exchanged for a first-party session", async () => {
    const upstream = await pkceAccessToken("dave");
    assert.equal(decode(upstream)[1].iss, op.issuer);
    const form = new URLSearchParams({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: upstream,
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
    });
    const res = await A.fetch(GATEWAY + "/auth/token", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", origin: GATEWAY }, body: form.toString() });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(body.token_type, "Bearer");
    assert.equal(body.scope, "read:echo");
    const [, claims] = decode(body.access_token);
    assert.deepEqual([claims.iss, claims.sub, claims.scope], [GW_ISSUER, "dave", "read:echo"]);
    assert.deepEqual(await api(B, body.access_token), { status: 200, code: undefined });
    const cookie = cookieValue(res.headers.get("set-cookie"));
    assert.equal((await doRefresh(B, cookie)).status, 200);
  });

  test("an upstream issuer's access token becomes a first-party session (scopes mapped)", async () => {
    const upstream = await issuer.mint({ claims: { sub: "carol", scope: "read:echo openid profile" } });
    const form = new URLSearchParams({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: upstream,
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
    });
    const res = await A.fetch(GATEWAY + "/auth/token", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", origin: GATEWAY }, body: form.toString() });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.scope, "read:echo");
    const [, claims] = decode(body.access_token);
    assert.deepEqual([claims.sub, claims.iss, claims.amr], ["carol", GW_ISSUER, ["ext"]]);
    const cookie = cookieValue(res.headers.get("set-cookie"));
    assert.equal((await doRefresh(B, cookie)).status, 200);

    const bad = new URLSearchParams(form);
    bad.set("subject_token", upstream.slice(0, -4) + "AAAA");
    const r2 = await A.fetch(GATEWAY + "/auth/token", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: bad.toString() });
    const p2 = await problemOf(r2);
    assert.deepEqual([r2.status, p2.code, p2.body.error], [400, "subject_token_invalid", "invalid_grant"]);
    const wrongGrant = new URLSearchParams(form);
    wrongGrant.set("grant_type", "password");
    const r3 = await A.fetch(GATEWAY + "/auth/token", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: wrongGrant.toString() });
    const p3 = await problemOf(r3);
    assert.deepEqual([r3.status, p3.code, p3.body.error], [400, "token_exchange_invalid", "unsupported_grant_type"]);
  });
});
