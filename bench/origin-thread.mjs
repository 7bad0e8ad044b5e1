// The benchmark's echo origin, on its own worker thread: the same `startEchoOrigin()` the tests
// use, but with an event loop of its own so it does not queue behind autocannon's in the runner.
import { parentPort } from "node:worker_threads";
import { startEchoOrigin } from "../tests/support/servers.mjs";

const origin = await startEchoOrigin();
// The echo origin records every request it sees; a benchmark sends hundreds of thousands.
setInterval(() => (origin.requests.length = 0), 500).unref();
parentPort.on("message", async (m) => {
  if (m === "close") {
    await origin.close();
    process.exit(0);
  }
});
parentPort.postMessage({ url: origin.url });
