// Raw WebCrypto cost, for comparison with Portcullis's per-verification cost. Verifies the same
// RS256 signature `?n=` times with crypto.subtle on a key imported once per isolate; the bench
// runner times requests with n=0 and n=200 from outside and divides the difference by 200.
// (Inside workerd Date.now()/performance.now() do not advance during computation, so no timing
// is taken here.)

const B64URL = { "-": "+", _: "/" };

function b64urlBytes(s) {
  const b64 = s.replace(/[-_]/g, (c) => B64URL[c]) + "===".slice((s.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

let prepared;

async function prepare(env) {
  const jwk = JSON.parse(env.JWK);
  const key = await crypto.subtle.importKey(
    "jwk",
    jwk,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const [h, p, s] = env.TOKEN.split(".");
  return { key, data: new TextEncoder().encode(`${h}.${p}`), signature: b64urlBytes(s) };
}

export default {
  async fetch(request, env) {
    prepared ??= await prepare(env);
    const n = Number(new URL(request.url).searchParams.get("n") ?? "0");
    if (!Number.isInteger(n) || n < 0 || n > 10000) return new Response("bad n", { status: 400 });
    const { key, data, signature } = prepared;
    let valid = 0;
    for (let i = 0; i < n; i++) {
      if (await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, signature, data)) valid++;
    }
    // A signature that stops verifying must not look fast.
    if (valid !== n) return new Response(`only ${valid}/${n} verified`, { status: 500 });
    return new Response(`verified ${n}`, { headers: { "content-type": "text/plain" } });
  },
};
