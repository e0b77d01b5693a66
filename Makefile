# mcpguard: the two commands a newcomer needs are `make demo` and `make test`.
# Everything the targets need beyond Rust, Python 3 and Node is installed by
# the targets themselves.

CARGO ?= cargo
export MCPGUARD_CONFORMANCE_DIR ?= $(CURDIR)/conformance

.PHONY: all demo test bench rust-test lint fmt clean

all: test

## demo: run the examples on the shipped sample configuration
demo:
	$(CARGO) run --quiet --release -p mcpguard --example quickstart

## test: build every surface and run every test suite
test: lint rust-test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

rust-test:
	$(CARGO) test --workspace
	$(CARGO) run --quiet -p mcpguard --example quickstart | diff -u examples/quickstart.expected -

## bench: criterion benches and peer comparisons
bench:
	$(CARGO) bench -p mcpguard-benches

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
