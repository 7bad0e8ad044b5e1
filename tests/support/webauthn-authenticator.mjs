// A software WebAuthn authenticator for the workerd tests: real key pairs from node:crypto (P-256,
// Ed25519, RSA 2048), real CBOR (a small canonical encoder: maps, arrays, integers, byte and text
// strings, which is all CTAP2 uses) and real signatures, so the gateway verifies what a browser
// would send. Every field can be bent for the refusal tests.

import { createHash, generateKeyPairSync, sign as nodeSign, randomBytes } from "node:crypto";

export const sha256 = (b) => createHash("sha256").update(b).digest();
export const b64url = (b) => Buffer.from(b).toString("base64url");

/** Canonical CBOR of a JS value: numbers (integers), strings, Buffers/Uint8Arrays, arrays, and
 *  Maps (their insertion order kept: CTAP2's canonical order is the caller's job). */
export function cbor(value) {
  const head = (major, n) => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
    if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  };
  if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === "string") {
    const s = Buffer.from(value, "utf8");
    return Buffer.concat([head(3, s.length), s]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  if (value instanceof Map) {
    const parts = [head(5, value.size)];
    for (const [k, v] of value) parts.push(cbor(k), cbor(v));
    return Buffer.concat(parts);
  }
  throw new Error(`cannot encode ${typeof value}`);
}

export const FLAGS = { UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40, ED: 0x80 };

function keyPair(alg) {
  if (alg === "ES256") {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = publicKey.export({ format: "jwk" });
    const cose = new Map([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x, "base64url")], [-3, Buffer.from(jwk.y, "base64url")]]);
    // WebAuthn ECDSA signatures are DER.
    return { cose, sign: (data) => nodeSign("sha256", data, { key: privateKey, dsaEncoding: "der" }) };
  }
  if (alg === "EdDSA") {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const jwk = publicKey.export({ format: "jwk" });
    const cose = new Map([[1, 1], [3, -8], [-1, 6], [-2, Buffer.from(jwk.x, "base64url")]]);
    return { cose, sign: (data) => nodeSign(null, data, privateKey) };
  }
  if (alg === "RS256") {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jwk = publicKey.export({ format: "jwk" });
    const cose = new Map([[1, 3], [3, -257], [-1, Buffer.from(jwk.n, "base64url")], [-2, Buffer.from(jwk.e, "base64url")]]);
    return { cose, sign: (data) => nodeSign("sha256", data, privateKey) };
  }
  throw new Error(`unknown alg ${alg}`);
}

/**
 * One passkey. `rpId` scopes it; `flags` default to UP|UV|BE|BS (a synced passkey); `signCount`
 * grows by one per assertion when non-zero (a security key) and stays 0 otherwise.
 */
export class SoftAuthenticator {
  constructor({ alg = "ES256", rpId, flags = FLAGS.UP | FLAGS.UV | FLAGS.BE | FLAGS.BS, signCount = 0 } = {}) {
    Object.assign(this, keyPair(alg));
    this.alg = alg;
    this.rpId = rpId;
    this.flags = flags;
    this.signCount = signCount;
    this.credentialId = randomBytes(16);
    this.userHandle = null;
  }

  authData({ attested = false, rpId = this.rpId, flags = this.flags, signCount = this.signCount } = {}) {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(signCount >>> 0);
    const parts = [sha256(rpId), Buffer.from([flags | (attested ? FLAGS.AT : 0)]), count];
    if (attested) {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(this.credentialId.length);
      parts.push(Buffer.alloc(16), len, this.credentialId, cbor(this.cose));
    }
    return Buffer.concat(parts);
  }

  clientData(type, challenge, origin, extra = {}) {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false, ...extra }));
  }

  /** The RegistrationResponseJSON for creation `options` (its `publicKey`). */
  register(publicKey, origin, { fmt = "none", clientData = {}, rpId } = {}) {
    this.userHandle = publicKey.user.id;
    const cd = this.clientData("webauthn.create", publicKey.challenge, origin, clientData);
    const authData = this.authData({ attested: true, rpId });
    let attStmt = new Map();
    if (fmt === "packed") {
      attStmt = new Map([["alg", this.cose.get(3)], ["sig", this.sign(Buffer.concat([authData, sha256(cd)]))]]);
    }
    const attestationObject = cbor(new Map([["fmt", fmt], ["attStmt", attStmt], ["authData", authData]]));
    return {
      id: b64url(this.credentialId),
      rawId: b64url(this.credentialId),
      type: "public-key",
      response: { clientDataJSON: b64url(cd), attestationObject: b64url(attestationObject), transports: ["internal"] },
      clientExtensionResults: {},
    };
  }

  /** The AuthenticationResponseJSON for request `options` (its `publicKey`). */
  assert(publicKey, origin, { clientData = {}, rpId, tamper = false, signCount } = {}) {
    if (signCount !== undefined) this.signCount = signCount;
    else if (this.signCount > 0) this.signCount += 1;
    const cd = this.clientData("webauthn.get", publicKey.challenge, origin, clientData);
    const authData = this.authData({ rpId });
    const sig = this.sign(Buffer.concat([authData, sha256(cd)]));
    if (tamper) sig[sig.length - 3] ^= 0x40;
    return {
      id: b64url(this.credentialId),
      rawId: b64url(this.credentialId),
      type: "public-key",
      response: {
        clientDataJSON: b64url(cd),
        authenticatorData: b64url(authData),
        signature: b64url(sig),
        userHandle: this.userHandle,
      },
      clientExtensionResults: {},
    };
  }
}
