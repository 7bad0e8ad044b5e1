// Rack::Sendfile's request headers (CVE-2025-61780, GHSA-r657-rxjc-j557), in workerd against a real
// echo origin on 127.0.0.1. Rack::Sendfile (Rack < 3.1.18 / 3.2.3, and every Rails app that keeps it
// in its default middleware) takes the front proxy's word, read from the *request*, for how to hand
// a file to it: `X-Sendfile-Type: X-Accel-Redirect` switches it to nginx's internal redirect, and
// `X-Accel-Mapping: /var/www/=/internal/` rewrites the file's path into an nginx location. A client
// that sets them behind the gateway makes the origin answer with an `X-Accel-Redirect` to a path of
// its choosing (an `internal` location the front proxy then serves). Only the front proxy may say
// this; the gateway is the front proxy, and says nothing, so no spelling of either header reaches
// the origin — `_` for `-` included (CGI/WSGI `HTTP_X_SENDFILE_TYPE`, Rack 2's env key).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { startGateway, startEchoOrigin, startIssuer, baseConfig } from "./harness.mjs";

let origin;
let issuer;
let gw;

before(async () => {
  origin = await startEchoOrigin();
  issuer = await startIssuer({ algs: ["RS256"] });
  gw = await startGateway(baseConfig({ origin: origin.url, issuer }));
});

after(async () => {
  await gw?.dispose();
  await origin?.close();
  await issuer?.close();
});

const SENDFILE_SPOOF = {
  "X-Sendfile-Type": "X-Accel-Redirect",
  "X-Accel-Mapping": "/var/www/=/internal/",
};

const SPELLINGS = [
  ["X-Sendfile-Type", "X-Accel-Mapping"],
  ["x-sendfile-type", "x-accel-mapping"],
  ["X_Sendfile_Type", "X_Accel_Mapping"],
  ["x-sendfile_type", "x_accel-mapping"],
  ["X.Sendfile.Type", "X.Accel.Mapping"],
];

function assertNoSendfileHeaders(seen, label) {
  for (const name of Object.keys(seen.headers)) {
    const folded = name.toLowerCase().replace(/[_.]/g, "-");
    assert.ok(folded !== "x-sendfile-type" && folded !== "x-accel-mapping", `${label}: ${name} reached the origin`);
  }
}

for (const [type, mapping] of SPELLINGS) {
  test(`${type} and ${mapping} never reach the origin, on a public or an authenticated route`, async () => {
    const headers = { [type]: SENDFILE_SPOOF["X-Sendfile-Type"], [mapping]: SENDFILE_SPOOF["X-Accel-Mapping"] };
    const pub = await gw.fetch("/health", { headers });
    assert.equal(pub.status, 200);
    assertNoSendfileHeaders(await pub.json(), `public ${type}`);

    const token = await issuer.mint();
    const authed = await gw.fetch("/api/files/report.pdf", { headers: { ...headers, authorization: `Bearer ${token}` } });
    assert.equal(authed.status, 200);
    const seen = await authed.json();
    assert.equal(seen.url, "/api/files/report.pdf");
    assert.equal(seen.headers["x-user-id"], "user-123");
    assertNoSendfileHeaders(seen, `authenticated ${type}`);
  });
}

test("the neighbours of those names still pass (only Rack::Sendfile's two request headers go)", async () => {
  const res = await gw.fetch("/health", { headers: { "x-sendfile": "keep", "x-accel-buffering": "no", "x-sendfile-types": "keep" } });
  assert.equal(res.status, 200);
  const seen = await res.json();
  assert.equal(seen.headers["x-sendfile"], "keep");
  assert.equal(seen.headers["x-accel-buffering"], "no");
  assert.equal(seen.headers["x-sendfile-types"], "keep");
});
