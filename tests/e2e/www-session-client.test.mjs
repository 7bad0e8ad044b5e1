// The session client's decisions (www/pkg/session.js), one tab, in Node with a scripted `fetch`:
// which gateway answer means "logged out", "try later" or "a token"; the margin; the one retry
// of fetch() and when it does not happen; login, accept and logout. The tabs, the locks and the
// real gateway are tested in Chromium (www-session.test.mjs).

import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../www/pkg");
if (!existsSync(path.join(PKG, "session.js"))) throw new Error("www/pkg is missing: run `make www` first");
const { createSession, isSessionError } = await import(path.join(PKG, "session.js"));

const GW = "http://127.0.0.1:1";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const json = (status, body, headers = {}) =>
  new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
const tokenResponse = (n, expiresIn = 300) => ({ access_token: `at-${n}`, token_type: "Bearer", expires_in: expiresIn, scope: "read:echo" });

/** A session whose fetch answers from `script(url, init, calls)`; every call is recorded. */
let channelCount = 0;
// Every session's BroadcastChannel is closed at the end even when a test failed before its own
// close(): an open channel would keep this file's process, and the run, from ever ending.
const opened = [];
after(() => {
  for (const session of opened) session.close();
});
function scripted(script, options = {}) {
  const calls = [];
  const session = createSession({
    // A distinct prefix per session: Node's BroadcastChannel is process-wide, so two clients of
    // one name would be two "tabs".
    gateway: GW,
    prefix: `/auth${channelCount++}`,
    fetch: async (input, init) => {
      const req = input instanceof Request ? input : new Request(input, init);
      const call = { url: req.url.replace(/\/auth\d+/, "/auth"), method: req.method, headers: Object.fromEntries(req.headers), credentials: init?.credentials, body: init?.body, signal: init?.signal };
      calls.push(call);
      return script(call, calls);
    },
    ...options,
  });
  opened.push(session);
  return { session, calls };
}

async function refusal(promise) {
  try {
    await promise;
  } catch (e) {
    assert.ok(isSessionError(e), `a SessionError, got ${e}`);
    return e;
  }
  assert.fail("expected a SessionError");
}

describe("refresh", () => {
  test("a new tab refreshes with a credentialed JSON POST and keeps the token in memory", async () => {
    const { session, calls } = scripted(() => json(200, tokenResponse(1)));
    assert.equal(session.loggedIn, undefined);
    assert.equal(await session.getAccessToken(), "at-1");
    assert.equal(calls.length, 1);
    assert.equal(calls[0].url, `${GW}/auth/refresh`);
    assert.equal(calls[0].method, "POST");
    assert.equal(calls[0].credentials, "include");
    assert.equal(calls[0].headers["content-type"], "application/json");
    assert.equal(session.loggedIn, true);
    // Fresh: no second request.
    assert.equal(await session.getAccessToken(), "at-1");
    assert.equal(calls.length, 1);
    session.close();
  });

  test("a token within the margin of expiry is refreshed before it is handed out", async () => {
    let n = 0;
    const { session, calls } = scripted(() => json(200, tokenResponse(++n, 30)), { refreshMarginSeconds: 60 });
    assert.equal(await session.getAccessToken(), "at-1");
    assert.equal(await session.getAccessToken(), "at-2", "30 s left is within the 60 s margin");
    assert.equal(calls.length, 2);
    session.close();
  });

  test("concurrent callers in one tab share one refresh", async () => {
    const { session, calls } = scripted(async () => json(200, tokenResponse(1)));
    const tokens = await Promise.all([session.getAccessToken(), session.getAccessToken(), session.getAccessToken()]);
    assert.deepEqual(tokens, ["at-1", "at-1", "at-1"]);
    assert.equal(calls.length, 1);
    session.close();
  });

  for (const code of ["refresh_token_missing", "refresh_token_invalid", "refresh_token_reused"]) {
    test(`401 ${code} → logged_out, a logout event, and no further request until refresh()`, async () => {
      const { session, calls } = scripted(() => json(401, { code }));
      const events = [];
      session.subscribe((e) => events.push(e));
      const e = await refusal(session.getAccessToken());
      assert.equal(e.code, "logged_out");
      assert.equal(e.status, 401);
      assert.equal(e.problem, code);
      assert.equal(session.loggedIn, false);
      assert.deepEqual(events, [{ type: "logout", reason: "ended" }]);
      assert.equal((await refusal(session.getAccessToken())).code, "logged_out");
      assert.equal(calls.length, 1, "no request after the session ended");
      assert.equal((await refusal(session.refresh())).code, "logged_out");
      assert.equal(calls.length, 2, "refresh() asks again");
      session.close();
    });
  }

  for (const [status, code] of [[403, "session_origin_refused"], [415, "session_content_type_refused"], [503, "session_unavailable"]]) {
    test(`${status} ${code} → refresh_failed (not a logout), the current token kept`, async () => {
      let answer = json(200, tokenResponse(1, 30));
      const { session } = scripted(() => answer, { refreshMarginSeconds: 20 });
      assert.equal(await session.getAccessToken(), "at-1");
      answer = json(status, { code });
      const e = await refusal(session.refresh());
      assert.equal(e.code, "refresh_failed");
      assert.equal(e.status, status);
      assert.equal(e.problem, code);
      assert.equal(session.loggedIn, true);
      assert.equal(await session.getAccessToken(), "at-1", "still valid: kept");
      session.close();
    });
  }

  test("a network failure → refresh_failed with the cause", async () => {
    const { session } = scripted(() => Promise.reject(new TypeError("Failed to fetch")));
    const e = await refusal(session.getAccessToken());
    assert.equal(e.code, "refresh_failed");
    assert.ok(e.cause instanceof TypeError);
    session.close();
  });

  test("a refresh without an answer is abandoned after timeoutSeconds → refresh_failed (the lock is not held for minutes)", async () => {
    // A gateway that never answers: the request ends only when its signal aborts.
    const hang = (call) => new Promise((_, reject) => call.signal?.addEventListener("abort", () => reject(call.signal.reason)));
    const { session, calls } = scripted(hang, { timeoutSeconds: 0.2 });
    const started = Date.now();
    const outcome = await Promise.race([refusal(session.getAccessToken()), sleep(5000).then(() => "still waiting after 5 s")]);
    assert.equal(outcome.code, "refresh_failed", String(outcome));
    assert.equal(outcome.cause?.name, "TimeoutError");
    assert.match(outcome.message, /no answer within 0\.2 s/);
    assert.ok(Date.now() - started >= 200, "not before the deadline");
    assert.equal(calls.length, 1);
    session.close();
  });

  for (const [name, body] of [["no access_token", { token_type: "Bearer", expires_in: 60 }], ["no expires_in", { access_token: "a", token_type: "Bearer" }], ["not JSON", "<html>"]]) {
    test(`200 with ${name} → refresh_failed`, async () => {
      const { session } = scripted(() => (typeof body === "string" ? new Response(body, { status: 200 }) : json(200, body)));
      assert.equal((await refusal(session.getAccessToken())).code, "refresh_failed");
      session.close();
    });
  }
});

describe("fetch()", () => {
  test("attaches the token; after 401 invalid_token refreshes once and retries the same request", async () => {
    let n = 0;
    const { session, calls } = scripted((call) => {
      if (call.url.endsWith("/auth/refresh")) return json(200, tokenResponse(++n));
      if (call.headers.authorization === "Bearer at-1") return json(401, { code: "token_expired" }, { "www-authenticate": 'Bearer realm="x", error="invalid_token"' });
      return json(200, { ok: call.headers.authorization, demo: call.headers["x-demo"] });
    });
    const res = await session.fetch(`${GW}/api/x`, { method: "POST", headers: { "x-demo": "1" }, body: "payload" });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: "Bearer at-2", demo: "1" });
    assert.deepEqual(calls.map((c) => c.url.replace(GW, "")), ["/auth/refresh", "/api/x", "/auth/refresh", "/api/x"]);
    session.close();
  });

  test("a 401 without invalid_token, a 403, and a second 401 are returned as they are", async () => {
    let api = [json(401, { code: "credential_missing" }, { "www-authenticate": 'Bearer realm="x"' })];
    const { session, calls } = scripted((call) => (call.url.endsWith("/auth/refresh") ? json(200, tokenResponse(calls.length)) : api.shift()));
    assert.equal((await session.fetch(`${GW}/api/x`)).status, 401);
    api = [json(403, { code: "insufficient_scope" }, { "www-authenticate": 'Bearer error="insufficient_scope"' })];
    assert.equal((await session.fetch(`${GW}/api/x`)).status, 403);
    const invalid = () => json(401, {}, { "www-authenticate": 'Bearer error="invalid_token"' });
    api = [invalid(), invalid()];
    assert.equal((await session.fetch(`${GW}/api/x`)).status, 401, "the retry's answer, no third attempt");
    assert.equal(calls.filter((c) => c.url.endsWith("/api/x")).length, 4);
    session.close();
  });
});

describe("login, accept, logout", () => {
  test("login posts the credentials as JSON and takes the token response", async () => {
    const { session, calls } = scripted(() => json(200, tokenResponse(7)));
    await session.login({ username: "alice", password: "pw" });
    assert.equal(calls[0].url, `${GW}/auth/login`);
    assert.deepEqual(JSON.parse(calls[0].body), { username: "alice", password: "pw" });
    assert.equal(await session.getAccessToken(), "at-7");
    assert.equal(calls.length, 1);
    session.close();
  });

  test("a refused login → login_failed with the gateway's code", async () => {
    const { session } = scripted(() => json(401, { code: "login_refused" }));
    const e = await refusal(session.login({ username: "alice", password: "no" }));
    assert.equal(e.code, "login_failed");
    assert.equal(e.problem, "login_refused");
    session.close();
  });

  test("accept() refuses what is not a token response", () => {
    const { session } = scripted(() => json(500, {}));
    assert.throws(() => session.accept({ access_token: "a" }), (e) => isSessionError(e) && e.code === "invalid_token_response");
    session.close();
  });

  test("logout posts, forgets the token and emits logout; a 500 still logs out here and rejects logout_failed", async () => {
    let answer = json(200, tokenResponse(1));
    const { session, calls } = scripted(() => answer);
    const events = [];
    session.subscribe((e) => events.push(e.type));
    await session.getAccessToken();
    answer = new Response(null, { status: 204 });
    await session.logout();
    assert.equal(calls.at(-1).url, `${GW}/auth/logout`);
    assert.equal(session.loggedIn, false);
    assert.equal(session.expiresAt, null);
    assert.deepEqual(events, ["token", "logout"]);
    answer = json(500, {});
    assert.equal((await refusal(session.logout())).code, "logout_failed");
    assert.equal(session.loggedIn, false);
    session.close();
  });

  test("a logout request that does not complete still logs out here and rejects logout_failed with the cause", async () => {
    let fail = false;
    const { session } = scripted(() => (fail ? Promise.reject(new TypeError("Failed to fetch")) : json(200, tokenResponse(1))));
    await session.getAccessToken();
    fail = true;
    const e = await refusal(session.logout());
    assert.equal(e.code, "logout_failed");
    assert.ok(e.cause instanceof TypeError);
    assert.equal(session.loggedIn, false);
    session.close();
  });
});

describe("options", () => {
  for (const [name, options] of [
    ["a gateway that is not a URL", { gateway: "http://[::1" }],
    ["refreshMarginSeconds NaN", { refreshMarginSeconds: NaN }],
    ["refreshMarginSeconds as a string", { refreshMarginSeconds: "60" }],
    ["a negative refreshMarginSeconds", { refreshMarginSeconds: -1 }],
    ["timeoutSeconds 0", { timeoutSeconds: 0 }],
    ["timeoutSeconds Infinity", { timeoutSeconds: Infinity }],
  ]) {
    test(`${name} → invalid_parameter, not a check switched off`, () => {
      let created;
      try {
        created = createSession({ gateway: GW, ...options });
      } catch (e) {
        assert.ok(isSessionError(e) && e.code === "invalid_parameter", String(e));
        return;
      }
      created.close(); // its channel would keep the process alive
      assert.fail("createSession accepted it");
    });
  }
});
