// The built PKCE package (www/pkg/, from `make www`) exercised through its public exports in Node:
// the same .wasm and JS glue a browser loads. sessionStorage is provided as a small in-memory
// Storage so the transaction functions run; the browser test covers the real one.

import { test, describe, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PKG = path.join(ROOT, "www", "pkg");
const KEY = "portcullis.pkce.transaction";

if (!existsSync(path.join(PKG, "package.json"))) {
  throw new Error("www/pkg is missing: run `make www` (www/build.sh) first");
}
const pkgJson = JSON.parse(readFileSync(path.join(PKG, "package.json"), "utf8"));
const pkce = await import(path.join(PKG, pkgJson.exports["."].default));
pkce.initSync({ module: readFileSync(path.join(PKG, "portcullis_pkce_bg.wasm")) });

const sha256url = (s) => createHash("sha256").update(s, "ascii").digest("base64url");
const UNRESERVED = /^[A-Za-z0-9\-._~]+$/;
const B64URL43 = /^[A-Za-z0-9_-]{43}$/;

/** Storage as the Web Storage API defines the part the helper uses. */
class MemoryStorage {
  #m = new Map();
  get length() {
    return this.#m.size;
  }
  key(i) {
    return [...this.#m.keys()][i] ?? null;
  }
  getItem(k) {
    return this.#m.has(String(k)) ? this.#m.get(String(k)) : null;
  }
  setItem(k, v) {
    this.#m.set(String(k), String(v));
  }
  removeItem(k) {
    this.#m.delete(String(k));
  }
  clear() {
    this.#m.clear();
  }
}

/** Runs `fn`, expects a PkceError, returns it. */
function pkceError(fn) {
  let caught;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught, "expected a PkceError, nothing was thrown");
  assert.ok(caught instanceof Error, "a PkceError is an Error");
  assert.equal(caught.name, "PkceError");
  assert.equal(pkce.isPkceError(caught), true);
  return caught;
}

const ISSUER = "https://as.example";
const beginOptions = () => ({
  issuer: ISSUER,
  authorizationEndpoint: "https://as.example/authorize",
  tokenEndpoint: "https://as.example/token",
  clientId: "spa",
  redirectUri: "https://app.example/cb",
  scope: "openid read:echo",
  resource: "https://api.portcullis.test",
  requireIss: true,
});

describe("package", () => {
  test("package.json describes an ES module with types", () => {
    const version = /^version = "([^"]+)"/m.exec(readFileSync(path.join(ROOT, "www", "Cargo.toml"), "utf8"))[1];
    assert.equal(pkgJson.name, "@portcullis/pkce");
    assert.equal(pkgJson.version, version);
    assert.equal(pkgJson.type, "module");
    assert.equal(pkgJson.types, "./index.d.ts");
    // The default entry embeds the wasm; /separate loads the .wasm file; /session is pure JS.
    assert.deepEqual(pkgJson.exports["."], { types: "./index.d.ts", default: "./index.js" });
    assert.deepEqual(pkgJson.exports["./separate"], { types: "./portcullis_pkce.d.ts", default: "./portcullis_pkce.js" });
    assert.deepEqual(pkgJson.exports["./session"], { types: "./session.d.ts", default: "./session.js" });
    for (const [, target] of Object.entries(pkgJson.exports)) {
      for (const f of typeof target === "string" ? [target] : Object.values(target)) {
        assert.ok(existsSync(path.join(PKG, f)), `${f} is in the package`);
      }
    }
  });

  test("exports exactly the documented API", () => {
    assert.deepEqual(Object.keys(pkce).sort(), [
      "beginAuthorization",
      "buildAuthorizationUrl",
      "buildTokenRequest",
      "clearPendingAuthorization",
      "codeChallengeS256",
      "completeAuthorization",
      "createPkcePair",
      "default",
      "exchangeCode",
      "hasPendingAuthorization",
      "initSync",
      "isPkceError",
      "parseCallback",
      "randomNonce",
      "randomState",
      "validateIdToken",
    ]);
  });

  test("both entries export the same API", async () => {
    const separate = await import(path.join(PKG, pkgJson.exports["./separate"].default));
    assert.deepEqual(Object.keys(separate).sort(), Object.keys(pkce).sort());
    assert.equal(separate.createPkcePair, pkce.createPkcePair, "one shared module, one wasm instance");
  });

  test("the .d.ts types every export and the error", () => {
    const dts = readFileSync(path.join(PKG, "index.d.ts"), "utf8");
    for (const sig of [
      "export function createPkcePair(): PkcePair;",
      "export function codeChallengeS256(codeVerifier: string): string;",
      "export function randomState(): string;",
      "export function randomNonce(): string;",
      "export function buildAuthorizationUrl(params: AuthorizationUrlParams): string;",
      "export function parseCallback(callbackUrl: string, expected: ExpectedCallback): string;",
      "export function buildTokenRequest(params: TokenRequestParams): TokenRequest;",
      "export function beginAuthorization(options: BeginAuthorizationOptions): AuthorizationStart;",
      "export function completeAuthorization(callbackUrl: string): CompletedAuthorization;",
      "export function hasPendingAuthorization(): boolean;",
      "export function clearPendingAuthorization(): void;",
      "export function isPkceError(error: unknown): error is PkceError;",
      "export interface PkceError extends Error {",
      'codeChallengeMethod: "S256";',
      "export function exchangeCode(completed: CompletedAuthorization, options?: ExchangeOptions): Promise<TokenSet>;",
      "export interface TokenResponse {",
      "export default function init(options?: InitOptions): Promise<void>;",
    ]) {
      assert.ok(dts.includes(sig), `.d.ts declares ${sig}`);
    }
  });
});

describe("PKCE pair", () => {
  test("RFC 7636 Appendix B: challenge of the example verifier", () => {
    const vectors = JSON.parse(readFileSync(path.join(ROOT, "tests", "vectors", "rfc7636_pkce.json"), "utf8"));
    const b = vectors.s256_example_appendix_b;
    assert.equal(pkce.codeChallengeS256(b.code_verifier), b.code_challenge);
  });

  test("500 fresh pairs: 43 unreserved chars, S256 challenge, all distinct", () => {
    const seen = new Set();
    for (let i = 0; i < 500; i++) {
      const pair = pkce.createPkcePair();
      assert.deepEqual(Object.keys(pair).sort(), ["codeChallenge", "codeChallengeMethod", "codeVerifier"]);
      assert.equal(pair.codeChallengeMethod, "S256");
      assert.match(pair.codeVerifier, B64URL43);
      assert.match(pair.codeVerifier, UNRESERVED);
      assert.equal(pair.codeChallenge, sha256url(pair.codeVerifier));
      assert.equal(pkce.codeChallengeS256(pair.codeVerifier), pair.codeChallenge);
      assert.ok(!seen.has(pair.codeVerifier));
      seen.add(pair.codeVerifier);
    }
  });

  test("state and nonce are 43 base64url chars and distinct", () => {
    const seen = new Set();
    for (let i = 0; i < 200; i++) {
      for (const v of [pkce.randomState(), pkce.randomNonce()]) {
        assert.match(v, B64URL43);
        assert.ok(!seen.has(v));
        seen.add(v);
      }
    }
  });

  test("verifier validation: length and alphabet (RFC 7636 §4.1)", () => {
    assert.equal(pkce.codeChallengeS256("a".repeat(43)), sha256url("a".repeat(43)));
    assert.equal(pkce.codeChallengeS256("~".repeat(128)), sha256url("~".repeat(128)));
    let e = pkceError(() => pkce.codeChallengeS256("a".repeat(42)));
    assert.equal(e.code, "invalid_code_verifier");
    assert.equal(e.field, "codeVerifier");
    assert.equal(e.message, "code verifier is shorter than 43 characters (RFC 7636 §4.1)");
    e = pkceError(() => pkce.codeChallengeS256("a".repeat(129)));
    assert.equal(e.message, "code verifier is longer than 128 characters (RFC 7636 §4.1)");
    e = pkceError(() => pkce.codeChallengeS256("a".repeat(42) + "+"));
    assert.equal(e.message, "code verifier contains a character outside A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)");
    e = pkceError(() => pkce.codeChallengeS256(42));
    assert.equal(e.code, "invalid_parameter");
    assert.equal(e.message, "codeVerifier must be a string");
  });

  test("isPkceError is false for other values", () => {
    for (const v of [new Error("x"), new TypeError("x"), { name: "PkceError" }, "PkceError", null, undefined, 1]) {
      assert.equal(pkce.isPkceError(v), false);
    }
  });
});

describe("buildAuthorizationUrl", () => {
  const params = () => ({
    authorizationEndpoint: "https://as.example/authorize?tenant=a b".replace(" ", "%20"),
    clientId: "spa client",
    redirectUri: "https://app.example/cb?x=1&y=2",
    scope: "openid read:echo",
    state: "s".repeat(43),
    nonce: "n".repeat(43),
    codeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    resource: ["https://api.portcullis.test", "urn:x:y"],
    extraParams: { prompt: "login consent", login_hint: "a+b@c.example", ui_locales: "fr é" },
  });

  test("builds the exact, percent-encoded URL", () => {
    assert.equal(
      pkce.buildAuthorizationUrl(params()),
      "https://as.example/authorize?tenant=a%20b&response_type=code&client_id=spa%20client" +
        "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1%26y%3D2&scope=openid%20read%3Aecho" +
        `&state=${"s".repeat(43)}&nonce=${"n".repeat(43)}` +
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256" +
        "&resource=https%3A%2F%2Fapi.portcullis.test&resource=urn%3Ax%3Ay" +
        "&prompt=login%20consent&login_hint=a%2Bb%40c.example&ui_locales=fr%20%C3%A9",
    );
  });

  test("round-trips through WHATWG URL parsing", () => {
    const u = new URL(pkce.buildAuthorizationUrl(params()));
    assert.equal(u.searchParams.get("redirect_uri"), "https://app.example/cb?x=1&y=2");
    assert.equal(u.searchParams.get("client_id"), "spa client");
    assert.deepEqual(u.searchParams.getAll("resource"), ["https://api.portcullis.test", "urn:x:y"]);
    assert.equal(u.searchParams.get("ui_locales"), "fr é");
    assert.equal(u.searchParams.getAll("code_challenge_method").join(), "S256");
  });

  test("refuses bad input with a specific error", () => {
    const cases = [
      [{ authorizationEndpoint: "http://as.example/authorize" }, "invalid_url", "authorizationEndpoint",
        "authorizationEndpoint must use https (http is allowed only for localhost, 127.0.0.0/8 and [::1])"],
      [{ redirectUri: "https://app.example/cb#frag" }, "invalid_url", "redirectUri", "redirectUri must not contain a fragment"],
      [{ clientId: undefined }, "invalid_parameter", "clientId", "clientId is required"],
      [{ scope: "openid  x" }, "invalid_parameter", "scope", "scope must be scope tokens separated by single spaces (RFC 6749 §3.3)"],
      [{ state: "abc" }, "invalid_parameter", "state",
        "state is shorter than 22 characters; use randomState()/randomNonce() for an unguessable value"],
      [{ codeChallenge: "plain" }, "invalid_parameter", "codeChallenge",
        "codeChallenge is not an S256 challenge (43 base64url characters of a SHA-256 digest)"],
      [{ resource: 5 }, "invalid_parameter", "resource", "resource must be a string or an array of strings"],
      [{ resource: "api" }, "invalid_parameter", "resource", "resource must be an absolute URI (RFC 8707 §2)"],
      [{ extraParams: { code_challenge_method: "plain" } }, "reserved_parameter", undefined,
        "extra parameter 'code_challenge_method' is set by the helper itself and cannot be overridden"],
      [{ extraParams: { prompt: 1 } }, "invalid_parameter", "extraParams", "extraParams must be an object whose values are strings"],
    ];
    for (const [override, code, field, message] of cases) {
      const e = pkceError(() => pkce.buildAuthorizationUrl({ ...params(), ...override }));
      assert.deepEqual([e.code, e.field, e.message], [code, field, message], JSON.stringify(override));
    }
    const e = pkceError(() => pkce.buildAuthorizationUrl("https://as.example"));
    assert.deepEqual([e.code, e.message], ["invalid_parameter", "params must be an object"]);
  });
});

describe("parseCallback", () => {
  const expected = { state: "s".repeat(43), issuer: ISSUER, requireIss: true };
  const cb = (q) => `https://app.example/cb?${q}`;

  test("returns the code of a matching response", () => {
    assert.equal(pkce.parseCallback(cb(`code=c%2B1&state=${"s".repeat(43)}&iss=https%3A%2F%2Fas.example`), expected), "c+1");
    assert.equal(pkce.parseCallback(`?state=${"s".repeat(43)}&code=c2`, { ...expected, requireIss: false }), "c2");
  });

  test("refuses tampered, mixed-up and error responses", () => {
    const s = "s".repeat(43);
    const cases = [
      [cb(`code=c&state=${s}x&iss=${ISSUER}`), "state_mismatch"],
      [cb(`code=c&iss=${ISSUER}`), "missing_state"],
      [cb(`code=c&state=${s}&iss=https://evil.example`), "issuer_mismatch"],
      [cb(`code=c&state=${s}`), "missing_issuer"],
      [cb(`state=${s}&iss=${ISSUER}`), "missing_code"],
      [cb(`code=a&code=b&state=${s}&iss=${ISSUER}`), "malformed_callback"],
      ["https://app.example/cb", "malformed_callback"],
    ];
    for (const [url, code] of cases) assert.equal(pkceError(() => pkce.parseCallback(url, expected)).code, code, url);
  });

  test("an authorization error carries the server's fields", () => {
    const e = pkceError(() =>
      pkce.parseCallback(
        cb(`error=access_denied&error_description=End-User+aborted&error_uri=https%3A%2F%2Fas.example%2Fh&state=${"s".repeat(43)}&iss=${ISSUER}`),
        expected,
      ),
    );
    assert.equal(e.code, "authorization_error");
    assert.equal(e.error, "access_denied");
    assert.equal(e.errorDescription, "End-User aborted");
    assert.equal(e.errorUri, "https://as.example/h");
    assert.equal(e.message, "authorization server returned error 'access_denied': End-User aborted");
  });
});

describe("buildTokenRequest", () => {
  test("form body with code_verifier, ready for fetch", () => {
    const req = pkce.buildTokenRequest({
      tokenEndpoint: "https://as.example/token",
      clientId: "spa",
      redirectUri: "https://app.example/cb",
      code: "c+/=",
      codeVerifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
      resource: "https://api.portcullis.test",
    });
    assert.deepEqual(req, {
      url: "https://as.example/token",
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body:
        "grant_type=authorization_code&code=c%2B%2F%3D&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&client_id=spa" +
        "&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&resource=https%3A%2F%2Fapi.portcullis.test",
    });
    assert.deepEqual(Object.fromEntries(new URLSearchParams(req.body)), {
      grant_type: "authorization_code",
      code: "c+/=",
      redirect_uri: "https://app.example/cb",
      client_id: "spa",
      code_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
      resource: "https://api.portcullis.test",
    });
  });

  test("validates the verifier and endpoint", () => {
    const base = { tokenEndpoint: "https://as.example/token", clientId: "spa", redirectUri: "https://app.example/cb", code: "c" };
    assert.equal(pkceError(() => pkce.buildTokenRequest({ ...base, codeVerifier: "short" })).code, "invalid_code_verifier");
    const e = pkceError(() => pkce.buildTokenRequest({ ...base, tokenEndpoint: "http://as.example/token", codeVerifier: "a".repeat(43) }));
    assert.deepEqual([e.code, e.field], ["invalid_url", "tokenEndpoint"]);
  });
});

describe("pending transaction in sessionStorage", () => {
  const realNow = Date.now;
  beforeEach(() => {
    globalThis.sessionStorage = new MemoryStorage();
  });
  afterEach(() => {
    delete globalThis.sessionStorage;
    Date.now = realNow;
  });

  test("begin stores one transaction; complete returns the code and clears it", () => {
    const start = pkce.beginAuthorization(beginOptions());
    assert.deepEqual(Object.keys(start).sort(), ["nonce", "state", "url"]);
    const u = new URL(start.url);
    assert.equal(u.origin + u.pathname, "https://as.example/authorize");
    assert.equal(u.searchParams.get("state"), start.state);
    assert.equal(u.searchParams.get("nonce"), start.nonce);
    assert.equal(u.searchParams.get("code_challenge_method"), "S256");
    assert.equal(u.searchParams.get("resource"), "https://api.portcullis.test");
    assert.equal(sessionStorage.length, 1);
    assert.equal(sessionStorage.key(0), KEY);
    assert.equal(pkce.hasPendingAuthorization(), true);
    // The verifier is stored, never put in the URL.
    assert.ok(!start.url.includes("code_verifier"));

    const done = pkce.completeAuthorization(`https://app.example/cb?code=the-code&state=${start.state}&iss=${encodeURIComponent(ISSUER)}`);
    assert.equal(done.code, "the-code");
    assert.equal(done.nonce, start.nonce);
    // What exchangeCode() checks an ID token against: the login's own issuer and client.
    assert.equal(done.issuer, ISSUER);
    assert.equal(done.clientId, new URL(start.url).searchParams.get("client_id"));
    // The challenge sent was made from the verifier returned now.
    assert.equal(sha256url(done.codeVerifier), u.searchParams.get("code_challenge"));
    assert.equal(done.tokenRequest.url, "https://as.example/token");
    assert.equal(new URLSearchParams(done.tokenRequest.body).get("code_verifier"), done.codeVerifier);
    assert.equal(new URLSearchParams(done.tokenRequest.body).get("resource"), "https://api.portcullis.test");
    assert.equal(sessionStorage.getItem(KEY), null);
    assert.equal(sessionStorage.length, 0);
    assert.equal(pkce.hasPendingAuthorization(), false);
    // Used once: the same callback again finds nothing.
    const again = pkceError(() => pkce.completeAuthorization(`https://app.example/cb?code=the-code&state=${start.state}&iss=${ISSUER}`));
    assert.equal(again.code, "no_pending_transaction");
  });

  test("a tampered state is refused and the transaction is gone", () => {
    const start = pkce.beginAuthorization(beginOptions());
    const e = pkceError(() => pkce.completeAuthorization(`https://app.example/cb?code=c&state=${start.state.slice(1)}x&iss=${ISSUER}`));
    assert.equal(e.code, "state_mismatch");
    assert.equal(sessionStorage.getItem(KEY), null);
    assert.equal(pkceError(() => pkce.completeAuthorization(`https://app.example/cb?code=c&state=${start.state}&iss=${ISSUER}`)).code, "no_pending_transaction");
  });

  test("a transaction older than ten minutes is refused", () => {
    const start = pkce.beginAuthorization(beginOptions());
    const t0 = realNow();
    Date.now = () => t0 + 10 * 60 * 1000 + 5000;
    const e = pkceError(() => pkce.completeAuthorization(`https://app.example/cb?code=c&state=${start.state}&iss=${ISSUER}`));
    assert.equal(e.code, "transaction_expired");
    assert.equal(sessionStorage.getItem(KEY), null);
  });

  test("a corrupt stored transaction is refused and removed", () => {
    sessionStorage.setItem(KEY, '{"state":"forged"}');
    assert.equal(pkceError(() => pkce.completeAuthorization("https://app.example/cb?code=c&state=forged")).code, "corrupt_transaction");
    assert.equal(sessionStorage.getItem(KEY), null);
  });

  test("a new login replaces the pending one; clear abandons it", () => {
    const first = pkce.beginAuthorization(beginOptions());
    const second = pkce.beginAuthorization(beginOptions());
    assert.notEqual(first.state, second.state);
    assert.equal(pkceError(() => pkce.completeAuthorization(`https://app.example/cb?code=c&state=${first.state}&iss=${ISSUER}`)).code, "state_mismatch");
    pkce.beginAuthorization(beginOptions());
    pkce.clearPendingAuthorization();
    assert.equal(pkce.hasPendingAuthorization(), false);
  });

  test("begin validates before storing anything", () => {
    const e = pkceError(() => pkce.beginAuthorization({ ...beginOptions(), tokenEndpoint: "http://as.example/token" }));
    assert.deepEqual([e.code, e.field], ["invalid_url", "tokenEndpoint"]);
    assert.equal(sessionStorage.length, 0);
  });
});

describe("without sessionStorage", () => {
  test("missing storage is storage_unavailable", () => {
    delete globalThis.sessionStorage;
    assert.equal(pkceError(() => pkce.beginAuthorization(beginOptions())).code, "storage_unavailable");
    assert.equal(pkceError(() => pkce.completeAuthorization("https://app.example/cb?code=c&state=s")).code, "storage_unavailable");
    assert.equal(pkceError(() => pkce.hasPendingAuthorization()).code, "storage_unavailable");
  });

  test("storage that throws on access (disabled by the browser) is storage_unavailable", () => {
    Object.defineProperty(globalThis, "sessionStorage", {
      configurable: true,
      get() {
        throw new DOMException("The operation is insecure.", "SecurityError");
      },
    });
    try {
      assert.equal(pkceError(() => pkce.beginAuthorization(beginOptions())).code, "storage_unavailable");
    } finally {
      delete globalThis.sessionStorage;
    }
  });
});
