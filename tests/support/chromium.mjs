// Headless Chromium for the browser tests: Debian's `chromium` (make test installs it; no browser
// download works here), driven by playwright-core. Importing this module fails when it is missing,
// so a browser test never skips silently.

import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (make test does it)`);

/** A headless browser with nothing running in the background (no sync, updates or QUIC). */
export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
