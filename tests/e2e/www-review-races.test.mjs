// Review of the session client (issue 14): a logout racing a refresh in another tab. Two clients
// of one gateway and prefix in one Node process are two tabs (Node's BroadcastChannel is
// process-wide; Node 20 has no Web Locks, so the tabs elect a refresher over the channel). Each
// tab's `fetch` is scripted, so the order of the gateway's answers is the test's to choose.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../www/pkg");
if (!existsSync(path.join(PKG, "session.js"))) throw new Error("www/pkg is missing: run `make www` first");
const { createSession, isSessionError } = await import(path.join(PKG, "session.js"));

const GW = "http://127.0.0.1:1";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const tokenResponse = (n) => ({ access_token: `at-${n}`, token_type: "Bearer", expires_in: 300 });

let prefixCount = 0;
/** Two tabs of one gateway; `script(tab, path)` answers each tab's requests. Closed after the
 *  test, pass or fail (an open BroadcastChannel keeps Node running). */
const open = [];
after(() => open.forEach((s) => s.close()));
function twoTabs(script) {
  const prefix = `/auth-race${prefixCount++}`;
  const calls = [];
  const tab = (name) =>
    createSession({
      gateway: GW,
      prefix,
      fetch: async (input) => {
        const p = new URL(input instanceof Request ? input.url : input).pathname.replace(prefix, "/auth");
        calls.push(`${name} ${p}`);
        return script(name, p);
      },
    });
  const tabs = { a: tab("a"), b: tab("b"), calls };
  open.push(tabs.a, tabs.b);
  return tabs;
}

function deferred() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}

async function settle(promise) {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

test("a logout in one tab while another tab's refresh is in flight: the refresh's token is dropped, every tab stays logged out", async () => {
  const refreshAnswer = deferred();
  const { a, b, calls } = twoTabs(async (name, p) => {
    if (p === "/auth/logout") return new Response(null, { status: 204 });
    if (p === "/auth/refresh") {
      // The gateway rotated the cookie before the logout ended the family: a 200 that arrives
      // after the logout.
      await refreshAnswer.promise;
      return json(200, tokenResponse(2));
    }
    throw new Error(`unexpected ${name} ${p}`);
  });
  const events = { a: [], b: [] };
  a.subscribe((e) => events.a.push(e.type));
  b.subscribe((e) => events.b.push(e.type));

  a.accept(tokenResponse(1));
  await sleep(20);
  assert.equal(b.loggedIn, true, "tab b heard the login");

  const refreshing = settle(b.refresh());
  for (let i = 0; i < 100 && !calls.includes("b /auth/refresh"); i++) await sleep(10);
  assert.ok(calls.includes("b /auth/refresh"), "tab b's refresh is at the gateway");

  await a.logout();
  await sleep(20);
  assert.equal(b.loggedIn, false, "tab b heard the logout");

  refreshAnswer.resolve();
  const outcome = await refreshing;
  await sleep(50);

  assert.ok(outcome.error && isSessionError(outcome.error), `b.refresh() rejects, got ${JSON.stringify(outcome)}`);
  assert.equal(outcome.error.code, "logged_out");
  assert.equal(a.loggedIn, false, "the tab that logged out is not logged in again by the late refresh");
  assert.equal(b.loggedIn, false);
  assert.equal(a.expiresAt, null);
  assert.equal(b.expiresAt, null);
  assert.deepEqual(events.a, ["token", "logout"]);
  assert.deepEqual(events.b, ["token", "logout"]);
  assert.equal((await settle(a.getAccessToken())).error?.code, "logged_out");
  assert.deepEqual(calls, ["b /auth/refresh", "a /auth/logout"], "no further request");
  a.close();
  b.close();
});

test("the late refresh's token reaching the tab that logged out after its logout is ignored there", async () => {
  // The messages cross: tab b adopts the refresh and posts the token before it hears the logout
  // tab a posted. Tab a must not take it.
  const refreshAnswer = deferred();
  const logoutAnswer = deferred();
  const { a, b, calls } = twoTabs(async (name, p) => {
    if (p === "/auth/logout") {
      await logoutAnswer.promise;
      return new Response(null, { status: 204 });
    }
    if (p === "/auth/refresh") {
      await refreshAnswer.promise;
      return json(200, tokenResponse(2));
    }
    throw new Error(`unexpected ${name} ${p}`);
  });
  a.accept(tokenResponse(1));
  await sleep(20);
  const refreshing = settle(b.refresh());
  for (let i = 0; i < 100 && !calls.includes("b /auth/refresh"); i++) await sleep(10);
  const loggingOut = a.logout();
  await sleep(10);
  // Both answers in the same turn: b adopts and posts its token; a ends and posts its logout.
  refreshAnswer.resolve();
  logoutAnswer.resolve();
  await loggingOut;
  await refreshing;
  await sleep(50);
  assert.equal(a.loggedIn, false, "tab a logged out and stays so");
  assert.equal(b.loggedIn, false, "tab b heard the logout");
  assert.equal(a.expiresAt, null);
  a.close();
  b.close();
});

test("a refresh() forced after a logout still logs every tab in again (the cookie may be live again)", async () => {
  let loggedIn = true;
  const { a, b } = twoTabs(async (name, p) => {
    if (p === "/auth/logout") {
      loggedIn = false;
      return new Response(null, { status: 204 });
    }
    if (p === "/auth/refresh") return loggedIn ? json(200, tokenResponse(3)) : json(401, { code: "refresh_token_missing" });
    throw new Error(`unexpected ${name} ${p}`);
  });
  a.accept(tokenResponse(1));
  await sleep(20);
  await a.logout();
  await sleep(20);
  assert.equal(b.loggedIn, false);
  loggedIn = true; // e.g. a login by redirect set a new cookie
  await sleep(5);
  assert.equal(await b.refresh(), "at-3");
  await sleep(20);
  assert.equal(a.loggedIn, true, "tab a takes the token of a refresh that began after its logout");
  assert.equal(await a.getAccessToken(), "at-3");
  a.close();
  b.close();
});
