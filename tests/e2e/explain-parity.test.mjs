// Issue 15: `portcullis explain` answers what the gateway answers. The same configuration
// document runs in workerd (the real wasm, a real issuer and echo origin on 127.0.0.1) and in the
// real CLI binary offline; for each request — tokens valid and refused for every reason, claim
// headers that cannot travel, claim conditions, scopes, routes — the CLI's verdict (status and
// code, or "forwarded") equals the gateway's response. The CLI fetches the issuer's JWKS itself
// (the configured jwks_uri) or reads it from a file.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { startGateway, startEchoOrigin, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { cliPath } from "../support/seed.mjs";

let origin, issuer, stranger, gw, dir, configFile, jwksFile, config;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256", "RS256"] });
  stranger = await startIssuer({ algs: ["ES256"] });
  config = baseConfig({
    origin: origin.url,
    issuer,
    algorithms: ["ES256"],
    issuerExtra: { claims_to_headers: { "x-user-email": "email", "x-auth-org": "org.id" } },
    extra: {
      routes: [
        { name: "health", methods: ["GET"], path: "/health", auth: ["public"] },
        { name: "read", methods: ["GET"], path: "/api/*", auth: ["jwt"], scopes: ["read:echo"] },
        { name: "ops", methods: ["POST"], path: "/api/*", auth: ["jwt"], require: { "org.id": "acme", roles: { any: ["ops", "admin"] } } },
      ],
    },
  });
  gw = await startGateway(config);
  dir = mkdtempSync(path.join(tmpdir(), "portcullis-explain-"));
  configFile = path.join(dir, "config.json");
  writeFileSync(configFile, JSON.stringify(config));
  jwksFile = path.join(dir, "jwks.json");
  writeFileSync(jwksFile, await (await fetch(issuer.jwksUri)).text());
});

after(async () => {
  await gw?.dispose();
  await origin?.close();
  await issuer?.close();
  await stranger?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The gateway's answer: "forwarded" or `<status> <code>`. */
async function gateway(method, p, token) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const res = await gw.fetch(p, { method, headers });
  if (res.headers.get("content-type") === "application/problem+json") {
    const { status, code } = await problemOf(res);
    return `${status} ${code}`;
  }
  await res.arrayBuffer();
  assert.equal(res.headers.get("x-origin"), "echo", `${method} ${p}: neither forwarded nor a problem`);
  return "forwarded";
}

/** Runs the CLI without blocking the event loop (the issuer it may fetch from runs in this process). */
function run(args, input) {
  return new Promise((resolve, reject) => {
    const child = spawn(cliPath(), args, { timeout: 30_000 });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
    // Without --token the CLI never reads stdin and may exit before the write: its verdict is in
    // its status and stdout, and the EPIPE on a pipe nobody reads is no failure of the test.
    child.stdin.on("error", (e) => {
      if (e.code !== "EPIPE") reject(e);
    });
    child.stdin.end(input);
  });
}

/** The CLI's verdict for the same request, in the same form. */
async function explain(method, p, token, { jwks = true } = {}) {
  const args = ["explain", "--json", "--config", configFile, "--method", method, "--path", p, "--host", "gateway.test", "--http"];
  if (token) args.push("--token", "-");
  if (token && jwks) args.push("--jwks", jwksFile);
  const r = await run(args, token ?? "");
  assert.ok(r.status === 0 || r.status === 6, `explain exited ${r.status}: ${r.stderr}`);
  const v = JSON.parse(r.stdout).verdict;
  assert.equal(r.status, v.answer === "refused" ? 6 : 0);
  return v.answer === "refused" ? `${v.status} ${v.code}` : v.answer;
}

const GOOD = { email: "alice@example.com", org: { id: "acme" }, roles: ["ops"], scope: "read:echo" };

describe("explain's verdict equals the gateway's answer", () => {
  test("for a set of tokens, routes and claims", async () => {
    const mint = (claims, opts = {}) => issuer.mint({ alg: "ES256", claims: { ...GOOD, ...claims }, ...opts });
    const good = await mint({});
    const [h, pl, sig] = good.split(".");
    const cases = [
      ["GET", "/health", null, "forwarded"],
      ["GET", "/api/items", good, "forwarded"],
      ["POST", "/api/items", good, "forwarded"],
      ["GET", "/nowhere", good, "404 route_not_found"],
      ["GET", "/api/a%2Fb", good, "400 request_invalid"],
      ["GET", "/api/items?access_token=x", good, "400 credentials_in_url"],
      ["GET", "/api/items", null, "401 token_missing"],
      ["GET", "/api/items", await mint({}, { ttl: -120 }), "401 token_expired"],
      ["GET", "/api/items", await mint({}, { audience: "https://other.test" }), "401 token_audience_mismatch"],
      ["GET", "/api/items", await mint({ exp: Math.floor(Date.now() / 1000) + 90000 }), "401 token_lifetime_too_long"],
      ["GET", "/api/items", await issuer.mint({ alg: "RS256", claims: GOOD }), "401 token_algorithm_refused"],
      ["GET", "/api/items", await stranger.mint({ alg: "ES256", claims: GOOD }), "401 token_issuer_unknown"],
      ["GET", "/api/items", `${h}.${pl}.${sig.slice(0, -4)}AAAA`, "401 token_signature_invalid"],
      ["GET", "/api/items", await mint({}, { header: { kid: "nope" } }), "401 token_key_unknown"],
      ["GET", "/api/items", await mint({ email: "caf\u00e9@example.com" }), "401 token_claim_invalid"],
      ["GET", "/api/items", await mint({ org: "flat" }), "401 token_claim_invalid"],
      ["GET", "/api/items", await mint({ scope: "write:echo" }), "403 insufficient_scope"],
      ["POST", "/api/items", await mint({ org: { id: "evil" } }), "403 claim_requirement_failed"],
      ["POST", "/api/items", await mint({ roles: ["viewer"] }), "403 claim_requirement_failed"],
      ["POST", "/api/items", await mint({ roles: "admin" }), "forwarded"],
      ["GET", "/api/items", "not-a-jwt", "401 token_malformed"],
    ];
    for (const [method, p, token, expected] of cases) {
      const fromGateway = await gateway(method, p, token);
      assert.equal(fromGateway, expected, `${method} ${p}: the gateway`);
      assert.equal(await explain(method, p, token), fromGateway, `${method} ${p}: explain with --jwks`);
    }
    // Without --jwks the CLI fetches the issuer's keys from the configured jwks_uri.
    assert.equal(await explain("GET", "/api/items", good, { jwks: false }), "forwarded");
    const expired = await mint({}, { ttl: -120 });
    assert.equal(await explain("GET", "/api/items", expired, { jwks: false }), await gateway("GET", "/api/items", expired));
    // An issuer without jwks_uri: its keys are discovered from its metadata, as the gateway does.
    const discovered = JSON.parse(JSON.stringify(config));
    delete discovered.issuers[0].jwks_uri;
    writeFileSync(configFile, JSON.stringify(discovered));
    try {
      assert.equal(await explain("GET", "/api/items", good, { jwks: false }), "forwarded");
      assert.equal(await explain("GET", "/api/items", expired, { jwks: false }), "401 token_expired");
    } finally {
      writeFileSync(configFile, JSON.stringify(config));
    }
  });
});
