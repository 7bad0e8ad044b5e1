#!/usr/bin/env bash
# Builds the PKCE helper into an ES-module package in www/pkg/ (called by `make www`).
#
#   cargo (wasm32, opt-level z, LTO) → wasm-bindgen --target web → wasm-opt -Oz → package.json
#
# Tools: WASM_BINDGEN_BIN (default: wasm-bindgen on PATH or in ~/.cargo/bin) must be exactly the
# crate's wasm-bindgen version; WASM_OPT_BIN defaults to npm binaryen's node_modules/.bin/wasm-opt.
# Nothing is downloaded here.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

want_bindgen="0.2.130"
out="www/pkg"
name="portcullis_pkce"

bindgen="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen || echo "$HOME/.cargo/bin/wasm-bindgen")}"
if [[ ! -x "$bindgen" ]]; then
  echo "build.sh: wasm-bindgen not found; run: cargo install --locked --version $want_bindgen wasm-bindgen-cli" >&2
  exit 1
fi
have_bindgen="$("$bindgen" --version | awk '{print $2}')"
if [[ "$have_bindgen" != "$want_bindgen" ]]; then
  echo "build.sh: $bindgen is $have_bindgen, the crate needs exactly $want_bindgen" >&2
  echo "          run: cargo install --locked --version $want_bindgen wasm-bindgen-cli" >&2
  exit 1
fi
wasm_opt="${WASM_OPT_BIN:-$root/node_modules/.bin/wasm-opt}"
if [[ ! -x "$wasm_opt" ]]; then
  echo "build.sh: wasm-opt not found at $wasm_opt; run: npm ci (it comes from the binaryen package)" >&2
  exit 1
fi
esbuild="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"
if [[ ! -x "$esbuild" ]]; then
  echo "build.sh: esbuild not found at $esbuild; run: npm ci" >&2
  exit 1
fi

# Size settings are pinned here rather than inherited, so a change to the workspace's release
# profile cannot silently grow the package: opt-level z, and no `strip` (wasm-bindgen reads the
# target_features section to emit reference-type glue; wasm-opt strips names afterwards).
cargo build -p portcullis-pkce --features small-wasm --release --target wasm32-unknown-unknown \
  --config 'profile.release.opt-level="z"' \
  --config 'profile.release.package.portcullis-pkce.opt-level="z"' \
  --config 'profile.release.lto=true' \
  --config 'profile.release.codegen-units=1' \
  --config 'profile.release.panic="abort"' \
  --config 'profile.release.strip=false'

rm -rf "$out"
"$bindgen" --target web --out-dir "$out" --out-name "$name" \
  "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/$name.wasm"

# rustc's wasm32 baseline enables these features; wasm-opt must know them to accept the module.
"$wasm_opt" -Oz --converge --low-memory-unused --strip-debug --strip-producers --strip-target-features \
  --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
  -o "$out/${name}_bg.wasm" "$out/${name}_bg.wasm"

# Minify the JS glue (its doc comments live on in the .d.ts). The @ts-self-types banner lets
# Deno and TypeScript's "bundler" resolution find the types without package.json.
"$esbuild" "$out/$name.js" --minify --format=esm --target=es2020 --legal-comments=none \
  --banner:js="/* @ts-self-types=\"./$name.d.ts\" */" --log-level=warning --outfile="$out/$name.min.js"
mv "$out/$name.min.js" "$out/$name.js"

version="$(sed -n 's/^version = "\(.*\)"/\1/p' www/Cargo.toml | head -n1)"
cat > "$out/package.json" <<JSON
{
  "name": "@portcullis/pkce",
  "version": "$version",
  "description": "OAuth 2.0 authorization code flow with PKCE (S256), state, nonce and RFC 9207 iss checks for single-page apps, in a few KB of wasm",
  "license": "Apache-2.0",
  "type": "module",
  "main": "./$name.js",
  "module": "./$name.js",
  "types": "./$name.d.ts",
  "exports": {
    ".": {
      "types": "./$name.d.ts",
      "default": "./$name.js"
    },
    "./${name}_bg.wasm": "./${name}_bg.wasm",
    "./package.json": "./package.json"
  },
  "files": [
    "$name.js",
    "$name.d.ts",
    "${name}_bg.wasm",
    "${name}_bg.wasm.d.ts"
  ],
  "sideEffects": false
}
JSON
rm -f "$out/.gitignore"

gz() { gzip -9 -c "$1" | wc -c | tr -d ' '; }
wasm_raw=$(wc -c < "$out/${name}_bg.wasm" | tr -d ' ')
glue_raw=$(wc -c < "$out/$name.js" | tr -d ' ')
wasm_gz=$(gz "$out/${name}_bg.wasm")
glue_gz=$(gz "$out/$name.js")
echo "www/pkg: ${name}_bg.wasm ${wasm_raw} B (${wasm_gz} B gzip -9), $name.js ${glue_raw} B (${glue_gz} B gzip -9), total $((wasm_gz + glue_gz)) B gzip"
