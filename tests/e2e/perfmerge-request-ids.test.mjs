// The request id (issue 15) on the entry of issue 10: a plain bodiless forward is carried out by
// `entry.mjs` from a decision string, a forward with a body in wasm, and successful requests' lines
// may be sampled. On each path the origin's `x-request-id`, the request's log line (when it is
// written) and a failed forward's problem `instance` name the same id.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";

import { startGateway, startEchoOrigin, startIssuer, baseConfig, requestLines } from "./harness.mjs";

const ray = (i) => `8f0b4a6c3d2e1f0${i.toString(16)}-SJC`;

let origin;
let issuer;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
});

after(async () => {
  await origin?.close();
  await issuer?.close();
});

describe("request ids on the entry's paths", () => {
  test("decision-string forwards with success_sample_rate 0.5: every origin request has its id, the written lines name theirs", async () => {
    const gw = await startGateway(
      baseConfig({ origin: origin.url, issuer, algorithms: ["ES256"], extra: { logging: { success_sample_rate: 0.5 } } }),
    );
    try {
      const from = gw.logs.length;
      for (let i = 1; i <= 4; i++) {
        const res = await gw.fetch("/health", { headers: { "cf-ray": ray(i), "x-request-id": "client-chosen" } });
        assert.equal(res.status, 200);
        const seen = await res.json();
        assert.equal(seen.headers["x-request-id"], ray(i));
      }
      const lines = (await requestLines(gw, from)).filter((l) => l.path === "/health");
      // An even share: the 2nd and the 4th.
      assert.deepEqual(
        lines.map((l) => [l.request_id, l.status]),
        [
          [ray(2), 200],
          [ray(4), 200],
        ],
      );
      // A refusal is always logged, under its own id.
      const before401 = gw.logs.length;
      const refused = await gw.fetch("/api/items", { headers: { "cf-ray": ray(5) } });
      assert.equal(refused.status, 401);
      assert.equal((await refused.json()).instance, `urn:portcullis:request:${ray(5)}`);
      assert.deepEqual(
        (await requestLines(gw, before401)).map((l) => [l.request_id, l.code]),
        [[ray(5), "token_missing"]],
      );
    } finally {
      await gw.dispose();
    }
  });

  test("a forward with a body (done in wasm) carries the id to the origin and into its line", async () => {
    const gw = await startGateway(baseConfig({ origin: origin.url, issuer, algorithms: ["ES256"] }));
    try {
      const token = await issuer.mint({ alg: "ES256", claims: { scope: "write:echo" } });
      const from = gw.logs.length;
      const res = await gw.fetch("/api/items", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "cf-ray": ray(6), "content-type": "text/plain" },
        body: "payload",
      });
      assert.equal(res.status, 200);
      const seen = await res.json();
      assert.equal(seen.body, "payload");
      assert.equal(seen.headers["x-request-id"], ray(6));
      assert.deepEqual(
        (await requestLines(gw, from)).map((l) => [l.request_id, l.status]),
        [[ray(6), 200]],
      );
    } finally {
      await gw.dispose();
    }
  });

  test("a decision-string forward that times out: 504 origin_timeout with the request's instance, logged under its id", async () => {
    // An origin that accepts the request and never answers.
    const { default: http } = await import("node:http");
    const silent = http.createServer(() => {});
    await new Promise((r) => silent.listen(0, "127.0.0.1", r));
    const gw = await startGateway(
      baseConfig({ origin: `http://127.0.0.1:${silent.address().port}`, issuer, algorithms: ["ES256"], extra: { origin_timeout_ms: 200 } }),
    );
    try {
      const from = gw.logs.length;
      const res = await gw.fetch("/health", { headers: { "cf-ray": ray(7) } });
      assert.equal(res.status, 504);
      const body = await res.json();
      assert.equal(body.code, "origin_timeout");
      assert.equal(body.instance, `urn:portcullis:request:${ray(7)}`);
      assert.deepEqual(
        (await requestLines(gw, from)).map((l) => [l.request_id, l.status, l.code]),
        [[ray(7), 504, "origin_timeout"]],
      );
    } finally {
      await gw.dispose();
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });
});
