// The package's TypeScript declarations (www/pkg/*.d.ts), compiled by TypeScript in strict mode
// the way an app resolves them (`moduleResolution: "bundler"`, the package under node_modules):
// the documented usage type-checks, and misuse — an untyped token response, a wrong error
// code, a missing argument — is a type error (each `@ts-expect-error` must be needed).

import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import ts from "typescript";
import { PKG } from "../support/www-apps.mjs";

const APP_TS = `
import init, {
  beginAuthorization, completeAuthorization, exchangeCode, validateIdToken, isPkceError,
  type TokenResponse, type TokenSet, type IdTokenClaims, type PkceErrorCode,
} from "@portcullis/pkce";
import initSeparate, { createPkcePair } from "@portcullis/pkce/separate";
import { createSession, isSessionError, type Session, type SessionEvent } from "@portcullis/pkce/session";

export async function flow(): Promise<string> {
  await init();
  await initSeparate({ module_or_path: new URL("https://cdn.example/x.wasm") });
  const start = beginAuthorization({
    issuer: "https://as.example", authorizationEndpoint: "https://as.example/a",
    tokenEndpoint: "https://as.example/t", clientId: "c", redirectUri: "https://app.example/cb",
    scope: "openid", resource: ["https://api.example"], requireIss: true,
  });
  const url: string = start.url;
  const done = completeAuthorization(url);
  const tokens: TokenSet = await exchangeCode(done, { jwksUri: "https://as.example/jwks", leewaySeconds: 30 });
  const response: TokenResponse = tokens;
  const access: string = response.access_token;
  const type: string = tokens.token_type;
  const expiresIn: number | undefined = tokens.expires_in;
  const refresh: string | undefined = tokens.refresh_token;
  const scope: string | undefined = tokens.scope;
  const idToken: string | undefined = tokens.id_token;
  const claims: IdTokenClaims | undefined = tokens.idTokenClaims;
  const nonce: string | undefined = claims?.nonce;
  if (idToken) {
    const checked = await validateIdToken(idToken, { issuer: done.issuer, clientId: done.clientId, nonce: done.nonce });
    const sub: string = checked.sub;
    void sub;
  }
  void [access, type, expiresIn, refresh, scope, nonce, createPkcePair().codeChallengeMethod];
  return access;
}

export function errors(e: unknown): PkceErrorCode | "session" | null {
  if (isPkceError(e)) return e.code;
  if (isSessionError(e)) return e.code === "logged_out" ? "session" : null;
  return null;
}

export async function session(): Promise<Response> {
  const s: Session = createSession({ gateway: "https://api.example", refreshMarginSeconds: 30 });
  const off = s.subscribe((e: SessionEvent) => {
    if (e.type === "logout") void e.reason;
  });
  off();
  const token: string = await s.getAccessToken();
  void token;
  return s.fetch("https://api.example/api/orders", { method: "POST", body: "{}" });
}
`;

const MISUSE_TS = `
import { exchangeCode, completeAuthorization, type TokenResponse, type PkceErrorCode } from "@portcullis/pkce";
import { createSession } from "@portcullis/pkce/session";

export async function misuse(r: TokenResponse) {
  // @ts-expect-error the access token is a string, not any
  const n: number = r.access_token;
  // @ts-expect-error expires_in may be absent
  const e: number = r.expires_in;
  // @ts-expect-error not an error code
  const c: PkceErrorCode = "no_such_code";
  // @ts-expect-error exchangeCode needs the completed authorization
  await exchangeCode();
  // @ts-expect-error completeAuthorization takes the callback URL
  completeAuthorization(42);
  // @ts-expect-error gateway is required
  createSession({});
  void [n, e, c];
}
`;

test("the .d.ts files type-check the documented usage and refuse misuse (TypeScript strict)", () => {
  assert.ok(existsSync(path.join(PKG, "index.d.ts")), "www/pkg is missing: run `make www` first");
  const dir = mkdtempSync(path.join(os.tmpdir(), "portcullis-www-types-"));
  try {
    cpSync(PKG, path.join(dir, "node_modules", "@portcullis", "pkce"), { recursive: true });
    writeFileSync(path.join(dir, "app.ts"), APP_TS);
    writeFileSync(path.join(dir, "misuse.ts"), MISUSE_TS);
    const program = ts.createProgram([path.join(dir, "app.ts"), path.join(dir, "misuse.ts")], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
      skipLibCheck: false,
      noUnusedLocals: false,
      types: [],
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : "";
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
    assert.deepEqual(diagnostics, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
