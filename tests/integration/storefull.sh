#!/usr/bin/env bash
# storefull: a store that cannot write keeps the slot (issue 12, item 3).
# 1. replay of the campus fixture into a store on a 256 KiB tmpfs (too small
#    for the slot's documents), with the spool on another filesystem: each
#    slot is tried again (write_retry_s), then spooled; the log names the
#    cause (ENOSPC and SQLite's message) and the spool file; replay exits 1,
#    since a spooled slot is not stored yet.
# 2. space freed (the tmpfs grown), a replay of an empty capture: the
#    closer puts both spooled slots back into the store at start, the spool
#    is empty and replay exits 0.
# 3. a store directory on a read-only filesystem is reported as such.
# 4. the same replay into a roomy directory exits 0.
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
RO=$T/ro
mkdir -p "$MNT" "$RO"
mount -t tmpfs -o size=256k nfsentry-storefull "$MNT" || { log "skipped: cannot mount a tmpfs"; exit 77; }
# lib_cleanup exits with the status it finds in $?: keep the test's, not umount's.
trap 'rc=$?; umount "$MNT" 2>/dev/null; umount "$RO" 2>/dev/null; (exit $rc); lib_cleanup' EXIT
CAP=$SOURCE_DIR/tests/data/replay/ipfix-campus.pcap

# The offender database lives in the work directory, so that only the store
# itself is on the small (or read-only) filesystem under test.
store_conf() { # PATH [SPOOL]
	local extra="  write_retry_s: 1"
	[ -n "${2:-}" ] && extra="$extra
  spool_path: $2"
	awk -v p="$1" -v extra="$extra" '
		/^  path: campus-store.db$/ { print "  path: " p; print extra; next } { print }' \
		"$SOURCE_DIR/tests/integration/campus.yaml"
	printf 'reputation:\n  path: %s\n  blocklist: %s\n' "$T/rep-$RANDOM.db" "$T/blocklist.txt"
	# The slot counts below are the closer's; the daily pseudo-slots are daily.sh's.
	echo "daily: {enabled: false}"
}
store_conf "$MNT/store.db" "$T/spool" >"$T/full.yaml"
store_conf "$T/roomy/store.db" >"$T/roomy.yaml"
store_conf "$RO/store.db" >"$T/ro.yaml"

set +e
"$NFSENTRY" replay "$CAP" -c "$T/full.yaml" --quiet 2>"$T/full.err"
rc=$?
set -e
cat "$T/full.err" >&2
[ "$rc" = 1 ] || die "replay into a full store exited $rc, not 1"
n=$(grep -c 'documents not stored (No space left on device: store .*full.*; spooled to '"$T"'/spool/' "$T/full.err" || true)
[ "$n" = 2 ] || die "expected 2 slots spooled with ENOSPC and SQLite's cause, got $n"
grep -q 'trying again in 100 ms' "$T/full.err" || die "the first slot was not retried"
grep -q 'error: 2 slots were not stored whole' "$T/full.err" ||
	die "no summary of the slots not stored"
[ "$(ls "$T/spool" | grep -c '\.slot$')" = 2 ] || die "the spool does not hold 2 slot files"

# Room again: an empty capture, and the closer stores the spooled slots at start.
mount -o remount,size=64m "$MNT"
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' \
	>"$T/empty.pcap"
"$NFSENTRY" replay "$T/empty.pcap" -c "$T/full.yaml" --quiet 2>"$T/back.err" ||
	die "replay after freeing space failed: $(cat "$T/back.err")"
cat "$T/back.err" >&2
[ "$(sqlite3 "$MNT/store.db" 'select count(*) from slots')" = 2 ] ||
	die "the spooled slots are not in the store"
[ "$(ls "$T/spool" | grep -c '\.slot$' || true)" = 0 ] || die "the spool is not empty"
[ "$(sqlite3 "$MNT/store.db" 'select sum(n_docs) from slots')" -gt 100 ] ||
	die "the slots came back without their documents"

# A read-only store directory says so.
mount -t tmpfs -o size=64k,ro nfsentry-storero "$RO"
set +e
"$NFSENTRY" replay "$CAP" -c "$T/ro.yaml" --quiet 2>"$T/ro.err"
rc=$?
set -e
[ "$rc" != 0 ] || die "replay into a read-only directory succeeded"
grep -q "store $RO/store.db: directory $RO is not writable (Read-only file system)" "$T/ro.err" ||
	die "read-only directory not named: $(cat "$T/ro.err")"

"$NFSENTRY" replay "$CAP" -c "$T/roomy.yaml" --quiet 2>"$T/roomy.err" ||
	die "replay into a roomy store failed: $(cat "$T/roomy.err")"
[ "$(sqlite3 "$T/roomy/store.db" 'select count(*) from slots')" = 2 ] ||
	die "the roomy store does not hold the 2 slots"
OK=1
log "ok: a full store spools its slots (replay exits 1), puts them back once there is room; a read-only directory is named"
