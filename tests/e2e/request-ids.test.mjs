// Issue 15: request ids and trace context, in workerd in front of a real echo origin. Every
// request gets one id — a `cf-ray` of Cloudflare's shape, else 128 random bits — that appears in
// its log line, in every problem document as `instance` and to the origin as `x-request-id` (a
// client's own `x-request-id`, in any spelling, never reaches the origin). W3C `traceparent` and
// `tracestate` pass through unchanged when well-formed and are dropped when not.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";

import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf, requestLines } from "./harness.mjs";

const GENERATED = /^[0-9a-f]{32}$/;
const RAY = "8f0b4a6c3d2e1f00-SJC";
const PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const STATE = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";

let origin;
let issuer;
let gw;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  gw = await startGateway(baseConfig({ origin: origin.url, issuer, algorithms: ["ES256"] }));
});

after(async () => {
  await gw?.dispose();
  await origin?.close();
  await issuer?.close();
});

/** One request; returns the response, its problem (if any) and its one request log line. */
async function call(g, path, init = {}) {
  const from = g.logs.length;
  const res = await g.fetch(path, init);
  const text = await res.text();
  const lines = await requestLines(g, from);
  assert.equal(lines.length, 1, JSON.stringify(lines));
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { res, body, line: lines[0] };
}

describe("the request id", () => {
  test("a refusal names its request: instance = urn:portcullis:request:<id>, the same id as its log line", async () => {
    const { res, body, line } = await call(gw, "/api/items");
    assert.equal(res.status, 401);
    assert.equal(body.code, "token_missing");
    assert.match(line.request_id, GENERATED);
    assert.equal(body.instance, `urn:portcullis:request:${line.request_id}`);
    assert.equal(line.code, "token_missing");
    // Another request, another id.
    const again = await call(gw, "/api/items");
    assert.notEqual(again.line.request_id, line.request_id);
  });

  test("a cf-ray of Cloudflare's shape is the id; any other is ignored and an id generated", async () => {
    const ray = await call(gw, "/api/items", { headers: { "cf-ray": RAY } });
    assert.equal(ray.line.request_id, RAY);
    assert.equal(ray.body.instance, `urn:portcullis:request:${RAY}`);
    for (const forged of ["8F0B4A6C3D2E1F00-SJC", "evil", `${RAY}x`, "8f0b4a6c3d2e1f00-SJC\",\"x\":\"y", "../../admin"]) {
      const { body, line } = await call(gw, "/api/items", { headers: { "cf-ray": forged } });
      assert.match(line.request_id, GENERATED, forged);
      assert.equal(body.instance, `urn:portcullis:request:${line.request_id}`, forged);
    }
  });

  test("the origin gets the gateway's x-request-id; a client's own, in any spelling, never arrives", async () => {
    const token = await issuer.mint({ alg: "ES256" });
    const { res, body: seen, line } = await call(gw, "/api/items", {
      headers: {
        authorization: `Bearer ${token}`,
        "x-request-id": "client-chosen",
        X_Request_Id: "client-chosen-2",
        "X.Request.Id": "client-chosen-3",
      },
    });
    assert.equal(res.status, 200);
    assert.match(line.request_id, GENERATED);
    assert.equal(seen.headers["x-request-id"], line.request_id);
    for (const name of Object.keys(seen.headers)) {
      assert.ok(!/^x[-_.]request[-_.]id$/i.test(name) || name === "x-request-id", name);
    }
    // A public route too, with a cf-ray.
    const pub = await call(gw, "/health", { headers: { "cf-ray": RAY, "x-request-id": "mine" } });
    assert.equal(pub.body.headers["x-request-id"], RAY);
  });

  test("gateway-level problems carry it too: origin_unreachable (502) and gateway_misconfigured (503)", async () => {
    const dead = await startGateway(
      baseConfig({ origin: "http://127.0.0.1:9", issuer, algorithms: ["ES256"] }),
    );
    try {
      const { res, body, line } = await call(dead, "/health", { headers: { "cf-ray": RAY } });
      assert.equal(res.status, 502);
      assert.equal(body.code, "origin_unreachable");
      assert.equal(body.instance, `urn:portcullis:request:${RAY}`);
      assert.equal(line.request_id, RAY);
    } finally {
      await dead.dispose();
    }
    const broken = await startGateway({ origin: "not a url", routes: [] });
    try {
      const { res, body, line } = await call(broken, "/health");
      assert.equal(res.status, 503);
      assert.equal(body.code, "gateway_misconfigured");
      assert.match(line.request_id, GENERATED);
      assert.equal(body.instance, `urn:portcullis:request:${line.request_id}`);
    } finally {
      await broken.dispose();
    }
  });
});

describe("W3C trace context", () => {
  async function echoed(headers) {
    const token = await issuer.mint({ alg: "ES256" });
    const { res, body } = await call(gw, "/api/items", {
      headers: { authorization: `Bearer ${token}`, ...headers },
    });
    assert.equal(res.status, 200);
    return body.headers;
  }

  test("well-formed traceparent and tracestate pass through unchanged (no new span id)", async () => {
    const seen = await echoed({ traceparent: PARENT, tracestate: STATE });
    assert.equal(seen.traceparent, PARENT);
    assert.equal(seen.tracestate, STATE);
    // A later version's extra fields are kept as sent.
    const future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
    assert.equal((await echoed({ traceparent: future })).traceparent, future);
  });

  test("a malformed traceparent is dropped, and tracestate with it", async () => {
    for (const bad of [
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
      "garbage",
    ]) {
      const seen = await echoed({ traceparent: bad, tracestate: STATE });
      assert.equal(seen.traceparent, undefined, bad);
      assert.equal(seen.tracestate, undefined, bad);
    }
    // tracestate without a traceparent means nothing.
    assert.equal((await echoed({ tracestate: STATE })).tracestate, undefined);
  });

  test("a malformed tracestate is dropped alone", async () => {
    for (const bad of ["Rojo=1", "rojo=a,rojo=b", "novalue", Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(",")]) {
      const seen = await echoed({ traceparent: PARENT, tracestate: bad });
      assert.equal(seen.traceparent, PARENT, bad);
      assert.equal(seen.tracestate, undefined, bad);
    }
  });
});
