// The worker's entry module, written by hand (issue 10): worker-build's generated entry wrapped the
// entrypoint class in a Proxy that built two more Proxies and an extra async frame on every request,
// and the Rust side then read the request head field by field. Here a request costs one plain
// method call and exactly one call into wasm (`decide`), with the head already in strings. What
// comes back is the answer, or — for a plain forward without a body, the common request — one
// decision string that this module carries out with the runtime's own objects (`carryOut`): wasm
// decides everything, JavaScript only moves the bytes. See src/edge/decision.rs for the format.
//
// `src/edge/js/build.mjs` bundles this file with wasm-bindgen's output (`./bindgen/index.js`) into
// `build/index.js`, and appends an export for every class the wasm exports (the Durable Objects).
//
// Recovery after a wasm trap (a Rust panic is an abort): wasm-bindgen's glue, generated with
// `--experimental-reset-state-function --force-enable-abort-handler`, marks the instance
// terminated and instantiates a fresh one on the next call into it, so nothing here has to. A
// Durable Object instance made before a reset holds a pointer into the old instance and is rebuilt
// on first use after it (`durableObjectClass`).
import { WorkerEntrypoint } from "cloudflare:workers";
import * as wasm from "./bindgen/index.js";

const initState = wasm.__worker_init_state();

/**
 * The request's headers as one string of `name:value\n` lines, which `RequestHead::from_header_lines`
 * reads in wasm. The runtime's Headers yield lower-case names (tokens, never `:`) and values without
 * CR, LF or NUL, so the separators are unambiguous. `null` if the headers cannot be read: the
 * gateway then refuses the request (fail closed) rather than forward it unexamined.
 */
function headerLines(headers) {
  try {
    let lines = "";
    for (const [name, value] of headers) lines += name + ":" + value + "\n";
    return lines;
  } catch {
    return null;
  }
}

export default class Portcullis extends WorkerEntrypoint {
  fetch(request) {
    const started = Date.now();
    const method = request.method;
    // A GET or HEAD body is never forwarded (the pipeline refuses one unless it is empty).
    const bodiless = request.body === null || method === "GET" || method === "HEAD";
    // The answer itself when the request needed no I/O to be decided, else a promise of it.
    const answer = wasm.decide(request, method, request.url, headerLines(request.headers), bodiless, this.env, this.ctx);
    if (typeof answer === "string") return carryOut(request, answer, started);
    if (answer instanceof Promise) return answer.then((a) => (typeof a === "string" ? carryOut(request, a, started) : a));
    return answer;
  }

  /** RPC for the end-to-end tests: the worker's own WebCrypto verifier (src/edge/mod.rs). */
  webcryptoVerify(alg, jwk, message, signature) {
    return wasm.webcryptoVerify(alg, jwk, message, signature);
  }

  /** RPC for the end-to-end tests: the worker's own minting with a key set they pass in (src/edge/mod.rs). */
  mintWithKeySet(keySet, sessions, claims) {
    return wasm.mintWithKeySet(keySet, sessions, claims);
  }
}

let responseHopByHop;
const strippedFor = new Map();

/** `count` then that many `name:value` lines, from `fields` at `at.i`. */
function readHeaders(fields, at) {
  const n = Number(fields[at.i++]);
  const out = [];
  for (let k = 0; k < n; k++) {
    const line = fields[at.i++];
    const colon = line.indexOf(":");
    out.push([line.slice(0, colon), line.slice(colon + 1)]);
  }
  return out;
}

const headerText = (pairs) => pairs.map(([n, v]) => `${n}:${v}\n`).join("");
const messageOf = (e) => (e instanceof Error ? e.message : String(e));

/**
 * Carries out a forward decision: the client's headers edited as decided, sent to the origin with
 * the decided deadline (from the send; one more send after a connection failure when allowed), the
 * answer checked and relayed, the request line written. Failures and unusual answers go back to
 * wasm, which decides what they become.
 */
async function carryOut(request, decision, started) {
  const fields = decision.split("\n");
  const at = { i: 0 };
  const url = fields[at.i++];
  const timeoutMs = Number(fields[at.i++]);
  const flags = fields[at.i++];
  const requestId = fields[at.i++];
  const lineHead = fields[at.i++];
  const strip = fields[at.i++];
  const add = readHeaders(fields, at);
  const edits = readHeaders(fields, at);
  const transport = readHeaders(fields, at);
  edits.push(...transport);

  const log = (status, code) => {
    if (status < 400 && !flags.includes("l")) return;
    console.log(`${lineHead}"status":${status},"code":${code == null ? "null" : JSON.stringify(code)},"duration_ms":${Date.now() - started}}`);
  };
  const failed = (kind, detail, reason) => {
    const [response, code] = wasm.forwardFailed(kind, detail, reason, url, requestId, headerText(transport));
    log(response.status, code);
    return response;
  };

  let timer;
  try {
    const headers = new Headers(request.headers);
    if (strip) for (const name of strip.split(",")) headers.delete(name);
    for (const [name, value] of add) headers.set(name, value);
    const controller = new AbortController();
    const init = { method: request.method, headers, signal: controller.signal, redirect: "manual" };
    if (flags.includes("n")) init.cache = "no-store";

    let timedOut = false;
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    let response;
    let attempts = 1;
    try {
      try {
        response = await fetch(url, init);
      } catch (first) {
        if (timedOut || !flags.includes("r")) throw first;
        // A pooled connection the origin had just closed: the request cannot have had an effect.
        wasm.originRetry(messageOf(first), url);
        attempts = 2;
        response = await fetch(url, init);
      }
    } catch (e) {
      return timedOut ? failed("timeout", timeoutMs, "") : failed("unreachable", attempts, messageOf(e));
    } finally {
      clearTimeout(timer);
    }

    const status = response.status;
    if (status < 200 || status > 599) {
      response.body?.cancel();
      return failed(status < 200 ? "interim" : "out_of_range", status, "");
    }
    const origin = response.headers;
    const connection = origin.get("connection");
    let stripped;
    if (connection === null && status !== 426) {
      responseHopByHop ??= wasm.responseHopByHop().split(",");
      stripped = responseHopByHop.filter((name) => origin.has(name));
    } else {
      // wasm's rule, remembered per (426?, Connection) pair: origins send the same few values.
      const key = `${status === 426}|${connection}`;
      stripped = strippedFor.get(key);
      if (stripped === undefined) {
        if (strippedFor.size >= 64) strippedFor.clear();
        stripped = wasm.responseStripped(status, connection).split(",").filter(Boolean);
        strippedFor.set(key, stripped);
      }
      stripped = stripped.filter((name) => origin.has(name));
    }
    let out = response;
    if (edits.length > 0 || stripped.length > 0) {
      out = new Response(response.body, response);
      const headers = out.headers;
      for (const name of stripped) headers.delete(name);
      for (const [name, value] of edits) headers.set(name, name === "vary" ? wasm.mergeVary(headers.get("vary"), value) : value);
    }
    log(status, null);
    return out;
  } catch (e) {
    clearTimeout(timer);
    return failed("runtime", 0, messageOf(e));
  }
}

/**
 * A Durable Object class as the runtime constructs it: the wasm-bindgen class, rebuilt from the same
 * arguments when the wasm instance it was made in has been replaced after a trap.
 */
function durableObjectClass(Inner) {
  class DurableObjectHost {
    constructor(...args) {
      this.args = args;
      this.instanceId = initState.instanceId;
      this.inner = new Inner(...args);
    }

    current() {
      if (this.instanceId !== initState.instanceId) {
        this.inner = new Inner(...this.args);
        this.instanceId = initState.instanceId;
      }
      return this.inner;
    }
  }
  // Every handler the wasm class has (fetch, alarm, webSocketMessage, …), on the prototype where the
  // runtime looks for it.
  for (const name of Object.getOwnPropertyNames(Inner.prototype)) {
    if (name === "constructor" || name === "free" || name.startsWith("__")) continue;
    if (typeof Object.getOwnPropertyDescriptor(Inner.prototype, name).value !== "function") continue;
    DurableObjectHost.prototype[name] = function (...args) {
      return this.current()[name](...args);
    };
  }
  Object.defineProperty(DurableObjectHost, "name", { value: Inner.name });
  return DurableObjectHost;
}
