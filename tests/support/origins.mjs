// Purpose-built origins on 127.0.0.1 for the forward path's end-to-end tests: each one misbehaves
// (or behaves unusually) in exactly one way a real origin stack does. Every origin records what it
// saw, so a test can assert what reached it as well as what the client got.

import http from "node:http";
import net from "node:net";

function listen(server) {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${server.address().port}`));
  });
}

function close(server) {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

/**
 * Sends an interim response before the final one: `103` Early Hints on paths containing "103"
 * (what a Rails/Puma or Envoy origin may send), else an unprompted `100 Continue`; then `200` with
 * the body "final".
 */
export async function startInterimOrigin() {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    requests.push({ method: req.method, url: req.url, headers: req.headers });
    if (req.url.includes("103")) {
      res.writeEarlyHints({ link: "</app.css>; rel=preload; as=style" });
    } else {
      res.writeContinue();
    }
    await readBody(req);
    res.writeHead(200, { "content-type": "text/plain", "content-length": "5" });
    res.end("final");
  });
  const url = await listen(server);
  return { url, requests, close: () => close(server) };
}

/**
 * Timing from the query: `head` ms after the whole request (body included) has arrived before the
 * status line (a stuck origin when it is longer than the test), then `chunks` body chunks ("0\n", "1\n", …) `every` ms apart (a slow download or an
 * event stream).
 */
export async function startSlowOrigin() {
  let requests = 0;
  const timers = new Set();
  const later = (ms, fn) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const server = http.createServer((req, res) => {
    requests++;
    const q = new URL(req.url, "http://origin").searchParams;
    const head = Number(q.get("head") ?? 0);
    const chunks = Number(q.get("chunks") ?? 0);
    const every = Number(q.get("every") ?? 0);
    req.resume();
    req.on("end", () => later(head, () => {
      res.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store" });
      res.flushHeaders();
      let i = 0;
      const next = () => {
        if (i === chunks) {
          res.end();
          return;
        }
        res.write(`${i++}\n`);
        later(every, next);
      };
      later(every, next);
    }));
  });
  const url = await listen(server);
  return {
    url,
    get requests() {
      return requests;
    },
    close: () => {
      for (const t of timers) clearTimeout(t);
      return close(server);
    },
  };
}

/**
 * Resets the connection of the next request it sees when armed (what a runtime meets when it
 * reuses a pooled connection the origin has just closed), then answers normally. Counts attempts.
 */
export async function startResettingOrigin() {
  const state = { armed: false, attempts: [] };
  const server = http.createServer(async (req, res) => {
    state.attempts.push({ method: req.method, url: req.url });
    if (state.armed) {
      state.armed = false;
      req.socket.resetAndDestroy();
      return;
    }
    const body = await readBody(req);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ method: req.method, url: req.url, body }));
  });
  const url = await listen(server);
  return {
    url,
    state,
    /** The next request's connection is reset before any response byte. */
    resetNext() {
      state.armed = true;
      state.attempts.length = 0;
    },
    close: () => close(server),
  };
}

/** Answers with `Vary: <?vary=…>` (absent when the parameter is), the way an origin varies by encoding. */
export async function startVaryOrigin() {
  const server = http.createServer((req, res) => {
    req.resume();
    const vary = new URL(req.url, "http://origin").searchParams.get("vary");
    const headers = { "content-type": "text/plain" };
    if (vary !== null) headers.vary = vary;
    res.writeHead(200, headers);
    res.end("varied");
  });
  const url = await listen(server);
  return { url, close: () => close(server) };
}

/**
 * Answers every request with the raw status line `HTTP/1.1 <status> Strange` (a status no HTTP
 * library would produce: outside 100–599), then closes.
 */
export async function startRawStatusOrigin(status) {
  const server = net.createServer((socket) => {
    socket.once("data", () =>
      socket.end(`HTTP/1.1 ${status} Strange\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`),
    );
    socket.on("error", () => {});
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A URL on 127.0.0.1 where nothing listens (the origin is down). */
export async function unusedOriginUrl() {
  const server = http.createServer();
  const url = await listen(server);
  await close(server);
  return url;
}

/**
 * A raw HTTP/1.1 request to the gateway, for what `fetch` will not send (a GET with a body,
 * `Expect`, a body trickled in `chunks` written `everyMs` apart). Resolves { status, headers, body }.
 */
export function rawRequest(baseUrl, { method = "GET", path = "/", headers = {}, body, chunks, everyMs = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}${path}`, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    if (chunks) {
      let i = 0;
      const next = () => {
        if (i === chunks.length) return req.end();
        req.write(chunks[i++]);
        setTimeout(next, everyMs);
      };
      next();
      return;
    }
    if (body !== undefined) req.write(body);
    req.end();
  });
}
