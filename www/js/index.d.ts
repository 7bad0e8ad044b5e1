// @portcullis/pkce — the authorization code flow with PKCE (S256), state, nonce, RFC 9207 iss,
// the code exchange and ID-token validation, for single-page apps. docs/pkce.md is the manual.
//
// This is the default entry: the wasm is embedded, so init() makes no network request and needs
// no bundler asset handling; a Content-Security-Policy needs script-src 'wasm-unsafe-eval' only.

/** What wasm-bindgen accepts as the module: a URL, a Response, bytes or a compiled module. */
export type ModuleSource = string | URL | Request | Response | BufferSource | WebAssembly.Module;

export interface InitOptions {
  /** Load this module instead of the embedded one (the default entry) or the file beside the
   *  module (the /separate entry). A URL is fetched: allow it in the CSP's connect-src. */
  module_or_path?: ModuleSource | Promise<ModuleSource>;
}

/** Compiles the module once; later calls return the same promise. Every other function except
 *  isPkceError and exchangeCode throws `not_initialized` until it has resolved.
 *  @throws {PkceError} `wasm_unavailable` (e.g. a CSP without 'wasm-unsafe-eval') */
export default function init(options?: InitOptions): Promise<void>;
/** Synchronous init from a compiled module or its bytes (browsers refuse large synchronous
 *  compiles on the main thread; prefer init()). */
export function initSync(module: WebAssembly.Module | BufferSource | { module: WebAssembly.Module | BufferSource }): void;

/** A PKCE pair (RFC 7636). Only S256 is offered. */
export interface PkcePair {
  /** 43 characters of base64url from 32 bytes of CSPRNG output. Secret: send only to the token endpoint. */
  codeVerifier: string;
  /** BASE64URL(SHA-256(codeVerifier)). */
  codeChallenge: string;
  codeChallengeMethod: "S256";
}

export interface AuthorizationUrlParams {
  /** https:// (http:// only for localhost, 127.0.0.0/8, [::1]); an existing query is kept. */
  authorizationEndpoint: string;
  clientId: string;
  redirectUri: string;
  /** Space-separated scope tokens, e.g. "openid read:echo". */
  scope: string;
  /** At least 22 characters; use randomState(). */
  state: string;
  /** At least 22 characters; use randomNonce(). */
  nonce: string;
  /** The S256 challenge (code_challenge_method=S256 is always sent). */
  codeChallenge: string;
  /** RFC 8707 resource indicator(s): the API(s) the access token is for. */
  resource?: string | string[];
  /** Further parameters (prompt, login_hint, …). Parameters the helper sets are refused. */
  extraParams?: Record<string, string>;
}

export interface ExpectedCallback {
  /** The state sent in the authorization request. */
  state: string;
  /** The issuer identifier; a callback `iss` (RFC 9207) must equal it exactly. */
  issuer: string;
  /** Refuse a callback without `iss` (set when discovery says authorization_response_iss_parameter_supported). */
  requireIss?: boolean;
}

export interface TokenRequestParams {
  tokenEndpoint: string;
  clientId: string;
  /** The redirect_uri of the authorization request. */
  redirectUri: string;
  code: string;
  codeVerifier: string;
  resource?: string | string[];
}

/** A ready-to-send code exchange; exchangeCode() sends it for you. */
export interface TokenRequest {
  url: string;
  method: "POST";
  headers: { "content-type": "application/x-www-form-urlencoded"; accept: "application/json" };
  /** Form body with grant_type, code, redirect_uri, client_id, code_verifier and resource(s). */
  body: string;
}

export interface BeginAuthorizationOptions {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  requireIss?: boolean;
  resource?: string | string[];
  extraParams?: Record<string, string>;
}

export interface AuthorizationStart {
  /** Where to send the browser: `location.assign(start.url)`. */
  url: string;
  state: string;
  nonce: string;
}

export interface CompletedAuthorization {
  code: string;
  codeVerifier: string;
  /** The nonce of the authorization request; exchangeCode() requires the ID token to carry it. */
  nonce: string;
  /** The issuer the login was started with. */
  issuer: string;
  clientId: string;
  tokenRequest: TokenRequest;
}

/** A successful token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3). */
export interface TokenResponse {
  access_token: string;
  /** "Bearer" (compare case-insensitively), or "DPoP". */
  token_type: string;
  /** Lifetime of the access token in seconds, when the server says. */
  expires_in?: number;
  refresh_token?: string;
  /** The granted scope, when it differs from the requested one (RFC 6749 §5.1). */
  scope?: string;
  /** OpenID Connect: present when `openid` was in the scope. */
  id_token?: string;
  /** Any further member the server adds. */
  [member: string]: unknown;
}

/** The claims of a validated ID token (OpenID Connect Core §2). */
export interface IdTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  nonce: string;
  azp?: string;
  auth_time?: number;
  acr?: string;
  amr?: string[];
  [claim: string]: unknown;
}

/** What exchangeCode() resolves to: the response, and the ID token's claims once validated. */
export interface TokenSet extends TokenResponse {
  idTokenClaims?: IdTokenClaims;
}

export interface ExchangeOptions {
  /** The issuer's JWKS; default: `jwks_uri` from `${issuer}/.well-known/openid-configuration`. */
  jwksUri?: string;
  /** Clock tolerance for exp and iat, in seconds (default 60). */
  leewaySeconds?: number;
  /** Accepted ID-token algorithms (default RS256/384/512, PS256/384/512, ES256/384/512, EdDSA, Ed25519). */
  algorithms?: string[];
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

export interface IdTokenExpectations {
  issuer: string;
  clientId: string;
  nonce: string;
  jwksUri?: string;
  leewaySeconds?: number;
  algorithms?: string[];
  fetch?: typeof fetch;
  /** The current time in milliseconds (default Date.now()). */
  now?: number;
}

export type PkceErrorCode =
  | "invalid_code_verifier" | "invalid_url" | "invalid_parameter" | "reserved_parameter"
  | "random_unavailable" | "malformed_callback" | "missing_state" | "state_mismatch"
  | "issuer_mismatch" | "missing_issuer" | "authorization_error" | "missing_code"
  | "no_pending_transaction" | "transaction_expired" | "corrupt_transaction" | "storage_unavailable"
  | "not_initialized" | "wasm_unavailable"
  | "token_request_failed" | "token_error" | "invalid_token_response" | "jwks_unavailable"
  | "id_token_malformed" | "id_token_algorithm_unsupported" | "id_token_key_unknown"
  | "id_token_signature_invalid" | "id_token_issuer_mismatch" | "id_token_audience_mismatch"
  | "id_token_azp_mismatch" | "id_token_expired" | "id_token_issued_in_future" | "id_token_nonce_mismatch";

/** What every function of this package throws. */
export interface PkceError extends Error {
  name: "PkceError";
  code: PkceErrorCode;
  /** The option at fault, for invalid_url / invalid_parameter / invalid_code_verifier. */
  field?: string;
  /** authorization_error and token_error: the server's `error`, `error_description`, `error_uri`. */
  error?: string;
  errorDescription?: string;
  errorUri?: string;
  /** token_error, invalid_token_response: the token endpoint's HTTP status. */
  status?: number;
}

/** A fresh PKCE pair. @throws {PkceError} `random_unavailable` */
export function createPkcePair(): PkcePair;
/** The S256 challenge of a verifier (checked against RFC 7636 §4.1). @throws {PkceError} `invalid_code_verifier` */
export function codeChallengeS256(codeVerifier: string): string;
/** 43 base64url characters (256 bits) from the CSPRNG. */
export function randomState(): string;
/** 43 base64url characters (256 bits) from the CSPRNG. */
export function randomNonce(): string;
/** The authorization URL, every value percent-encoded. @throws {PkceError} `invalid_url`, `invalid_parameter`, `reserved_parameter` */
export function buildAuthorizationUrl(params: AuthorizationUrlParams): string;
/** Checks an authorization response against the expected state and issuer; returns the code. */
export function parseCallback(callbackUrl: string, expected: ExpectedCallback): string;
/** The code-exchange request (exchangeCode() sends one for you). */
export function buildTokenRequest(params: TokenRequestParams): TokenRequest;
/** Starts a login: PKCE pair, state and nonce stored in sessionStorage; returns the authorization URL. */
export function beginAuthorization(options: BeginAuthorizationOptions): AuthorizationStart;
/** Finishes a login on the redirect page: removes the pending login (whatever the outcome), checks the callback. */
export function completeAuthorization(callbackUrl: string): CompletedAuthorization;
/** Whether this tab has a login in flight. */
export function hasPendingAuthorization(): boolean;
/** Abandons the login in flight, if any. */
export function clearPendingAuthorization(): void;
/** Sends the code exchange, checks the response, validates an ID token when one is returned.
 *  @throws {PkceError} `token_request_failed`, `token_error`, `invalid_token_response`, `jwks_unavailable`, `id_token_*` */
export function exchangeCode(completed: CompletedAuthorization, options?: ExchangeOptions): Promise<TokenSet>;
/** Validates an ID token (signature via WebCrypto against the issuer's JWKS, then iss, aud, azp, exp, iat, sub, nonce). */
export function validateIdToken(idToken: string, expected: IdTokenExpectations): Promise<IdTokenClaims>;
/** Narrows a caught value to a PkceError (pure JS: works before init()). */
export function isPkceError(error: unknown): error is PkceError;
