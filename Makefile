# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all deps build demo demo-down test bench

all: build

# Debian packages the tools, tests and benchmarks use (installed when run as root).
deps:
	@scripts/install-deps

build:
	$(CARGO) build --release --workspace

# Six local instances like the how-to's, a cluster with replicas 1, its health report.
demo: deps build
	scripts/demo up

demo-down:
	scripts/demo down

# Formatting, lints and every test (unit and end to end).
test: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace

# Our tools against the reference tools, side by side; prints medians and ratios.
bench: deps build
	@set -e; for b in scripts/bench/*; do [[ -x $$b ]] && { echo "== $$b"; $$b; }; done
