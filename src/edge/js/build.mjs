// Builds the worker's JavaScript entry (`make build`, after cargo and wasm-bindgen): optimizes the
// wasm with binaryen's wasm-opt (the feature set worker-build used), then bundles the hand-written
// entry module (entry.mjs) with wasm-bindgen's glue into build/index.js beside build/index_bg.wasm.
//
//   node src/edge/js/build.mjs <wasm-bindgen out dir> <build dir>
//
// Every class the wasm exports (each Durable Object, however many the crate defines) is exported
// from the entry through `durableObjectClass`, so adding a Durable Object needs no change here.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const [bindgenDir, outDir] = process.argv.slice(2).map((p) => path.resolve(p));
if (!bindgenDir || !outDir) throw new Error("usage: build.mjs <wasm-bindgen out dir> <build dir>");

const glue = path.join(bindgenDir, "index.js");
// The runtime takes a plain import of a compiled wasm module, not the source-phase import
// wasm-bindgen writes (worker-build made the same edit).
writeFileSync(glue, readFileSync(glue, "utf8").replace("import source ", "import "));
const classes = [...readFileSync(glue, "utf8").matchAll(/^export class (\w+)/gm)].map((m) => m[1]);

mkdirSync(outDir, { recursive: true });
const wasmOpt = process.env.WASM_OPT_BIN || path.resolve(HERE, "../../../node_modules/.bin/wasm-opt");
// `-Os` without wasm-opt's one-caller inlining: its default (`-O`) inlines every function that has
// one caller however big, folding the request path's async state machines into a few giant
// functions (one of 321 KB) whose thousands of locals defeat gzip — 62 KB gzip larger — and which
// V8 compiles whole on their first call (bench/size-notes.md has the measurements).
const WASM_OPT_PASSES = ["-Os", "--one-caller-inline-max-function-size", "0"];
const features = ["mutable-globals", "sign-ext", "nontrapping-float-to-int", "bulk-memory", "multivalue", "reference-types", "exception-handling"];
execFileSync(wasmOpt, [path.join(bindgenDir, "index_bg.wasm"), "-o", path.join(outDir, "index_bg.wasm"), ...WASM_OPT_PASSES, "--debuginfo", ...features.map((f) => `--enable-${f}`)], { stdio: "inherit" });

// The entry goes next to the glue, and esbuild runs there, so that the glue's `./index_bg.wasm`
// import stays external and keeps its path: build/index.js and build/index_bg.wasm are siblings.
const entry = path.join(bindgenDir, "entry.mjs");
writeFileSync(
  entry,
  readFileSync(path.join(HERE, "entry.mjs"), "utf8").replaceAll("./bindgen/index.js", "./index.js") +
    `\nimport * as classes from "./index.js";\n` +
    classes.map((c) => `export const ${c} = durableObjectClass(classes.${c});\n`).join(""),
);
await build({
  absWorkingDir: bindgenDir,
  entryPoints: ["./entry.mjs"],
  bundle: true,
  format: "esm",
  minify: true,
  outfile: path.join(outDir, "index.js"),
  external: ["./index_bg.wasm", "cloudflare:*"],
  logLevel: "warning",
});
rmSync(path.join(outDir, "worker"), { recursive: true, force: true });
console.log(`build/index.js: entry + ${classes.length} exported classes (${classes.join(", ")})`);
