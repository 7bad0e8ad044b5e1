// Benchmark variant (a0): the forward's floor. A JS worker doing only the work any gateway in front
// of an origin must do on a public route to hand the origin what Portcullis hands it — no route
// table, no checks: the client's copies of the gateway's identity and forwarding headers stripped,
// the gateway's own set (x-auth-method, x-forwarded-for/-host/-proto, x-real-ip, x-request-id), an
// origin deadline (AbortController + timer, cleared at the response head), redirects not followed,
// HSTS added to the answer, and one JSON log line per request. Read (a′) against it to see what the
// gateway's own logic costs, and it against (a) to see the bound on a′/a that the work itself sets.

const STRIPPED_PREFIXES = ["x-user-", "x-auth-", "x-token-", "x-portcullis-", "x-forwarded-"];
const STRIPPED = new Set(["x-client-id", "x-key-id", "x-real-ip", "x-request-id", "forwarded", "connection", "keep-alive", "te", "upgrade", "proxy-connection"]);

export default {
  async fetch(request, env) {
    const started = Date.now();
    const url = new URL(request.url);
    const headers = new Headers();
    for (const [name, value] of request.headers) {
      if (STRIPPED.has(name) || STRIPPED_PREFIXES.some((p) => name.startsWith(p))) continue;
      headers.append(name, value);
    }
    const ip = request.headers.get("cf-connecting-ip") ?? "127.0.0.1";
    const requestId = crypto.randomUUID().replaceAll("-", "");
    headers.set("x-auth-method", "public");
    headers.set("x-forwarded-for", ip);
    headers.set("x-forwarded-host", url.host);
    headers.set("x-forwarded-proto", url.protocol.slice(0, -1));
    headers.set("x-real-ip", ip);
    headers.set("x-request-id", requestId);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 30000);
    let response;
    try {
      response = await fetch(env.ORIGIN + url.pathname + url.search, { method: request.method, headers, signal: controller.signal, redirect: "manual" });
    } finally {
      clearTimeout(timer);
    }
    const out = new Response(response.body, response);
    out.headers.set("strict-transport-security", "max-age=63072000; includeSubDomains");
    console.log(JSON.stringify({ event: "request", request_id: requestId, method: request.method, path: url.pathname, route: "open", credential: "public", status: response.status, duration_ms: Date.now() - started }));
    return out;
  },
};
