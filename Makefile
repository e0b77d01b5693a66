# mcpguard: the two commands a newcomer needs are `make demo` and `make test`.
# Everything the targets need beyond Rust, Python 3 and Node is installed by
# the targets themselves (bindings/*/Makefile say what and how).

CARGO ?= cargo
export MCPGUARD_CONFORMANCE_DIR ?= $(CURDIR)/conformance
# A test run builds each crate once: incremental state would only add
# gigabytes of disk to a fresh CI machine (set CARGO_INCREMENTAL=1 to keep it).
export CARGO_INCREMENTAL ?= 0

# Every binding has its own Makefile with test, demo and bench targets
# (static pattern rules: make skips implicit rules for .PHONY targets).
BINDINGS := c python node

.PHONY: all demo test bench lint rust-test redis-server-dep rust-demo rust-bench install fmt clean \
        fuzz fuzz-budget fuzz-build fuzz-seed modelcheck soak \
        $(addprefix test-,$(BINDINGS)) $(addprefix demo-,$(BINDINGS)) $(addprefix bench-,$(BINDINGS))

all: test

## demo: every quick start on the shipped sample configuration (same output each)
demo: rust-demo $(addprefix demo-,$(BINDINGS))

rust-demo:
	$(CARGO) run --quiet -p mcpguard-examples --example quickstart

$(addprefix demo-,$(BINDINGS)): demo-%:
	$(MAKE) --no-print-directory -C bindings/$* demo

## test: lint, the Rust test suites, then every binding's suite
test: lint rust-test $(addprefix test-,$(BINDINGS))

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --quiet --no-deps --workspace

# The Redis store's tests start their own redis-server (Debian package).
redis-server-dep:
	@command -v redis-server >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }

rust-test: redis-server-dep
	$(CARGO) test --workspace
	MODELCHECK_SCALE=2 $(CARGO) test -p mcpguard-redis --features shuttle --lib pool::model -- --test-threads 1
	$(CARGO) run --quiet -p mcpguard-examples --example quickstart | diff -u examples/quickstart.expected -
	scripts/package-rust.sh

# The C binding's Rust suite already ran in `cargo test --workspace`;
# here only its C programs (static, shared, valgrind, ASan, install).
test-c:
	$(MAKE) --no-print-directory -C bindings/c c-test

test-python test-node: test-%:
	$(MAKE) --no-print-directory -C bindings/$* test

## bench: criterion benches and peer comparisons, every surface
bench: rust-bench $(addprefix bench-,$(BINDINGS))

rust-bench: redis-server-dep
	$(CARGO) bench -p mcpguard-benches
	$(CARGO) bench -p mcpguard-redis

# The Python and Node peer comparisons start their own redis-server.
$(addprefix bench-,$(BINDINGS)): bench-%: redis-server-dep
	$(MAKE) --no-print-directory -C bindings/$* bench

## fuzz: every libFuzzer target for FUZZ_SECONDS each (nightly, cargo-fuzz);
## crashes land in fuzz/artifacts/<target>/; once fixed, move the input to
## fuzz/regressions/<target>/ so `make test` replays it on stable
FUZZ_SECONDS ?= 180
FUZZ_TARGETS = authorize http jose_header claims tag_list expression json_query config jwks introspection listing oauth
# No sanitizer by default: the targets are safe Rust (a panic or a failed
# assertion is the finding), and without ASan each CPU-second runs about
# twice the inputs; FUZZ_SANITIZER=address also checks the C of aws-lc.
FUZZ_SANITIZER ?= none
FUZZ = cd fuzz && $(CARGO) +nightly fuzz

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  ($(FUZZ) run -s $(FUZZ_SANITIZER) $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1) || exit 1; \
	done

## fuzz-budget: every target until it used FUZZ_CPU_SECONDS of CPU time
## (not wall time), recorded in fuzz/record.tsv
FUZZ_CPU_SECONDS ?= 1800
fuzz-budget: fuzz-build
	fuzz/budget.sh $(FUZZ_CPU_SECONDS) $(FUZZ_TARGETS)

fuzz-build:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	$(FUZZ) build -s $(FUZZ_SANITIZER)

## fuzz-seed: rebuild the seed corpora from the conformance vectors, minimised
fuzz-seed: fuzz-build
	rm -rf fuzz/seeds && python3 fuzz/seed_corpus.py fuzz/seeds
	$(CARGO) run --quiet -p mcpguard-fuzzcheck --bin fuzz-seeds -- fuzz/seeds
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t && cp fuzz/seeds/$$t/* fuzz/corpus/$$t/ && \
	  ($(FUZZ) cmin -s $(FUZZ_SANITIZER) $$t corpus/$$t) || exit 1; \
	done
	rm -rf fuzz/seeds

## modelcheck: the rate table, token cache and Redis connection pool under shuttle's scheduler
modelcheck:
	$(CARGO) test --release -p mcpguard --features shuttle --test modelcheck -- --nocapture --test-threads 1
	$(CARGO) test --release -p mcpguard-redis --features shuttle --lib pool::model -- --nocapture --test-threads 1

## soak: minutes of load over a million keys (SOAK_SECONDS=180, SOAK_THREADS=8)
soak:
	$(CARGO) test --release -p mcpguard --test soak -- --ignored --nocapture

## install: the C library, header and pkg-config file (PREFIX=/usr/local)
install:
	$(MAKE) --no-print-directory -C bindings/c install

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
