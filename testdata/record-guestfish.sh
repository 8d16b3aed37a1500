#!/usr/bin/env bash
# Record what guestfish prints for a list of commands, so tests can compare rfish with it
# without booting guestfish's appliance every run (30-60 s under TCG).
#   testdata/record-guestfish.sh NAME IMAGE_DIR IMAGE [rw]
# reads testdata/guestfish/NAME.cmds (one guestfish command per line; `-` prefixes allowed)
# and writes NAME.out (standard output, one `### LINE` marker before each command's output)
# and NAME.err (standard error, same markers), running guestfish in IMAGE_DIR on IMAGE,
# added read-only as /dev/sda (read-write with `rw`, for what guestfish's appliance cannot
# do on a read-only mount; the image may change).
set -euo pipefail
name=$1 dir=$2 image=$3 mode=${4:-ro}
here=$(cd "$(dirname "$0")" && pwd)/guestfish
script=$(mktemp)
{
  format=raw; [ "${image%.qcow2}" != "$image" ] && format=qcow2
  readonly=" readonly:true"; [ "$mode" = rw ] && readonly=""
  echo "add $image$readonly format:$format"
  echo "run"
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    marker="### ${line//\"/\\\"}"
    printf 'echo "%s"\necho "%s" | cat 1>&2\n' "$marker" "$marker"
    printf '%s\n' "$line"
  done < "$here/$name.cmds"
} > "$script"
# Each marker is echoed on stdout, and on stderr through a host-command pipe.
(cd "$dir" && LC_ALL=C LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg \
  guestfish $([ "$mode" = rw ] || echo --ro) < "$script") > "$here/$name.out" 2> "$here/$name.err" || true
rm -f "$script"
echo "recorded $here/$name.out and $here/$name.err"
