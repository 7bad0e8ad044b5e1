// End-to-end: the built wasm in workerd (Miniflare) verifying JWT access tokens against a real JWKS
// server on 127.0.0.1 and forwarding to a real echo origin. Every assertion is an exact outcome.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { SignJWT, generateKeyPair, exportJWK, base64url } from "jose";
import { startGateway, startEchoOrigin, startIssuer, startCountingServer, baseConfig, problemOf, ALGS } from "./harness.mjs";

const IDENTITY_HEADERS = ["x-auth-issuer", "x-auth-method", "x-token-id", "x-user-id", "x-user-scopes"];

function identityHeadersOf(echo) {
  return Object.fromEntries(
    Object.entries(echo.headers).filter(([n]) => /^x-(user|auth|token|portcullis)-|^x-(client|key)-id$/.test(n)),
  );
}

async function expectProblem(res, status, code, { bearerError } = {}) {
  const p = await problemOf(res);
  assert.equal(p.status, status, `status for ${code}: ${JSON.stringify(p.body)}`);
  assert.equal(p.code, code);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  assert.equal(p.body.type, `urn:portcullis:problem:${code}`);
  assert.equal(p.body.status, status);
  if (bearerError !== undefined) {
    const www = res.headers.get("www-authenticate");
    if (bearerError === null) {
      assert.equal(www, 'Bearer realm="test"');
    } else {
      assert.match(www, new RegExp(`^Bearer realm="test", error="${bearerError}", error_description="[^"]+"`));
    }
  }
  return p;
}

describe("JWT gateway in workerd", () => {
  let origin, issuer, gw;
  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer();
    gw = await startGateway(
      baseConfig({
        origin: origin.url,
        issuer,
        extra: {
          transport: { https: "allow", hsts: { max_age: 31536000, include_subdomains: true } },
        },
      }),
    );
  });
  after(async () => {
    await gw.dispose();
    await origin.close();
    await issuer.close();
  });

  const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

  for (const alg of ALGS) {
    test(`a valid ${alg} token passes and the origin sees exactly the identity headers`, async () => {
      const token = await issuer.mint({ alg, claims: { sub: `user-${alg}`, jti: `jti-${alg}`, scope: "read:echo other" } });
      const res = await gw.fetch("/api/items?page=2", bearer(token));
      assert.equal(res.status, 200);
      const echo = await res.json();
      assert.equal(echo.url, "/api/items?page=2");
      assert.deepEqual(identityHeadersOf(echo), {
        "x-auth-issuer": issuer.url,
        "x-auth-method": "jwt",
        "x-token-id": `jti-${alg}`,
        "x-user-id": `user-${alg}`,
        "x-user-scopes": "read:echo,other",
      });
      assert.deepEqual(Object.keys(identityHeadersOf(echo)).sort(), IDENTITY_HEADERS);
      assert.equal(echo.headers.authorization, undefined, "Authorization is stripped by default");
      assert.equal(res.headers.get("strict-transport-security"), "max-age=31536000; includeSubDomains");
    });
  }

  test("anonymous call to a protected route: 401 token_missing, challenge without error", async () => {
    const res = await gw.fetch("/api/items");
    await expectProblem(res, 401, "token_missing", { bearerError: null });
    assert.equal(res.headers.get("strict-transport-security"), "max-age=31536000; includeSubDomains");
  });

  test("a Basic credential counts as no bearer token", async () => {
    const res = await gw.fetch("/api/items", { headers: { authorization: "Basic dXNlcjpwYXNz" } });
    await expectProblem(res, 401, "authorization_scheme_unsupported", { bearerError: null });
  });

  test("each failed claim check has its own code", async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      ["token_expired", { claims: { exp: now - 120, iat: now - 600 } }],
      ["token_not_yet_valid", { claims: { nbf: now + 600 } }],
      ["token_issued_in_future", { claims: { iat: now + 600 } }],
      ["token_audience_mismatch", { audience: "https://other.example" }],
      ["token_claim_missing", { claims: { sub: undefined } }],
      ["token_claim_missing", { claims: { exp: undefined } }],
      ["token_claim_invalid", { claims: { exp: String(now + 600) } }],
      ["token_claim_invalid", { claims: { scope: ["read:echo"] } }],
      ["token_type_invalid", { header: { typ: "id_token+jwt" } }],
    ];
    for (const [code, opts] of cases) {
      const token = await issuer.mint(opts);
      const res = await gw.fetch("/api/items", bearer(token));
      await expectProblem(res, 401, code, { bearerError: "invalid_token" });
    }
  });

  test("an unknown critical header is refused before any key is used", async () => {
    const payload = base64url.encode(JSON.stringify({ iss: issuer.url, sub: "x", aud: "https://api.portcullis.test", exp: Math.floor(Date.now() / 1000) + 300 }));
    const header = base64url.encode(JSON.stringify({ alg: "RS256", kid: issuer.keyFor("RS256").kid, crit: ["urn:example:ext"], "urn:example:ext": true }));
    const token = `${header}.${payload}.${base64url.encode(new Uint8Array(256))}`;
    await expectProblem(await gw.fetch("/api/items", bearer(token)), 401, "token_crit_unsupported", { bearerError: "invalid_token" });
  });

  test("expiry honours the leeway (30 s by default)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const within = await issuer.mint({ claims: { exp: now - 10, iat: now - 100 } });
    assert.equal((await gw.fetch("/api/items", bearer(within))).status, 200);
    const beyond = await issuer.mint({ claims: { exp: now - 40, iat: now - 100 } });
    await expectProblem(await gw.fetch("/api/items", bearer(beyond)), 401, "token_expired");
  });

  test("unknown issuer, tampered payload, wrong key", async () => {
    const foreign = await startIssuer({ algs: ["RS256"] });
    try {
      const t = await foreign.mint();
      await expectProblem(await gw.fetch("/api/items", bearer(t)), 401, "token_issuer_unknown", { bearerError: "invalid_token" });
    } finally {
      await foreign.close();
    }
    const good = await issuer.mint({ alg: "ES256" });
    const [h, p, s] = good.split(".");
    const claims = JSON.parse(Buffer.from(p, "base64url"));
    claims.sub = "admin";
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
    await expectProblem(await gw.fetch("/api/items", bearer(forged)), 401, "token_signature_invalid", { bearerError: "invalid_token" });
    // Right kid, signed by a different key of the same type.
    const { privateKey } = await generateKeyPair("RS256");
    const k = issuer.keyFor("RS256");
    const wrong = await issuer.mint({ key: { ...k, privateKey } });
    await expectProblem(await gw.fetch("/api/items", bearer(wrong)), 401, "token_signature_invalid");
  });

  test("malformed and oversized tokens are 401, never 5xx", async () => {
    for (const t of ["abc", "a.b", "a.b.c.d.e", "e30.e30.", "!!!.e30.c2ln", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln=="]) {
      const res = await gw.fetch("/api/items", bearer(t));
      const p = await problemOf(res);
      assert.equal(p.status, 401, t);
      assert.ok(["token_malformed", "token_signature_invalid"].includes(p.code), `${t}: ${p.code}`);
    }
    const huge = "eyJhbGciOiJSUzI1NiJ9." + "A".repeat(10_000) + ".c2ln";
    await expectProblem(await gw.fetch("/api/items", bearer(huge)), 401, "token_too_large", { bearerError: "invalid_token" });
    await expectProblem(await gw.fetch("/api/items", { headers: { authorization: "Bearer " } }), 401, "token_malformed");
  });

  test("alg none, HS256 (even keyed with the RSA public key) and unlisted algs are refused", async () => {
    const payload = { iss: issuer.url, sub: "x", aud: "https://api.portcullis.test", exp: Math.floor(Date.now() / 1000) + 300, scope: "read:echo" };
    const none = `${base64url.encode(JSON.stringify({ alg: "none", typ: "JWT" }))}.${base64url.encode(JSON.stringify(payload))}.`;
    await expectProblem(await gw.fetch("/api/items", bearer(none)), 401, "token_algorithm_refused", { bearerError: "invalid_token" });
    // The classic confusion attack: HMAC keyed with the issuer's public RSA key.
    const rsa = issuer.keyFor("RS256");
    const secret = new TextEncoder().encode(JSON.stringify(rsa.publicJwk));
    const hs = await new SignJWT(payload).setProtectedHeader({ alg: "HS256", kid: rsa.kid }).sign(secret);
    await expectProblem(await gw.fetch("/api/items", bearer(hs)), 401, "token_algorithm_refused");
    const es384 = `${base64url.encode(JSON.stringify({ alg: "ES384", kid: "x" }))}.${base64url.encode(JSON.stringify(payload))}.${base64url.encode(new Uint8Array(96))}`;
    await expectProblem(await gw.fetch("/api/items", bearer(es384)), 401, "token_algorithm_refused");
  });

  test("a jku/x5u/jwk header pointing at an attacker's keys is never fetched", async () => {
    const attacker = await startCountingServer();
    try {
      const { publicKey, privateKey } = await generateKeyPair("RS256");
      const jwk = { ...(await exportJWK(publicKey)), kid: "attacker", alg: "RS256" };
      const payload = { iss: issuer.url, sub: "attacker", aud: "https://api.portcullis.test", exp: Math.floor(Date.now() / 1000) + 300, scope: "read:echo" };
      const forged = await new SignJWT(payload)
        .setProtectedHeader({ alg: "RS256", kid: "attacker", jku: `${attacker.url}/jwks.json`, x5u: `${attacker.url}/cert.pem`, jwk })
        .sign(privateKey);
      const res = await gw.fetch("/api/items", bearer(forged));
      await expectProblem(res, 401, "token_key_unknown", { bearerError: "invalid_token" });
      // Same key, embedded without a kid: still only the issuer's JWKS is consulted.
      const embedded = await new SignJWT(payload).setProtectedHeader({ alg: "RS256", jwk }).sign(privateKey);
      await expectProblem(await gw.fetch("/api/items", bearer(embedded)), 401, "token_signature_invalid");
      assert.equal(attacker.count, 0);
    } finally {
      await attacker.close();
    }
  });

  test("insufficient scope: 403 with the required scope in the challenge", async () => {
    const token = await issuer.mint({ claims: { scope: "read:echo" } });
    const res = await gw.fetch("/api/items", { method: "POST", body: "{}", headers: { authorization: `Bearer ${token}` } });
    const p = await expectProblem(res, 403, "insufficient_scope");
    assert.equal(
      res.headers.get("www-authenticate"),
      'Bearer realm="test", error="insufficient_scope", error_description="this route requires the scope(s): write:echo", scope="write:echo"',
    );
    assert.deepEqual(p.body.required_scopes, ["write:echo"]);
    assert.deepEqual(p.body.missing_scopes, ["write:echo"]);
  });

  test("a request body is streamed through to the origin with its method", async () => {
    const token = await issuer.mint({ claims: { scope: "write:echo" } });
    const body = JSON.stringify({ hello: "world", n: "x".repeat(100_000) });
    const res = await gw.fetch("/api/items/7", { method: "PUT", body, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } });
    assert.equal(res.status, 200);
    const echo = await res.json();
    assert.equal(echo.method, "PUT");
    assert.equal(echo.body, body);
  });

  test("spoofed identity headers never reach the origin, on protected and public routes", async () => {
    const spoof = {
      "x-user-id": "admin",
      "x-user-scopes": "everything",
      "x-auth-method": "api_key",
      "x-auth-issuer": "https://evil",
      "x-token-id": "t",
      "x-client-id": "c",
      "x-key-id": "k",
      "x-portcullis-anything": "1",
      "x-api-key": "pc_test_whatever",
    };
    const pub = await gw.fetch("/health", { headers: spoof });
    assert.equal(pub.status, 200);
    const echoPub = await pub.json();
    assert.deepEqual(identityHeadersOf(echoPub), { "x-auth-method": "public" });
    assert.equal(echoPub.headers["x-api-key"], undefined);

    const token = await issuer.mint({ claims: { sub: "real-user", jti: "j-1" } });
    const { "x-api-key": _ignored, ...spoofNoKey } = spoof;
    const res = await gw.fetch("/api/items", { headers: { ...spoofNoKey, authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const echo = await res.json();
    assert.equal(echo.headers["x-user-id"], "real-user");
    assert.equal(echo.headers["x-user-scopes"], "read:echo");
    assert.equal(echo.headers["x-auth-method"], "jwt");
    assert.equal(echo.headers["x-client-id"], undefined);
    assert.equal(echo.headers["x-key-id"], undefined);
    assert.equal(echo.headers["x-portcullis-anything"], undefined);
  });

  test("both an API key and a bearer token: 400 request_invalid", async () => {
    const token = await issuer.mint();
    const res = await gw.fetch("/api/items", { headers: { authorization: `Bearer ${token}`, "x-api-key": "k" } });
    await expectProblem(res, 400, "request_invalid");
  });

  test("credentials in the URL are refused and never forwarded", async () => {
    const before = origin.requests.length;
    // A value no request id can contain (ids are random: a short value like "abc" turns up in one now and then).
    const secret = "leaked.v4lue";
    for (const q of [`access_token=${secret}`, `API_KEY=${secret}`, `%61ccess_token=${secret}`, `a=1&token=${secret}`, `client_secret=${secret}`, `password=${secret}`, `id_token=${secret}`, `refresh_token=${secret}`, `jwt=${secret}`, `apikey=${secret}`, `key=${secret}`]) {
      const res = await gw.fetch(`/api/items?${q}`);
      const p = await expectProblem(res, 400, "credentials_in_url");
      assert.ok(!JSON.stringify(p.body).includes(secret), `the value is never echoed: ${JSON.stringify(p.body)}`);
    }
    const res = await gw.fetch("/health?access_token=abc");
    await expectProblem(res, 400, "credentials_in_url");
    assert.equal(origin.requests.length, before);
    const logs = gw.logs.join("\n");
    assert.ok(!logs.includes("access_token=abc"), "the query string is never logged");
  });

  test("no route → 404 route_not_found; path tricks are refused, not passed", async () => {
    await expectProblem(await gw.fetch("/nothing-here"), 404, "route_not_found");
    await expectProblem(await gw.fetch("/health", { method: "POST" }), 404, "route_not_found");
    await expectProblem(await gw.fetch("/api%2fitems"), 400, "request_invalid");
    // %61 is 'a': normalized, so it is the protected /api route, not a miss.
    await expectProblem(await gw.fetch("/%61pi/items"), 401, "token_missing");
  });

  test("hop-by-hop response headers from the origin are dropped", async () => {
    const res = await gw.fetch("/health");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-origin"), "echo");
    assert.equal(res.headers.get("x-hop"), null);
    assert.equal(res.headers.get("connection"), null);
  });

  test("origin redirects are returned to the client, not followed", async () => {
    const token = await issuer.mint();
    const res = await gw.fetch("/api/redirect", bearer(token));
    assert.equal(res.status, 302);
    assert.equal(res.headers.get("location"), "https://elsewhere.example/");
  });

  test("the request log line carries no token or query", async () => {
    const token = await issuer.mint({ claims: { sub: "log-user" } });
    await gw.fetch("/api/items?secret-ish=1", bearer(token));
    await gw.settleLogs();
    const line = gw.logs.filter((l) => l.includes('"event":"request"') && l.includes("log-user")).at(-1);
    assert.ok(line, "a request line was logged");
    const entry = JSON.parse(line);
    assert.equal(entry.route, "read");
    assert.equal(entry.credential, "jwt");
    assert.equal(entry.status, 200);
    assert.equal(entry.path, "/api/items");
    assert.ok(!line.includes(token.split(".")[2]));
    assert.ok(!gw.logs.join("\n").includes(token.split(".")[1]));
  });
});

describe("transport policy", () => {
  test("plain HTTP is redirected with 308 (or refused), HSTS everywhere", async () => {
    const origin = await startEchoOrigin();
    const gw = await startGateway({ origin: origin.url, realm: "test", transport: { https: "redirect" }, routes: [{ methods: ["GET"], path: "/*", auth: ["public"] }] });
    try {
      const res = await gw.fetch("http://gw.example/a/b?c=1");
      assert.equal(res.status, 308);
      assert.equal(res.headers.get("location"), "https://gw.example/a/b?c=1");
      assert.equal(res.headers.get("strict-transport-security"), "max-age=63072000; includeSubDomains");
      const ok = await gw.fetch("https://gw.example/a");
      assert.equal(ok.status, 200);
      // A credential in the URL is refused, not bounced back in a Location header.
      const cred = await gw.fetch("http://gw.example/a?access_token=x");
      assert.equal(cred.status, 400);
      assert.equal(cred.headers.get("location"), null);
    } finally {
      await gw.dispose();
    }
    const gw2 = await startGateway({ origin: origin.url, transport: { https: "refuse", hsts: { max_age: 0 } }, routes: [{ methods: ["GET"], path: "/*", auth: ["public"] }] });
    try {
      const res = await gw2.fetch("http://gw.example/a");
      await expectProblem(res, 403, "https_required");
      assert.equal(res.headers.get("strict-transport-security"), null);
    } finally {
      await gw2.dispose();
      await origin.close();
    }
  });

  test("forward_authorization: true forwards the bearer token", async () => {
    const origin = await startEchoOrigin();
    const issuer = await startIssuer({ algs: ["ES256"] });
    const gw = await startGateway(baseConfig({ origin: origin.url, issuer, extra: { forward_authorization: true } }));
    try {
      const token = await issuer.mint({ alg: "ES256" });
      const res = await gw.fetch("/api/x", { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).headers.authorization, `Bearer ${token}`);
    } finally {
      await gw.dispose();
      await origin.close();
      await issuer.close();
    }
  });

  test("an unreachable origin is 502 origin_unreachable", async () => {
    const gw = await startGateway({ origin: "http://127.0.0.1:9", transport: { https: "allow" }, routes: [{ methods: ["GET"], path: "/*", auth: ["public"] }] });
    try {
      await expectProblem(await gw.fetch("/x"), 502, "origin_unreachable");
    } finally {
      await gw.dispose();
    }
  });
});

describe("configuration", () => {
  test("an invalid config refuses every request with 503 and logs every bad field by path", async () => {
    const origin = await startEchoOrigin();
    const gw = await startGateway({
      origin: origin.url,
      issuers: [{ issuer: "https://id.example", audiences: [], algorithms: ["HS256"], leeway_seconds: 1000 }],
      routes: [{ methods: ["GET"], path: "/*", auth: ["jwt", "telepathy"] }],
    });
    try {
      for (const p of ["/", "/anything", "/health"]) {
        await expectProblem(await gw.fetch(p), 503, "gateway_misconfigured");
      }
      assert.equal(origin.requests.length, 0, "nothing is forwarded under a broken config");
      await gw.settleLogs();
      const line = gw.logs.find((l) => l.includes("config_invalid"));
      assert.ok(line, "the config errors are logged");
      const entry = JSON.parse(line.slice(line.indexOf("{")));
      assert.deepEqual(
        entry.errors.map((e) => e.path),
        ["issuers[0].audiences", "issuers[0].algorithms[0]", "issuers[0].leeway_seconds", "routes[0].auth[1]"],
      );
    } finally {
      await gw.dispose();
      await origin.close();
    }
  });

  test("the config may be a JSON string, and jwks_uri is discovered from OpenID metadata", async () => {
    const origin = await startEchoOrigin();
    const issuer = await startIssuer({ algs: ["EdDSA"] });
    const config = baseConfig({ origin: origin.url, issuer });
    delete config.issuers[0].jwks_uri;
    const gw = await startGateway(JSON.stringify(config));
    try {
      const token = await issuer.mint({ alg: "EdDSA" });
      const res = await gw.fetch("/api/x", { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      assert.equal(issuer.state.discoveryRequests, 1);
      assert.equal(issuer.state.jwksRequests, 1);
    } finally {
      await gw.dispose();
      await origin.close();
      await issuer.close();
    }
  });
});
