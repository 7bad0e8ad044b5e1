// The session client for the Portcullis gateway's sessions (docs/browser-session.md).
//
// The access token lives in this tab's memory only. The refresh token is the gateway's HttpOnly
// cookie: script never sees it, and `POST <prefix>/refresh` with credentials rotates it and
// answers a new access token. Refresh tokens are single-use, so two tabs refreshing at once
// with the same cookie would look like a stolen token being replayed, and the gateway would end
// the session. So refreshes are serialized across the tabs of the origin — the Web Locks API, or
// where it is missing an election over BroadcastChannel — and the tab that refreshed shares the
// new access token over BroadcastChannel: N tabs whose tokens expire together cause one refresh.
// A logout (or a session the gateway ended) in one tab logs out every tab.
//
// Pure JS and no wasm: this module needs no init().

const DEFAULT_MARGIN_SECONDS = 60;
/** How long a call to the cookie endpoints (login, refresh, logout) may take. A refresh holds the
 *  tabs' lock: without a deadline a hung one would make every tab wait for the browser's own
 *  network timeout (minutes). */
const DEFAULT_TIMEOUT_SECONDS = 30;
/** How long a tab waits for the outcome a peer announced (localStorage marker: a refresh, or the
 *  session's end) before refreshing itself. */
const PEER_WAIT_MS = 2000;
/** How long a tab without any token asks its peers before refreshing itself. */
const NEW_TAB_WAIT_MS = 150;
/** Election fallback: how long claims are collected, and how long a silent holder is waited for. */
const ELECTION_MS = 100;
const HOLDER_TIMEOUT_MS = 10_000;

/** An `Error` named "SessionError" with a stable `code`. */
function sessionError(code, message, extra) {
  const e = new Error(message);
  e.name = "SessionError";
  e.code = code;
  return extra ? Object.assign(e, extra) : e;
}

/** Narrows a caught value to a SessionError. */
export function isSessionError(error) {
  return error != null && typeof error === "object" && error.name === "SessionError" && typeof error.code === "string";
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A signal that aborts with a "TimeoutError" after `ms` (AbortSignal.timeout where it exists). */
function deadline(ms) {
  if (typeof AbortSignal.timeout === "function") return AbortSignal.timeout(ms);
  const controller = new AbortController();
  setTimeout(() => controller.abort(new DOMException("the request timed out", "TimeoutError")), ms);
  return controller.signal;
}
const randomId = () => Array.from(crypto.getRandomValues(new Uint32Array(2)), (n) => n.toString(36)).join("");

function storage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled: reading localStorage throws
  }
}

/** A token response (RFC 6749 §5.1) → what a tab keeps, with an absolute expiry. `now` is also
 *  when the request that got it was sent (`startedAt`): a tab that logged out later ignores it. */
function tokenFrom(body, now, startedAt = now) {
  if (body === null || typeof body !== "object" || typeof body.access_token !== "string" || body.access_token === "") return null;
  if (typeof body.token_type !== "string" || !Number.isSafeInteger(body.expires_in) || body.expires_in <= 0) return null;
  return {
    accessToken: body.access_token,
    tokenType: body.token_type,
    scope: typeof body.scope === "string" ? body.scope : undefined,
    expiresAt: now + body.expires_in * 1000,
    startedAt,
  };
}

/** A token as shared over BroadcastChannel, checked like any other input. */
function validShared(t) {
  return t !== null && typeof t === "object" && typeof t.accessToken === "string" && t.accessToken !== "" &&
    typeof t.tokenType === "string" && Number.isFinite(t.expiresAt) && Number.isFinite(t.startedAt);
}

/**
 * Starts the session client for a gateway. `gateway` is its base URL; `prefix` its sessions path
 * prefix (default "/auth"); `refreshMarginSeconds` (default 60) how long before expiry a token
 * is refreshed.
 */
export function createSession(options) {
  const invalid = (message) => sessionError("invalid_parameter", message);
  let gateway;
  try {
    gateway = new URL(options?.gateway ?? "", globalThis.location?.href);
  } catch {
    throw invalid("gateway must be the gateway's base URL");
  }
  const prefix = (options.prefix ?? "/auth").replace(/\/$/, "");
  // A margin or a timeout that is not a number would switch the checks that use it off silently
  // (NaN compares false): refused instead.
  const marginSeconds = options.refreshMarginSeconds ?? DEFAULT_MARGIN_SECONDS;
  if (typeof marginSeconds !== "number" || !Number.isFinite(marginSeconds) || marginSeconds < 0) {
    throw invalid("refreshMarginSeconds must be a number of seconds, 0 or more");
  }
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (typeof timeoutSeconds !== "number" || !Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw invalid("timeoutSeconds must be a number of seconds, more than 0");
  }
  const refreshUrl = new URL(`${prefix}/refresh`, gateway).href;
  const logoutUrl = new URL(`${prefix}/logout`, gateway).href;
  const loginUrl = new URL(`${prefix}/login`, gateway).href;
  const marginMs = marginSeconds * 1000;
  const doFetch = options.fetch ?? ((...args) => globalThis.fetch(...args));
  // One name per gateway and prefix: two sessions clients for different gateways never mix.
  const name = `portcullis.session ${new URL(prefix, gateway).href}`;
  const markerKey = `${name} settled-at`;
  const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(name) : null;
  const locks = globalThis.navigator?.locks ?? null;

  let token = null; // { accessToken, tokenType, scope, expiresAt, startedAt } — memory only
  let loggedOut = false;
  // When this tab last logged out or heard a logout, and how many times: a refresh that was sent
  // before then (in this tab or another) answers for a session that has ended since, and its
  // token must not log the tabs in again.
  let loggedOutAt = 0;
  let logouts = 0;
  let inflight = null; // this tab's one refresh at a time
  const listeners = new Set();
  const waiters = new Set(); // resolvers waiting for a token from a peer
  const election = { holding: false, others: [], busySeen: false, doneWaiters: new Set(), id: null, at: 0 };

  const fresh = (t, stale) => t !== null && t.accessToken !== stale && t.expiresAt - marginMs > Date.now();
  const emit = (event) => {
    for (const l of listeners) {
      try {
        l(event);
      } catch {
        // a listener's failure is its own
      }
    }
  };
  const broadcast = (message) => {
    try {
      channel?.postMessage(message);
    } catch {
      // a closed channel: this tab is going away
    }
  };

  /** Takes `t` unless this tab already holds a newer token (`t` is then an older message, or a
   *  peer's answer to "ask"). Newer is the one whose request was sent later (`startedAt`: refreshes
   *  are serialized across tabs), not the one that lives longer: a refreshed token may expire
   *  before the one it replaces (one accept()ed with a longer lifetime, a lowered
   *  `access_token_ttl_seconds`), and the one it replaces may be what the gateway refused. */
  function adopt(t) {
    if (token === null || t.startedAt > token.startedAt || (t.startedAt === token.startedAt && t.expiresAt >= token.expiresAt)) token = t;
    for (const w of waiters) w();
    emit({ type: "token", expiresAt: token.expiresAt });
  }

  function endLocally(reason) {
    const was = !loggedOut;
    token = null;
    loggedOut = true;
    loggedOutAt = Date.now();
    logouts += 1;
    for (const w of waiters) w();
    if (was) emit({ type: "logout", reason });
  }

  if (channel) {
    channel.onmessage = ({ data }) => {
      if (data === null || typeof data !== "object") return;
      switch (data.type) {
        case "token":
          // A token from before this tab's logout is the answer to a refresh that raced it (the
          // messages crossed): the session it belongs to has ended.
          if (validShared(data.token) && !(loggedOut && data.token.startedAt < loggedOutAt)) {
            loggedOut = false; // a peer logged in again (accept()) or refreshed
            adopt(data.token);
          }
          break;
        case "logout":
          endLocally(data.reason === "ended" ? "ended" : "logout");
          break;
        case "ask":
          if (token !== null && token.expiresAt - marginMs > Date.now()) broadcast({ type: "token", token });
          break;
        case "claim":
          if (election.holding) broadcast({ type: "busy" });
          else if (election.id !== null) {
            election.others.push([data.at, data.id]);
            // A later claimer did not hear ours (it was not claiming yet): say it again, once.
            const mineFirst = election.at < data.at || (election.at === data.at && election.id < data.id);
            if (mineFirst && !data.echo) broadcast({ type: "claim", id: election.id, at: election.at, echo: true });
          }
          break;
        case "busy":
          election.busySeen = true;
          break;
        case "done":
          for (const w of election.doneWaiters) w();
          break;
      }
    };
  }

  // ---- mutual exclusion across tabs -------------------------------------------------------

  /** Runs `fn` while no other tab of this origin runs it for this gateway. */
  function exclusive(fn) {
    if (locks) return locks.request(name, fn); // released by the browser if this tab closes
    if (!channel) return fn(); // neither API: a single tab cannot race itself
    return elect(fn);
  }

  /** Fallback without Web Locks: claim, wait for competing claims, lowest (time, id) wins. */
  async function elect(fn) {
    for (;;) {
      election.id = randomId();
      election.at = Date.now();
      election.others = [];
      election.busySeen = false;
      broadcast({ type: "claim", id: election.id, at: election.at });
      await sleep(ELECTION_MS);
      const mine = [election.at, election.id];
      const beaten = election.busySeen || election.others.some(([at, id]) => at < mine[0] || (at === mine[0] && id < mine[1]));
      election.id = null;
      if (!beaten) break;
      // Another tab holds it: wait until it says it is done (or a token arrives), or until it
      // must have gone away mid-refresh, then contend again.
      const held = token;
      await new Promise((resolve) => {
        const done = () => {
          election.doneWaiters.delete(done);
          waiters.delete(done);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(done, HOLDER_TIMEOUT_MS);
        election.doneWaiters.add(done);
        waiters.add(done);
      });
      // A new token arrived (or the session ended): fn finds it and makes no request. Otherwise
      // the holder finished without one (its refresh failed) or went away, and every tab that
      // waited on it is here at once: contend again, so that one of them refreshes, not each.
      if ((token !== held && fresh(token, null)) || loggedOut) return fn();
    }
    election.holding = true;
    try {
      return await fn();
    } finally {
      election.holding = false;
      broadcast({ type: "done" });
    }
  }
  if (!locks && channel) {
    // A holder closing mid-refresh lets the others contend at once instead of after the timeout.
    globalThis.addEventListener?.("pagehide", () => {
      if (election.holding) broadcast({ type: "done" });
    });
  }

  // ---- refresh ------------------------------------------------------------------------------

  /** A cookie endpoint call: credentialed, and JSON (the gateway's CSRF check refuses a request
   *  an HTML form could send; the browser adds Origin). */
  function post(url, body = {}) {
    return doFetch(url, {
      method: "POST",
      credentials: "include",
      cache: "no-store",
      headers: { accept: "application/json", "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: deadline(timeoutSeconds * 1000),
    });
  }

  /** The last refresh or login any tab of this origin settled: when (`at`), and when the request
   *  that got its token was sent (`startedAt`, the order `adopt` keeps; null when the session
   *  ended). Times, not the token; without localStorage a tab that takes the lock before the
   *  message refreshes again (a wasted rotation, not a replay: the lock serializes them). */
  function lastSettled() {
    try {
      const marked = JSON.parse(storage()?.getItem(markerKey) ?? "null");
      if (marked === null || typeof marked !== "object" || !Number.isFinite(marked.at)) return null;
      return { at: marked.at, startedAt: Number.isFinite(marked.startedAt) ? marked.startedAt : null };
    } catch {
      return null;
    }
  }

  function markSettled(t) {
    try {
      storage()?.setItem(markerKey, JSON.stringify({ at: Date.now(), startedAt: t?.startedAt ?? null }));
    } catch {
      // storage full or refused: a peer that takes the lock before the message refreshes again
    }
  }

  /** Whether some tab settled a refresh this tab has not seen: after this tab asked (`since`), or
   *  with a token newer than the one this tab holds. The second catches a tab that asked just
   *  after another tab's refresh finished but before that tab's message arrived (BroadcastChannel
   *  and the lock travel on different paths, so the lock can come first). A tab holding no token
   *  (a new or reloaded page) asks its peers briefly instead: the tab that marked it may be gone. */
  function settledElsewhere(since) {
    const marked = lastSettled();
    if (marked === null) return false;
    const newer = token !== null && marked.startedAt !== null && marked.startedAt > token.startedAt;
    return marked.at >= since || newer;
  }

  /** Asks the other tabs for a token fresher than `stale`; resolves it, or null after `ms`. */
  function askPeers(stale, ms) {
    if (!channel) return Promise.resolve(null);
    return new Promise((resolve) => {
      const check = () => {
        if (!fresh(token, stale) && !loggedOut) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(loggedOut ? null : token);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        resolve(null);
      }, ms);
      waiters.add(check);
      broadcast({ type: "ask" });
    });
  }

  async function refreshNow() {
    const startedAt = Date.now();
    const logoutsBefore = logouts;
    let res;
    try {
      res = await post(refreshUrl);
    } catch (cause) {
      throw sessionError("refresh_failed", `the refresh request did not complete (${failure(cause)})`, { cause });
    }
    const body = await res.json().catch(() => null);
    if (res.status === 401) {
      // No valid refresh cookie: never logged in, logged out, expired, or ended by the gateway
      // (a replayed refresh token ends the whole session). Every tab hears it; the marker tells
      // a tab that takes the lock before the message arrives to wait for it, not to ask again.
      markSettled(null);
      endLocally("ended");
      broadcast({ type: "logout", reason: "ended" });
      throw sessionError("logged_out", "the gateway has no live session for this browser", { status: res.status, problem: body?.code });
    }
    if (logouts !== logoutsBefore) {
      // A logout (here or in another tab) happened while the refresh was on its way: whatever it
      // answered belongs to the session that logout ended.
      throw loggedOutError();
    }
    const next = res.ok ? tokenFrom(body, Date.now(), startedAt) : null;
    if (!next) {
      throw sessionError("refresh_failed", `the refresh answered HTTP ${res.status}${res.ok ? " without a token response" : ""}`, {
        status: res.status,
        problem: body?.code,
      });
    }
    markSettled(next);
    loggedOut = false;
    adopt(next);
    broadcast({ type: "token", token: next });
    return next;
  }

  /** Why a request did not complete, as far as the browser tells. */
  const failure = (cause) =>
    cause?.name === "TimeoutError" ? `no answer within ${timeoutSeconds} s` : "network, CORS or connect-src";

  const loggedOutError = () => sessionError("logged_out", "this browser's session has ended (logout, or ended by the gateway)");

  /**
   * A token fresher than `stale` (an access token string, or null): shared, or refreshed. Once a
   * logout was heard only `force` (refresh()) asks the gateway again: N tabs that learn of an
   * ended session while waiting for the lock make no further requests.
   */
  function obtain(stale, force = false) {
    inflight ??= (async () => {
      const requestedAt = Date.now();
      try {
        return await exclusive(async () => {
          if (fresh(token, stale)) return token;
          if (loggedOut && !force) throw loggedOutError();
          const announced = settledElsewhere(requestedAt);
          if (announced || token === null) {
            // Another tab refreshed after we asked or to a token newer than ours (its message may
            // still be on its way), or this tab is new: a token may already be out there.
            // Refreshing again would be wasted, and would rotate the cookie under that token.
            const shared = await askPeers(stale, announced ? PEER_WAIT_MS : NEW_TAB_WAIT_MS);
            if (shared) return shared;
            if (loggedOut && !force) throw loggedOutError(); // what was announced was the end
          }
          return refreshNow();
        });
      } finally {
        inflight = null;
      }
    })();
    return inflight;
  }

  // ---- the API ------------------------------------------------------------------------------

  async function getAccessToken() {
    if (fresh(token, null)) return token.accessToken;
    if (loggedOut) throw loggedOutError();
    return (await obtain(token?.accessToken ?? null)).accessToken;
  }

  async function sessionFetch(input, init) {
    const request = new Request(input, init);
    // The bearer token is the gateway's: never attached to a request for another origin (a URL
    // the app did not build itself, a link from an API answer, would otherwise carry it away).
    if (new URL(request.url).origin !== gateway.origin) {
      throw sessionError("foreign_origin", `fetch() sends the access token to the gateway only (${gateway.origin}), not to ${new URL(request.url).origin}`);
    }
    // Kept for the one retry; a body stream can be sent only once, so clone before the first send.
    const retry = request.clone();
    const send = (req, t) => {
      const headers = new Headers(req.headers);
      headers.set("authorization", `${t.tokenType} ${t.accessToken}`);
      return doFetch(new Request(req, { headers }));
    };
    const used = fresh(token, null) ? token : await obtain(token?.accessToken ?? null);
    const res = await send(request, used);
    const challenge = res.headers.get("www-authenticate") ?? "";
    if (res.status !== 401 || !/\berror="?invalid_token"?/i.test(challenge)) return res;
    // The gateway refused the token itself (expired early, revoked, rotated key): refresh once,
    // unless another tab already did, and try again.
    await res.body?.cancel().catch(() => {});
    return send(retry, await obtain(used.accessToken));
  }

  async function logout() {
    const wasLoggedIn = token !== null;
    token = null;
    let res = null;
    let unsent = null;
    try {
      res = await post(logoutUrl);
      await res.body?.cancel().catch(() => {});
    } catch (cause) {
      unsent = cause;
    }
    // Logged out here and everywhere even if the request failed: the tokens are gone from memory.
    endLocally("logout");
    broadcast({ type: "logout", reason: "logout" });
    if (unsent) {
      throw sessionError("logout_failed", `the logout request did not complete (${failure(unsent)}); the refresh cookie may still be live`, {
        cause: unsent,
        wasLoggedIn,
      });
    }
    if (res && !res.ok && res.status !== 401) {
      throw sessionError("logout_failed", `the logout answered HTTP ${res.status}; the refresh cookie may still be live`, {
        status: res.status,
        wasLoggedIn,
      });
    }
  }

  /** Takes the token response of a login (e.g. POST <prefix>/login) and shares it with every tab. */
  function accept(tokenResponse) {
    const t = tokenFrom(tokenResponse, Date.now());
    if (!t) throw sessionError("invalid_token_response", "accept() needs a token response with access_token, token_type and expires_in");
    loggedOut = false;
    token = t;
    markSettled(t);
    adopt(t);
    broadcast({ type: "token", token: t });
  }

  /** POST {prefix}/login with `credentials` (the body the gateway's login endpoint reads). */
  async function login(credentials) {
    let res;
    try {
      res = await post(loginUrl, credentials);
    } catch (cause) {
      throw sessionError("login_failed", `the login request did not complete (${failure(cause)})`, { cause });
    }
    const body = await res.json().catch(() => null);
    if (!res.ok) throw sessionError("login_failed", `the login answered HTTP ${res.status}`, { status: res.status, problem: body?.code });
    accept(body);
  }

  return {
    getAccessToken,
    login,
    fetch: sessionFetch,
    logout,
    accept,
    /** Refreshes now, whatever the current token's expiry. */
    refresh: async () => (await obtain(token?.accessToken ?? null, true)).accessToken,
    get loggedIn() {
      return loggedOut ? false : token !== null ? true : undefined;
    },
    get expiresAt() {
      return token?.expiresAt ?? null;
    },
    /** Calls `listener({ type: "token" | "logout", … })` on every change; returns the unsubscribe. */
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      channel?.close();
      listeners.clear();
    },
  };
}
