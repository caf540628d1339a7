#!/usr/bin/env bash
# storefull-live: a full filesystem under the store of a LIVE collector
# (issue 12, item 3; storefull.sh covers replay).
# 1. `nfsentry run` with its store on a 256 KiB tmpfs (too small for the
#    slot's documents), the spool and the reputation database on another
#    filesystem, receives tests/data/replay/ipfix-campus.pcap from
#    `nfsentry send` on 127.0.0.1 (its old export times fold into the open
#    slot as late). SIGTERM closes and writes the open slot: the write is
#    retried, then the slot is spooled; the log names the cause (ENOSPC and
#    SQLite's "database or disk is full") and the spool file, the stop report
#    counts closerSlotsSpooled=1, the spool holds one slot file, and run exits
#    0 (docs/man/nfsentry.1.md: SIGTERM closes and writes the open slots,
#    then exits 0; a spooled slot waits for the next start).
# 2. The tmpfs grown, `nfsentry run` started again: at start the closer puts
#    the spooled slot back; the store holds it with its documents, every
#    record counted, and the spool is empty.
# Needs root (mount); skipped (77) without it.
set -euo pipefail
PROG=storefull-live
. "$SOURCE_DIR/tests/integration/lib.sh"
lib_init storefull-live 0

if [ "$(id -u)" -ne 0 ]; then
	log "skipped: mounting a tmpfs needs root"
	exit 77
fi
MNT=$T/full
mkdir -p "$MNT"
mount -t tmpfs -o size=256k nfsentry-storefull-live "$MNT" || {
	log "skipped: cannot mount a tmpfs"
	exit 77
}
# lib_cleanup exits with the status it finds in $?: keep the test's, not umount's.
# The collector is stopped first: it holds the store open.
trap 'rc=$?; for p in ${PIDS[@]+"${PIDS[@]}"}; do stop_pid "$p"; done; umount "$MNT" 2>/dev/null; (exit $rc); lib_cleanup' EXIT
CAP=$SOURCE_DIR/tests/data/replay/ipfix-campus.pcap
RECORDS=4216 # nfdump's count for the fixture (tests/data/replay/README.md)

port=$(free_port_base $((20000 + RANDOM % 40000)) 1)
# Store on the small tmpfs; spool, reputation database and block-list in the
# work directory, so that only the store is on the filesystem under test.
sed -e "s|@PORT@|$port|g" -e "s|@DIR@|$T|g" \
	-e "s|^  path: .*|  path: $MNT/store.db\n  spool_path: $T/spool\n  write_retry_s: 1|" \
	-e '/^  - "\[::1\]/d' \
	"$SOURCE_DIR/tests/integration/live.yaml" >"$T/live.yaml"
printf 'reputation:\n  path: %s\n  blocklist: %s\n' "$T/rep.db" "$T/blocklist.txt" >>"$T/live.yaml"
echo "daily: {enabled: false}" >>"$T/live.yaml"
"$NFSENTRY" check-config "$T/live.yaml" >/dev/null || die "check-config refused $(cat "$T/live.yaml")"

# One slot close only: start early enough in a 300-s slot that SIGTERM comes
# before the next boundary.
left=$((300 - $(date +%s) % 300))
if [ "$left" -lt 15 ]; then sleep $((left + 1)); fi
slot=$(($(date +%s) / 300))

# start LOG: nfsentry run in the background (RUN_PID), listening.
start() {
	"$NFSENTRY" run -c "$T/live.yaml" 2>"$T/$1" &
	RUN_PID=$!
	PIDS+=("$RUN_PID")
	for _ in $(seq 100); do
		grep -q 'listening on udp' "$T/$1" && return 0
		proc_alive "$RUN_PID" || die "collector exited at start: $(cat "$T/$1")"
		sleep 0.1
	done
	die "collector did not start listening: $(cat "$T/$1")"
}
# stop: SIGTERM, wait up to 20 s (one retry budget and the spool), exit status in RUN_RC.
stop() {
	kill -TERM "$RUN_PID"
	for _ in $(seq 200); do
		proc_alive "$RUN_PID" || break
		sleep 0.1
	done
	proc_alive "$RUN_PID" && die "collector did not exit within 20 s of SIGTERM"
	RUN_RC=0
	wait "$RUN_PID" || RUN_RC=$?
	forget_pid "$RUN_PID"
}

start run1.err
"$NFSENTRY" send "$CAP" --to "127.0.0.1:$port" --rate 4000 >/dev/null 2>"$T/send.err" ||
	die "send failed: $(cat "$T/send.err")"
sleep 0.5
stop
cat "$T/run1.err" >&2
[ "$(($(date +%s) / 300))" = "$slot" ] || {
	log "skipped: the test crossed a slot boundary"
	exit 77
}
[ "$RUN_RC" = 0 ] || die "run exited $RUN_RC after SIGTERM, not 0"
grep -q "store: site campus slot $slot: store $MNT/store.db: .*database or disk is full; trying again in 100 ms" "$T/run1.err" ||
	die "the slot's write was not retried with its cause"
n=$(grep -c "store: site campus slot $slot: [0-9]* documents not stored (No space left on device: store $MNT/store.db: .*database or disk is full); spooled to $T/spool/.*\.slot, to be stored when the store takes writes again" "$T/run1.err" || true)
[ "$n" = 1 ] || die "expected the slot spooled once with ENOSPC and SQLite's cause, got $n"
grep -Eq '(^|[ ,;])closerSlotsSpooled[=:] ?1([^0-9]|$)' "$T/run1.err" ||
	die "the stop report does not count closerSlotsSpooled 1"
[ "$(find "$T/spool" -name '*.slot' | wc -l)" = 1 ] || die "the spool does not hold 1 slot file"
stored=$(sqlite3 "$MNT/store.db" 'select count(*) from slots' 2>/dev/null || echo 0)
[ "$stored" = 0 ] || die "the full store holds $stored slots, want 0"

# Room again: a second start puts the spooled slot back before anything else.
mount -o remount,size=64m "$MNT"
start run2.err
for _ in $(seq 100); do
	grep -q "store: site campus slot $slot: [0-9]* documents put back from the spool" "$T/run2.err" && break
	sleep 0.1
done
grep -q "store: site campus slot $slot: [0-9]* documents put back from the spool" "$T/run2.err" ||
	die "the second start did not put the spooled slot back: $(cat "$T/run2.err")"
stop
[ "$RUN_RC" = 0 ] || die "the second run exited $RUN_RC after SIGTERM, not 0"
[ "$(find "$T/spool" -name '*.slot' | wc -l)" = 0 ] || die "the spool is not empty"
q() { sqlite3 "$MNT/store.db" "$1"; }
# The put-back slot is part 0; the second run's stop adds its own (empty) part beside it.
[ "$(q "select count(*) from slots where time_slot = $slot and part = 0")" = 1 ] ||
	die "slot $slot is not in the store"
spooled=$(sed -n "s/.*store: site campus slot $slot: \([0-9]*\) documents not stored.*/\1/p" "$T/run1.err")
docs=$(q "select count(*) from documents where time_slot = $slot and part = 0")
[ "$docs" = "$spooled" ] || die "slot $slot came back with $docs documents, $spooled were spooled"
inside=$(q "select count(*) from documents where time_slot = $slot and part = 0 and kind = 'inside'")
[ "$inside" -gt 0 ] || die "slot $slot came back without inside documents"
records=$(q "select json_extract(doc,'\$.records') from documents where kind='slot' and time_slot = $slot and part = 0")
[ "$records" = "$RECORDS" ] || die "the put-back slot counts $records records, want $RECORDS"
OK=1
log "ok: live slot $slot spooled on a full store at SIGTERM (exit 0), put back at the next start ($docs documents, $records records)"
