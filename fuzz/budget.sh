#!/usr/bin/env bash
# Fuzzes each named target (default: all) until its process has used
# CPU_SECONDS of CPU time (not wall time: on a shared machine a wall-clock
# limit says little about how much searching was done), at the lowest
# priority, growing corpus/<target>/. Appends one line per run to
# fuzz/record.tsv: UTC date, target, CPU seconds, executions, edges covered
# (libFuzzer's `cov`), features (`ft`), corpus entries, crash files.
# Needs `make fuzz-build` first (binaries in fuzz/target/).
#
#   fuzz/budget.sh 1800 http authorize      # 30 CPU-minutes each
set -euo pipefail
cd "$(dirname "$0")"
budget=${1:?usage: budget.sh CPU_SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(authorize http jose_header claims tag_list expression json_query config jwks introspection listing oauth)
bin_dir=target/x86_64-unknown-linux-gnu/release
record=record.tsv
[ -f "$record" ] || printf 'date\ttarget\tcpu_s\texecs\tcov\tft\tcorpus\tcrashes\n' >"$record"
ticks=$(getconf CLK_TCK)
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log=$(mktemp)
  nice -n 19 "$bin_dir/$t" -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
    "corpus/$t" >"$log" 2>&1 &
  pid=$!
  cpu=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    # utime + stime, fields 14 and 15 of /proc/PID/stat, in clock ticks.
    read -r -a stat <"/proc/$pid/stat" 2>/dev/null || break
    cpu=$(((stat[13] + stat[14]) / ticks))
    [ "$cpu" -ge "$budget" ] && kill -INT "$pid" && break
  done
  wait "$pid" || true
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(grep -oE 'number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+' || echo "${last%% *}" | tr -d '#')
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo 0)
  ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo 0)
  corpus=$(find "corpus/$t" -type f | wc -l)
  # Findings only: libFuzzer also writes slow-unit-* files, which a pause of
  # the process (SIGSTOP) produces without any slow input.
  crashes=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$cpu" "$execs" "$cov" "$ft" "$corpus" "$crashes" >>"$record"
  echo "== $t: ${cpu} CPU-s, ${execs} execs, cov ${cov}, ft ${ft}, corpus ${corpus}, crashes ${crashes}"
  if [ "$crashes" -gt 0 ]; then tail -n 40 "$log"; fi
  rm -f "$log"
done
