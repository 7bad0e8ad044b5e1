// Review 4 of the browser session client (www/js/session.js) in headless Chromium against the
// gateway's sessions (the real wasm in workerd).
// - Which token a tab keeps when a newer one arrives that expires sooner than the one it holds. A
//   token accept()ed with a longer lifetime than the gateway's refreshes (or minted before
//   `access_token_ttl_seconds` was lowered) was kept over the token of a later refresh, because
//   tabs kept the token that *lives longest*: after a 401 invalid_token every call sent the refused
//   token again and refreshed again, in every tab.
// - Without Web Locks, the tabs waiting on an elected holder whose refresh failed all refreshed at
//   once, with the same cookie.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startSessionGateway } from "../support/www-session-gateway.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PKG = path.join(ROOT, "www", "pkg");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
if (!existsSync(path.join(PKG, "session.js"))) throw new Error("www/pkg is missing: run `make www` first");
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (make test does it)`);

/** The gateway's access-token lifetime; the margin leaves a token fresh for 30 s after minting. */
const TTL = 60;
const MARGIN = 30;

const PAGE = `<!doctype html><meta charset="utf-8"><title>session</title>
<script type="module" src="/app.js"></script><body></body>`;
const APP_JS = `
import { createSession, isSessionError } from "/pkg/session.js";
const q = new URLSearchParams(location.search);
if (q.get("locks") === "off") Object.defineProperty(navigator, "locks", { value: undefined });
if (q.get("channel") === "slow") {
  // Every message between tabs arrives 1.5 s late: the lock can reach a tab well before the
  // message that tells it another tab has just refreshed.
  const Native = BroadcastChannel;
  globalThis.BroadcastChannel = class extends Native {
    set onmessage(handler) {
      super.onmessage = (event) => setTimeout(() => handler(event), 1500);
    }
  };
}
const session = createSession({ gateway: q.get("gateway"), refreshMarginSeconds: Number(q.get("margin")) });
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
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
  await app?.close();
});

/** Tabs of one browser context (one cookie jar), logged in, and every API call's bearer token and
 *  every refresh the browser sends. */
async function loggedInTabs(n, q) {
  const context = await browser.newContext();
  await context.route((url) => url.hostname !== "127.0.0.1", (route) => route.abort("blockedbyclient"));
  const refreshes = [];
  const apiCalls = [];
  context.on("request", (r) => {
    if (r.url() === `${gateway.url}/auth/refresh` && r.method() === "POST") refreshes.push(r.url());
    if (r.url().startsWith(`${gateway.url}/api/`) && r.method() === "GET") apiCalls.push(r.headers().authorization);
  });
  const tabs = [];
  for (let i = 0; i < n; i++) {
    const page = await context.newPage();
    await page.goto(app.url(q));
    await page.waitForSelector('body[data-ready="yes"]', { state: "attached" });
    tabs.push(page);
  }
  const login = await tabs[0].evaluate((creds) => window.attempt(() => window.session.login(creds)), gateway.credentials);
  assert.equal(login.error, undefined, `login: ${JSON.stringify(login)}`);
  for (const tab of tabs) await tab.waitForFunction(() => window.session.loggedIn === true);
  return { context, tabs, refreshes, apiCalls };
}

/** A token response the gateway will refuse (401 invalid_token), living longer than its own. */
const REFUSED = { access_token: "refused-long-lived", token_type: "Bearer", expires_in: 600 };

const apiGet = (tab) =>
  tab.evaluate(async (api) => {
    const res = await window.session.fetch(api);
    return res.status;
  }, `${gateway.url}/api/echo`);

test("after a 401 invalid_token on a longer-lived token, the refreshed token is the tab's: the next call sends it, no second refresh", async () => {
  const { context, tabs, refreshes, apiCalls } = await loggedInTabs(1);
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
  const { context, tabs, refreshes, apiCalls } = await loggedInTabs(2);
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
  const { context, tabs, refreshes, apiCalls } = await loggedInTabs(2, { channel: "slow" });
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
  // Tokens fresh for 4 s after minting, so that all three tabs need a refresh together.
  const { context, tabs, refreshes } = await loggedInTabs(3, { locks: "off", margin: String(TTL - 4) });
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
