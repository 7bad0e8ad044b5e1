// End-to-end: one edit of the origin's answer for every way it reaches the client. A refused
// WebSocket upgrade (the origin answers 426 instead of 101) is relayed by the same function as a
// forwarded request's answer, so the gateway's CORS `Vary: Origin` is merged into the origin's
// `Vary`, never written over it (a shared cache would otherwise key the answer on too little).

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import WebSocket from "ws";
import { baseConfig, startGateway } from "./harness.mjs";

const APP = "https://app.example";
const REFUSAL =
  "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Vary: Accept-Encoding\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\nupgrade required";

/** An origin that refuses every WebSocket upgrade with a 426 that varies on Accept-Encoding. */
async function startRefusingOrigin() {
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (_req, socket) => socket.end(REFUSAL));
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => server.close(r)),
  };
}

/** The gateway's answer to a WebSocket handshake it (or the origin) refused. */
function refusedHandshake(url, headers) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on("open", () => {
      ws.terminate();
      reject(new Error("the upgrade was accepted"));
    });
    ws.on("unexpected-response", (_req, res) => {
      res.resume();
      res.on("end", () => resolve(res));
    });
    ws.on("error", reject);
  });
}

describe("a refused WebSocket upgrade is edited as every origin answer is", () => {
  let origin, gw;
  before(async () => {
    origin = await startRefusingOrigin();
    const config = baseConfig({ origin: origin.url, extra: { cors: { allowed_origins: [APP] } } });
    config.routes = [{ name: "ws", methods: ["GET"], path: "/ws/*", auth: ["public"], websocket: true }];
    gw = await startGateway(config);
  });
  after(async () => {
    await gw.dispose();
    await origin.close();
  });

  test("the origin's Vary keeps its members and gains Origin", async () => {
    const res = await refusedHandshake(`${gw.url.replace(/^http/, "ws")}/ws/chat`, { origin: APP });
    assert.equal(res.statusCode, 426);
    assert.equal(res.headers["access-control-allow-origin"], APP);
    assert.equal(res.headers.vary, "Accept-Encoding, Origin");
  });
});
