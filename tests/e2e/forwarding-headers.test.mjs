// Issue 16: forwarding headers come from the gateway, never from the client. The real wasm in
// workerd (Miniflare) in front of a real echo origin on 127.0.0.1: every client copy of a
// forwarding header (any case, `_` for `-`) is stripped on public, JWT and API-key routes, and the
// origin receives the gateway's own, built from the runtime's CF-Connecting-IP and the URL the
// client addressed — in each `forwarded_headers` mode and with the append opt-in.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";

import { startGateway, startEchoOrigin, startIssuer, baseConfig } from "./harness.mjs";
import { seedKey } from "../support/seed.mjs";

/** The headers the gateway sets in the default mode. */
const GATEWAY_SET = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip"];

/** What a client sends to pose as a proxy: the list, then `_` spellings. */
const SPOOFED = {
  Forwarded: "for=10.0.0.4;host=evil.example;proto=https",
  "X-Forwarded-Host": "evil.example",
  "X-Forwarded-For": "10.0.0.1",
  "X-Forwarded-Proto": "https",
  "X-Forwarded-Port": "443",
  "X-Forwarded-Prefix": "/evil",
  "X-Forwarded-Server": "evil.example",
  "X-Forwarded-Ssl": "on",
  "X-Real-IP": "10.0.0.2",
  "True-Client-IP": "10.0.0.3",
  "Client-IP": "10.0.0.4",
  "X-Client-IP": "10.0.0.5",
  "X-Original-Forwarded-For": "10.0.0.6",
  "X-Cluster-Client-IP": "10.0.0.7",
  "Fastly-Client-IP": "10.0.0.8",
  "X-ProxyUser-Ip": "10.0.0.9",
  "CF-Connecting-IPv6": "2001:db8::bad",
  X_Forwarded_Host: "evil.example",
  x_forwarded_for: "10.0.1.1",
  "X-Forwarded_Proto": "https",
  X_Forwarded_Port: "443",
  X_Real_IP: "10.0.1.2",
  True_Client_IP: "10.0.1.3",
  Client_IP: "10.0.1.4",
  X_Client_IP: "10.0.1.5",
  X_Cluster_Client_IP: "10.0.1.7",
  cf_connecting_ip: "10.0.1.8",
  X_Url_Scheme: "https",
};

/** The same headers in other cases (one Headers entry per name, so a separate request). */
const SPOOFED_CASES = {
  FORWARDED: "for=10.0.0.4;host=evil.example;proto=https",
  "X-FORWARDED-HOST": "evil.example",
  "x-forwarded-for": "10.0.0.1",
  "X-Forwarded-PROTO": "https",
  "x-REAL-ip": "10.0.0.2",
  "TRUE-CLIENT-IP": "10.0.0.3",
  "x_FORWARDED_host": "evil.example",
  "X_REAL_IP": "10.0.1.2",
};

/** Asserts the origin saw no client copy and exactly the gateway's `expected` forwarding headers. */
function assertForwarding(seen, spoofed, expected, label) {
  for (const name of Object.keys(spoofed)) {
    const lower = name.toLowerCase();
    assert.equal(seen.headers[lower], expected[lower], `${label}: ${name}`);
  }
  for (const name of [...GATEWAY_SET, "forwarded"]) {
    assert.equal(seen.headers[name], expected[name], `${label}: ${name}`);
  }
}

let origin;
let issuer;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["RS256"] });
});

after(async () => {
  await origin?.close();
  await issuer?.close();
});

const ROUTES = [
  { name: "health", methods: ["GET"], path: "/health", auth: ["public"] },
  { name: "read", methods: ["GET"], path: "/api/*", auth: ["jwt"], scopes: ["read:echo"] },
  { name: "machines", methods: ["GET"], path: "/m/*", auth: ["api_key"], scopes: ["echo:read"] },
];

async function gatewayWith(extra = {}) {
  const gw = await startGateway(
    baseConfig({
      origin: origin.url,
      issuer,
      extra: { api_keys: { prefix: "pc_test", accepted_prefixes: ["pc_test"] }, routes: ROUTES, ...extra },
    }),
  );
  const { key } = await seedKey(gw, ["--prefix", "pc_test", "--client-id", "fwd-test", "--scopes", "echo:read"]);
  return { gw, key };
}

/** One request per route kind, each with `headers` plus its credential; returns the echoes. */
async function throughEveryRoute(gw, key, headers, url = (p) => p) {
  const token = await issuer.mint();
  const calls = {
    public: gw.fetch(url("/health"), { headers }),
    jwt: gw.fetch(url("/api/items"), { headers: { ...headers, authorization: `Bearer ${token}` } }),
    api_key: gw.fetch(url("/m/items"), { headers: { ...headers, "x-api-key": key } }),
  };
  const responses = await Promise.all(Object.values(calls));
  const echoes = {};
  for (const [i, kind] of Object.keys(calls).entries()) {
    const res = responses[i];
    assert.equal(res.status, 200, `${kind}: ${res.status}`);
    echoes[kind] = await res.json();
    assert.equal(echoes[kind].headers["x-auth-method"], kind);
  }
  return echoes;
}

describe("forwarded_headers = x-forwarded (default)", () => {
  let gw;
  let key;
  /** The client address the local runtime reports (Miniflare: the loopback peer). */
  const LOCAL = "127.0.0.1";

  before(async () => ({ gw, key } = await gatewayWith()));
  after(async () => gw?.dispose());

  test("every spoofed forwarding header is replaced or absent, on public, JWT and API-key routes", async () => {
    for (const spoofed of [SPOOFED, SPOOFED_CASES]) {
      const echoes = await throughEveryRoute(gw, key, spoofed);
      for (const [kind, seen] of Object.entries(echoes)) {
        assertForwarding(
          seen,
          spoofed,
          {
            "x-forwarded-for": LOCAL,
            "x-forwarded-proto": "http",
            "x-forwarded-host": "gateway.test",
            "x-real-ip": LOCAL,
          },
          kind,
        );
        // Every underscore spelling is gone, not just the hyphenated names.
        for (const name of Object.keys(seen.headers)) assert.ok(!name.includes("_"), `${kind}: ${name} reached the origin`);
      }
    }
  });

  test("the values are the real ones: the runtime's CF-Connecting-IP, the scheme and host addressed", async () => {
    // As Cloudflare's edge sets it (here: the request as the runtime receives it).
    for (const [address, label] of [["203.0.113.7", "IPv4"], ["2001:db8::1", "IPv6"]]) {
      const echoes = await throughEveryRoute(gw, key, { "CF-Connecting-IP": address, ...SPOOFED }, (p) => `https://api.example.test:8443${p}`);
      for (const [kind, seen] of Object.entries(echoes)) {
        assertForwarding(
          seen,
          SPOOFED,
          {
            "x-forwarded-for": address,
            "x-forwarded-proto": "https",
            "x-forwarded-host": "api.example.test:8443",
            "x-real-ip": address,
          },
          `${label} ${kind}`,
        );
      }
    }
  });

  test("no usable client address from the runtime: none is invented", async () => {
    const echoes = await throughEveryRoute(gw, key, { "CF-Connecting-IP": "not-an-address", ...SPOOFED });
    for (const [kind, seen] of Object.entries(echoes)) {
      assertForwarding(seen, SPOOFED, { "x-forwarded-proto": "http", "x-forwarded-host": "gateway.test" }, kind);
    }
  });
});

describe("forwarded_headers = rfc7239", () => {
  let gw;
  let key;
  before(async () => ({ gw, key } = await gatewayWith({ forwarded_headers: "rfc7239" })));
  after(async () => gw?.dispose());

  test("one Forwarded header, IPv6 and host:port quoted; no X-Forwarded-*", async () => {
    for (const [address, node] of [["203.0.113.7", "203.0.113.7"], ["2001:db8::1", '"[2001:db8::1]"']]) {
      const echoes = await throughEveryRoute(gw, key, { "CF-Connecting-IP": address, ...SPOOFED }, (p) => `https://api.example.test:8443${p}`);
      for (const [kind, seen] of Object.entries(echoes)) {
        assertForwarding(seen, SPOOFED, { forwarded: `for=${node};host="api.example.test:8443";proto=https` }, kind);
      }
    }
    const echoes = await throughEveryRoute(gw, key, { "CF-Connecting-IP": "203.0.113.7", ...SPOOFED });
    assertForwarding(echoes.public, SPOOFED, { forwarded: "for=203.0.113.7;host=gateway.test;proto=http" }, "no port");
  });
});

describe("forwarded_headers = none", () => {
  let gw;
  let key;
  before(async () => ({ gw, key } = await gatewayWith({ forwarded_headers: "none" })));
  after(async () => gw?.dispose());

  test("client copies are stripped and the gateway sets none", async () => {
    const echoes = await throughEveryRoute(gw, key, { "CF-Connecting-IP": "203.0.113.7", ...SPOOFED });
    for (const [kind, seen] of Object.entries(echoes)) assertForwarding(seen, SPOOFED, {}, kind);
  });
});

describe("append_client_forwarded_for (behind another trusted proxy)", () => {
  test("x-forwarded: the client's chain is kept and the gateway's hop appended; the rest replaced", async () => {
    const { gw, key } = await gatewayWith({ append_client_forwarded_for: true });
    try {
      const headers = { ...SPOOFED, "CF-Connecting-IP": "203.0.113.7", "X-Forwarded-For": "198.51.100.2, 10.0.0.1" };
      const echoes = await throughEveryRoute(gw, key, headers);
      for (const [kind, seen] of Object.entries(echoes)) {
        assertForwarding(
          seen,
          headers,
          {
            "x-forwarded-for": "198.51.100.2, 10.0.0.1, 203.0.113.7",
            "x-forwarded-proto": "http",
            "x-forwarded-host": "gateway.test",
            "x-real-ip": "203.0.113.7",
          },
          kind,
        );
      }
    } finally {
      await gw.dispose();
    }
  });

  test("rfc7239: the client's Forwarded elements are kept and the gateway's appended", async () => {
    const { gw, key } = await gatewayWith({ forwarded_headers: "rfc7239", append_client_forwarded_for: true });
    try {
      const headers = { ...SPOOFED, "CF-Connecting-IP": "203.0.113.7", Forwarded: "for=198.51.100.2;proto=https" };
      const echoes = await throughEveryRoute(gw, key, headers);
      for (const [kind, seen] of Object.entries(echoes)) {
        assertForwarding(seen, headers, { forwarded: "for=198.51.100.2;proto=https, for=203.0.113.7;host=gateway.test;proto=http" }, kind);
      }
    } finally {
      await gw.dispose();
    }
  });

  test("with forwarded_headers = none it is a configuration error", async () => {
    const gw = await startGateway(
      baseConfig({ origin: origin.url, issuer, extra: { forwarded_headers: "none", append_client_forwarded_for: true } }),
    );
    try {
      const res = await gw.fetch("/health");
      assert.equal(res.status, 503);
      assert.equal((await res.json()).code, "gateway_misconfigured");
      await gw.settleLogs();
      assert.ok(
        gw.logs.some((l) => l.includes('"path":"append_client_forwarded_for"') && l.includes("no chain to append to")),
        gw.logs.join("\n"),
      );
    } finally {
      await gw.dispose();
    }
  });
});
