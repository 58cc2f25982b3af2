# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)
# Where `make build` puts the tools; the scripts take it from BIN.
export BIN ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/release

.PHONY: all deps build demo demo-down test check-freebsd bench site-check freebsd-stage

all: build

# Debian packages the tools, tests and benchmarks use (installed when run as root).
deps:
	@scripts/install-deps

build:
	$(CARGO) build --release --workspace

# As root: the whole how-to in network namespaces (scripts/lab): three hosts, CARP, firewalls,
# the cluster. Otherwise: three loopback "hosts" with two instances each (scripts/demo).
demo: deps build
ifeq ($(IS_ROOT),yes)
	scripts/lab up
else
	@echo "demo: not root, so no network namespaces; running the loopback cluster instead" >&2
	scripts/demo up
endif

demo-down:
ifeq ($(IS_ROOT),yes)
	scripts/lab down
endif
	scripts/demo down

# Formatting, lints, every test (unit and end to end), and the FreeBSD build of carpctl. Tests
# that need root (network namespaces, nftables) are #[ignore]d: as root they run too
# (--include-ignored); otherwise cargo reports them as ignored.
test: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace$(if $(IS_ROOT), -- --include-ignored)
	@$(MAKE) --no-print-directory check-freebsd

# carpctl must keep building for FreeBSD; skipped where that target cannot be installed.
check-freebsd:
	@if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-freebsd \
	    || rustup target add x86_64-unknown-freebsd >/dev/null 2>&1; then \
	    $(CARGO) check --quiet --target x86_64-unknown-freebsd -p carpctl && echo "carpctl builds for FreeBSD"; \
	else \
	    echo "skipping the FreeBSD build check: the x86_64-unknown-freebsd target cannot be installed here"; \
	fi

# Our tools against the reference tools, side by side; prints medians and ratios.
bench: deps build
	scripts/bench/slotcheck
	scripts/bench/cluster-create
	scripts/bench/carp-failover

# Deploy-style targets over a site description.
site-check: build
	@test -n "$(SITE)" || { echo "usage: make site-check SITE=site.json" >&2; exit 2; }
	scripts/site-check $(SITE)

freebsd-stage: build
	@test -n "$(SITE)" -a -n "$(HOST)" -a -n "$(DESTDIR)" \
	    || { echo "usage: make freebsd-stage SITE=site.json HOST=redis1 DESTDIR=/tmp/stage" >&2; exit 2; }
	DESTDIR=$(DESTDIR) scripts/freebsd/stage --site $(SITE) --host $(HOST)
