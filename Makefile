# Portcullis — every entry point. `make dev` and `make test` work on a fresh machine: they install
# what is missing (pinned), build, and run. See README.md.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# wasm-bindgen-cli must be exactly the wasm-bindgen version in Cargo.lock.
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/{getline; gsub(/[^0-9.]/,""); print; exit}' Cargo.lock)
CARGO_BIN := $(HOME)/.cargo/bin
TOOLS_DIR := $(CURDIR)/target/tools
WASM_BINDGEN_BIN := $(TOOLS_DIR)/wasm-bindgen-$(WASM_BINDGEN_VERSION)/bin/wasm-bindgen
export WASM_BINDGEN_BIN
export WASM_OPT_BIN := $(CURDIR)/node_modules/.bin/wasm-opt
export CLOUDFLARE_CF_FETCH_ENABLED := false
export WRANGLER_SEND_METRICS := false

.PHONY: help tools tool-rust tool-wasm-bindgen tool-node tool-chromium build www dev token test test-native test-e2e bench soak clean

help:
	@echo "make dev    — install what is missing, build, start the demo issuer + echo origin + gateway"
	@echo "make test   — install what is missing, build, run every test (native + workerd + browser)"
	@echo "make bench  — benchmarks; results in bench/results/"
	@echo "make soak   — 10-minute mixed-traffic soak in workerd (SOAK_SECONDS=…); results in bench/results/"
	@echo "make token  — mint a demo access token (after make dev has started the demo issuer)"

# ---------------------------------------------------------------- tools (idempotent, pinned)
tools: tool-rust tool-wasm-bindgen tool-node

tool-rust:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

# wasm-bindgen-cli 0.2.130's own lock file pins a yanked webpki-roots, so `--locked` cannot resolve;
# the version itself is pinned exactly. Installed under target/tools so it never clashes with another
# project's wasm-bindgen.
tool-wasm-bindgen:
	@if ! [ -x "$(WASM_BINDGEN_BIN)" ]; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION)"; \
	  cargo install --version $(WASM_BINDGEN_VERSION) --root "$(TOOLS_DIR)/wasm-bindgen-$(WASM_BINDGEN_VERSION)" wasm-bindgen-cli; \
	fi

tool-node: node_modules/.package-lock.json

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

tool-chromium:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); }

# ---------------------------------------------------------------- build
# The worker: cargo → wasm-bindgen (module target, with the glue's reset-after-trap) → wasm-opt and
# the hand-written entry module bundled with the glue (src/edge/js/build.mjs). build/index.js and
# build/index_bg.wasm are what wrangler deploys and what the tests and benchmarks run.
BINDGEN_OUT := $(CURDIR)/target/portcullis-bindgen
build: tool-rust tool-wasm-bindgen tool-node
	cargo build --lib --release --target wasm32-unknown-unknown -p portcullis
	rm -rf "$(BINDGEN_OUT)"
	"$(WASM_BINDGEN_BIN)" target/wasm32-unknown-unknown/release/portcullis.wasm --out-dir "$(BINDGEN_OUT)" \
	  --target module --out-name index --no-typescript \
	  --experimental-reset-state-function --force-enable-abort-handler
	node src/edge/js/build.mjs "$(BINDGEN_OUT)" build
	@ls -l build/index_bg.wasm | awk '{print "wasm: " $$5 " bytes"}'; gzip -9 -c build/index_bg.wasm | wc -c | awk '{print "wasm gzip: " $$1 " bytes"}'

www: tool-rust tool-wasm-bindgen tool-node
	bash www/build.sh

# ---------------------------------------------------------------- run
dev: tools
	@if [ -f www/build.sh ]; then $(MAKE) -s www; fi
	node demo/dev.mjs

token: tool-node
	@node demo/mint.mjs $(ARGS)

# ---------------------------------------------------------------- test
test: tools tool-chromium build
	@if [ -f www/build.sh ]; then $(MAKE) -s www; fi
	$(MAKE) -s test-native
	$(MAKE) -s test-e2e

test-native:
	cargo test --workspace --all-targets

test-e2e:
	node --test --test-concurrency=1 tests/e2e/

# ---------------------------------------------------------------- bench
bench: tools build
	cargo bench -p portcullis --bench verify -- --warm-up-time 1 --measurement-time 3
	cargo build -q -p portcullis-cli
	node bench/run.mjs
	node bench/limits.mjs
	node bench/scale.mjs
	node bench/dpop.mjs
	node bench/sessions.mjs

# Not part of `make test`: mixed traffic at a steady rate for SOAK_SECONDS (default 600) against the
# built wasm; fails on any 5xx, unexpected outcome or memory growth. See bench/README.md ("Soak").
soak: tools build
	cargo build -q -p portcullis-cli
	node bench/soak.mjs

clean:
	rm -rf build www/pkg target/wasm32-unknown-unknown
