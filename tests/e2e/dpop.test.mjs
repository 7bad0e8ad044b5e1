// End-to-end (issue 13): DPoP (RFC 9449) in workerd. Proofs are minted by an independent library
// (panva's `jose`, pinned in package.json), the access tokens by the test issuer with `cnf.jkt`
// set to the proof key's RFC 7638 thumbprint (computed by jose too). The replay cache is the real
// `DpopReplay` Durable Object, shared by two isolates.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPair, exportJWK } from "jose";
import { startEchoOrigin, startIssuer, startGateway, baseConfig, problemOf, DURABLE_OBJECTS } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";
import { makeHolder, proof } from "../support/dpop.mjs";

const BASE = "http://gateway.test";
let origin, issuer, gateway, holder, edHolder, stranger;

const now = () => Math.floor(Date.now() / 1000);

function config(extra = {}) {
  const cfg = baseConfig({ origin: origin.url, issuer, extra: { dpop: { enabled: true }, ...extra } });
  cfg.routes.push({ name: "bound", methods: ["GET"], path: "/bound/*", auth: ["jwt"], binding: "required" });
  return cfg;
}

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["ES256"] });
  gateway = await startGateway(config());
  holder = await makeHolder("ES256");
  edHolder = await makeHolder("EdDSA");
  stranger = await makeHolder("ES256");
});

after(async () => {
  await gateway?.dispose();
  await origin?.close();
  await issuer?.close();
});

const boundToken = (h = holder, claims = {}) => issuer.mint({ alg: "ES256", claims: { cnf: { jkt: h.jkt }, ...claims } });

async function call(path, { token, dpop, method = "GET", scheme = "DPoP", gw = gateway } = {}) {
  const headers = {};
  if (token) headers.authorization = `${scheme} ${token}`;
  if (dpop !== undefined) headers.dpop = dpop;
  return gw.fetch(path, { method, headers });
}

test("a DPoP-bound token with a valid proof reaches the origin, without the proof or the token", async () => {
  const token = await boundToken();
  const res = await call("/api/orders", { token, dpop: await proof(holder, { htu: `${BASE}/api/orders`, token }) });
  assert.equal(res.status, 200, await res.clone().text());
  const seen = await res.json();
  assert.equal(seen.headers["x-auth-method"], "jwt");
  assert.equal(seen.headers["x-user-id"], "user-123");
  assert.equal(seen.headers.dpop, undefined);
  assert.equal(seen.headers.authorization, undefined);
});

test("EdDSA proofs are accepted, and POST proofs name their method", async () => {
  const token = await boundToken(edHolder, { scope: "read:echo write:echo" });
  const res = await call("/api/orders", { method: "POST", token, dpop: await proof(edHolder, { htm: "POST", htu: `${BASE}/api/orders`, token }) });
  assert.equal(res.status, 200, await res.clone().text());
});

test("the same proof twice: 401 dpop_proof_replayed", async () => {
  const token = await boundToken();
  const p = await proof(holder, { htu: `${BASE}/api/x`, token });
  assert.equal((await call("/api/x", { token, dpop: p })).status, 200);
  const r = await problemOf(await call("/api/x", { token, dpop: p }));
  assert.equal(r.status, 401);
  assert.equal(r.code, "dpop_proof_replayed");
  assert.match(r.headers.get("www-authenticate"), /DPoP algs="ES256 EdDSA", error="invalid_dpop_proof"/);
});

test("a proof replayed on another isolate is refused: the replay cache is exact across isolates", async () => {
  const pair = await startIsolates(JSON.stringify(config()), { count: 2 });
  try {
    const [a, b] = pair.isolates;
    const token = await boundToken();
    const p = await proof(holder, { htu: `${BASE}/api/x`, token });
    const first = await a.fetch("/api/x", { headers: { authorization: `DPoP ${token}`, dpop: p } });
    assert.equal(first.status, 200, await first.clone().text());
    const again = await problemOf(await b.fetch("/api/x", { headers: { authorization: `DPoP ${token}`, dpop: p } }));
    assert.equal(again.status, 401);
    assert.equal(again.code, "dpop_proof_replayed");
    // Concurrent presentations of one fresh proof: exactly one passes.
    const q = await proof(holder, { htu: `${BASE}/api/y`, token });
    const results = await Promise.all(
      [a, b, a, b].map((iso) => iso.fetch("/api/y", { headers: { authorization: `DPoP ${token}`, dpop: q } }).then((r) => r.status)),
    );
    assert.deepEqual(results.filter((s) => s === 200).length, 1, JSON.stringify(results));
  } finally {
    await pair.dispose();
  }
});

test("every proof refusal has its own code", async () => {
  const token = await boundToken();
  const htu = `${BASE}/api/x`;
  const { privateKey: otherPrivate } = await generateKeyPair("ES256");
  const { privateKey: rsaPrivate, publicKey: rsaPublic } = await generateKeyPair("RS256", { extractable: true });
  const rsa = { alg: "RS256", privateKey: rsaPrivate, jwk: await exportJWK(rsaPublic) };
  const privateJwk = await exportJWK((await generateKeyPair("ES256", { extractable: true })).privateKey);
  const cases = [
    ["no proof", undefined, "dpop_proof_missing"],
    ["two proofs", `${await proof(holder, { htu, token })}, ${await proof(holder, { htu, token })}`, "dpop_proof_invalid"],
    ["not a JWS", "not-a-jws", "dpop_proof_invalid"],
    ["wrong typ", await proof(holder, { htu, token, header: { typ: "JWT" } }), "dpop_proof_invalid"],
    ["no jwk", await proof(holder, { htu, token, header: { jwk: undefined } }), "dpop_proof_invalid"],
    ["private jwk", await proof(holder, { htu, token, header: { jwk: privateJwk } }), "dpop_proof_invalid"],
    ["no jti", await proof(holder, { htu, token, claims: { jti: undefined } }), "dpop_proof_invalid"],
    ["alg not accepted", await proof(rsa, { htu, token }), "dpop_algorithm_refused"],
    ["signed by another key", await proof(holder, { htu, token, signWith: otherPrivate }), "dpop_signature_invalid"],
    ["wrong htm", await proof(holder, { htu, token, htm: "POST" }), "dpop_method_mismatch"],
    ["wrong htu", await proof(holder, { htu: `${BASE}/api/other`, token }), "dpop_url_mismatch"],
    ["wrong host", await proof(holder, { htu: "https://evil.example/api/x", token }), "dpop_url_mismatch"],
    ["stale iat", await proof(holder, { htu, token, claims: { iat: now() - 120 } }), "dpop_proof_stale"],
    ["future iat", await proof(holder, { htu, token, claims: { iat: now() + 120 } }), "dpop_proof_stale"],
    ["wrong ath", await proof(holder, { htu, token: "another-token" }), "dpop_ath_mismatch"],
    ["no ath", await proof(holder, { htu }), "dpop_ath_mismatch"],
    ["proof by another key than cnf.jkt", await proof(stranger, { htu, token }), "token_binding_mismatch"],
  ];
  for (const [name, dpop, code] of cases) {
    const r = await problemOf(await call("/api/x", { token, dpop }));
    assert.equal(r.status, 401, `${name}: ${JSON.stringify(r.body)}`);
    assert.equal(r.code, code, name);
    const challenge = r.headers.get("www-authenticate");
    assert.match(challenge, /DPoP algs="ES256 EdDSA"/, name);
    assert.match(challenge, code.startsWith("dpop_") ? /error="invalid_dpop_proof"/ : /DPoP algs="[^"]*", error="invalid_token"/, name);
  }
});

test("htu is compared with the URL the client used, normalized per RFC 3986, query ignored", async () => {
  const token = await boundToken();
  const ok = await call("/api/~x?page=2", { token, dpop: await proof(holder, { htu: "HTTP://Gateway.Test:80/api/%7Ex", token }) });
  assert.equal(ok.status, 200, await ok.clone().text());
  // The gateway decodes %2F-free unreserved escapes when routing; a proof for /api/a%2Fb is not
  // one for /api/a/b however the gateway reads the path.
  const r = await problemOf(await call("/api/a/b", { token, dpop: await proof(holder, { htu: `${BASE}/api/a%2Fb`, token }) }));
  assert.equal(r.code, "dpop_url_mismatch");
});

test("a DPoP-bound token sent as Bearer: 401 token_bound_as_bearer", async () => {
  const token = await boundToken();
  const r = await problemOf(await call("/api/x", { token, scheme: "Bearer" }));
  assert.equal(r.status, 401);
  assert.equal(r.code, "token_bound_as_bearer");
  assert.match(r.headers.get("www-authenticate"), /Bearer realm="test", error="invalid_token"/);
  assert.match(r.headers.get("www-authenticate"), /DPoP algs="ES256 EdDSA", error="invalid_token"/);
});

test("an unbound token under the DPoP scheme: 401 token_binding_mismatch; as Bearer it still works", async () => {
  const token = await issuer.mint({ alg: "ES256" });
  const r = await problemOf(await call("/api/x", { token, dpop: await proof(holder, { htu: `${BASE}/api/x`, token }) }));
  assert.equal(r.code, "token_binding_mismatch");
  assert.equal((await call("/api/x", { token, scheme: "Bearer" })).status, 200);
});

test("binding = \"required\": DPoP passes, an unbound Bearer token is 401 token_binding_required", async () => {
  const token = await boundToken();
  assert.equal((await call("/bound/x", { token, dpop: await proof(holder, { htu: `${BASE}/bound/x`, token }) })).status, 200);
  const plain = await issuer.mint({ alg: "ES256" });
  const r = await problemOf(await call("/bound/x", { token: plain, scheme: "Bearer" }));
  assert.equal(r.code, "token_binding_required");
});

test("a request without credentials is offered both schemes, without an error", async () => {
  const r = await problemOf(await call("/api/x"));
  assert.equal(r.code, "token_missing");
  assert.equal(r.headers.get("www-authenticate"), 'Bearer realm="test", DPoP algs="ES256 EdDSA"');
});

test("without the replay object the request is refused: 503 dpop_replay_unavailable (fail closed)", async () => {
  const { PORTCULLIS_DPOP, ...others } = DURABLE_OBJECTS;
  const gw = await startGateway(config(), { durableObjects: others });
  try {
    const token = await boundToken();
    const r = await problemOf(await call("/api/x", { gw, token, dpop: await proof(holder, { htu: `${BASE}/api/x`, token }) }));
    assert.equal(r.status, 503);
    assert.equal(r.code, "dpop_replay_unavailable");
    assert.equal(r.headers.get("retry-after"), "1");
  } finally {
    await gw.dispose();
  }
});

test("server nonces: a proof without one gets use_dpop_nonce and a DPoP-Nonce; with it the request passes", async () => {
  const gw = await startGateway(config({ dpop: { enabled: true, nonce: true } }), {
    extraBindings: { PORTCULLIS_DPOP_NONCE_SECRET: "a-test-secret-of-at-least-32-characters" },
  });
  try {
    const token = await boundToken();
    const htu = `${BASE}/api/x`;
    const first = await problemOf(await call("/api/x", { gw, token, dpop: await proof(holder, { htu, token }) }));
    assert.equal(first.status, 401);
    assert.equal(first.code, "dpop_nonce_required");
    assert.match(first.headers.get("www-authenticate"), /DPoP algs="ES256 EdDSA", error="use_dpop_nonce"/);
    const nonce = first.headers.get("dpop-nonce");
    assert.match(nonce ?? "", /^[A-Za-z0-9_-]{32}$/);
    const ok = await call("/api/x", { gw, token, dpop: await proof(holder, { htu, token, claims: { nonce } }) });
    assert.equal(ok.status, 200, await ok.clone().text());
    const forged = await problemOf(await call("/api/x", { gw, token, dpop: await proof(holder, { htu, token, claims: { nonce: `${nonce.slice(0, -2)}AA` } }) }));
    assert.equal(forged.code, "dpop_nonce_required");
  } finally {
    await gw.dispose();
  }
});

test("nonces required without the secret: the configuration is refused at load (503 gateway_misconfigured)", async () => {
  const gw = await startGateway(config({ dpop: { enabled: true, nonce: true } }));
  try {
    const r = await problemOf(await gw.fetch("/health"));
    assert.equal(r.status, 503);
    assert.equal(r.code, "gateway_misconfigured");
    await gw.settleLogs();
    assert.ok(gw.logs.some((l) => l.includes("PORTCULLIS_DPOP_NONCE_SECRET")), "the log names the missing secret");
  } finally {
    await gw.dispose();
  }
});
