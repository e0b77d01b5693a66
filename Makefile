# mcpguard: the two commands a newcomer needs are `make demo` and `make test`.
# Everything the targets need beyond Rust, Python 3 and Node is installed by
# the targets themselves (bindings/*/Makefile say what and how).

CARGO ?= cargo
export MCPGUARD_CONFORMANCE_DIR ?= $(CURDIR)/conformance

# Every binding has its own Makefile with test, demo and bench targets
# (static pattern rules: make skips implicit rules for .PHONY targets).
BINDINGS := c python node

.PHONY: all demo test bench lint redis-server-dep rust-test rust-demo rust-bench install fmt clean \
        $(addprefix test-,$(BINDINGS)) $(addprefix demo-,$(BINDINGS)) $(addprefix bench-,$(BINDINGS))

all: test

## demo: every quick start on the shipped sample configuration (same output each)
demo: rust-demo $(addprefix demo-,$(BINDINGS))

rust-demo:
	$(CARGO) run --quiet -p mcpguard --example quickstart

$(addprefix demo-,$(BINDINGS)): demo-%:
	$(MAKE) --no-print-directory -C bindings/$* demo

## test: lint, the Rust test suites, then every binding's suite
test: lint rust-test $(addprefix test-,$(BINDINGS))

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --quiet --no-deps -p mcpguard

# The Redis store's tests start their own redis-server (Debian package).
redis-server-dep:
	@command -v redis-server >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }

rust-test: redis-server-dep
	$(CARGO) test --workspace
	$(CARGO) run --quiet -p mcpguard --example quickstart | diff -u examples/quickstart.expected -

$(addprefix test-,$(BINDINGS)): test-%:
	$(MAKE) --no-print-directory -C bindings/$* test

## bench: criterion benches and peer comparisons, every surface
bench: rust-bench $(addprefix bench-,$(BINDINGS))

rust-bench: redis-server-dep
	$(CARGO) bench -p mcpguard-benches
	$(CARGO) bench -p mcpguard-redis

$(addprefix bench-,$(BINDINGS)): bench-%:
	$(MAKE) --no-print-directory -C bindings/$* bench

## install: the C library, header and pkg-config file (PREFIX=/usr/local)
install:
	$(MAKE) --no-print-directory -C bindings/c install

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
