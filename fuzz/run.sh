#!/usr/bin/env bash
# Runs rill's fuzz targets (cargo-fuzz, libFuzzer, nightly toolchain).
#   fuzz/run.sh smoke [SECONDS]        every target briefly (default 15 s) + replay of the corpora (CI)
#   fuzz/run.sh long  [SECONDS] [T...] each target (or the named ones) for SECONDS (default 600)
#   fuzz/run.sh replay                 only replay the committed corpora
#   fuzz/run.sh build                  only install cargo-fuzz and build the targets (CI builds ahead)
# New inputs found are written to target/fuzz-corpus/<target>, not to the
# committed corpora; copy interesting ones into fuzz/corpus/<target> by hand.
set -euo pipefail
cd "$(dirname "$0")"
mode="${1:-smoke}"
secs="${2:-}"
shift $(( $# > 2 ? 2 : $# )) || true

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz (crates.io)"
  cargo install cargo-fuzz --locked --version 0.13.2
fi
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "error: the nightly Rust toolchain is needed for cargo-fuzz (rustup toolchain install nightly)" >&2
  exit 1
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build -O
[ "$mode" = build ] && exit 0

summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "../target/fuzz-corpus/$t"
  case "$mode" in
    replay)
      cargo +nightly fuzz run -O "$t" "corpus/$t" -- -runs=0 2>&1 | tail -n 1
      ;;
    smoke|long)
      if [ "$mode" = smoke ]; then s="${secs:-15}"; else s="${secs:-600}"; fi
      cargo +nightly fuzz run -O "$t" "corpus/$t" -- -runs=0 >/dev/null 2>&1 \
        || { echo "corpus replay of $t failed"; cargo +nightly fuzz run -O "$t" "corpus/$t" -- -runs=0; exit 1; }
      log="../target/fuzz-$t.log"
      cargo +nightly fuzz run -O "$t" "../target/fuzz-corpus/$t" "corpus/$t" -- \
        -max_total_time="$s" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 -print_final_stats=1 >"$log" 2>&1 \
        || { tail -n 60 "$log"; echo "fuzz target $t FAILED (log: target/fuzz-$t.log)"; exit 1; }
      execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
      summary+=("$t: ${execs:-?} execs in ${s}s, no crash")
      ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
done
printf '%s\n' "${summary[@]}"
