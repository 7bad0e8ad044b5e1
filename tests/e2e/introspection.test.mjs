// Opaque bearer tokens by RFC 7662 introspection (issue 15), against a real authorization server
// (oidc-provider with its introspection and RFC 7009 revocation endpoints,
// tests/support/introspection-as.mjs): client_secret_basic and private_key_jwt, active and
// inactive answers, the answer cache (counted at the server), a revocation at the server seen
// within the cache TTL, the gateway's own revocation by token id and subject, and an endpoint
// failure failing closed.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startGateway, startEchoOrigin, problemOf } from "./harness.mjs";
import { startIntrospectionServer, introspectionSection, clientKey, BASIC_SECRET, API_AUDIENCE } from "../support/introspection-as.mjs";

const CACHE_TTL_S = 2;
const COOLDOWN_S = 2;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowSecs = () => Math.floor(Date.now() / 1000);
const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });
const hashId = (t) => "sha256:" + createHash("sha256").update(t).digest("base64url");

let origin, as, key, basic, viaJwt;

function config({ clientAuth, audiences = [API_AUDIENCE] }) {
  return {
    origin: origin.url,
    realm: "test",
    transport: { https: "allow" },
    introspection: introspectionSection(as, {
      client_id: clientAuth === "private_key_jwt" ? "gateway-jwt" : "gateway-basic",
      client_auth: clientAuth,
      audiences,
      cache_ttl_seconds: CACHE_TTL_S,
      negative_cache_ttl_seconds: 1,
      failure_cooldown_seconds: COOLDOWN_S,
    }),
    admin: { enabled: true },
    revocation: { refresh_interval_ms: 100, max_staleness_ms: 200 },
    routes: [
      { name: "read", methods: ["GET"], path: "/api/*", auth: ["jwt"], scopes: ["read:echo"] },
    ],
  };
}

async function status(gw, path, init) {
  const res = await gw.fetch(path, init);
  const p = await problemOf(res);
  return { status: res.status, code: p.code, headers: res.headers, body: p.body };
}

before(async () => {
  origin = await startEchoOrigin();
  key = clientKey();
  as = await startIntrospectionServer({ gatewayPublicJwk: key.publicJwk });
  basic = await startGateway(config({ clientAuth: "client_secret_basic" }), {
    extraBindings: { PORTCULLIS_INTROSPECTION_SECRET: BASIC_SECRET },
  });
  viaJwt = await startGateway(config({ clientAuth: "private_key_jwt", audiences: [] }), {
    extraBindings: { PORTCULLIS_INTROSPECTION_KEY: JSON.stringify(key.privateJwk) },
  });
});

after(async () => {
  await basic?.dispose();
  await viaJwt?.dispose();
  await as?.close();
  await origin?.close();
});

describe("client_secret_basic", () => {
  test("an active token is forwarded with its identity; a second request is a cache hit (no second POST)", async () => {
    const token = await as.issueUserToken({ sub: "alice" });
    const before = as.counts.introspection;
    const res = await basic.fetch("/api/orders", bearer(token));
    assert.equal(res.status, 200, await res.clone().text());
    const seen = (await res.json()).headers;
    assert.equal(seen["x-auth-method"], "introspection");
    assert.equal(seen["x-user-id"], "alice");
    assert.equal(seen["x-auth-issuer"], as.issuer);
    assert.equal(seen["x-user-scopes"], "read:echo");
    assert.equal(seen["x-client-id"], "app");
    assert.equal(seen["x-token-id"], hashId(token));
    assert.equal(seen.authorization, undefined);
    assert.equal(as.counts.introspection, before + 1);
    assert.equal(as.counts.answers.at(-1).body.active, true);

    assert.equal((await status(basic, "/api/orders", bearer(token))).status, 200);
    assert.equal(as.counts.introspection, before + 1, "the cached answer served");
  });

  test("an unknown token is 401 token_inactive with an invalid_token challenge", async () => {
    const r = await status(basic, "/api/x", bearer("no-such-token-" + Date.now()));
    assert.equal(r.status, 401);
    assert.equal(r.code, "token_inactive");
    assert.match(r.headers.get("www-authenticate"), /^Bearer realm="test", error="invalid_token"/);
    assert.equal(as.counts.answers.at(-1).body.active, false);
  });

  test("a token for another audience (a client-credentials token has none) is 401 token_audience_mismatch", async () => {
    const token = await as.issueClientToken();
    const r = await status(basic, "/api/x", bearer(token));
    assert.equal(r.status, 401);
    assert.equal(r.code, "token_audience_mismatch");
  });

  test("a scope the token lacks is 403 insufficient_scope", async () => {
    const token = await as.issueUserToken({ sub: "carol", scope: "write:echo" });
    const r = await status(basic, "/api/x", bearer(token));
    assert.equal(r.status, 403);
    assert.equal(r.code, "insufficient_scope");
  });

  test("a revocation at the server (RFC 7009) is seen within the cache TTL", async () => {
    const token = await as.issueUserToken({ sub: "dave" });
    assert.equal((await status(basic, "/api/x", bearer(token))).status, 200);
    await as.revoke(token);
    const revokedAt = Date.now();
    for (;;) {
      const r = await status(basic, "/api/x", bearer(token));
      if (r.status === 401) {
        assert.equal(r.code, "token_inactive");
        break;
      }
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.ok(Date.now() - revokedAt <= CACHE_TTL_S * 1000 + 500, "still admitted past the cache TTL");
      await sleep(100);
    }
    assert.ok(Date.now() - revokedAt <= CACHE_TTL_S * 1000 + 1000);
  });
});

describe("the gateway's own revocation list", () => {
  let adminToken;
  before(async () => {
    adminToken = await as.issueUserToken({ sub: "ops", scope: "portcullis:admin" });
  });
  async function admin(path, body) {
    const res = await basic.fetch(`/admin${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  }

  test("revoking the token's id (sha256:<hash> when the answer has no jti) refuses it at once, cached answer or not", async () => {
    const token = await as.issueUserToken({ sub: "erin" });
    assert.equal((await status(basic, "/api/x", bearer(token))).status, 200);
    const r = await admin("/revocations/tokens", { jti: hashId(token), exp: nowSecs() + 300, iss: as.issuer });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const refused = await status(basic, "/api/x", bearer(token));
    assert.equal(refused.status, 401);
    assert.equal(refused.code, "token_revoked");
    // Another token of the same subject is untouched.
    const other = await as.issueUserToken({ sub: "erin" });
    assert.equal((await status(basic, "/api/x", bearer(other))).status, 200);
  });

  test("revoking the subject refuses the tokens issued before", async () => {
    const token = await as.issueUserToken({ sub: "frank" });
    assert.equal((await status(basic, "/api/x", bearer(token))).status, 200);
    await sleep(1100);
    const r = await admin("/revocations/subjects", { sub: "frank", iss: as.issuer });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const refused = await status(basic, "/api/x", bearer(token));
    assert.equal(refused.status, 401);
    assert.equal(refused.code, "token_revoked");
  });
});

describe("private_key_jwt", () => {
  test("the gateway authenticates with a signed client assertion; a client-credentials token's subject is its client", async () => {
    const user = await as.issueUserToken({ sub: "grace" });
    const r = await viaJwt.fetch("/api/x", bearer(user));
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal((await r.json()).headers["x-user-id"], "grace");
    const client = await as.issueClientToken();
    const c = await viaJwt.fetch("/api/x", bearer(client));
    assert.equal(c.status, 200, await c.clone().text());
    const seen = (await c.json()).headers;
    assert.equal(seen["x-user-id"], "app");
    assert.equal(seen["x-client-id"], "app");
  });

  test("a key the server does not know is refused by the server: 503 introspection_unavailable, never a pass", async () => {
    const stranger = clientKey("gw-client-1");
    const gw = await startGateway(config({ clientAuth: "private_key_jwt", audiences: [] }), {
      extraBindings: { PORTCULLIS_INTROSPECTION_KEY: JSON.stringify(stranger.privateJwk) },
    });
    try {
      const r = await status(gw, "/api/x", bearer(await as.issueUserToken({ sub: "heidi" })));
      assert.equal(r.status, 503);
      assert.equal(r.code, "introspection_unavailable");
      assert.equal(as.counts.answers.at(-1).status, 401);
    } finally {
      await gw.dispose();
    }
  });
});

describe("endpoint failure", () => {
  test("fails closed with 503 and Retry-After, one POST per cooldown; cached answers keep serving within their TTL; recovery", async () => {
    const cached = await as.issueUserToken({ sub: "ivan" });
    const fresh = await as.issueUserToken({ sub: "judy" });
    const other = await as.issueUserToken({ sub: "mallory" });
    assert.equal((await status(viaJwt, "/api/x", bearer(cached))).status, 200);
    as.setDown(true);
    try {
      const before = as.counts.introspection;
      const r = await status(viaJwt, "/api/x", bearer(fresh));
      assert.equal(r.status, 503);
      assert.equal(r.code, "introspection_unavailable");
      assert.equal(r.headers.get("retry-after"), String(COOLDOWN_S));
      assert.equal(as.counts.introspection, before + 1);
      const within = await status(viaJwt, "/api/x", bearer(other));
      assert.equal(within.status, 503);
      assert.equal(within.code, "introspection_unavailable");
      assert.equal(as.counts.introspection, before + 1, "no POST within the cooldown");
      assert.equal((await status(viaJwt, "/api/x", bearer(cached))).status, 200, "a cached answer still serves");
    } finally {
      as.setDown(false);
    }
    await sleep(COOLDOWN_S * 1000 + 100);
    assert.equal((await status(viaJwt, "/api/x", bearer(fresh))).status, 200);
  });
});

describe("configuration", () => {
  test("introspection without its secret does not start: 503 gateway_misconfigured, the log names the secret", async () => {
    const gw = await startGateway(config({ clientAuth: "client_secret_basic" }));
    try {
      const r = await status(gw, "/api/x", bearer("anything"));
      assert.equal(r.status, 503);
      assert.equal(r.code, "gateway_misconfigured");
      await gw.settleLogs();
      const line = gw.logs.map(String).find((l) => l.includes("config_invalid"));
      assert.ok(line && line.includes("PORTCULLIS_INTROSPECTION_SECRET"), gw.logs.join("\n"));
    } finally {
      await gw.dispose();
    }
  });
});
