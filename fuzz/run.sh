#!/usr/bin/env bash
# The fuzzing campaign: every target of `rowferry::fuzzing` for RUNS executions (default one
# million), in release mode, one target after another. Findings land in fuzz/findings/TARGET/
# (an input and its message); a fixed one moves to fuzz/regressions/TARGET/, which `cargo test`
# replays. Usage: fuzz/run.sh [RUNS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rowferry-target}"
runs="${1:-1000000}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(csv csv-generated workbook mapping sql sql-plan sql-generated)
fi
cargo build --release --example fuzz
status=0
for t in "${targets[@]}"; do
    "$CARGO_TARGET_DIR/release/examples/fuzz" "$t" "$runs" 2>/dev/null || status=1
done
exit "$status"
