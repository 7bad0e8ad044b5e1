// DPoP (RFC 9449) on the client's side, for the end-to-end tests: a key holder and its proofs,
// minted by an independent library (panva's `jose`, pinned in package.json).

import { createHash, randomUUID } from "node:crypto";
import { generateKeyPair, exportJWK, calculateJwkThumbprint, SignJWT } from "jose";

/** A proof key: `alg` ES256 or EdDSA; returns { alg, privateKey, jwk, jkt } (`jkt`: RFC 7638). */
export async function makeHolder(alg = "ES256") {
  const opts = alg === "EdDSA" ? { crv: "Ed25519", extractable: true } : { extractable: true };
  const { publicKey, privateKey } = await generateKeyPair(alg, opts);
  const jwk = await exportJWK(publicKey);
  return { alg, privateKey, jwk, jkt: await calculateJwkThumbprint(jwk, "sha256") };
}

const ath = (token) => createHash("sha256").update(token).digest("base64url");

/** A proof by `h` for `htm` `htu`, bound to `token`; `claims`/`header` override, `undefined` removes. */
export async function proof(h, { htm = "GET", htu, token, claims = {}, header = {}, signWith } = {}) {
  const body = { jti: randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000), ...(token ? { ath: ath(token) } : {}), ...claims };
  for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k];
  const hdr = { alg: h.alg, typ: "dpop+jwt", jwk: h.jwk, ...header };
  for (const [k, v] of Object.entries(hdr)) if (v === undefined) delete hdr[k];
  return new SignJWT(body).setProtectedHeader(hdr).sign(signWith ?? h.privateKey);
}
