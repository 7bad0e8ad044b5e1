// End-to-end regressions from the adversarial review of the forward path: each test is a request
// that, before its fix, reached the origin under a route (or with a header) the gateway did not
// authorize for it, as a common origin stack reads the request. The built wasm in workerd in front
// of a real echo origin that records exactly what it receives.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";

async function expectProblem(res, status, code) {
  const p = await problemOf(res);
  assert.equal(p.status, status, `expected ${status} ${code}, got ${p.status}: ${JSON.stringify(p.body)}`);
  assert.equal(p.code, code);
  return p;
}

/** A public page and an exact, stricter route beside the area's general route. */
function routes() {
  return [
    { name: "status", methods: ["GET"], path: "/api/status", auth: ["public"] },
    { name: "admin", methods: ["GET"], path: "/api/admin/*", auth: ["jwt"], scopes: ["admin"] },
    { name: "keys", methods: ["GET"], path: "/api/keys", auth: ["jwt"], scopes: ["admin"] },
    { name: "export", methods: ["GET"], path: "/api/export", auth: ["jwt"], scopes: ["export"] },
    { name: "read", methods: ["GET"], path: "/api/*", auth: ["jwt"], scopes: ["read:echo"] },
    { name: "catch-all", methods: ["GET"], path: "/*", auth: ["public"] },
  ];
}

describe("attack regressions: one path, several origin readings", () => {
  let origin, issuer, gw, readOnly, adminToken, exportToken;
  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer({ algs: ["RS256"] });
    gw = await startGateway(baseConfig({ origin: origin.url, issuer, extra: { routes: routes() } }));
    readOnly = await issuer.mint({ claims: { scope: "read:echo" } });
    adminToken = await issuer.mint({ claims: { scope: "read:echo admin" } });
    exportToken = await issuer.mint({ claims: { scope: "read:echo export" } });
  });
  after(async () => {
    await gw?.dispose();
    await origin?.close();
    await issuer?.close();
  });

  const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

  async function refused(path, status, code, init = {}) {
    const before = origin.requests.length;
    const p = await expectProblem(await gw.fetch(path, init), status, code);
    assert.equal(origin.requests.length, before, `${path} must not reach the origin`);
    return p;
  }

  async function forwarded(path, init = {}) {
    const res = await gw.fetch(path, init);
    const body = await res.text();
    assert.equal(res.status, 200, body);
    return JSON.parse(body);
  }

  test("Unicode letters that ASP.NET Core and Java fold to ASCII ('ı', 'İ', 'ſ', Kelvin 'K') route as their ASCII letter", async () => {
    // Before: /api/adm%C4%B1n/users matched /api/* with a read-only token, and ASP.NET Core
    // (OrdinalIgnoreCase) or Spring with Java's equalsIgnoreCase ran the /api/admin handler.
    await refused("/api/adm%C4%B1n/users", 403, "insufficient_scope", bearer(readOnly));
    await refused("/api/ADM%C4%B0N/users", 403, "insufficient_scope", bearer(readOnly));
    await refused("/api/%E2%84%AAEYS", 403, "insufficient_scope", bearer(readOnly));
    // A holder of the stricter scope passes, and the path is forwarded as sent.
    assert.equal((await forwarded("/api/adm%C4%B1n/users", bearer(adminToken))).url, "/api/adm%C4%B1n/users");
  });

  test("a case variant of a public route is not public when the exact-case reading is a protected route", async () => {
    // Before: /api/STATUS matched the public /api/status route and reached the origin with no
    // identity; Rails, Django and Spring route it case-sensitively to the protected /api/:id handler.
    await refused("/api/STATUS", 401, "token_missing");
    await refused("/api/%C5%BFtatus", 401, "token_missing");
    // A caller who satisfies both readings is forwarded, with its identity.
    const seen = await forwarded("/api/STATUS", bearer(readOnly));
    assert.equal(seen.url, "/api/STATUS");
    assert.equal(seen.headers["x-auth-method"], "jwt");
    // The exact spelling is still public.
    assert.equal((await forwarded("/api/status")).headers["x-auth-method"], "public");
  });

  test("a format suffix ('.json', Rails' (.:format), Spring's suffix match) routes as the path without it", async () => {
    // Before: /api/admin.json and /api/export.csv matched /api/* with a read-only token, and Rails
    // ran the /api/admin and /api/export actions with format json/csv.
    await refused("/api/admin.json", 403, "insufficient_scope", bearer(readOnly));
    await refused("/api/export.csv", 403, "insufficient_scope", bearer(readOnly));
    await refused("/api/Export.tar.gz", 403, "insufficient_scope", bearer(readOnly));
    assert.equal((await forwarded("/api/export.csv", bearer(exportToken))).url, "/api/export.csv");
    // Suffixes that change nothing change nothing.
    assert.equal((await forwarded("/api/items.json", bearer(readOnly))).url, "/api/items.json");
    assert.equal((await forwarded("/style.css")).headers["x-auth-method"], "public");
  });

  test("a trailing slash (Rails, Express non-strict routing, Spring before 6) routes as the path without it", async () => {
    // Before: /api/export/ and /api/keys/ matched /api/* with a read-only token, and Rails, Express
    // and Spring 5 ran the /api/export and /api/keys handlers.
    await refused("/api/export/", 403, "insufficient_scope", bearer(readOnly));
    await refused("/api/KEYS/", 403, "insufficient_scope", bearer(readOnly));
    await refused("/api/export.csv/", 403, "insufficient_scope", bearer(readOnly));
    assert.equal((await forwarded("/api/export/", bearer(exportToken))).url, "/api/export/");
    assert.equal((await forwarded("/api/items/", bearer(readOnly))).url, "/api/items/");
    // A public page's trailing slash changes nothing for an anonymous caller... unless the
    // slash-less reading is protected, which here it is not.
    assert.equal((await forwarded("/docs/")).headers["x-auth-method"], "public");
  });
});

describe("attack regressions: query names as Rack 2 reads them", () => {
  let origin, gw;
  before(async () => {
    origin = await startEchoOrigin();
    gw = await startGateway(baseConfig({ origin: origin.url, issuer: null, extra: { routes: routes().filter((r) => r.auth.includes("public")) } }));
  });
  after(async () => {
    await gw?.dispose();
    await origin?.close();
  });

  test("brackets around a credential name (Rack 2 drops them) are still a credential in the URL", async () => {
    // Before: ?[access_token]=… reached the origin; Rack 2 (Rails before 7.1) reads the name with
    // leading '[' / ']' dropped and ending at the next bracket, so params[:access_token] held it.
    const secret = "s3cr3tv4lue";
    for (const q of [`[access_token]=${secret}`, `]access_token=${secret}`, `access_token]=${secret}`, `[[api_key]]=${secret}`, `x=1&%5Baccess_token%5D=${secret}`]) {
      const before = origin.requests.length;
      const p = await expectProblem(await gw.fetch(`/docs?${q}`), 400, "credentials_in_url");
      assert.ok(!JSON.stringify(p.body).includes(secret));
      assert.equal(origin.requests.length, before, q);
    }
    // A bracketed *other* name is not a credential.
    const res = await gw.fetch("/docs?[page]=2&a[access_token]=x");
    assert.equal(res.status, 200);
  });
});

describe("attack regressions: header names as PHP reads them", () => {
  let origin, gw;
  before(async () => {
    origin = await startEchoOrigin();
    gw = await startGateway(baseConfig({ origin: origin.url, issuer: null, extra: { routes: routes().filter((r) => r.auth.includes("public")) } }));
  });
  after(async () => {
    await gw?.dispose();
    await origin?.close();
  });

  test("a '.' in a header name is '_' to PHP: X.User.Id and friends never reach the origin", async () => {
    // Before: `X.User.Id: admin` reached the origin; Caddy/FrankenPHP (and nginx with
    // ignore_invalid_headers off) pass it to PHP as HTTP_X.USER.ID, which PHP registers as
    // $_SERVER['HTTP_X_USER_ID'], the gateway's identity header — whichever comes last wins.
    const res = await gw.fetch("/api/status", {
      headers: {
        "X.User.Id": "admin",
        "x-user.scopes": "admin",
        "X.Auth.Method": "jwt",
        "X.Forwarded.For": "10.0.0.1",
        "x.http.method.override": "DELETE",
        "x.api.key": "k",
        "x.request.id": "forged",
        "x.client.note": "kept",
      },
    });
    assert.equal(res.status, 200);
    const seen = await res.json();
    // x.request.id is x-request-id to PHP: the gateway sets its own (issue 15).
    for (const name of ["x.user.id", "x-user.scopes", "x.auth.method", "x.forwarded.for", "x.http.method.override", "x.api.key", "x.request.id"]) {
      assert.equal(seen.headers[name], undefined, `${name} must not reach the origin`);
    }
    assert.equal(seen.headers["x-auth-method"], "public");
    assert.equal(seen.headers["x.client.note"], "kept");
    assert.match(seen.headers["x-request-id"], /^[0-9a-f]{32}$/);
  });
});

/** One raw HTTP/1.1 exchange with the gateway's socket (what no fetch client lets a test send). */
function rawExchange(gatewayUrl, text) {
  const { hostname, port } = new URL(gatewayUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(text));
    let out = "";
    socket.setEncoding("latin1");
    socket.on("data", (d) => (out += d));
    socket.on("error", reject);
    socket.on("end", () => {
      const [head, body] = [out.slice(0, out.indexOf("\r\n\r\n")), out.slice(out.indexOf("\r\n\r\n") + 4)];
      resolve({ status: Number(head.split(" ")[1]), body });
    });
  });
}

describe("attack regressions: request framing", () => {
  let origin, gw;
  before(async () => {
    origin = await startEchoOrigin();
    gw = await startGateway(
      baseConfig({ origin: origin.url, issuer: null, extra: { routes: [{ name: "any", methods: ["*"], path: "/*", auth: ["public"] }] } }),
    );
  });
  after(async () => {
    await gw?.dispose();
    await origin?.close();
  });

  test("Transfer-Encoding with Content-Length: 400 request_invalid, not a false origin outage", async () => {
    // Before: the body was relayed with the client's Content-Length (4) while the runtime decoded
    // it as chunked (5 bytes); the relay failed and the client got 502 origin_unreachable, logged
    // as an origin outage. RFC 9112 §6.3: such a message is the request-smuggling shape.
    const before = origin.requests.length;
    const res = await rawExchange(
      gw.url,
      "POST /x HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n" +
        "Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert.equal(res.status, 400, res.body);
    assert.equal(JSON.parse(res.body).code, "request_invalid");
    assert.equal(origin.requests.length, before);
    // Either framing alone is forwarded whole.
    const chunked = await rawExchange(
      gw.url,
      "POST /x HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert.equal(chunked.status, 200, chunked.body);
    assert.equal(origin.requests.at(-1).body, "hello");
  });
});
