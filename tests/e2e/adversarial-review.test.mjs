// Adversarial review of the location tier, claims, request ids and signing (review1): each test
// here failed against the code before its fix.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEchoOrigin, startGateway, startIssuer, baseConfig, problemOf } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";
import { cliPath } from "../support/seed.mjs";

const KEY = Buffer.alloc(32, 7).toString("base64");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

test("location tier: a JWKS copy fetched from another jwks_uri (the previous deployment's) is not trusted after jwks_uri changes", async () => {
  const origin = await startEchoOrigin();
  const issuer = await startIssuer({ algs: ["ES256"], cacheControl: "max-age=300" });
  // The host the issuer's keys used to be fetched from (moved away from, or compromised).
  const formerHost = await startIssuer({ algs: ["ES256"], cacheControl: "max-age=300" });
  const config = (jwksUri) => baseConfig({
    origin: origin.url,
    issuer,
    algorithms: ["ES256"],
    issuerExtra: { jwks_uri: jwksUri },
    extra: { location_cache: { enabled: true } },
  });
  // Isolate a runs the previous version of the deployment, b the new one: one location, one cache.
  const env = await startIsolates(null, {
    count: 2,
    configs: [config(formerHost.jwksUri), config(issuer.jwksUri)],
    extraBindings: { PORTCULLIS_LOCATION_CACHE_KEY: KEY },
  });
  try {
    const [previous, current] = env.isolates;
    const formerToken = await formerHost.mint({ alg: "ES256", claims: { iss: issuer.url } });
    const r1 = await previous.fetch("/api/x", bearer(formerToken));
    assert.equal(r1.status, 200, "the previous configuration trusts the former host's keys");
    await r1.text();
    // Its copy of the issuer's JWKS reaches the location's cache in waitUntil.
    await sleep(200);
    assert.equal(formerHost.state.jwksRequests, 1);

    const r2 = await current.fetch("/api/x", bearer(formerToken));
    const p = await problemOf(r2);
    assert.equal(r2.status, 401, "the new configuration must not trust keys from the jwks_uri it no longer names");
    assert.equal(p.code, "token_key_unknown");
    assert.equal(issuer.state.jwksRequests, 1, "the new configuration fetched its own jwks_uri");
    const good = await issuer.mint({ alg: "ES256" });
    assert.equal((await current.fetch("/api/x", bearer(good))).status, 200);
  } finally {
    await env.dispose();
    await issuer.close();
    await formerHost.close();
    await origin.close();
  }
});

/** Runs the CLI without blocking the event loop (what it fetches is served by this process). */
function runCli(args, input) {
  return new Promise((resolve, reject) => {
    const child = spawn(cliPath(), args, { timeout: 30_000 });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

test("explain: a token the gateway minted is judged with the keys the gateway publishes, as the gateway judges it", async () => {
  const origin = await startEchoOrigin();
  // The gateway's public address, which is its issuer URL: a relay on 127.0.0.1 into workerd.
  let gw;
  const relay = http.createServer(async (req, res) => {
    const r = await gw.fetch(req.url, { method: req.method });
    res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "text/plain" });
    res.end(Buffer.from(await r.arrayBuffer()));
  });
  await new Promise((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const issuerUrl = `http://127.0.0.1:${relay.address().port}`;
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const secret = JSON.stringify({ active: "k1", keys: [{ ...privateKey.export({ format: "jwk" }), kid: "k1", alg: "ES256" }] });
  const sessions = { enabled: true, issuer: issuerUrl, audiences: ["https://api.portcullis.test"] };
  const config = {
    origin: origin.url,
    realm: "test",
    transport: { https: "allow" },
    sessions,
    routes: [{ name: "read", methods: ["GET"], path: "/api/*", auth: ["jwt"], scopes: ["read:echo"] }],
  };
  const dir = mkdtempSync(path.join(tmpdir(), "portcullis-review-"));
  try {
    gw = await startGateway(config, { extraBindings: { PORTCULLIS_SIGNING_KEYS: secret } });
    const configFile = path.join(dir, "config.json");
    writeFileSync(configFile, JSON.stringify(config));
    const worker = await gw.mf.getWorker();
    const mint = (scope) => worker.mintWithKeySet(secret, JSON.stringify(sessions), JSON.stringify({ sub: "alice", sid: "s1", scope, amr: ["pwd"] }));
    for (const [scope, expected] of [["read:echo", "forwarded"], ["write:echo", "403 insufficient_scope"]]) {
      const token = await mint(scope);
      const res = await gw.fetch("/api/items", bearer(token));
      const fromGateway = res.status === 200 ? "forwarded" : `${res.status} ${(await problemOf(res)).code}`;
      if (res.status === 200) await res.arrayBuffer();
      assert.equal(fromGateway, expected, "the gateway");
      const r = await runCli(["explain", "--json", "--config", configFile, "--method", "GET", "--path", "/api/items", "--host", "gateway.test", "--http", "--token", "-"], token);
      assert.ok(r.status === 0 || r.status === 6, `explain exited ${r.status}: ${r.stderr}`);
      const v = JSON.parse(r.stdout).verdict;
      assert.equal(v.answer === "refused" ? `${v.status} ${v.code}` : v.answer, fromGateway, "explain agrees with the gateway");
    }
  } finally {
    await gw?.dispose();
    relay.close();
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
