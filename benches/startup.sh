#!/usr/bin/env bash
# Start-up-to-exit time of `rfish echo hi` beside `guestfish echo hi`, measured in one run
# on the same machine, reported as a ratio; plus rfish's instruction count (callgrind), which
# unlike wall time does not depend on how busy the machine is.
# Needs: hyperfine, guestfish (libguestfs-tools); valgrind for the instruction count.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
rfish=$PWD/target/release/rfish
export LC_ALL=C LIBGUESTFS_BACKEND=direct
runs=${RUNS:-200}

json=$(mktemp)
trap 'rm -f "$json"' EXIT
hyperfine --warmup 10 --runs "$runs" -N --export-json "$json" \
  "$rfish echo hi" "guestfish echo hi" >/dev/null

python3 - "$json" <<'PY'
import json, sys
r = {x["command"].split()[0].rsplit("/", 1)[-1]: x for x in json.load(open(sys.argv[1]))["results"]}
rf, gf = r["rfish"], r["guestfish"]
print(f"rfish echo hi:     mean {rf['mean']*1e3:7.3f} ms  median {rf['median']*1e3:7.3f} ms")
print(f"guestfish echo hi: mean {gf['mean']*1e3:7.3f} ms  median {gf['median']*1e3:7.3f} ms")
print(f"ratio guestfish/rfish (median): {gf['median']/rf['median']:.1f}x")
PY

if command -v valgrind >/dev/null 2>&1; then
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$rfish" echo hi >/dev/null 2>"$out.log"
  ir=$(grep -E '^summary:' "$out" | awk '{print $2}')
  gir=$(valgrind --tool=callgrind --callgrind-out-file="$out.g" guestfish echo hi 2>/dev/null >/dev/null; grep -E '^summary:' "$out.g" | awk '{print $2}')
  echo "instructions: rfish $ir, guestfish $gir (ratio $(python3 -c "print(f'{$gir/$ir:.1f}')")x)"
  rm -f "$out" "$out.log" "$out.g"
fi
