// The ratios `make bench` reports and the goals of issue 10 (bench/run.mjs computes them, and
// bench/readme.mjs writes them into README.md).

// The goals of issue 10, as filed: reported against every run, never asserted.
export const TARGETS = {
  public_over_a: 0.95,
  b_over_a: 0.9,
  c_over_d: 1.1,
  c_es256_over_d_es256: 1.1,
  c_eddsa_over_d_eddsa: 1.1,
  e_over_a: 0.9,
  g_over_b0: 0.97,
  wasm_gzip_bytes: 250_000,
  cold_start_over_jose: 1.2,
};
/** Every ratio reported: key, x over y (variant names), label, and the goal if it has one. */
export const RATIOS = [
  ["public_over_a", "portcullis-public", "passthrough", "a′/a — public route vs pass-through"],
  ["b_over_a", "portcullis-warm", "passthrough", "b/a — warm JWT (token cache hit) vs pass-through"],
  ["c_over_d", "portcullis-fresh", "jose-js", "c/d — fresh RS256 tokens vs `jose` worker"],
  ["c_es256_over_d_es256", "portcullis-fresh-es256", "jose-js-es256", "fresh ES256 tokens vs `jose` worker"],
  ["c_eddsa_over_d_eddsa", "portcullis-fresh-eddsa", "jose-js-eddsa", "fresh EdDSA tokens vs `jose` worker"],
  ["e_over_a", "apikey-warm", "passthrough", "e/a — API key (cached) vs pass-through"],
  ["g_over_b0", "snapshot-fast", "jwt-bare", "g/b0 — snapshot revocation + `fast` limit vs plain JWT route"],
  ["a0_over_a", "forward-floor", "passthrough", "a0/a — the forward's own work in plain JS vs pass-through: the bound on a′/a"],
  ["public_over_a0", "portcullis-public", "forward-floor", "a′/a0 — public route vs that floor: the gateway's own logic"],
  ["b_over_d", "portcullis-warm", "jose-js", "b/d — warm token vs `jose` worker (which verifies every time)"],
  ["f_over_a", "apikey-cold", "passthrough", "f/a — API key, KV read every request, vs pass-through"],
  ["b_over_b0", "portcullis-warm", "jwt-bare", "b/b0 — default jwt route (snapshot revocation) vs plain JWT route"],
  ["h_over_b0", "strict-exact", "jwt-bare", "h/b0 — `strict` revocation + `exact` limit vs plain JWT route"],
];
