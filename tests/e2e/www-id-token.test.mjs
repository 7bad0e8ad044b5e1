// exchangeCode() and validateIdToken() of the packaged helper (www/pkg), every refusal by its
// code, in Node against a real HTTP authorization server on 127.0.0.1 (discovery, JWKS, token
// endpoint) signing with `jose`. The browser test (www-browser.test.mjs) runs the same code in
// Chromium against oidc-provider.

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT, generateKeyPair, exportJWK } from "jose";

const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../www/pkg");
if (!existsSync(path.join(PKG, "index.js"))) throw new Error("www/pkg is missing: run `make www` first");
const { exchangeCode, validateIdToken, isPkceError } = await import(path.join(PKG, "index.js"));

const CLIENT = "spa-client";
const NONCE = "n-0123456789abcdefghijklmnopqrstuvwxyzABCDE";
let as; // the authorization server
let keys; // { rs, es, other }

/** A JSON server whose answers the tests set: as.routes[path] = (req, body) => [status, json|string, headers]. */
async function startServer() {
  const state = { routes: {}, hits: {} };
  const server = http.createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    const p = new URL(req.url, "http://x").pathname;
    state.hits[p] = (state.hits[p] ?? 0) + 1;
    const route = state.routes[p];
    if (!route) return res.writeHead(404).end();
    const [status, payload, headers = {}] = await route(req, body);
    const text = typeof payload === "string" ? payload : JSON.stringify(payload);
    res.writeHead(status, { "content-type": "application/json", ...headers }).end(text);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  return { issuer, ...state, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

before(async () => {
  as = await startServer();
  const rs = await generateKeyPair("RS256");
  const es = await generateKeyPair("ES256");
  const other = await generateKeyPair("RS256");
  keys = { rs, es, other };
  const jwks = {
    keys: [
      { ...(await exportJWK(rs.publicKey)), kid: "rs1", alg: "RS256", use: "sig" },
      { ...(await exportJWK(es.publicKey)), kid: "es1", alg: "ES256" },
    ],
  };
  as.routes["/jwks"] = () => [200, jwks];
  as.routes["/.well-known/openid-configuration"] = () => [200, { issuer: as.issuer, jwks_uri: `${as.issuer}/jwks` }];
});
after(() => as?.close());

const now = () => Math.floor(Date.now() / 1000);
function claims(over = {}) {
  return { iss: as.issuer, sub: "alice", aud: CLIENT, exp: now() + 300, iat: now(), nonce: NONCE, ...over };
}
async function sign(payload, { key = keys.rs.privateKey, alg = "RS256", kid = "rs1", header = {} } = {}) {
  return new SignJWT(payload).setProtectedHeader({ alg, kid, typ: "JWT", ...header }).sign(key);
}
const expected = (over = {}) => ({ issuer: as.issuer, clientId: CLIENT, nonce: NONCE, jwksUri: `${as.issuer}/jwks`, ...over });

async function refusal(promise) {
  try {
    await promise;
  } catch (e) {
    assert.ok(isPkceError(e), `a PkceError, got ${e}`);
    return e;
  }
  assert.fail("expected a PkceError, the promise resolved");
}

const b64url = (s) => Buffer.from(s).toString("base64url");

/** RS256 by hand, for headers `jose` refuses to produce (an unknown `crit`). */
async function signRaw(header, payload) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const sig = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", keys.rs.privateKey, new TextEncoder().encode(input));
  return `${input}.${Buffer.from(sig).toString("base64url")}`;
}

describe("validateIdToken", () => {
  test("a valid RS256 and a valid ES256 token resolve to their claims", async () => {
    assert.equal((await validateIdToken(await sign(claims()), expected())).sub, "alice");
    const es = await sign(claims(), { key: keys.es.privateKey, alg: "ES256", kid: "es1" });
    assert.equal((await validateIdToken(es, expected())).sub, "alice");
  });

  test("without jwksUri the keys come from the issuer's discovery document", async () => {
    assert.equal((await validateIdToken(await sign(claims()), expected({ jwksUri: undefined }))).sub, "alice");
  });

  const cases = [
    ["not three parts", async () => "a.b", "id_token_malformed"],
    ["header not JSON", async () => `${b64url("nope")}.${b64url("{}")}.c2ln`, "id_token_malformed"],
    ["payload not an object", async () => `${b64url('{"alg":"RS256"}')}.${b64url("[1]")}.c2ln`, "id_token_malformed"],
    ["alg none", async () => `${b64url('{"alg":"none"}')}.${b64url(JSON.stringify(claims()))}.c2ln`, "id_token_algorithm_unsupported"],
    ["alg HS256 (symmetric)", async () => `${b64url('{"alg":"HS256","kid":"rs1"}')}.${b64url(JSON.stringify(claims()))}.c2ln`, "id_token_algorithm_unsupported"],
    ["crit header", async () => signRaw({ alg: "RS256", kid: "rs1", crit: ["x"], x: 1 }, claims()), "id_token_malformed"],
    ["unknown kid", async () => sign(claims(), { kid: "nope" }), "id_token_key_unknown"],
    ["RS256 header on the EC key's kid", async () => sign(claims(), { kid: "es1" }), "id_token_key_unknown"],
    ["forged (another key, same kid)", async () => sign(claims(), { key: keys.other.privateKey }), "id_token_signature_invalid"],
    ["payload swapped after signing", async () => {
      const [h, , s] = (await sign(claims())).split(".");
      return `${h}.${b64url(JSON.stringify(claims({ sub: "mallory" })))}.${s}`;
    }, "id_token_signature_invalid"],
    ["another issuer", async () => sign(claims({ iss: "http://127.0.0.1:1" })), "id_token_issuer_mismatch"],
    ["another audience", async () => sign(claims({ aud: "other-client" })), "id_token_audience_mismatch"],
    ["aud not a string or list of strings", async () => sign(claims({ aud: [CLIENT, 7] })), "id_token_audience_mismatch"],
    ["several audiences, no azp", async () => sign(claims({ aud: [CLIENT, "other"] })), "id_token_azp_mismatch"],
    ["azp another client", async () => sign(claims({ azp: "other" })), "id_token_azp_mismatch"],
    ["expired beyond the leeway", async () => sign(claims({ exp: now() - 61, iat: now() - 600 })), "id_token_expired"],
    ["issued in the future beyond the leeway", async () => sign(claims({ iat: now() + 120 })), "id_token_issued_in_future"],
    ["no exp", async () => sign(claims({ exp: undefined })), "id_token_malformed"],
    ["no sub", async () => sign(claims({ sub: "" })), "id_token_malformed"],
    ["another nonce", async () => sign(claims({ nonce: "other" })), "id_token_nonce_mismatch"],
    ["no nonce", async () => sign(claims({ nonce: undefined })), "id_token_nonce_mismatch"],
  ];
  for (const [name, make, code] of cases) {
    test(`${name} → ${code}`, async () => {
      const e = await refusal(validateIdToken(await make(), expected()));
      assert.equal(e.code, code);
    });
  }

  test("within the leeway: expired 30 s ago, issued 30 s ahead — accepted; leewaySeconds 0 refuses", async () => {
    const late = await sign(claims({ exp: now() - 30, iat: now() - 600 }));
    assert.equal((await validateIdToken(late, expected())).sub, "alice");
    assert.equal((await refusal(validateIdToken(late, expected({ leewaySeconds: 0 })))).code, "id_token_expired");
    const early = await sign(claims({ iat: now() + 30 }));
    assert.equal((await validateIdToken(early, expected())).sub, "alice");
  });

  test("azp equal to the client with several audiences is accepted", async () => {
    const t = await sign(claims({ aud: [CLIENT, "other"], azp: CLIENT }));
    assert.equal((await validateIdToken(t, expected())).azp, CLIENT);
  });

  test("an algorithm outside `algorithms` is refused", async () => {
    const e = await refusal(validateIdToken(await sign(claims()), expected({ algorithms: ["ES256"] })));
    assert.equal(e.code, "id_token_algorithm_unsupported");
  });

  test("the JWKS is cached; an unknown kid refetches it at most every 30 s", async () => {
    const uri = `${as.issuer}/jwks-rotating`;
    const rotated = await generateKeyPair("RS256");
    let served = { keys: [{ ...(await exportJWK(keys.rs.publicKey)), kid: "rs1", alg: "RS256" }] };
    as.routes["/jwks-rotating"] = () => [200, served];
    await validateIdToken(await sign(claims()), expected({ jwksUri: uri }));
    await validateIdToken(await sign(claims()), expected({ jwksUri: uri }));
    assert.equal(as.hits["/jwks-rotating"], 1, "one fetch for two tokens");
    // The issuer rotates; a token with the new kid within 30 s of the fetch is not yet known.
    served = { keys: [...served.keys, { ...(await exportJWK(rotated.publicKey)), kid: "rs2", alg: "RS256" }] };
    const e = await refusal(validateIdToken(await sign(claims(), { key: rotated.privateKey, kid: "rs2" }), expected({ jwksUri: uri })));
    assert.equal(e.code, "id_token_key_unknown");
    assert.equal(as.hits["/jwks-rotating"], 1, "no refetch within 30 s");
  });

  test("a JWKS that cannot be fetched → jwks_unavailable", async () => {
    as.routes["/jwks-broken"] = () => [500, "oops"];
    const e = await refusal(validateIdToken(await sign(claims()), expected({ jwksUri: `${as.issuer}/jwks-broken` })));
    assert.equal(e.code, "jwks_unavailable");
  });

  test("missing expectations → invalid_parameter naming the field", async () => {
    const e = await refusal(validateIdToken(await sign(claims()), expected({ nonce: undefined })));
    assert.equal(e.code, "invalid_parameter");
    assert.equal(e.field, "nonce");
  });
});

describe("exchangeCode", () => {
  const completed = (over = {}) => ({
    code: "c",
    codeVerifier: "v".repeat(43),
    nonce: NONCE,
    issuer: as.issuer,
    clientId: CLIENT,
    tokenRequest: {
      url: `${as.issuer}/token`,
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: "grant_type=authorization_code&code=c",
    },
    ...over,
  });
  const answer = (status, payload) => {
    as.routes["/token"] = (_req, body) => {
      answer.lastBody = body;
      return [status, payload];
    };
  };

  test("posts the token request and returns the response with the validated ID token's claims", async () => {
    const idToken = await sign(claims());
    answer(200, { access_token: "at", token_type: "Bearer", expires_in: 300, scope: "openid", id_token: idToken });
    const tokens = await exchangeCode(completed());
    assert.equal(answer.lastBody, "grant_type=authorization_code&code=c");
    assert.equal(tokens.access_token, "at");
    assert.equal(tokens.expires_in, 300);
    assert.equal(tokens.id_token, idToken);
    assert.equal(tokens.idTokenClaims.sub, "alice");
  });

  test("without an ID token: the response as is, no JWKS needed", async () => {
    answer(200, { access_token: "at", token_type: "Bearer" });
    assert.deepEqual(await exchangeCode(completed()), { access_token: "at", token_type: "Bearer" });
  });

  test("an ID token with the wrong nonce is refused (the app no longer checks it by hand)", async () => {
    answer(200, { access_token: "at", token_type: "Bearer", id_token: await sign(claims({ nonce: "x" })) });
    assert.equal((await refusal(exchangeCode(completed()))).code, "id_token_nonce_mismatch");
  });

  test("an OAuth error response → token_error with error, description, uri and status", async () => {
    answer(400, { error: "invalid_grant", error_description: "code used", error_uri: "https://e/x" });
    const e = await refusal(exchangeCode(completed()));
    assert.equal(e.code, "token_error");
    assert.equal(e.error, "invalid_grant");
    assert.equal(e.errorDescription, "code used");
    assert.equal(e.errorUri, "https://e/x");
    assert.equal(e.status, 400);
  });

  const shapes = [
    ["HTTP 500 without an OAuth error", 500, "boom"],
    ["not JSON", 200, "<html>"],
    ["a JSON array", 200, [1]],
    ["no access_token", 200, { token_type: "Bearer" }],
    ["no token_type", 200, { access_token: "at" }],
    ["expires_in a string", 200, { access_token: "at", token_type: "Bearer", expires_in: "300" }],
    ["expires_in negative", 200, { access_token: "at", token_type: "Bearer", expires_in: -1 }],
    ["id_token not a string", 200, { access_token: "at", token_type: "Bearer", id_token: 5 }],
    ["scope not a string", 200, { access_token: "at", token_type: "Bearer", scope: ["a"] }],
  ];
  for (const [name, status, payload] of shapes) {
    test(`${name} → invalid_token_response`, async () => {
      answer(status, payload);
      assert.equal((await refusal(exchangeCode(completed()))).code, "invalid_token_response");
    });
  }

  test("an unreachable token endpoint → token_request_failed", async () => {
    const e = await refusal(exchangeCode(completed({ tokenRequest: { ...completed().tokenRequest, url: "http://127.0.0.1:1/token" } })));
    assert.equal(e.code, "token_request_failed");
  });

  test("not a completeAuthorization() result → invalid_parameter", async () => {
    assert.equal((await refusal(exchangeCode({}))).code, "invalid_parameter");
  });
});
