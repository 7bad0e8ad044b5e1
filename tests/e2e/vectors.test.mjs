// The signature vectors (Wycheproof RS256/PS256/ES256/Ed25519, RFC 7515, RFC 7520, RFC 8037) run
// through the worker's own WebCrypto verifier inside workerd — the code production runs — with the
// same expectations as the native verifier's test (tests/jose_vectors.rs). The verifier is reached
// as an RPC method of the worker's entrypoint (`webcryptoVerify`, exported by src/edge/mod.rs).

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startGateway } from "./harness.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

test("every vector gets the expected verdict from WebCrypto in workerd", async () => {
  const vectors = JSON.parse(
    execFileSync("node", [path.join(ROOT, "tests/vectors/export.mjs")], { maxBuffer: 64 * 1024 * 1024 }).toString(),
  );
  assert.ok(vectors.length >= 790, `only ${vectors.length} vectors`);
  const gw = await startGateway({ origin: "http://127.0.0.1:9", routes: [{ methods: ["GET"], path: "/*", auth: ["public"] }] });
  try {
    const worker = await gw.mf.getWorker();
    const mismatches = [];
    const counts = {};
    for (const v of vectors) {
      const got = await worker.webcryptoVerify(
        v.alg,
        JSON.stringify(v.jwk),
        new Uint8Array(Buffer.from(v.msg_b64u, "base64url")),
        new Uint8Array(Buffer.from(v.sig_b64u, "base64url")),
      );
      const key = `${v.source} ${v.expected ? "valid" : "invalid"}`;
      counts[key] = (counts[key] ?? 0) + 1;
      if (got !== v.expected) mismatches.push(`${v.source} tcId ${v.tcId}: expected ${v.expected}, got ${got}`);
    }
    assert.deepEqual(mismatches, []);
    // Both verdicts occur for every algorithm: the test would notice a verifier that says one thing.
    for (const alg of ["RS256", "PS256", "ES256", "EdDSA"]) {
      assert.ok(vectors.some((v) => v.alg === alg && v.expected), `${alg} has valid vectors`);
      assert.ok(vectors.some((v) => v.alg === alg && !v.expected), `${alg} has invalid vectors`);
    }
  } finally {
    await gw.dispose();
  }
});
