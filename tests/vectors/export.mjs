#!/usr/bin/env node
// Emits the JOSE signature vectors as one JSON array on stdout, for the differential test that runs
// them through the wasm's WebCrypto verifier inside workerd:
//
//   [{ source, tcId, alg, jwk, msg_b64u, sig_b64u, expected }, ...]
//
// `jwk` is the public JWK as the vector file gives it (private members removed for the RFC
// examples; the few Wycheproof ECDSA groups without `publicKeyJwk` get one built from the point).
// `msg_b64u` is the exact signed bytes (the JWS signing input for RFC examples).
// The expectations are identical to tests/jose_vectors.rs:
//   - Wycheproof `valid` -> true, `invalid` -> false, `acceptable` -> false (refused, as BoringSSL
//     does; the only one is rsa_signature_2048_sha256 tcId 8, "MissingNull");
//   - RFC 7515 A.2 (RS256), A.3 (ES256), RFC 7520 4.1 (RS256), RFC 8037 A.4 (EdDSA) -> true, and
//     each with a changed last signing-input character or a flipped signature bit -> false;
//   - an Ed25519 small-order key (identity point, R = identity, S = 0) -> true, as BoringSSL's
//     cofactorless ED25519_verify and `native` (ed25519-dalek `verify`) both accept it.
//
// Vectors are read from the vendored copies in tests/vectors/. Usage: node tests/vectors/export.mjs > vectors.json
//                            node tests/vectors/export.mjs --summary   (counts on stderr)

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The vendored copies beside this script (provenance in README.md here).
const dir = dirname(fileURLToPath(import.meta.url));

const load = (rel) => JSON.parse(readFileSync(join(dir, rel), 'utf8'));
const b64u = (buf) => Buffer.from(buf).toString('base64url');
const fromHex = (hex) => Buffer.from(hex, 'hex');
const fromB64u = (s) => Buffer.from(s, 'base64url');

// Same rule as the Rust test: the acceptable "MissingNull" case is refused.
const ACCEPTABLE_IS_VALID = false;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

const out = [];

function publicOnly(jwk) {
  const copy = { ...jwk };
  for (const m of PRIVATE_MEMBERS) delete copy[m];
  return copy;
}

function groupJwk(group, field) {
  if (group[field]) return group[field];
  const pk = group.publicKey;
  if (!pk || pk.curve !== 'secp256r1') throw new Error('group without a JWK is not P-256');
  const coord = (hex) => {
    let bytes = fromHex(hex);
    while (bytes.length > 32 && bytes[0] === 0) bytes = bytes.subarray(1);
    if (bytes.length > 32) throw new Error('coordinate too long');
    return b64u(Buffer.concat([Buffer.alloc(32 - bytes.length), bytes]));
  };
  return { kty: 'EC', crv: 'P-256', x: coord(pk.wx), y: coord(pk.wy) };
}

function wycheproof(file, alg, field) {
  const doc = load(`wycheproof/${file}`);
  let n = 0;
  for (const group of doc.testGroups) {
    const jwk = groupJwk(group, field);
    for (const t of group.tests) {
      let expected;
      if (t.result === 'valid') expected = true;
      else if (t.result === 'invalid') expected = false;
      else if (t.result === 'acceptable') expected = ACCEPTABLE_IS_VALID;
      else throw new Error(`${file} tcId ${t.tcId}: unknown result ${t.result}`);
      out.push({
        source: `wycheproof/${file}`,
        tcId: t.tcId,
        alg,
        jwk,
        msg_b64u: b64u(fromHex(t.msg)),
        sig_b64u: b64u(fromHex(t.sig)),
        expected,
      });
      n++;
    }
  }
  if (n !== doc.numberOfTests) throw new Error(`${file}: ${n} cases, file declares ${doc.numberOfTests}`);
}

function signedExample(source, alg, jwk, signingInput, sigB64u) {
  out.push({ source, tcId: 1, alg, jwk, msg_b64u: b64u(Buffer.from(signingInput, 'ascii')), sig_b64u: sigB64u, expected: true });
  // Changed last signing-input character (as the Rust test does).
  const last = signingInput.at(-1) === 'Q' ? 'R' : 'Q';
  const tamperedInput = signingInput.slice(0, -1) + last;
  out.push({ source, tcId: 2, alg, jwk, msg_b64u: b64u(Buffer.from(tamperedInput, 'ascii')), sig_b64u: sigB64u, expected: false });
  // Flipped bit in signature byte 10.
  const sig = fromB64u(sigB64u);
  sig[10] ^= 0x01;
  out.push({ source, tcId: 3, alg, jwk, msg_b64u: b64u(Buffer.from(signingInput, 'ascii')), sig_b64u: b64u(sig), expected: false });
}

wycheproof('rsa_signature_2048_sha256_test.json', 'RS256', 'keyJwk');
wycheproof('rsa_pss_2048_sha256_mgf1_32_test.json', 'PS256', 'publicKeyJwk');
wycheproof('ecdsa_secp256r1_sha256_p1363_test.json', 'ES256', 'publicKeyJwk');
wycheproof('ed25519_test.json', 'EdDSA', 'publicKeyJwk');

const rfc7515 = load('rfc7515_jws_examples.json');
for (const [section, alg] of [['A.2', 'RS256'], ['A.3', 'ES256']]) {
  const ex = rfc7515.examples.find((e) => e.section === `RFC 7515 Appendix ${section}`);
  signedExample(`rfc7515 ${section}`, alg, publicOnly(ex.jwk), ex.signing_input, ex.signature_b64u);
}
const cookbook41 = load('jose-cookbook/jws/4_1.rsa_v15_signature.json');
signedExample('rfc7520 4.1', 'RS256', load('jose-cookbook/jwk/3_3.rsa_public_key.json'),
  cookbook41.signing['sig-input'], cookbook41.signing.sig);
const rfc8037 = load('rfc8037_ed25519_jws.json');
signedExample('rfc8037 A.4', 'EdDSA', rfc8037.public_jwk_A2, rfc8037.jws_A4.signing_input, rfc8037.jws_A4.signature_b64u);

{
  const identity = Buffer.alloc(32);
  identity[0] = 1;
  out.push({
    source: 'portcullis ed25519 small-order key',
    tcId: 1,
    alg: 'EdDSA',
    jwk: { kty: 'OKP', crv: 'Ed25519', x: b64u(identity) },
    msg_b64u: b64u(Buffer.from('any message')),
    sig_b64u: b64u(Buffer.concat([identity, Buffer.alloc(32)])),
    expected: true,
  });
}

process.stdout.write(JSON.stringify(out));
process.stdout.write('\n');
if (process.argv.includes('--summary')) {
  const counts = {};
  for (const v of out) {
    const k = `${v.source} expected=${v.expected}`;
    counts[k] = (counts[k] ?? 0) + 1;
  }
  for (const [k, n] of Object.entries(counts)) process.stderr.write(`${n}\t${k}\n`);
  process.stderr.write(`${out.length}\ttotal\n`);
}
