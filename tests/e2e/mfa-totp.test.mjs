// End-to-end: TOTP (RFC 6238) at the edge, in workerd — two gateway isolates in front of the same
// `MfaSubject` Durable Objects, the gateway's own tokens minted by the worker's code
// (`mintWithKeySet`, as in signing.test.mjs), and codes from an independent generator (npm
// `otplib`). Enrollment and confirmation, step-up to a `mfa = "required"` route, a code accepted
// once even across isolates, the lockout, recovery codes, disable, the admin reset, and the
// RFC 9470 challenges of `max_age` and `acr_values` on the gateway's own tokens.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { generate } from "otplib";
import { startEchoOrigin, problemOf } from "./harness.mjs";
import { startIsolates } from "../support/isolates.mjs";
import { signingKeys } from "../support/sessions.mjs";

const GW_ISS = "https://gw.portcullis.test";
const AUD = "https://api.portcullis.test";
const MFA_ACR = "urn:portcullis:acr:mfa";
const PERIOD = 30;

const SESSIONS = { enabled: true, issuer: GW_ISS, audiences: [AUD] };

const now = () => Math.floor(Date.now() / 1000);

/** otplib's code for `secret` (base32) at `epoch` seconds. */
const codeAt = (secret, epoch) => generate({ secret, epoch, algorithm: "sha1", digits: 6, period: PERIOD });

/** Waits until at least `margin` seconds are left in the current time step, so codes computed for
 * "this step ± 1" stay the steps the gateway reads a moment later. */
async function freshStep(margin = 6) {
  const left = PERIOD - (Date.now() / 1000) % PERIOD;
  if (left < margin) await new Promise((r) => setTimeout(r, (left + 0.2) * 1000));
}

describe("TOTP at the edge", () => {
  let origin, iso, a, b, worker, secret;
  const logs = () => iso.logs;

  /** A token of the gateway's own issuer for `sub` (password login: amr pwd). */
  const token = (sub, claims = {}) =>
    worker.mintWithKeySet(
      secret,
      JSON.stringify(SESSIONS),
      JSON.stringify({ sub, sid: `sid-${sub}`, scope: "read:echo", amr: ["pwd"], auth_time: now() - 600, ...claims }),
    );

  const post = (gw, path, bearer, body) =>
    gw.fetch(path, {
      method: "POST",
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  /** Enrolls `sub` and confirms with the code of step now−1; returns { secret, recovery, bearer }. */
  async function enrolled(sub) {
    const bearer = await token(sub);
    const res = await post(a, "/auth/mfa/totp/enroll", bearer);
    assert.equal(res.status, 200, await res.clone().text());
    const body = await res.json();
    await freshStep();
    const confirm = await post(b, "/auth/mfa/totp/confirm", bearer, { code: await codeAt(body.secret, now() - PERIOD) });
    assert.equal(confirm.status, 200, await confirm.clone().text());
    const { recovery_codes: recovery } = await confirm.json();
    return { secret: body.secret, recovery, bearer };
  }

  before(async () => {
    origin = await startEchoOrigin();
    secret = signingKeys("k1");
    const config = {
      origin: origin.url,
      realm: "test",
      transport: { https: "allow" },
      sessions: SESSIONS,
      mfa: { enabled: true, totp_issuer: "Portcullis Demo", max_failures: 3, lockout_seconds: 60 },
      admin: { enabled: true, credentials: ["jwt"] },
      routes: [
        { name: "transfer", methods: ["POST"], path: "/api/transfer", auth: ["jwt"], mfa: "required" },
        { name: "recent", methods: ["GET"], path: "/api/recent", auth: ["jwt"], acr_values: [MFA_ACR], max_age: 60 },
        { name: "read", methods: ["GET"], path: "/api/*", auth: ["jwt"] },
      ],
    };
    iso = await startIsolates(config, {
      count: 2,
      extraBindings: { PORTCULLIS_SIGNING_KEYS: secret, PORTCULLIS_MFA_KEY: randomBytes(32).toString("base64url") },
    });
    [a, b] = iso.isolates;
    worker = await iso.mf.getWorker("a");
  });
  after(async () => {
    await iso.dispose();
    await origin.close();
  });

  test("enrollment shows the secret, the otpauth URI and an SVG QR code once; the first code confirms it", async () => {
    const bearer = await token("ana@example.com");
    // Nothing enrolled: no code can be checked.
    const early = await problemOf(await post(a, "/auth/mfa/totp/verify", bearer, { code: "123456" }));
    assert.equal(early.status, 409);
    assert.equal(early.code, "mfa_not_enrolled");

    const res = await post(a, "/auth/mfa/totp/enroll", bearer);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(res.headers.get("pragma"), "no-cache");
    const body = await res.json();
    assert.match(body.secret, /^[A-Z2-7]{32}$/, "160 bits in base32");
    assert.equal(
      body.otpauth_uri,
      `otpauth://totp/Portcullis%20Demo:ana%40example.com?secret=${body.secret}&issuer=Portcullis%20Demo&algorithm=SHA1&digits=6&period=30`,
    );
    assert.deepEqual([body.algorithm, body.digits, body.period], ["SHA1", 6, 30]);
    assert.match(body.qr_svg, /^<\?xml[^]*<svg[^]*<\/svg>$/);

    // Pending: not usable for step-up yet.
    const pending = await problemOf(await post(a, "/auth/mfa/totp/verify", bearer, { code: await codeAt(body.secret, now()) }));
    assert.equal(pending.code, "mfa_not_enrolled");
    const wrong = await problemOf(await post(b, "/auth/mfa/totp/confirm", bearer, { code: "000000" === (await codeAt(body.secret, now())) ? "111111" : "000000" }));
    assert.equal(wrong.status, 400);
    assert.equal(wrong.code, "mfa_code_invalid");

    await freshStep();
    const confirm = await post(b, "/auth/mfa/totp/confirm", bearer, { code: await codeAt(body.secret, now()) });
    assert.equal(confirm.status, 200, await confirm.clone().text());
    const confirmed = await confirm.json();
    assert.equal(confirmed.enrolled, true);
    assert.equal(confirmed.recovery_codes.length, 10);
    for (const c of confirmed.recovery_codes) assert.match(c, /^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);

    const again = await problemOf(await post(a, "/auth/mfa/totp/enroll", bearer));
    assert.equal(again.status, 409);
    assert.equal(again.code, "mfa_already_enrolled");
    // Nothing secret in the logs.
    const all = logs().join("\n");
    assert.ok(!all.includes(body.secret), "the secret is never logged");
    assert.ok(!all.includes(confirmed.recovery_codes[0]), "a recovery code is never logged");
    assert.ok(all.includes('"audit":"mfa.totp.enrolled"'));
  });

  test("step-up: a code mints a token in the same session with otp, acr and auth_time; the mfa route then passes", async () => {
    const { secret: totp, bearer } = await enrolled("bea");
    const refused = await post(a, "/api/transfer", bearer);
    const p = await problemOf(refused);
    assert.equal(p.status, 401);
    assert.equal(p.code, "mfa_required");
    assert.equal(
      refused.headers.get("www-authenticate"),
      `Bearer realm="test", error="insufficient_user_authentication", error_description="this route requires a second factor: the token's amr names none", acr_values="${MFA_ACR}"`,
    );

    const before = now();
    const res = await post(a, "/auth/mfa/totp/verify", bearer, { code: await codeAt(totp, now()) });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(res.headers.get("pragma"), "no-cache");
    const body = await res.json();
    assert.deepEqual(Object.keys(body).sort(), ["access_token", "expires_in", "scope", "token_type"]);
    assert.equal(body.token_type, "Bearer");
    assert.equal(body.scope, "read:echo");
    assert.equal(body.expires_in, 900);
    const claims = JSON.parse(Buffer.from(body.access_token.split(".")[1], "base64url"));
    assert.equal(claims.sid, "sid-bea");
    assert.equal(claims.sub, "bea");
    assert.deepEqual(claims.amr, ["pwd", "otp"]);
    assert.equal(claims.acr, MFA_ACR);
    assert.ok(claims.auth_time >= before && claims.auth_time <= now(), `auth_time ${claims.auth_time}`);

    const passed = await post(b, "/api/transfer", body.access_token);
    assert.equal(passed.status, 200, await passed.clone().text());
    const echo = await passed.json();
    assert.equal(echo.url, "/api/transfer");
    assert.equal(echo.headers["x-user-id"], "bea");
  });

  test("a code is accepted once, even when two isolates get it at the same moment", async () => {
    const { secret: totp, bearer } = await enrolled("cid");
    const code = await codeAt(totp, now());
    // Two at once (each attempt counts until it succeeds; max_failures is 3 here).
    const answers = await Promise.all([a, b].map((gw) => post(gw, "/auth/mfa/totp/verify", bearer, { code })));
    const statuses = answers.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 400]);
    for (const r of answers.filter((r) => r.status === 400)) {
      assert.equal((await problemOf(r)).code, "mfa_code_reused");
    }
    // And later, on either isolate.
    const replay = await problemOf(await post(b, "/auth/mfa/totp/verify", bearer, { code }));
    assert.equal(replay.code, "mfa_code_reused");
  });

  test("failed attempts lock the subject: 429 with Retry-After, whatever the isolate, then it opens again", async () => {
    const { secret: totp, bearer } = await enrolled("dan");
    const right = await codeAt(totp, now());
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, "0");
    for (const gw of [a, b, a]) {
      const p = await problemOf(await post(gw, "/auth/mfa/totp/verify", bearer, { code: wrong }));
      assert.equal(p.status, 400);
      assert.equal(p.code, "mfa_code_invalid");
    }
    const res = await post(b, "/auth/mfa/totp/verify", bearer, { code: right });
    const p = await problemOf(res);
    assert.equal(p.status, 429);
    assert.equal(p.code, "mfa_locked");
    const retry = Number(res.headers.get("retry-after"));
    assert.ok(retry >= 55 && retry <= 60, `Retry-After ${retry}`);
    assert.equal(p.body.retry_after, retry);
    const recovery = await problemOf(await post(a, "/auth/mfa/totp/verify", bearer, { recovery_code: "abcd-efgh-ijkl-mnop" }));
    assert.equal(recovery.code, "mfa_locked", "recovery codes share the lockout");
  });

  test("a recovery code steps up once", async () => {
    const { recovery, bearer } = await enrolled("eve");
    const res = await post(a, "/auth/mfa/totp/verify", bearer, { recovery_code: recovery[4].toUpperCase() });
    assert.equal(res.status, 200, await res.clone().text());
    const claims = JSON.parse(Buffer.from((await res.json()).access_token.split(".")[1], "base64url"));
    assert.deepEqual(claims.amr, ["pwd", "otp"]);
    const again = await problemOf(await post(b, "/auth/mfa/totp/verify", bearer, { recovery_code: recovery[4] }));
    assert.equal(again.status, 400);
    assert.equal(again.code, "mfa_code_invalid");
    assert.ok(logs().some((l) => l.includes('"audit":"mfa.recovery_code.used"') && l.includes('"actor":"eve"') && l.includes('"recovery_codes_left":9')));
  });

  test("disable needs a factor; the user can enroll again", async () => {
    const { secret: totp, bearer } = await enrolled("fay");
    const none = await problemOf(await post(a, "/auth/mfa/totp/disable", bearer, {}));
    assert.equal(none.status, 400);
    assert.equal(none.code, "request_invalid");
    const res = await post(a, "/auth/mfa/totp/disable", bearer, { code: await codeAt(totp, now()) });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { disabled: true });
    assert.ok(logs().some((l) => l.includes('"audit":"mfa.totp.disabled"') && l.includes('"actor":"fay"')));
    assert.equal((await post(b, "/auth/mfa/totp/enroll", bearer)).status, 200);
  });

  test("the admin API shows and resets a subject's TOTP, audited", async () => {
    const { secret: totp, bearer } = await enrolled("gus");
    const admin = await token("ops", { scope: "portcullis:admin" });
    const auth = { authorization: `Bearer ${admin}` };
    const status = await a.fetch("/admin/mfa/totp/gus", { headers: auth });
    assert.equal(status.status, 200);
    assert.deepEqual(await status.json(), {
      subject: "gus",
      totp: { enrolled: true, pending: false, recovery_codes_left: 10, locked_until: null },
    });
    const reset = await b.fetch("/admin/mfa/totp/gus", { method: "DELETE", headers: auth });
    assert.equal(reset.status, 200);
    assert.deepEqual(await reset.json(), { subject: "gus", totp: { reset: true, had_enrollment: true } });
    const audit = logs().map((l) => { try { return JSON.parse(l); } catch { return null; } })
      .filter((l) => l?.audit === "mfa.totp.reset");
    assert.equal(audit.length, 1);
    assert.equal(audit[0].subject, "gus");
    assert.equal(audit[0].actor, "ops");
    assert.equal(audit[0].status, 200);
    const gone = await problemOf(await post(a, "/auth/mfa/totp/verify", bearer, { code: await codeAt(totp, now()) }));
    assert.equal(gone.code, "mfa_not_enrolled");
    // Without the admin scope: refused.
    const user = await problemOf(await a.fetch("/admin/mfa/totp/gus", { method: "DELETE", headers: { authorization: `Bearer ${bearer}` } }));
    assert.equal(user.status, 403);
    assert.equal(user.code, "insufficient_scope");
  });

  test("max_age and acr_values on the gateway's own tokens: challenged exactly, then passed after step-up", async () => {
    const { secret: totp, bearer } = await enrolled("hal");
    const res = await a.fetch("/api/recent", { headers: { authorization: `Bearer ${bearer}` } });
    const p = await problemOf(res);
    assert.equal(p.status, 401);
    assert.equal(p.code, "mfa_required");
    assert.equal(
      res.headers.get("www-authenticate"),
      `Bearer realm="test", error="insufficient_user_authentication", error_description="this route requires an authentication context class (acr): the token has none", acr_values="${MFA_ACR}"`,
    );
    // The right class but an old authentication: max_age is the reason and is named.
    const old = await token("hal", { acr: MFA_ACR, auth_time: now() - 120 });
    const aged = await a.fetch("/api/recent", { headers: { authorization: `Bearer ${old}` } });
    const q = await problemOf(aged);
    assert.equal(q.code, "mfa_required");
    assert.match(
      aged.headers.get("www-authenticate"),
      new RegExp(`^Bearer realm="test", error="insufficient_user_authentication", error_description="this route requires an authentication within 60 s: the user authenticated 12[01] s ago", acr_values="${MFA_ACR}", max_age="60"$`),
    );
    assert.equal(q.body.max_age, 60);

    const stepped = await post(b, "/auth/mfa/totp/verify", bearer, { code: await codeAt(totp, now()) });
    assert.equal(stepped.status, 200);
    const fresh = (await stepped.json()).access_token;
    assert.equal((await a.fetch("/api/recent", { headers: { authorization: `Bearer ${fresh}` } })).status, 200);
  });

  test("the endpoints take only the gateway's own live tokens", async () => {
    const missing = await a.fetch("/auth/mfa/totp/enroll", { method: "POST" });
    const p = await problemOf(missing);
    assert.equal(p.status, 401);
    assert.equal(p.code, "token_missing");
    assert.equal(missing.headers.get("www-authenticate"), 'Bearer realm="test"');
    const expired = await token("ivy", { auth_time: now() - 10 });
    const forged = expired.slice(0, -4) + (expired.endsWith("AAAA") ? "BBBB" : "AAAA");
    const bad = await problemOf(await post(a, "/auth/mfa/totp/enroll", forged));
    assert.equal(bad.status, 401);
    assert.equal(bad.code, "token_signature_invalid");
    const method = await a.fetch("/auth/mfa/totp/enroll", { headers: { authorization: `Bearer ${expired}` } });
    assert.equal(method.status, 405);
    assert.equal(method.headers.get("allow"), "POST");
  });
});
