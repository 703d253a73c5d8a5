#!/usr/bin/env bash
# Runs two rowferry binaries on every shipped mapping (run and validate) and compares what they
# write: exit codes, stderr, every output file byte for byte, report.json without its timings,
# resources, start time and tool version. For a change that must not change outputs:
#
#   scripts/same-outputs.sh OLD_BINARY NEW_BINARY REPO
#
# (build OLD_BINARY from a worktree of the commit before; REPO is the checkout whose mappings/
# and samples/ both run on). Exits 1 at the first difference listed.
set -u
OLD=$1; NEW=$2; REPO=$3
W=$(mktemp -d)
cd "$REPO"
status=0
strip() { python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
def walk(x):
    if isinstance(x,dict):
        return {k:walk(v) for k,v in x.items() if k not in ("resources","durations_ms","started_at","tool")}
    if isinstance(x,list): return [walk(v) for v in x]
    return x
print(json.dumps(walk(d),indent=1,sort_keys=True))' "$1"; }
for m in mappings/*.toml; do
  for cmd in run validate; do
    n=$(basename "$m" .toml)-$cmd
    # Both write to the same folder (moved aside after), so every path they print is the same.
    "$OLD" $cmd "$m" --out "$W/run" --quiet >"$W/old-$n.stdout" 2>"$W/old-$n.stderr"; a=$?
    mv "$W/run" "$W/old-$n"
    "$NEW" $cmd "$m" --out "$W/run" --quiet >"$W/new-$n.stdout" 2>"$W/new-$n.stderr"; b=$?
    mv "$W/run" "$W/new-$n"
    [ "$a" = "$b" ] || { echo "DIFF exit $n: $a vs $b"; status=1; }
    diff -q "$W/old-$n.stderr" "$W/new-$n.stderr" >/dev/null || { echo "DIFF stderr $n"; status=1; }
    (cd "$W/old-$n" && find . -type f ! -name .rowferry-lock ! -name report.json ! -name .rowferry-manifest | sort) > "$W/files-old"
    (cd "$W/new-$n" && find . -type f ! -name .rowferry-lock ! -name report.json ! -name .rowferry-manifest | sort) > "$W/files-new"
    diff -q "$W/files-old" "$W/files-new" >/dev/null || { echo "DIFF file list $n"; diff "$W/files-old" "$W/files-new" | head; status=1; }
    files=0
    while read -r f; do
      files=$((files+1))
      cmp -s "$W/old-$n/$f" "$W/new-$n/$f" || { echo "DIFF $n $f"; status=1; }
    done < "$W/files-old"
    diff <(strip "$W/old-$n/_report/report.json") <(strip "$W/new-$n/_report/report.json") > "$W/report.diff" || { echo "DIFF report.json $n"; head -20 "$W/report.diff"; status=1; }
    echo "$n: exit $a, $files files compared"
  done
done
rm -rf "$W"
exit $status
