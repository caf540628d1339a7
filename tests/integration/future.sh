#!/usr/bin/env bash
# future: one datagram stamped in 2100 leaves retention intact (issue 12, item 6),
# end to end through `nfsentry replay` (docs/store.md "Retention and size").
# Captures made by tests/integration/pcap_stamp.py from
# tests/data/replay/ipfix-campus.pcap (IPFIX, 2026-01-01):
# 1. the capture a day earlier, replayed into a store with retention_days 2:
#    two older slots;
# 2. the capture with its middle datagram's exportTime set to 2100-01-01: the
#    slot clock does not follow it (logged; its records counted as
#    futureRecords and folded into the current slot), so the capture's two
#    slots are stored as without it, no slot of 2100 exists, retention does
#    not move: every older slot is still there, as it was, and replay exits
#    0. A 2100 clock would delete them all (retention_days 2).
# 3. the control: the capture three days later (no datagram in the future)
#    moves retention's clock, and the slots more than 2 days older go.
set -euo pipefail
PROG=future
. "$SOURCE_DIR/tests/integration/lib.sh"
lib_init future 0
require_tools sqlite3 python3

CAP=$SOURCE_DIR/tests/data/replay/ipfix-campus.pcap
STAMP=$SOURCE_DIR/tests/integration/pcap_stamp.py
Y2100=4102444800 # 2100-01-01T00:00:00Z

# Log level info: "retention removed N slots" is an info line.
awk -v p="$T/store.db" '
	/^  level: warn$/ { print "  level: info"; next }
	/^  path: campus-store.db$/ { print "  path: " p; print "  retention_days: 2"; next } { print }' \
	"$SOURCE_DIR/tests/integration/campus.yaml" >"$T/c.yaml"
printf 'reputation:\n  path: %s\n  blocklist: %s\n' "$T/rep.db" "$T/blocklist.txt" >>"$T/c.yaml"
echo "daily: {enabled: false}" >>"$T/c.yaml"

python3 "$STAMP" "$CAP" "$T/older.pcap" --shift -86400 >&2
python3 "$STAMP" "$CAP" "$T/jump.pcap" --set 95 "$Y2100" >&2
python3 "$STAMP" "$CAP" "$T/later.pcap" --shift $((3 * 86400)) >&2
q() { sqlite3 "$T/store.db" "$1"; }
slots() { q "select time_slot || ' ' || part || ' ' || n_docs || ' ' || written_at from slots where time_slot < 10000000 order by time_slot, part"; }

"$NFSENTRY" replay "$T/older.pcap" -c "$T/c.yaml" --quiet 2>"$T/older.err" ||
	die "replay of the older capture failed: $(cat "$T/older.err")"
before=$(slots)
[ "$(echo "$before" | wc -l)" = 2 ] || die "the older capture stored '$before', want 2 slots"
log "older slots (slot part documents written_at): $(echo "$before" | tr '\n' ';')"

rc=0
"$NFSENTRY" replay "$T/jump.pcap" -c "$T/c.yaml" >"$T/jump.out" 2>"$T/jump.err" || rc=$?
cat "$T/jump.err" >&2
[ "$rc" = 0 ] || die "replay of the capture with a 2100 datagram exited $rc"
fut=$((Y2100 / 300))
grep -q "warn: replay: a datagram exported at $Y2100 s (Unix) is more than 3600 s past the wall clock" "$T/jump.err" ||
	die "the jump to 2100 was not logged"
grep -q '^replay: 1 datagrams stamped past the wall clock did not move the slot clock' "$T/jump.err" ||
	die "replay's report does not count the datagram"
future=$(sed -n 's/^engine: .*futureRecords=\([0-9]*\).*/\1/p' "$T/jump.err")
[ -n "$future" ] && [ "$future" -gt 0 ] || die "its records were not counted as futureRecords ($future)"
grep -Eq '^engine: .*lateRecords=0( |$)' "$T/jump.err" || die "records after the jump were counted late"
! grep -q 'retention removed' "$T/jump.err" || die "retention removed slots: $(grep 'retention removed' "$T/jump.err")"
[ "$(q "select count(*) from slots where time_slot = $fut")" = 0 ] || die "a slot of 2100 was made"
[ "$(q "select count(*) from slots where time_slot in (5890752, 5890753)")" = 2 ] ||
	die "the capture's own two slots were not stored"
after=$(slots | grep -E "^($(echo "$before" | cut -d' ' -f1 | paste -sd'|')) " || true)
[ "$after" = "$before" ] || die "older slots changed: before '$before', after '$after'"

# Control: retention does run with this configuration, by the capture's own clock.
"$NFSENTRY" replay "$T/later.pcap" -c "$T/c.yaml" --quiet 2>"$T/later.err" ||
	die "replay of the later capture failed: $(cat "$T/later.err")"
grep -q 'store: retention removed [1-9][0-9]* slots' "$T/later.err" ||
	die "retention did not run on a capture 3 days later: $(cat "$T/later.err")"
left=$(q "select count(*) from slots where time_slot in ($(echo "$before" | cut -d' ' -f1 | paste -sd,))")
[ "$left" = 0 ] || die "the older slots outlived a clock 3 days later ($left left)"
OK=1
log "ok: a datagram of 2100 did not move the slot clock (logged, its records counted as future); the $(echo "$before" | wc -l) older slots stayed (retention_days 2); a capture 3 days later removed them"
