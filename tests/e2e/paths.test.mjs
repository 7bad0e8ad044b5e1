// End-to-end (issue 8, paths and queries): the built wasm in workerd in front of a real echo origin
// that records exactly what it receives. Each test is a path or query spelling that some common
// origin stack (Tomcat/Jetty/Spring, Express/ASP.NET/IIS, PHP/Rack) reads differently from a naive
// gateway, so that the gateway would route — or let through — something the origin treats as
// another thing. Every assertion is an exact outcome (status + code, or what the origin saw).

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";

async function expectProblem(res, status, code) {
  const p = await problemOf(res);
  assert.equal(p.status, status, `expected ${status} ${code}, got ${p.status}: ${JSON.stringify(p.body)}`);
  assert.equal(p.code, code);
  return p;
}

/** Routes where a looser route sits behind a stricter one, plus a public area and a catch-all. */
function routes() {
  return [
    { name: "public", methods: ["GET"], path: "/public/*", auth: ["public"] },
    { name: "admin-users", methods: ["GET"], path: "/api/admin/*", auth: ["jwt"], scopes: ["admin"] },
    { name: "read", methods: ["GET"], path: "/api/*", auth: ["jwt"], scopes: ["read:echo"] },
    { name: "catch-all", methods: ["GET"], path: "/*", auth: ["public"] },
  ];
}

describe("paths and queries: origin-stack quirks (defaults)", () => {
  let origin, issuer, gw, readOnly, adminToken;
  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer({ algs: ["RS256"] });
    gw = await startGateway(
      baseConfig({
        origin: origin.url,
        issuer,
        extra: { routes: routes(), admin: { enabled: true, credentials: ["api_key"] } },
      }),
    );
    readOnly = await issuer.mint({ claims: { scope: "read:echo" } });
    adminToken = await issuer.mint({ claims: { scope: "read:echo admin" } });
  });
  after(async () => {
    await gw?.dispose();
    await origin?.close();
    await issuer?.close();
  });

  const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

  /** Sends, expects the refusal, and checks that the origin never heard of it. */
  async function refused(path, status, code, init = {}) {
    const before = origin.requests.length;
    const p = await expectProblem(await gw.fetch(path, init), status, code);
    assert.equal(origin.requests.length, before, `${path} must not reach the origin`);
    return p;
  }

  test("';' path parameters are refused by default (Tomcat/Jetty/Spring strip them, '..;' is '..')", async () => {
    await refused("/public/..;/api/admin/users", 400, "request_invalid");
    await refused("/api/admin;x/users", 400, "request_invalid", bearer(readOnly));
    await refused("/api;jsessionid=1/admin/users", 400, "request_invalid", bearer(readOnly));
    await refused("/public/x;", 400, "request_invalid");
  });

  test("';' path parameters never reach the log (a ';jsessionid=…' is a session id)", async () => {
    await refused("/public/page;jsessionid=SESSIONSECRET1", 400, "request_invalid");
    await gw.settleLogs();
    const line = gw.logs.filter((l) => l.includes('"event":"request"') && l.includes("/public/page")).at(-1);
    assert.ok(line, "a request line was logged");
    assert.equal(JSON.parse(line).path, "/public/page");
    assert.ok(!gw.logs.join("\n").includes("SESSIONSECRET1"));
  });

  test("an encoded ';' is refused by default: one decoding hop before a Java origin makes it a parameter", async () => {
    await refused("/public/..%3B/api/admin/users", 400, "request_invalid");
    await refused("/api/admin%3bx/users", 400, "request_invalid", bearer(readOnly));
  });

  test("double-encoded '.', '/', '\\', NUL, ';' and '%' are refused (an origin that decodes twice sees them)", async () => {
    for (const p of [
      "/public/%252e%252e/api/admin/users",
      "/public/%252E%252E/api/admin/users",
      "/public/x%252Fy",
      "/public/x%252fy",
      "/public/x%255Cy",
      "/public/x%2500",
      "/public/x%253By",
      "/public/x%25252e",
      // %32%65 is "2e" once decoded: the origin would receive %252e.
      "/public/%25%32%65%25%32%65/api/admin/users",
    ]) {
      await refused(p, 400, "request_invalid");
    }
  });

  test("an escaped percent that does not hide a refused character still passes, as sent", async () => {
    const res = await gw.fetch("/public/100%2541");
    assert.equal(res.status, 200);
    assert.equal((await res.json()).url, "/public/100%2541");
  });

  test("case variants match the route the case-insensitive origins (Express, ASP.NET Core, IIS) use", async () => {
    // Before: /api/Admin/users matched /api/* with a read-only token and reached the admin handler
    // of a case-insensitive origin.
    await refused("/api/Admin/users", 403, "insufficient_scope", bearer(readOnly));
    await refused("/API/ADMIN/users", 403, "insufficient_scope", bearer(readOnly));
    // The path is still forwarded exactly as sent.
    const res = await gw.fetch("/api/Admin/users", bearer(adminToken));
    assert.equal(res.status, 200);
    assert.equal((await res.json()).url, "/api/Admin/users");
    const lower = await gw.fetch("/Api/items", bearer(readOnly));
    assert.equal(lower.status, 200);
    assert.equal((await lower.json()).url, "/Api/items");
  });

  test("the admin prefix matches in any case: /ADMIN/keys is the admin API, never the origin", async () => {
    // Before: /ADMIN/keys missed the admin route and was forwarded by the public catch-all.
    await refused("/ADMIN/keys", 401, "api_key_missing");
    await refused("/Admin/keys", 401, "api_key_missing");
    await refused("/admin/keys", 401, "api_key_missing");
  });

  test("credential query parameters under Rack/PHP/Python spellings are refused, naming only the parameter", async () => {
    const secret = "s3cr3tv4lue";
    for (const q of [
      `a=1;access_token=${secret}`,
      `access.token=${secret}`,
      `access+token=${secret}`,
      `access%20token=${secret}`,
      `access token=${secret}`,
      `access_token[]=${secret}`,
      `access_token[x]=${secret}`,
      `%61ccess_token=${secret}`,
      `ACCESS.TOKEN=${secret}`,
      `access[token=${secret}`,
      `+access_token=${secret}`,
      `a=1&api.key=${secret}`,
      `x=1;x=2;PassWord=${secret}`,
      `access_token`,
    ]) {
      const p = await refused(`/public/x?${q}`, 400, "credentials_in_url");
      assert.ok(!JSON.stringify(p.body).includes(secret), `${q}: the value is never echoed`);
    }
    const p = await refused(`/public/x?access.token[y]=${secret}`, 400, "credentials_in_url");
    assert.match(p.body.detail, /"access_token"/, "the detail names the normalized parameter");
    await gw.settleLogs();
    assert.ok(!gw.logs.join("\n").includes(secret), "the value is never logged");
  });

  test("harmless query parameters are not refused and reach the origin as sent", async () => {
    for (const q of [
      "q=token",
      "page=2&sort=name",
      "tokens=3",
      "my_token=1",
      "key_id=k1",
      "keyboard=us",
      "monkey=1",
      "access=1&token_type=bearer",
      "password_hint=x",
      "a[token]=1",
      "filter[key]=1",
      "search=access_token",
      "x=access_token;y=1",
    ]) {
      const res = await gw.fetch(`/public/x?${q}`);
      assert.equal(res.status, 200, `${q} is harmless`);
      assert.equal((await res.json()).url, `/public/x?${q}`);
    }
  });
});

describe("paths: explicit opt-ins (path_parameters = allow, case_sensitive = true)", () => {
  let origin, issuer, gw, readOnly, adminToken;
  before(async () => {
    origin = await startEchoOrigin();
    issuer = await startIssuer({ algs: ["RS256"] });
    gw = await startGateway(
      baseConfig({
        origin: origin.url,
        issuer,
        extra: { routes: routes(), path_parameters: "allow", case_sensitive: true },
      }),
    );
    readOnly = await issuer.mint({ claims: { scope: "read:echo" } });
    adminToken = await issuer.mint({ claims: { scope: "read:echo admin" } });
  });
  after(async () => {
    await gw?.dispose();
    await origin?.close();
    await issuer?.close();
  });

  const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

  test("with path_parameters = allow, routes are matched the way Tomcat reads the path", async () => {
    // /api/admin;x/users is /api/admin/users to Tomcat: the admin route, not /api/*.
    await expectProblem(await gw.fetch("/api/admin;x/users", bearer(readOnly)), 403, "insufficient_scope");
    const res = await gw.fetch("/api/admin;x=1;y=2/users", bearer(adminToken));
    assert.equal(res.status, 200);
    // Forwarded as sent: the origin uses its parameters.
    assert.equal((await res.json()).url, "/api/admin;x=1;y=2/users");
    const jsession = await gw.fetch("/public/page;jsessionid=ABC");
    assert.equal(jsession.status, 200);
    assert.equal((await jsession.json()).url, "/public/page;jsessionid=ABC");
  });

  test("with path_parameters = allow, the logged path has no parameters", async () => {
    const res = await gw.fetch("/public/page;jsessionid=SESSIONSECRET2/x");
    assert.equal(res.status, 200);
    assert.equal((await res.json()).url, "/public/page;jsessionid=SESSIONSECRET2/x");
    await gw.settleLogs();
    const line = gw.logs.filter((l) => l.includes('"event":"request"') && l.includes("/public/page")).at(-1);
    assert.equal(JSON.parse(line).path, "/public/page/x");
    assert.ok(!gw.logs.join("\n").includes("SESSIONSECRET2"));
  });

  test("with path_parameters = allow, dot segments with parameters and encoded ';' in a segment are refused", async () => {
    const before = origin.requests.length;
    for (const p of ["/public/..;/api/admin/users", "/public/..;x/api/admin/users", "/public/.;x/y", "/public/%2e%2e;/api/admin/users", "/public/..%3B/api/admin/users", "/public/;x/api"]) {
      await expectProblem(await gw.fetch(p), 400, "request_invalid");
    }
    assert.equal(origin.requests.length, before);
  });

  test("with case_sensitive = true, a case variant is a different path (the origin's routes differ by case)", async () => {
    const res = await gw.fetch("/api/Admin/users", bearer(readOnly));
    assert.equal(res.status, 200);
    assert.equal((await res.json()).url, "/api/Admin/users");
  });
});
