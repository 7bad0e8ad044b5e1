// Review of the session client's fetch() (issue 14): the access token goes to the gateway only.
// An app that passes session.fetch a URL it did not build (a link from an API answer, user input)
// must not hand its bearer token to another origin. Node, scripted `fetch`, every call recorded.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../www/pkg");
if (!existsSync(path.join(PKG, "session.js"))) throw new Error("www/pkg is missing: run `make www` first");
const { createSession, isSessionError } = await import(path.join(PKG, "session.js"));

const GW = "http://127.0.0.1:1";
let n = 0;
function scripted() {
  const calls = [];
  const session = createSession({
    gateway: GW,
    prefix: `/auth-fetch${n++}`,
    fetch: async (input, init) => {
      const req = input instanceof Request ? input : new Request(input, init);
      calls.push({ url: req.url, authorization: req.headers.get("authorization") });
      return new Response(JSON.stringify({ access_token: "at-1", token_type: "Bearer", expires_in: 300 }), { status: 200 });
    },
  });
  return { session, calls };
}

for (const url of ["https://evil.example/steal", "http://127.0.0.1:2/api/x", "https://127.0.0.1:1/api/x"]) {
  test(`fetch(${url}) — another origin than the gateway's → foreign_origin, and no request carries the token`, async () => {
    const { session, calls } = scripted();
    await session.getAccessToken();
    let error;
    try {
      await session.fetch(url);
    } catch (e) {
      error = e;
    }
    assert.ok(isSessionError(error), `a SessionError, got ${error}`);
    assert.equal(error.code, "foreign_origin");
    assert.deepEqual(calls.map((c) => c.url), [`${GW}/auth-fetch${n - 1}/refresh`], "only the refresh was sent");
    session.close();
  });
}

test("fetch() to the gateway's origin attaches the token as before (a relative path resolves against the page, so an absolute URL here)", async () => {
  const { session, calls } = scripted();
  await session.fetch(`${GW}/api/orders?x=1`);
  assert.equal(calls.at(-1).url, `${GW}/api/orders?x=1`);
  assert.equal(calls.at(-1).authorization, "Bearer at-1");
  session.close();
});
