// End-to-end: `logging.success_sample_rate` (issue 10). Writing the per-request line is a
// measurable part of a request's CPU, so a deployment may log only a share of its successful
// requests; refusals and failures are always logged. The share is exact (a running credit, not a
// coin toss), so the test counts lines.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startGateway, startEchoOrigin, startIssuer, baseConfig, requestLines } from "./harness.mjs";

async function send(gw, path, n) {
  const statuses = [];
  for (let i = 0; i < n; i++) {
    const res = await gw.fetch(path);
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  return statuses;
}

describe("logging.success_sample_rate", () => {
  let origin;
  let issuer;
  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer({ algs: ["ES256"] });
  });
  after(async () => {
    await origin.close();
    await issuer.close();
  });

  for (const [rate, expectedSuccessLines] of [
    [undefined, 8],
    [1, 8],
    [0.25, 2],
    [0, 0],
  ]) {
    test(`rate ${rate ?? "(default)"}: ${expectedSuccessLines} of 8 successful requests logged, every refusal logged`, async () => {
      const extra = rate === undefined ? {} : { logging: { success_sample_rate: rate } };
      const gw = await startGateway(baseConfig({ origin: origin.url, issuer, extra }));
      try {
        assert.deepEqual(await send(gw, "/health", 8), Array(8).fill(200));
        assert.deepEqual(await send(gw, "/nowhere", 3), Array(3).fill(404));
        assert.deepEqual(await send(gw, "/api/x", 2), Array(2).fill(401));
        const lines = await requestLines(gw);
        assert.equal(lines.filter((l) => l.status === 200 && l.path === "/health").length, expectedSuccessLines);
        assert.equal(lines.filter((l) => l.status === 404 && l.code === "route_not_found").length, 3);
        assert.equal(lines.filter((l) => l.status === 401 && l.code === "token_missing").length, 2);
      } finally {
        await gw.dispose();
      }
    });
  }

  test("a rate outside 0–1 is a configuration error naming the field", async () => {
    const gw = await startGateway(baseConfig({ origin: origin.url, issuer, extra: { logging: { success_sample_rate: 2 } } }));
    try {
      const res = await gw.fetch("/health");
      const body = await res.json();
      assert.equal(res.status, 503);
      assert.equal(body.code, "gateway_misconfigured");
      await gw.settleLogs();
      const invalid = gw.logs.map((l) => JSON.parse(l)).find((l) => l.event === "config_invalid");
      assert.ok(invalid.errors.some((e) => e.path === "logging.success_sample_rate"), JSON.stringify(invalid));
    } finally {
      await gw.dispose();
    }
  });
});

describe("the origin's answer is relayed unchanged when no header must change", () => {
  let origin;
  before(async () => {
    // Hop-by-hop headers a client must not get, beside end-to-end ones it must.
    const server = http.createServer((req, res) => {
      const headers = { "content-type": "text/plain", "x-origin": "kept", vary: "Accept-Encoding" };
      if (req.url === "/api/hop") Object.assign(headers, { "proxy-connection": "keep-alive", trailer: "x-checksum" });
      res.writeHead(200, headers);
      res.end("origin body");
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    origin = { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
  });
  after(async () => {
    await origin.close();
  });

  test("no HSTS, no CORS, no hop-by-hop header: status, headers and body as the origin sent them", async () => {
    const gw = await startGateway(
      baseConfig({
        origin: origin.url,
        issuer: null,
        extra: { transport: { https: "allow", hsts: { max_age: 0 } }, routes: [{ methods: ["GET"], path: "/api/*", auth: ["public"] }] },
      }),
    );
    try {
      const plain = await gw.fetch("/api/plain");
      assert.equal(plain.status, 200);
      assert.equal(plain.headers.get("x-origin"), "kept");
      assert.equal(plain.headers.get("vary"), "Accept-Encoding");
      assert.equal(plain.headers.get("strict-transport-security"), null);
      assert.equal(await plain.text(), "origin body");

      const hop = await gw.fetch("/api/hop");
      assert.equal(hop.status, 200);
      assert.equal(hop.headers.get("x-origin"), "kept");
      assert.equal(hop.headers.get("proxy-connection"), null);
      assert.equal(hop.headers.get("trailer"), null);
      assert.equal(await hop.text(), "origin body");
    } finally {
      await gw.dispose();
    }
  });
});
