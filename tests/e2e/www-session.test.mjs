// The browser session client (@portcullis/pkce/session, www/js/session.js) in headless Chromium
// against the gateway's sessions (the real wasm in workerd): five tabs whose access tokens expire
// together cause exactly one POST /auth/refresh and all get the new token; a refresh cookie
// replayed from another browser context ends the session and every tab sees it logged out;
// logout in one tab logs out all; the election fallback without Web Locks (a holder whose refresh
// failed hands over to one tab, not to all at once); a tab closed in the middle of a refresh does
// not block the others; fetch() retries once after a 401 invalid_token; a tab that takes the lock
// before the message of another tab's refresh waits for that token; tabs keep the newest token.

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../support/chromium.mjs";
import { startSessionGateway } from "../support/www-session-gateway.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PKG = path.join(ROOT, "www", "pkg");
if (!existsSync(path.join(PKG, "session.js"))) throw new Error("www/pkg is missing: run `make www` first");

/** Access-token lifetime the gateway mints, and the margin the tabs refresh within: a token is
 *  "fresh" for TTL − MARGIN seconds after it is minted. */
const TTL = 60;
const MARGIN = TTL - 4;

// The app page: creates the session client and hands it to the test through `window`.
const PAGE = `<!doctype html><meta charset="utf-8"><title>session</title>
<script type="module" src="/app.js"></script><body></body>`;
const APP_JS = `
import { createSession, isSessionError } from "/pkg/session.js";
const q = new URLSearchParams(location.search);
if (q.get("locks") === "off") Object.defineProperty(navigator, "locks", { value: undefined });
if (q.get("channel") === "slow") {
  // Every message between tabs arrives late (400 ms, or ?delay=), as on a loaded machine: the lock
  // can reach a tab before the message that tells it another tab has just refreshed.
  const delay = Number(q.get("delay") ?? 400);
  const Native = BroadcastChannel;
  globalThis.BroadcastChannel = class extends Native {
    set onmessage(handler) {
      super.onmessage = (event) => setTimeout(() => handler(event), delay);
    }
  };
}
const session = createSession({ gateway: q.get("gateway"), refreshMarginSeconds: Number(q.get("margin")) });
window.events = [];
session.subscribe((e) => window.events.push(e));
window.session = session;
window.attempt = async (fn) => {
  try {
    return { ok: await fn() };
  } catch (e) {
    return { error: isSessionError(e) ? e.code : String(e), status: e.status, problem: e.problem };
  }
};
document.body.dataset.ready = "yes";
`;

/** Serves the app page and www/pkg on its own origin, CSP connect-src the gateway only. */
async function startApp() {
  const state = { gateway: "" };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    const headers = {
      "content-security-policy": `default-src 'none'; script-src 'self'; connect-src ${state.gateway}`,
      "cache-control": "no-store",
    };
    if (url.pathname === "/app") return res.writeHead(200, { ...headers, "content-type": "text/html" }).end(PAGE);
    if (url.pathname === "/app.js") return res.writeHead(200, { ...headers, "content-type": "text/javascript" }).end(APP_JS);
    const m = /^\/pkg\/([a-z_]+\.js)$/.exec(url.pathname);
    const body = m && (await readFile(path.join(PKG, m[1])).catch(() => null));
    if (!body) return res.writeHead(404, headers).end();
    res.writeHead(200, { ...headers, "content-type": "text/javascript" }).end(body);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    url: (q = {}) => `${origin}/app?${new URLSearchParams({ gateway: state.gateway, margin: String(MARGIN), ...q })}`,
    set gateway(g) {
      state.gateway = g;
    },
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

let app;
let gateway;
let browser;

before(async () => {
  app = await startApp();
  gateway = await startSessionGateway({ appOrigin: app.origin, accessTokenTtl: TTL });
  app.gateway = gateway.url;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
  await app?.close();
});

/** A browser context (one cookie jar) counting every request to the gateway's refresh endpoint. */
async function newBrowserContext() {
  const context = await browser.newContext();
  await context.route((url) => url.hostname !== "127.0.0.1", (route) => route.abort("blockedbyclient"));
  const refreshes = [];
  context.on("request", (r) => {
    if (r.url() === `${gateway.url}/auth/refresh` && r.method() === "POST") refreshes.push({ page: r.frame().page() });
  });
  return { context, refreshes };
}

async function openTabs(context, n, q) {
  const tabs = [];
  for (let i = 0; i < n; i++) {
    const page = await context.newPage();
    await page.goto(app.url(q));
    await page.waitForSelector('body[data-ready="yes"]', { state: "attached" });
    tabs.push(page);
  }
  return tabs;
}

const tokenOf = (page) => page.evaluate(() => window.attempt(() => window.session.getAccessToken()));
const loggedIn = (page) => page.evaluate(() => window.session.loggedIn);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Logs in from the first tab, then every tab takes its token (shared, not refreshed). */
async function loginAll(tabs) {
  const r = await tabs[0].evaluate((creds) => window.attempt(() => window.session.login(creds)), gateway.credentials);
  assert.equal(r.error, undefined, `login: ${JSON.stringify(r)}`);
  const tokens = await Promise.all(tabs.map(tokenOf));
  for (const t of tokens) assert.ok(t.ok, JSON.stringify(t));
  return tokens.map((t) => t.ok);
}

/** `n` tabs of one browser context, logged in from the first (each tab waits for the login's token
 *  to reach it), with the refreshes and every API call's bearer token the browser sends. */
async function loggedInTabs(n, q) {
  const { context, refreshes } = await newBrowserContext();
  const apiCalls = [];
  context.on("request", (r) => {
    if (r.url().startsWith(`${gateway.url}/api/`) && r.method() === "GET") apiCalls.push(r.headers().authorization);
  });
  const tabs = await openTabs(context, n, q);
  const login = await tabs[0].evaluate((creds) => window.attempt(() => window.session.login(creds)), gateway.credentials);
  assert.equal(login.error, undefined, `login: ${JSON.stringify(login)}`);
  for (const tab of tabs) await tab.waitForFunction(() => window.session.loggedIn === true);
  return { context, tabs, refreshes, apiCalls };
}

/** Waits until every token of `tabs` is past the freshness window (within the margin). */
async function waitUntilStale() {
  await sleep((TTL - MARGIN) * 1000 + 300);
}

for (const locks of ["on", "off"]) {
  describe(`five tabs, Web Locks ${locks === "on" ? "available" : "missing (BroadcastChannel election)"}`, () => {
    test("tokens that expire together: exactly one /auth/refresh, every tab gets the new token", async () => {
      const { context, refreshes } = await newBrowserContext();
      try {
        const tabs = await openTabs(context, 5, { locks });
        const first = await loginAll(tabs);
        assert.equal(new Set(first).size, 1, "the other tabs took the login tab's token");
        assert.equal(refreshes.length, 0, "sharing the login's token needed no refresh");
        await waitUntilStale();
        const servedBefore = await gateway.refreshesServed();
        // All five ask at once.
        const next = await Promise.all(tabs.map(tokenOf));
        assert.equal(refreshes.length, 1, "exactly one refresh left the browser");
        assert.equal((await gateway.refreshesServed()) - servedBefore, 1, "exactly one refresh reached the gateway");
        for (const t of next) assert.ok(t.ok, JSON.stringify(t));
        assert.equal(new Set(next.map((t) => t.ok)).size, 1, "every tab holds the same new token");
        assert.notEqual(next[0].ok, first[0], "a new token");
        // The new token works at the gateway (a live session).
        assert.equal(await gateway.check(next[0].ok), 200);
        for (const tab of tabs) assert.equal(await loggedIn(tab), true);
      } finally {
        await context.close();
      }
    });
  });
}

for (const locks of ["on", "off"]) {
  test(`a tab that asks just after another tab's refresh, before that tab's message arrives, takes the shared token (Web Locks ${locks})`, async () => {
    const { context, tabs, refreshes } = await loggedInTabs(3, { locks, channel: "slow" });
    try {
      const first = await Promise.all(tabs.map(tokenOf));
      assert.equal(new Set(first.map((t) => t.ok)).size, 1, `every tab took the login's token: ${JSON.stringify(first)}`);
      assert.equal(refreshes.length, 0);
      await waitUntilStale();
      // One tab refreshes; the others ask only once it has its token, while its message is late.
      const refreshed = await tokenOf(tabs[0]);
      assert.ok(refreshed.ok, JSON.stringify(refreshed));
      assert.notEqual(refreshed.ok, first[0].ok);
      assert.equal(refreshes.length, 1);
      const others = await Promise.all(tabs.slice(1).map(tokenOf));
      assert.deepEqual(others, [{ ok: refreshed.ok }, { ok: refreshed.ok }], "the refreshed token, shared");
      assert.equal(refreshes.length, 1, "no second refresh");
    } finally {
      await context.close();
    }
  });
}

test("a refresh cookie replayed from another browser context ends the session; every tab sees it logged out", async () => {
  const a = await newBrowserContext();
  const b = await newBrowserContext();
  try {
    const tabs = await openTabs(a.context, 5);
    await loginAll(tabs);
    // The thief copies the refresh cookie into another browser and uses it first.
    const jar = await a.context.cookies();
    assert.ok(jar.length > 0, "the login set the refresh cookie");
    await b.context.addCookies(jar);
    const [thief] = await openTabs(b.context, 1);
    const stolen = await tokenOf(thief);
    assert.ok(stolen.ok, `the thief's first refresh succeeds: ${JSON.stringify(stolen)}`);
    assert.equal(b.refreshes.length, 1);
    // The victim's tabs go stale and refresh with the cookie that was already rotated.
    await waitUntilStale();
    const outcomes = await Promise.all(tabs.map(tokenOf));
    assert.equal(a.refreshes.length, 1, "one refresh from the victim's browser");
    for (const o of outcomes) assert.equal(o.error, "logged_out", JSON.stringify(o));
    for (const tab of tabs) {
      assert.equal(await loggedIn(tab), false);
      assert.deepEqual(await tab.evaluate(() => window.events.at(-1)), { type: "logout", reason: "ended" });
    }
    // The whole session is over: the thief's next refresh is refused too.
    await thief.evaluate(() => window.session.refresh().catch(() => null));
    assert.equal(await loggedIn(thief), false);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test("logout in one tab logs out every tab and ends the session at the gateway", async () => {
  const { context, refreshes } = await newBrowserContext();
  try {
    const tabs = await openTabs(context, 3);
    const [token] = await loginAll(tabs);
    const out = await tabs[1].evaluate(() => window.attempt(() => window.session.logout()));
    assert.equal(out.error, undefined, `logout: ${JSON.stringify(out)}`);
    await tabs[0].waitForFunction(() => window.session.loggedIn === false);
    await tabs[2].waitForFunction(() => window.session.loggedIn === false);
    for (const tab of tabs) assert.deepEqual(await tab.evaluate(() => window.events.at(-1)), { type: "logout", reason: "logout" });
    // A logged-out tab does not ask the gateway again by itself…
    assert.equal((await tokenOf(tabs[0])).error, "logged_out");
    assert.equal(refreshes.length, 0);
    // …and when told to, the gateway has nothing to refresh: the session has ended.
    const forced = await tabs[0].evaluate(() => window.attempt(() => window.session.refresh()));
    assert.equal(forced.error, "logged_out");
    assert.equal(forced.status, 401);
    assert.equal(refreshes.length, 1);
    // The logout put the session on the revocation list: its access token is refused within the
    // revocation bound (about a second with this gateway's settings).
    let status = await gateway.check(token);
    for (const start = Date.now(); status !== 401 && Date.now() - start < 5000; status = await gateway.check(token)) await sleep(100);
    assert.equal(status, 401, "the session's access token is refused after logout");
  } finally {
    await context.close();
  }
});

test("a tab closed in the middle of a refresh does not block the others", async () => {
  const { context, refreshes } = await newBrowserContext();
  try {
    const tabs = await openTabs(context, 3);
    await loginAll(tabs);
    await waitUntilStale();
    // The first tab's refresh is held at the network; the tab closes with the lock held.
    let release;
    const held = new Promise((r) => (release = r));
    await tabs[0].route(`${gateway.url}/auth/refresh`, async (route) => {
      await held;
      await route.abort().catch(() => {});
    });
    const pending = tabs[0].evaluate(() => window.session.getAccessToken()).catch(() => null);
    await tabs[0].waitForRequest(`${gateway.url}/auth/refresh`);
    const others = Promise.all(tabs.slice(1).map(tokenOf));
    await tabs[0].close();
    release();
    await pending;
    const outcomes = await others;
    for (const o of outcomes) assert.ok(o.ok, JSON.stringify(o));
    assert.equal(new Set(outcomes.map((o) => o.ok)).size, 1);
    assert.equal(refreshes.filter((r) => r.page !== tabs[0]).length, 1, "one refresh by the remaining tabs");
  } finally {
    await context.close();
  }
});

test("fetch() attaches the token and, after a 401 invalid_token, refreshes once and retries", async () => {
  const { context, refreshes } = await newBrowserContext();
  try {
    const [tab] = await openTabs(context, 1);
    await loginAll([tab]);
    // A token the gateway refuses (as after a key rotation or an early expiry) in the tab's memory.
    await tab.evaluate(() => window.session.accept({ access_token: "not-a-valid-token", token_type: "Bearer", expires_in: 300 }));
    const apiCalls = [];
    tab.on("request", (r) => r.url().startsWith(`${gateway.url}/api/`) && apiCalls.push(r.headers().authorization));
    const r = await tab.evaluate(async (api) => {
      const res = await window.session.fetch(api, { headers: { "x-demo": "1" } });
      return { status: res.status, body: await res.json() };
    }, `${gateway.url}/api/echo`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(refreshes.length, 1, "one refresh");
    assert.equal(apiCalls.length, 2, "the refused call and its one retry");
    assert.equal(apiCalls[0], "Bearer not-a-valid-token");
    assert.match(apiCalls[1], /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(r.body.headers["x-demo"], "1", "the retry is the same request");
    assert.equal(r.body.headers["x-user-id"], gateway.subject);
  } finally {
    await context.close();
  }
});

// Which token a tab keeps when a newer one arrives that expires sooner than the one it holds (a
// token accept()ed with a longer lifetime than the gateway's refreshes, or minted before
// `access_token_ttl_seconds` was lowered): the newest, or every call after a 401 invalid_token
// would send the refused token again and refresh again, in every tab.

/** Tokens fresh for 30 s after minting: nothing goes stale during these tests by itself. */
const FRESH = { margin: "30" };

/** A token response the gateway will refuse (401 invalid_token), living longer than its own. */
const REFUSED = { access_token: "refused-long-lived", token_type: "Bearer", expires_in: 600 };

const apiGet = (tab) =>
  tab.evaluate(async (api) => {
    const res = await window.session.fetch(api);
    return res.status;
  }, `${gateway.url}/api/echo`);

test("after a 401 invalid_token on a longer-lived token, the refreshed token is the tab's: the next call sends it, no second refresh", async () => {
  const { context, tabs, refreshes, apiCalls } = await loggedInTabs(1, FRESH);
  const [tab] = tabs;
  try {
    await tab.evaluate((t) => window.session.accept(t), REFUSED);
    assert.equal(await apiGet(tab), 200, "refused, refreshed, retried");
    assert.equal(refreshes.length, 1);
    assert.deepEqual(apiCalls.slice(0, 1), ["Bearer refused-long-lived"]);
    const refreshed = apiCalls[1];
    assert.match(refreshed, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    // The tab now holds the refreshed token.
    const held = await tab.evaluate(() => window.attempt(() => window.session.getAccessToken()));
    assert.equal(`Bearer ${held.ok}`, refreshed);
    assert.equal(await apiGet(tab), 200);
    assert.deepEqual(apiCalls.slice(2), [refreshed], "the second call sends the refreshed token at once");
    assert.equal(refreshes.length, 1, "no second refresh");
  } finally {
    await context.close();
  }
});

test("another tab takes the refreshed token over the longer-lived one both held: its call sends it, no second refresh", async () => {
  const { context, tabs, refreshes, apiCalls } = await loggedInTabs(2, FRESH);
  const [a, b] = tabs;
  try {
    await a.evaluate((t) => window.session.accept(t), REFUSED);
    await b.waitForFunction(() => window.session.expiresAt > Date.now() + 300_000, null, { timeout: 3000 });
    assert.equal(await apiGet(a), 200, "refused, refreshed, retried");
    assert.equal(refreshes.length, 1);
    const refreshed = apiCalls[1];
    assert.match(refreshed, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    // The message carrying it reaches b, which takes it (the token it held would be refused).
    await b.waitForFunction(() => window.session.expiresAt < Date.now() + 300_000, null, { timeout: 3000 });
    assert.equal(await apiGet(b), 200);
    assert.deepEqual(apiCalls.slice(2), [refreshed], "tab b sends the refreshed token");
    assert.equal(refreshes.length, 1, "no second refresh");
  } finally {
    await context.close();
  }
});

test("a tab refused just after another tab's refresh, before its message, waits for that token rather than refresh again, though it expires sooner than the refused one", async () => {
  const { context, tabs, refreshes, apiCalls } = await loggedInTabs(2, { ...FRESH, channel: "slow", delay: "1500" });
  const [a, b] = tabs;
  try {
    await a.evaluate((t) => window.session.accept(t), REFUSED);
    await b.waitForFunction(() => window.session.expiresAt > Date.now() + 300_000, null, { timeout: 3000 });
    assert.equal(await apiGet(a), 200, "refused, refreshed, retried");
    assert.equal(refreshes.length, 1);
    const refreshed = apiCalls[1];
    // b still holds the refused token (the message is on its way): refused, it takes a's token.
    assert.equal(await apiGet(b), 200);
    assert.deepEqual(apiCalls.slice(2), ["Bearer refused-long-lived", refreshed], "b's refused call, then its retry with a's token");
    assert.equal(refreshes.length, 1, "no second refresh");
  } finally {
    await context.close();
  }
});

test("without Web Locks, a holder whose refresh failed hands over to one tab: the tabs waiting on it never refresh at once", async () => {
  // Tokens fresh for 4 s after minting (the default margin), so that all three tabs need a refresh together.
  const { context, tabs, refreshes } = await loggedInTabs(3, { locks: "off" });
  try {
    await new Promise((r) => setTimeout(r, 4_300));
    // The first refresh fails in the browser (as on a dropped connection), before the gateway.
    let failed = 0;
    await context.route(`${gateway.url}/auth/refresh`, (route) => (failed++ === 0 ? route.abort("connectionreset") : route.continue()));
    const served = await gateway.refreshesServed();
    const results = await Promise.all(tabs.map((tab) => tab.evaluate(() => window.attempt(() => window.session.getAccessToken()))));
    const errors = results.filter((r) => r.error).map((r) => r.error);
    assert.deepEqual(errors, ["refresh_failed"], `the holder's refresh failed: ${JSON.stringify(results)}`);
    const tokens = results.filter((r) => r.ok).map((r) => r.ok);
    assert.equal(tokens.length, 2);
    assert.equal(tokens[0], tokens[1], "the two others share one new token");
    assert.equal(refreshes.length, 2, "the failed refresh, then exactly one more");
    assert.equal((await gateway.refreshesServed()) - served, 1, "one refresh reached the gateway");
    assert.equal(await gateway.check(tokens[0]), 200, "a live session");
  } finally {
    await context.close();
  }
});
