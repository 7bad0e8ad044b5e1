// A real WebSocket origin on 127.0.0.1 for the WebSocket end-to-end tests (the `ws` package):
// it records every upgrade request's headers and every close it receives, echoes frames as they
// came (text as text, binary as binary), closes on command ("close:<code>:<reason>"), and
// answers plain HTTP requests with what it received — or 426 with `Upgrade: websocket` on
// `/need-upgrade`, or refuses an upgrade on `/refuse-upgrade` with the same 426; on
// `/plain-upgrade-header` it answers 200 advertising `Upgrade: h2c`.

import http from "node:http";
import { WebSocketServer } from "ws";

const UPGRADE_REQUIRED =
  "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Content-Type: text/plain\r\nContent-Length: 16\r\n\r\nupgrade required";

export async function startWebSocketOrigin() {
  const upgrades = [];
  const requests = [];
  const closes = [];
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method, url: req.url, headers: req.headers });
    if (req.url.includes("/need-upgrade") || req.url.includes("/refuse-upgrade")) {
      res.writeHead(426, { upgrade: "websocket", connection: "Upgrade", "content-type": "text/plain" });
      res.end("upgrade required");
      return;
    }
    // An Upgrade on a 200 is an advertisement (RFC 9110 §7.8) and stays hop-by-hop.
    const advertise = req.url.includes("/plain-upgrade-header") ? { upgrade: "h2c", connection: "Upgrade" } : {};
    res.writeHead(200, { "content-type": "application/json", ...advertise });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }));
  });
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => (offered.has("graphql-transport-ws") ? "graphql-transport-ws" : false),
  });
  server.on("upgrade", (req, socket, head) => {
    upgrades.push({ url: req.url, headers: req.headers });
    if (req.url.includes("/refuse-upgrade")) {
      socket.end(UPGRADE_REQUIRED);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on("message", (data, isBinary) => {
        const text = isBinary ? null : data.toString();
        if (text?.startsWith("close:")) {
          const [, code, reason] = text.split(":");
          ws.close(Number(code), reason);
          return;
        }
        ws.send(data, { binary: isBinary });
      });
      ws.on("close", (code, reason) => {
        closes.push({ url: req.url, code, reason: reason.toString() });
        sockets.delete(ws);
      });
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    upgrades,
    requests,
    closes,
    close: () =>
      new Promise((resolve) => {
        for (const ws of sockets) ws.terminate();
        wss.close();
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
