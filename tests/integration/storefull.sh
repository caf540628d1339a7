#!/usr/bin/env bash
# storefull: a store that cannot write is an error, never a silent success.
# replay of the campus fixture into a store on a 256 KiB tmpfs (too small
# for the slot's documents) must exit 1, log each slot's store error with
# its cause (ENOSPC and SQLite's message), and count the slots not written;
# the same replay into a roomy directory exits 0 (issue 12, item 3).
# Needs root (mount); skipped (77) without it.
set -euo pipefail
PROG=storefull
. "$SOURCE_DIR/tests/integration/lib.sh"
lib_init storefull 0

if [ "$(id -u)" -ne 0 ]; then
	log "skipped: mounting a tmpfs needs root"
	exit 77
fi
MNT=$T/full
mkdir -p "$MNT"
mount -t tmpfs -o size=256k nfsentry-storefull "$MNT" || { log "skipped: cannot mount a tmpfs"; exit 77; }
trap 'umount "$MNT" 2>/dev/null || true; lib_cleanup' EXIT
CAP=$SOURCE_DIR/tests/data/replay/ipfix-campus.pcap

sed "s#path: campus-store.db#path: $MNT/store.db#" \
	"$SOURCE_DIR/tests/integration/campus.yaml" >"$T/full.yaml"
sed "s#path: campus-store.db#path: $T/roomy/store.db#" \
	"$SOURCE_DIR/tests/integration/campus.yaml" >"$T/roomy.yaml"

set +e
"$NFSENTRY" replay "$CAP" -c "$T/full.yaml" --quiet 2>"$T/full.err"
rc=$?
set -e
cat "$T/full.err" >&2
[ "$rc" = 1 ] || die "replay into a full store exited $rc, not 1"
n=$(grep -c 'documents not stored (No space left on device: store .*full' "$T/full.err" || true)
[ "$n" = 2 ] || die "expected 2 slot store errors naming ENOSPC and SQLite's cause, got $n"
grep -q 'error: 2 slots were not written whole' "$T/full.err" ||
	die "no summary of the slots not written"

"$NFSENTRY" replay "$CAP" -c "$T/roomy.yaml" --quiet 2>"$T/roomy.err" ||
	die "replay into a roomy store failed: $(cat "$T/roomy.err")"
[ "$(sqlite3 "$T/roomy/store.db" 'select count(*) from slots')" = 2 ] ||
	die "the roomy store does not hold the 2 slots"
OK=1
log "ok: a full store makes replay fail with its cause; a roomy one holds both slots"
