// X.509 client certificates for the mTLS end-to-end tests, generated in the test with
// @peculiar/x509 (pinned in package.json) over node's WebCrypto: a CA, and client certificates it
// signs (valid, expired, not yet valid). `cfFor` turns one into the `request.cf.tlsClientAuth` that
// Cloudflare's edge would hand the worker after verifying it, for Miniflare's dispatchFetch.

import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";

x509.cryptoProvider.set(webcrypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const DAY = 86_400_000;

export async function makeCa(name = "CN=Portcullis Test CA,O=Portcullis") {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 365 * DAY),
    signingAlgorithm: ALG,
    keys,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
  });
  return { cert, keys };
}

let serial = 16;

/** A client certificate signed by `ca`, valid from `notBefore` to `notAfter` (Dates). */
export async function makeClientCert(ca, { subject, notBefore = new Date(Date.now() - DAY), notAfter = new Date(Date.now() + 30 * DAY) } = {}) {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16).padStart(2, "0"),
    subject,
    issuer: ca.cert.subject,
    notBefore,
    notAfter,
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
  });
  const fingerprint = Buffer.from(await cert.getThumbprint("SHA-256")).toString("hex");
  return { cert, keys, fingerprint, pem: cert.toString("pem"), x5tS256: Buffer.from(fingerprint, "hex").toString("base64url") };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** OpenSSL's ASN1_TIME_print form, as Cloudflare reports certNotBefore/certNotAfter. */
export function opensslTime(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, " ")} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()} GMT`;
}

/** The `cf` object Cloudflare hands the worker for a TLS handshake with `client` (verified). */
export function cfFor(client, overrides = {}) {
  const c = client.cert;
  return {
    tlsClientAuth: {
      certPresented: "1",
      certVerified: "SUCCESS",
      certRevoked: "0",
      certIssuerDN: c.issuer,
      certSubjectDN: c.subject,
      certIssuerDNRFC2253: c.issuer,
      certSubjectDNRFC2253: c.subject,
      certIssuerDNLegacy: "",
      certSubjectDNLegacy: "",
      certSerial: c.serialNumber.toUpperCase(),
      certIssuerSerial: "",
      certSKI: "",
      certIssuerSKI: "",
      certFingerprintSHA1: "",
      certFingerprintSHA256: client.fingerprint,
      certNotBefore: opensslTime(c.notBefore),
      certNotAfter: opensslTime(c.notAfter),
      ...overrides,
    },
  };
}
