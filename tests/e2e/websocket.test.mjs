// End-to-end: WebSocket routes in workerd. A real `ws` client connects to the gateway's real HTTP
// port; the gateway talks to a real WebSocket origin on 127.0.0.1 (tests/support/websocket-origin.mjs).
// Two gateway isolates share the revocation object (tests/support/isolates.mjs): sockets are opened
// on isolate "a" (the one behind Miniflare's port), revocations are made through isolate "b", so "a"
// learns of them only through its snapshot, as a socket's isolate would in production.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { Miniflare } from "miniflare";
import { startIssuer, baseConfig, workerModules, BUILD, DURABLE_OBJECTS } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";
import { startWebSocketOrigin } from "../support/websocket-origin.mjs";

const REFRESH_MS = 200;
const MAX_STALENESS_MS = 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowSecs = () => Math.floor(Date.now() / 1000);

let origin, issuer, env, A, B, gatewayUrl, adminToken, probe;

// workerd's own HTTP server writes `Upgrade` itself (kj treats it as a connection header) and
// drops it from any non-101 response a worker returns, so a client of `wrangler dev` never sees it
// on a 426. What the gateway hands the runtime is observed in-process instead: a probe worker calls
// the gateway through a service binding and reports the response it got.
const PROBE_WORKER = `
export default {
  async fetch(request, env) {
    const res = await env.GATEWAY.fetch(request);
    return Response.json({ status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() });
  },
};`;

async function startProbe(cfg) {
  const mf = new Miniflare({
    workers: [
      { name: "probe", modules: true, script: PROBE_WORKER, serviceBindings: { GATEWAY: "gateway" }, compatibilityDate: "2026-04-01" },
      {
        name: "gateway",
        modules: workerModules(),
        modulesRoot: BUILD,
        compatibilityDate: "2026-04-01",
        kvNamespaces: ["PORTCULLIS_KV"],
        durableObjects: DURABLE_OBJECTS,
        bindings: { PORTCULLIS_CONFIG: cfg },
      },
    ],
    cf: false,
    handleStructuredLogs() {},
  });
  await mf.ready;
  return {
    async fetch(path, init) {
      const res = await mf.dispatchFetch(`http://gateway.test${path}`, init);
      return res.json();
    },
    dispose: () => mf.dispose(),
  };
}

function config() {
  const cfg = baseConfig({
    origin: origin.url,
    issuer,
    issuerExtra: { leeway_seconds: 0, max_token_lifetime_seconds: 3600 },
    extra: {
      revocation: { refresh_interval_ms: REFRESH_MS, max_staleness_ms: MAX_STALENESS_MS },
      admin: { enabled: true },
      api_keys: {},
      websocket: { close_on: ["expiry", "revocation"] },
    },
  });
  cfg.routes.push(
    // Pass-through: the origin's socket goes to the client as it is.
    { name: "live", methods: ["GET"], path: "/live/*", auth: ["jwt", "api_key"], scopes: ["read:echo"], websocket: { close_on: [] } },
    // Relayed: closed at expiry and on revocation (the top-level default).
    { name: "guarded", methods: ["GET"], path: "/guarded/*", auth: ["jwt", "api_key"], scopes: ["read:echo"], websocket: true },
  );
  return cfg;
}

/** Opens a socket through the gateway; resolves { ws, protocol } once open, or rejects with the refusal. */
function connect(path, { token, headers = {}, protocols } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const ws = new WebSocket(`${gatewayUrl.replace(/^http/, "ws")}${path}`, protocols, { headers: h });
  const inbox = [];
  const waiters = [];
  ws.on("message", (data, isBinary) => {
    inbox.push({ data, isBinary });
    waiters.splice(0).forEach((w) => w());
  });
  const closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })));
  const next = async () => {
    for (let i = 0; i < 100 && inbox.length === 0; i++) await new Promise((r) => { waiters.push(r); setTimeout(r, 50); });
    assert.ok(inbox.length > 0, "no message within 5 s");
    return inbox.shift();
  };
  let handshake = null;
  ws.on("upgrade", (res) => (handshake = res.headers));
  return new Promise((resolve, reject) => {
    ws.on("open", () => resolve({ ws, next, closed, handshake }));
    ws.on("unexpected-response", (_req, res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        let body = text;
        try {
          body = JSON.parse(text);
        } catch {}
        reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode, headers: res.headers, body }));
      });
    });
    ws.on("error", (e) => reject(e));
  });
}

async function refusal(path, opts) {
  try {
    const { ws } = await connect(path, opts);
    ws.terminate();
  } catch (e) {
    if (e.status) return e;
    throw e;
  }
  throw new Error(`${path}: the upgrade was accepted`);
}

async function admin(method, path, body) {
  const init = { method, headers: { authorization: `Bearer ${adminToken}` } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const res = await B.fetch(`/admin${path}`, init);
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** Echo round trips of a text and a binary frame. */
async function assertEcho({ ws, next }) {
  ws.send("hello, origin");
  const text = await next();
  assert.equal(text.isBinary, false);
  assert.equal(text.data.toString(), "hello, origin");
  const bytes = Buffer.from([0, 1, 2, 254, 255]);
  ws.send(bytes);
  const binary = await next();
  assert.equal(binary.isBinary, true);
  assert.deepEqual(Buffer.from(binary.data), bytes);
}

before(async () => {
  origin = await startWebSocketOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  env = await startIsolates(config(), { count: 2, flakyRevocation: true });
  [A, B] = env.isolates;
  gatewayUrl = (await env.mf.ready).toString().replace(/\/$/, "");
  adminToken = await issuer.mint({ alg: "ES256", claims: { sub: "ops", scope: "portcullis:admin" }, ttl: 3600 });
  probe = await startProbe(config());
});

after(async () => {
  await probe?.dispose();
  await env?.dispose();
  await origin?.close();
  await issuer?.close();
});

for (const [route, mode] of [["/live", "passed through"], ["/guarded", "relayed"]]) {
  describe(`a WebSocket route, ${mode}`, () => {
    test("echoes text and binary frames; the origin sees the identity headers, never the client's spoofs", async () => {
      const jti = `ws-${route.slice(1)}-identity`;
      const token = await issuer.mint({ alg: "ES256", claims: { sub: "alice", jti } });
      const conn = await connect(`${route}/chat?room=1`, {
        token,
        protocols: ["graphql-transport-ws"],
        headers: { "x-user-id": "admin", "x-auth-method": "public", "x-user-scopes": "admin", "x-token-id": "forged", "x-auth-issuer": "https://evil.example" },
      });
      assert.equal(conn.ws.protocol, "graphql-transport-ws", "the origin's subprotocol reaches the client");
      assert.equal(conn.handshake["strict-transport-security"], "max-age=63072000; includeSubDomains", "the 101 carries HSTS");
      await assertEcho(conn);
      const seen = origin.upgrades.findLast((u) => u.url === `${route}/chat?room=1`);
      assert.ok(seen, "the origin got the upgrade");
      assert.equal(seen.headers.upgrade, "websocket");
      assert.equal(seen.headers["x-user-id"], "alice");
      assert.equal(seen.headers["x-auth-method"], "jwt");
      assert.equal(seen.headers["x-user-scopes"], "read:echo");
      assert.equal(seen.headers["x-token-id"], jti);
      assert.equal(seen.headers["x-auth-issuer"], issuer.url);
      assert.equal(seen.headers.authorization, undefined);
      assert.equal(seen.headers["x-api-key"], undefined);
      assert.equal(seen.headers["sec-websocket-protocol"], "graphql-transport-ws");
      conn.ws.close(4001, "client done");
      const closed = await conn.closed;
      assert.equal(closed.code, 4001);
      for (let i = 0; i < 40 && !origin.closes.some((c) => c.url === `${route}/chat?room=1`); i++) await sleep(50);
      assert.deepEqual(
        origin.closes.filter((c) => c.url === `${route}/chat?room=1`).map(({ code, reason }) => ({ code, reason })),
        [{ code: 4001, reason: "client done" }],
        "the client's close code and reason reach the origin",
      );
    });

    test("the origin's close code and reason reach the client", async () => {
      const token = await issuer.mint({ alg: "ES256" });
      const conn = await connect(`${route}/closing`, { token });
      conn.ws.send("close:4002:origin done");
      const closed = await conn.closed;
      assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 4002, reason: "origin done" });
    });

    test("an upgrade without a credential is refused 401 with the challenges, and never reaches the origin", async () => {
      const before = origin.upgrades.length;
      const r = await refusal(`${route}/chat`);
      assert.equal(r.status, 401);
      assert.equal(r.body.code, "credentials_missing");
      assert.equal(r.headers["www-authenticate"], 'Bearer realm="test", ApiKey realm="test", header="X-API-Key"');
      const bad = await refusal(`${route}/chat`, { token: "not.a.token" });
      assert.equal(bad.status, 401);
      assert.equal(bad.body.code, "token_malformed");
      const scope = await refusal(`${route}/chat`, { token: await issuer.mint({ alg: "ES256", claims: { scope: "other" } }) });
      assert.equal(scope.status, 403);
      assert.equal(scope.body.code, "insufficient_scope");
      assert.equal(origin.upgrades.length, before);
    });

    test("an origin that refuses the upgrade: its 426 reaches the client, with Upgrade", async () => {
      const token = await issuer.mint({ alg: "ES256" });
      const r = await refusal(`${route}/refuse-upgrade`, { token });
      assert.equal(r.status, 426);
      assert.equal(r.body, "upgrade required");
      const seen = await probe.fetch(`${route}/refuse-upgrade`, { headers: { authorization: `Bearer ${token}`, upgrade: "websocket" } });
      assert.equal(seen.status, 426);
      assert.equal(seen.headers.upgrade, "websocket");
      assert.equal(seen.headers.connection, undefined);
      assert.equal(seen.body, "upgrade required");
    });
  });
}

describe("routes without websocket", () => {
  test("an Upgrade: websocket is stripped: the origin gets a plain GET with the identity headers", async () => {
    const token = await issuer.mint({ alg: "ES256", claims: { sub: "bob" } });
    const before = origin.upgrades.length;
    const r = await refusal("/api/plain", { token });
    assert.equal(r.status, 200, "the origin's plain answer, not a socket");
    assert.equal(r.body.url, "/api/plain");
    assert.equal(r.body.headers.upgrade, undefined);
    assert.equal(r.body.headers["x-user-id"], "bob");
    assert.equal(origin.upgrades.length, before, "no upgrade reached the origin");
  });

  test("a 426 from the origin keeps its Upgrade header; other hop-by-hop headers still go", async () => {
    const token = await issuer.mint({ alg: "ES256" });
    const seen = await probe.fetch("/api/need-upgrade", { headers: { authorization: `Bearer ${token}` } });
    assert.equal(seen.status, 426);
    assert.equal(seen.headers.upgrade, "websocket");
    assert.equal(seen.headers.connection, undefined);
    assert.equal(seen.body, "upgrade required");
    const ok = await probe.fetch("/api/plain-upgrade-header", { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.upgrade, undefined, "Upgrade on any other status is hop-by-hop");
  });
});

describe("closing a relayed socket when its credential ends", () => {
  test("at the token's expiry: close 1008 token_expired, to both ends", async () => {
    const exp = nowSecs() + 3;
    const token = await issuer.mint({ alg: "ES256", claims: { exp, jti: "ws-expiring" } });
    const conn = await connect("/guarded/expiring", { token });
    await assertEcho(conn);
    const closed = await conn.closed;
    assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 1008, reason: "token_expired" });
    assert.ok(closed.at >= exp * 1000 - 50, `closed ${exp * 1000 - closed.at} ms before exp`);
    for (let i = 0; i < 40 && !origin.closes.some((c) => c.url === "/guarded/expiring"); i++) await sleep(50);
    assert.deepEqual(
      origin.closes.filter((c) => c.url === "/guarded/expiring").map(({ code, reason }) => ({ code, reason })),
      [{ code: 1008, reason: "token_expired" }],
    );
    assert.ok(env.logs.some((l) => l.includes('"event":"websocket_closed"') && l.includes('"reason":"token_expired"')));
  });

  test("a pass-through socket is not closed at expiry (no close_on)", async () => {
    const exp = nowSecs() + 2;
    const conn = await connect("/live/expiring", { token: await issuer.mint({ alg: "ES256", claims: { exp } }) });
    await sleep(Math.max(0, exp * 1000 - Date.now()) + 500);
    await assertEcho(conn);
    conn.ws.close(1000);
    assert.equal((await conn.closed).code, 1000);
  });

  test("after an admin revocation of the token's jti, on another isolate: close 1008 token_revoked within the revocation bound", async (t) => {
    const jti = "ws-revoked";
    const token = await issuer.mint({ alg: "ES256", claims: { jti } });
    const conn = await connect("/guarded/revocable", { token });
    await assertEcho(conn);
    await sleep(3 * REFRESH_MS);
    await assertEcho(conn);
    const r = await admin("POST", "/revocations/tokens", { jti, exp: nowSecs() + 300 });
    assert.equal(r.status, 201);
    const at = Date.now();
    const closed = await conn.closed;
    assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 1008, reason: "token_revoked" });
    const ms = closed.at - at;
    t.diagnostic(`socket closed ${ms} ms after the revocation (check every ${REFRESH_MS} ms, bound ${MAX_STALENESS_MS} + ${REFRESH_MS} ms)`);
    assert.ok(ms <= MAX_STALENESS_MS + REFRESH_MS, `${ms} ms`);
    // The socket's own upgrade would now be refused too.
    const again = await refusal("/guarded/revocable", { token });
    assert.equal(again.status, 401);
    assert.equal(again.body.code, "token_revoked");
  });

  test("an API key revoked through the key API: close 1008 api_key_revoked", async () => {
    const created = await admin("POST", "/keys", { client_id: "ws-machine", scopes: ["read:echo"] });
    assert.equal(created.status, 201);
    const conn = await connect("/guarded/machine", { headers: { "x-api-key": created.json.key } });
    await assertEcho(conn);
    const seen = origin.upgrades.findLast((u) => u.url === "/guarded/machine");
    assert.equal(seen.headers["x-client-id"], "ws-machine");
    assert.equal(seen.headers["x-key-id"], created.json.record.key_id);
    const r = await admin("POST", `/keys/${created.json.record.key_id}/revoke`, { reason: "e2e" });
    assert.equal(r.status, 200);
    const closed = await conn.closed;
    assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 1008, reason: "api_key_revoked" });
  });

  test("at an API key's expires_at: close 1008 api_key_expired", async () => {
    const expires = nowSecs() + 3;
    const created = await admin("POST", "/keys", { client_id: "ws-expiring", scopes: ["read:echo"], expires_at: expires });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const conn = await connect("/guarded/machine-expiring", { headers: { "x-api-key": created.json.key } });
    await assertEcho(conn);
    const closed = await conn.closed;
    assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 1008, reason: "api_key_expired" });
    assert.ok(closed.at >= expires * 1000 - 50, `closed ${expires * 1000 - closed.at} ms before expires_at`);
  });

  test("the revocation list unreachable past max_staleness_ms: close 1013 revocation_unavailable (fail closed)", async () => {
    const token = await issuer.mint({ alg: "ES256" });
    const conn = await connect("/guarded/outage", { token });
    await assertEcho(conn);
    const down = Date.now();
    await env.setRevocationDown(true);
    try {
      const closed = await conn.closed;
      assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 1013, reason: "revocation_unavailable" });
      // Not at the first failed refresh (~REFRESH_MS in) but once the snapshot is too stale: its
      // last successful refresh can precede the outage by up to one check plus one refresh interval.
      assert.ok(closed.at - down >= MAX_STALENESS_MS - 2 * REFRESH_MS, `closed ${closed.at - down} ms into the outage: the snapshot was still usable`);
    } finally {
      await env.setRevocationDown(false);
    }
    const again = await connect("/guarded/outage", { token });
    await assertEcho(again);
    again.ws.close(1000);
    await again.closed;
  });
});
