// End-to-end: the forward path in workerd against purpose-built origins on 127.0.0.1 — uploads
// with `Expect`, interim (1xx) responses, the origin timeout, the shared-cache bypass, GET/HEAD with
// a body, `Vary` on CORS responses, one retry of an idempotent request on a reset connection, and
// an origin that is down. Every test asserts the exact status, code, headers and log event.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import {
  startInterimOrigin,
  startSlowOrigin,
  startResettingOrigin,
  startVaryOrigin,
  startRawStatusOrigin,
  unusedOriginUrl,
  rawRequest,
} from "../support/origins.mjs";

const UPLOAD_ROUTE = { name: "upload", methods: ["POST"], path: "/upload", auth: ["public"] };

async function expectProblem(res, status, code) {
  const p = await problemOf(res);
  assert.equal(p.status, status, `status for ${code}: ${JSON.stringify(p.body)}`);
  assert.equal(p.code, code);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  assert.equal(p.body.type, `urn:portcullis:problem:${code}`);
  return p;
}

/** The parsed log lines of one event. */
function events(gw, name) {
  return gw.logs
    .filter((l) => l.includes(`"event":"${name}"`))
    .map((l) => JSON.parse(l));
}

function requestLine(gw, path) {
  return events(gw, "request").filter((l) => l.path === path).at(-1);
}

describe("uploads, caching and bodies against an echo origin", () => {
  let origin, issuer, gw;
  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer({ algs: ["RS256"] });
    const config = baseConfig({ origin: origin.url, issuer });
    config.routes.push(UPLOAD_ROUTE, {
      name: "cacheable",
      methods: ["GET"],
      path: "/cacheable/*",
      auth: ["jwt"],
      scopes: ["read:echo"],
      origin_cache: "default",
    });
    gw = await startGateway(config);
  });
  after(async () => {
    await gw.dispose();
    await origin.close();
    await issuer.close();
  });

  test("an upload with Expect: 100-continue reaches the origin whole, without Expect", async () => {
    const body = "x".repeat(256 * 1024);
    const res = await rawRequest(gw.url, {
      method: "POST",
      path: "/upload",
      headers: { expect: "100-continue", "content-type": "text/plain", "content-length": String(body.length) },
      body,
    });
    assert.equal(res.status, 200, res.body.slice(0, 300));
    const echo = JSON.parse(res.body);
    assert.equal(echo.method, "POST");
    assert.equal(echo.body.length, body.length);
    assert.equal(echo.headers.expect, undefined, "Expect is not forwarded");
    assert.equal(echo.headers["content-length"], String(body.length), "the length is kept");
    assert.equal(echo.headers["transfer-encoding"], undefined);
  });

  test("a chunked upload reaches the origin whole, chunked", async () => {
    const res = await rawRequest(gw.url, {
      method: "POST",
      path: "/upload",
      headers: { "content-type": "text/plain", "transfer-encoding": "chunked" },
      chunks: ["one ", "two ", "three"],
      everyMs: 20,
    });
    assert.equal(res.status, 200, res.body);
    const echo = JSON.parse(res.body);
    assert.equal(echo.body, "one two three");
    assert.equal(echo.headers["transfer-encoding"], "chunked");
  });

  test("authenticated routes fetch the origin with cache: no-store (no-cache upstream)", async () => {
    const token = await issuer.mint({ claims: { sub: "alice" } });
    const res = await gw.fetch("/api/profile", { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const echo = await res.json();
    assert.equal(echo.headers["x-user-id"], "alice");
    assert.equal(echo.headers["cache-control"], "no-cache");
    assert.equal(echo.headers.pragma, "no-cache");
  });

  test("public routes, and routes with origin_cache = default, keep the runtime's caching", async () => {
    const pub = await (await gw.fetch("/health")).json();
    assert.equal(pub.headers["cache-control"], undefined);
    assert.equal(pub.headers.pragma, undefined);
    const token = await issuer.mint({ claims: { sub: "alice" } });
    const res = await gw.fetch("/cacheable/x", { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const echo = await res.json();
    assert.equal(echo.headers["x-user-id"], "alice");
    assert.equal(echo.headers["cache-control"], undefined);
    assert.equal(echo.headers.pragma, undefined);
  });

  test("a client's own Cache-Control on a bypass route is kept; the cache is bypassed all the same", async () => {
    const token = await issuer.mint({ claims: { sub: "alice" } });
    const res = await gw.fetch("/api/profile", {
      headers: { authorization: `Bearer ${token}`, "cache-control": "max-age=0" },
    });
    const echo = await res.json();
    assert.equal(echo.headers["cache-control"], "max-age=0");
    assert.equal(echo.headers.pragma, "no-cache");
  });

  test("GET and HEAD with a body: 400 request_invalid, never forwarded, no origin outage logged", async () => {
    const before = origin.requests.length;
    for (const [method, headers, body] of [
      ["GET", { "content-length": "5", "content-type": "application/json" }, "{\"a\"}"],
      ["GET", { "transfer-encoding": "chunked" }, "abc"],
      ["HEAD", { "content-length": "3" }, "abc"],
    ]) {
      const res = await rawRequest(gw.url, { method, path: "/health", headers, body });
      assert.equal(res.status, 400, `${method} ${JSON.stringify(headers)}: ${res.body}`);
      assert.equal(res.headers["content-type"], "application/problem+json");
      if (method === "GET") {
        const p = JSON.parse(res.body);
        assert.equal(p.code, "request_invalid");
        assert.match(p.detail, /^a GET request must not carry a body/);
      }
    }
    assert.equal(origin.requests.length, before, "nothing reached the origin");
    await gw.settleLogs();
    assert.equal(requestLine(gw, "/health").code, "request_invalid");
    assert.deepEqual(events(gw, "origin_unreachable"), []);
    assert.deepEqual(events(gw, "runtime_fault"), []);
  });

  test("a GET with Content-Length: 0 is no body: forwarded", async () => {
    const res = await rawRequest(gw.url, { method: "GET", path: "/health", headers: { "content-length": "0" } });
    assert.equal(res.status, 200, res.body);
    assert.equal(JSON.parse(res.body).method, "GET");
  });
});

describe("an origin that sends interim (1xx) responses", () => {
  let origin, gw;
  before(async () => {
    origin = await startInterimOrigin();
    const config = baseConfig({ origin: origin.url });
    config.routes = [{ name: "any", methods: ["*"], path: "/*", auth: ["public"] }];
    gw = await startGateway(config);
  });
  after(async () => {
    await gw.dispose();
    await origin.close();
  });

  for (const [status, method, path] of [
    [103, "GET", "/hints-103"],
    [100, "POST", "/unprompted-continue"],
  ]) {
    test(`${status} then 200: 502 origin_response_invalid, logged as an interim response`, async () => {
      const init = method === "POST" ? { method, body: "payload" } : { method };
      const res = await gw.fetch(path, init);
      const p = await expectProblem(res, 502, "origin_response_invalid");
      assert.equal(p.body.detail, `the origin sent an interim ${status} response, which cannot be relayed`);
      await gw.settleLogs();
      assert.ok(events(gw, "origin_interim_response").some((l) => l.status === status));
      assert.equal(requestLine(gw, path).code, "origin_response_invalid");
      assert.deepEqual(events(gw, "origin_unreachable"), [], "not reported as an outage");
    });
  }
});

describe("an origin that answers with a status outside 200–599", () => {
  let origin, gw;
  before(async () => {
    origin = await startRawStatusOrigin(600);
    const config = baseConfig({ origin: origin.url });
    config.routes = [{ name: "any", methods: ["GET"], path: "/*", auth: ["public"] }];
    gw = await startGateway(config);
  });
  after(async () => {
    await gw.dispose();
    await origin.close();
  });

  test("status 600: 502 origin_response_invalid, not a gateway fault", async () => {
    const res = await gw.fetch("/odd");
    const p = await expectProblem(res, 502, "origin_response_invalid");
    assert.equal(p.body.detail, "the origin answered with status 600, outside 200-599");
    await gw.settleLogs();
    assert.deepEqual(events(gw, "origin_status_invalid").at(-1), { event: "origin_status_invalid", status: 600 });
    assert.deepEqual(events(gw, "runtime_fault"), []);
  });
});

describe("origin timeout", () => {
  let origin, gw;
  before(async () => {
    origin = await startSlowOrigin();
    const config = baseConfig({ origin: origin.url, extra: { origin_timeout_ms: 300 } });
    config.routes = [
      { name: "patient", methods: ["GET"], path: "/patient", auth: ["public"], origin_timeout_ms: 3000 },
      { name: "any", methods: ["GET", "POST"], path: "/*", auth: ["public"] },
    ];
    gw = await startGateway(config);
  });
  after(async () => {
    await gw.dispose();
    await origin.close();
  });

  test("an origin that accepts and never answers: 504 origin_timeout after the configured time", async () => {
    const res = await gw.fetch("/stuck?head=5000");
    const p = await expectProblem(res, 504, "origin_timeout");
    assert.equal(p.body.detail, "the origin sent no response within 300 ms");
    await gw.settleLogs();
    assert.deepEqual(events(gw, "origin_timeout").at(-1), { event: "origin_timeout", timeout_ms: 300 });
    assert.equal(requestLine(gw, "/stuck").code, "origin_timeout");
    assert.equal(requestLine(gw, "/stuck").status, 504);
  });

  test("a body that starts before the timeout streams to the end, however long it takes", async () => {
    const res = await gw.fetch("/stream?chunks=5&every=200");
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "0\n1\n2\n3\n4\n");
  });

  test("an upload slower than the timeout is not cut: the clock starts once the body is sent", async () => {
    const chunks = ["a", "b", "c", "d", "e"];
    const res = await rawRequest(gw.url, {
      method: "POST",
      path: "/upload?head=0",
      headers: { "content-type": "text/plain", "content-length": "5" },
      chunks,
      everyMs: 150,
    });
    assert.equal(res.status, 200, res.body);
  });

  test("once the body is sent the clock runs: an origin that then stalls gets 504", async () => {
    const res = await rawRequest(gw.url, {
      method: "POST",
      path: "/upload?head=5000",
      headers: { "content-type": "text/plain", "content-length": "2" },
      chunks: ["a", "b"],
      everyMs: 150,
    });
    assert.equal(res.status, 504, res.body);
    assert.equal(JSON.parse(res.body).code, "origin_timeout");
  });

  test("a route's own origin_timeout_ms overrides the top level", async () => {
    const res = await gw.fetch("/patient?head=600");
    assert.equal(res.status, 200);
  });
});

describe("an origin that is down", () => {
  let gw;
  before(async () => {
    const config = baseConfig({ origin: await unusedOriginUrl() });
    config.routes = [{ name: "health", methods: ["GET"], path: "/health", auth: ["public"] }, UPLOAD_ROUTE];
    gw = await startGateway(config);
  });
  after(() => gw.dispose());

  test("GET: 502 origin_unreachable after one retry, logged with its cause", async () => {
    const res = await gw.fetch("/health?q=secret-query");
    await expectProblem(res, 502, "origin_unreachable");
    await gw.settleLogs();
    const line = events(gw, "origin_unreachable").at(-1);
    assert.equal(line.attempts, 2);
    assert.equal(typeof line.reason, "string");
    assert.ok(line.reason.length > 0);
    assert.equal(events(gw, "origin_retry").length, 1);
    assert.equal(requestLine(gw, "/health").code, "origin_unreachable");
    assert.ok(!gw.logs.join("\n").includes("secret-query"), "the query is never logged");
  });

  test("POST: 502 origin_unreachable, never retried", async () => {
    const retries = events(gw, "origin_retry").length;
    const res = await gw.fetch("/upload", { method: "POST", body: "x" });
    await expectProblem(res, 502, "origin_unreachable");
    await gw.settleLogs();
    assert.equal(events(gw, "origin_unreachable").at(-1).attempts, 1);
    assert.equal(events(gw, "origin_retry").length, retries);
  });
});

describe("an origin that resets a connection", () => {
  let origin, gw;
  before(async () => {
    origin = await startResettingOrigin();
    const config = baseConfig({ origin: origin.url });
    config.routes = [{ name: "any", methods: ["GET", "HEAD", "OPTIONS", "POST"], path: "/*", auth: ["public"] }];
    gw = await startGateway(config);
  });
  after(async () => {
    await gw.dispose();
    await origin.close();
  });

  test("GET: retried once on a fresh connection, the client gets 200", async () => {
    origin.resetNext();
    const res = await gw.fetch("/item/1");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { method: "GET", url: "/item/1", body: "" });
    assert.equal(origin.state.attempts.length, 2, "the origin saw two attempts");
  });

  test("POST: never retried, 502 origin_unreachable after one attempt", async () => {
    origin.resetNext();
    const res = await gw.fetch("/item/1", { method: "POST", body: "charge the card" });
    await expectProblem(res, 502, "origin_unreachable");
    assert.equal(origin.state.attempts.length, 1, "the origin saw one attempt");
    await gw.settleLogs();
    assert.equal(events(gw, "origin_unreachable").at(-1).attempts, 1);
  });
});

describe("Vary on CORS responses", () => {
  const APP = "https://app.example";
  let origin, gw;
  before(async () => {
    origin = await startVaryOrigin();
    const config = baseConfig({ origin: origin.url, extra: { cors: { allowed_origins: [APP] } } });
    config.routes = [{ name: "any", methods: ["GET"], path: "/*", auth: ["public"] }];
    gw = await startGateway(config);
  });
  after(async () => {
    await gw.dispose();
    await origin.close();
  });

  for (const [sent, expected] of [
    ["Accept-Encoding", "Accept-Encoding, Origin"],
    ["Accept-Encoding, Cookie", "Accept-Encoding, Cookie, Origin"],
    ["origin, Accept", "origin, Accept"],
    ["*", "*"],
    [null, "Origin"],
  ]) {
    test(`origin Vary ${JSON.stringify(sent)} → ${JSON.stringify(expected)}`, async () => {
      const q = sent === null ? "" : `?vary=${encodeURIComponent(sent)}`;
      const res = await gw.fetch(`/v${q}`, { headers: { origin: APP } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("access-control-allow-origin"), APP);
      assert.equal(res.headers.get("vary"), expected);
      await res.text();
    });
  }

  test("without an allowed Origin the origin's Vary is untouched", async () => {
    const res = await gw.fetch("/v?vary=Accept-Encoding");
    assert.equal(res.headers.get("vary"), "Accept-Encoding");
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    await res.text();
  });
});
