# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)
# The cargo profile `make build` (and so install and deb) builds: release, or dev for a quick
# debug build.
PROFILE ?= release
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
# Where `make build` puts the tools; the scripts take it from BIN.
export BIN ?= $(TARGET_DIR)/$(if $(filter dev,$(PROFILE)),debug,$(PROFILE))

# make install: PREFIX=/usr/local by default; DESTDIR stages the tree elsewhere (packages).
PREFIX ?= /usr/local
DESTDIR ?=
bindir := $(PREFIX)/bin
libexecdir := $(PREFIX)/libexec/redis-carp-tools
datadir := $(PREFIX)/share/redis-carp-tools
unitdir := $(PREFIX)/lib/systemd/system
TOOLS := redis-slotcheck redis-cluster-create pfgen carpctl
SCRIPTS := cluster-health carp-promote-replicas site-check
UNITS := carpctl@.service redis-cluster-health.service redis-cluster-health.timer
# Man pages and completions, generated from the clap definitions by docgen.
DOCS := $(TARGET_DIR)/docgen
# Where make deb stages the install and writes the package.
DEB_STAGE := $(TARGET_DIR)/deb
DEB_OUT := $(CURDIR)
PLACEHOLDERS := -e 's|@BINDIR@|$(bindir)|g' -e 's|@LIBEXECDIR@|$(libexecdir)|g'

.PHONY: all deps build docs install uninstall deb dist demo demo-down test check-freebsd bench \
	site-check freebsd-stage test-servers

all: build

# Debian packages the tools, tests and benchmarks use (installed when run as root).
deps:
	@scripts/install-deps

build:
	$(CARGO) build --profile $(PROFILE) --workspace

docs: build
	rm -rf $(DOCS)
	$(BIN)/docgen $(DOCS)

# The tools, their man pages and completions, the operator scripts (they find the tools on
# PATH), the systemd units, the settings file they read (as an example to copy to
# /etc/default/redis-carp-tools) and the Prometheus alert rules.
install: docs
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(libexecdir)/freebsd $(DESTDIR)$(unitdir) \
	    $(DESTDIR)$(datadir)/prometheus
	install -m 755 $(addprefix $(BIN)/,$(TOOLS)) $(DESTDIR)$(bindir)
	install -m 755 $(addprefix scripts/,$(SCRIPTS)) $(DESTDIR)$(libexecdir)
	install -m 755 scripts/freebsd/stage $(DESTDIR)$(libexecdir)/freebsd/stage
	cd $(DOCS) && find share -type f | while read -r file; do \
	    install -D -m 644 "$$file" "$(DESTDIR)$(PREFIX)/$$file" || exit 1; done
	for unit in $(UNITS); do \
	    sed $(PLACEHOLDERS) packaging/systemd/$$unit > $(DESTDIR)$(unitdir)/$$unit || exit 1; \
	    chmod 644 $(DESTDIR)$(unitdir)/$$unit; done
	sed $(PLACEHOLDERS) packaging/systemd/redis-carp-tools.default \
	    > $(DESTDIR)$(datadir)/redis-carp-tools.default
	install -m 644 packaging/prometheus/redis-cluster-rules.yml \
	    packaging/prometheus/carpctl-rules.yml $(DESTDIR)$(datadir)/prometheus

# Removes what install put under the same PREFIX and DESTDIR.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(bindir)/,$(TOOLS)) $(addprefix $(DESTDIR)$(unitdir)/,$(UNITS))
	rm -rf $(DESTDIR)$(libexecdir) $(DESTDIR)$(datadir)
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/{redis-slotcheck,redis-cluster-create,pfgen}*.1 \
	    $(DESTDIR)$(PREFIX)/share/man/man8/carpctl*.8
	for tool in $(TOOLS); do rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$tool \
	    $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_$$tool \
	    $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/$$tool.fish; done

# A Debian package of the install under /usr, built with dpkg-deb from a staged tree;
# written to DEB_OUT (the top directory) as redis-carp-tools_VERSION_ARCH.deb. It holds the
# build of PROFILE: `make deb PROFILE=dev` is quicker, with the same files.
deb:
	rm -rf $(DEB_STAGE)
	$(MAKE) --no-print-directory install PREFIX=/usr DESTDIR=$(DEB_STAGE)
	packaging/debian/build-deb $(DEB_STAGE) $(DEB_OUT)

# The source tarball a FreeBSD port (packaging/freebsd) builds from.
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
dist:
	git archive --prefix=redis-carp-tools-$(VERSION)/ -o redis-carp-tools-$(VERSION).tar.gz HEAD

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

# Formatting, lints, every test (unit and end to end), the server matrix (the Redis tools'
# end-to-end tests again on Redis 6.2 and Valkey 9.1) and the FreeBSD build of carpctl. Tests
# that need root (network namespaces, nftables) are #[ignore]d: as root they run too
# (--include-ignored); otherwise cargo reports them as ignored. Tests named valkey_* need Valkey
# and run in the server matrix only.
test: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace$(if $(IS_ROOT), -- --include-ignored --skip valkey_)
	scripts/test-servers
	@$(MAKE) --no-print-directory check-freebsd

# Only the server matrix (scripts/test-servers fetches the servers into .servers/).
test-servers:
	scripts/test-servers

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
	scripts/bench/converge
	scripts/bench/converge --matrix --rounds 1
	scripts/bench/planner
	scripts/bench/lab-failover

# Deploy-style targets over a site description.
site-check: build
	@test -n "$(SITE)" || { echo "usage: make site-check SITE=site.json" >&2; exit 2; }
	scripts/site-check $(SITE)

freebsd-stage: build
	@test -n "$(SITE)" -a -n "$(HOST)" -a -n "$(DESTDIR)" \
	    || { echo "usage: make freebsd-stage SITE=site.json HOST=redis1 DESTDIR=/tmp/stage" >&2; exit 2; }
	DESTDIR=$(DESTDIR) scripts/freebsd/stage --site $(SITE) --host $(HOST)
