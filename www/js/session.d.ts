// @portcullis/pkce/session: the session client for the Portcullis gateway's sessions
// (docs/browser-session.md). Pure JS; needs no init().

export interface SessionOptions {
  /** The gateway's base URL, e.g. "https://api.example.com". */
  gateway: string;
  /** The gateway's sessions path prefix (default "/auth"). */
  prefix?: string;
  /** Refresh when the access token expires within this many seconds (default 60). */
  refreshMarginSeconds?: number;
  /** How long a login, refresh or logout request may take before it is abandoned (default 30). */
  timeoutSeconds?: number;
  fetch?: typeof fetch;
}

export type SessionEvent =
  | { type: "token"; expiresAt: number }
  | { type: "logout"; reason: "logout" | "ended" };

export interface Session {
  /** The access token, refreshed through POST {prefix}/refresh (shared with every tab) when it
   *  is within the margin of expiry. After a logout (here or in another tab, or a session the
   *  gateway ended) it throws `logged_out` without a request until a login or refresh().
   *  @throws {SessionError} `logged_out`, `refresh_failed` */
  getAccessToken(): Promise<string>;
  /** fetch() with `Authorization: <token_type> <token>`; after a 401 whose WWW-Authenticate says
   *  error="invalid_token" it refreshes once and sends the request again (a ReadableStream body
   *  cannot be sent twice). Only to the gateway's origin: another origin rejects `foreign_origin`
   *  without a request. @throws {SessionError} as getAccessToken(), `foreign_origin` */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Refreshes now, whatever the expiry (also after a logout: the cookie may be live again). */
  refresh(): Promise<string>;
  /** POST {prefix}/logout, and every tab forgets its token. @throws {SessionError} `logout_failed` */
  logout(): Promise<void>;
  /** POST {prefix}/login with these credentials (JSON, the refresh cookie comes back), then
   *  accept() the token response. @throws {SessionError} `login_failed` (with `status`, `problem`) */
  login(credentials: Record<string, unknown>): Promise<void>;
  /** Takes the token response of a login and shares it with every tab. */
  accept(tokenResponse: { access_token: string; token_type: string; expires_in: number; scope?: string }): void;
  /** true with a token, false after a logout or an ended session, undefined before either is known. */
  readonly loggedIn: boolean | undefined;
  /** Expiry of the current access token (ms since the epoch), or null. */
  readonly expiresAt: number | null;
  /** Calls the listener on every new token and on logout; returns the unsubscribe function. */
  subscribe(listener: (event: SessionEvent) => void): () => void;
  /** Stops listening to the other tabs. */
  close(): void;
}

export type SessionErrorCode =
  | "logged_out"
  | "refresh_failed"
  | "logout_failed"
  | "login_failed"
  | "invalid_token_response"
  | "foreign_origin"
  | "invalid_parameter";

export interface SessionError extends Error {
  name: "SessionError";
  code: SessionErrorCode;
  /** The gateway's HTTP status, and its problem `code` when it sent one. */
  status?: number;
  problem?: string;
}

/** @throws {SessionError} `invalid_parameter` (a gateway that is not a URL, a margin or timeout that is not a number) */
export function createSession(options: SessionOptions): Session;
export function isSessionError(error: unknown): error is SessionError;
