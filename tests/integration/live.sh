#!/usr/bin/env bash
# Live path end to end: `nfsentry run` listening on 127.0.0.1 and ::1 receives a real
# IPFIX export (tests/data/replay/ipfix-campus.pcap) sent by `nfsentry send`, then SIGTERM:
# it must exit 0 after closing and writing the open slot, having decoded every record, and
# the store must hold that slot with every record counted (as late: the export times are
# from the capture's day, long before the wall clock's slot).
set -euo pipefail

: "${NFSENTRY:?}" "${SOURCE_DIR:?}"
FIXTURE="$SOURCE_DIR/tests/data/replay/ipfix-campus.pcap"
RECORDS=4216 # nfdump's count for the fixture (tests/data/replay/README.md)

work=$(mktemp -d /tmp/nfsentry-live.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
	if [ "${LIVE_KEEP:-0}" = 1 ] || [ "${failed:-0}" = 1 ]; then
		echo "live: work files kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
fail() {
	failed=1
	echo "live: FAIL: $*"
	echo "--- collector log:"
	cat "$work/run.log" || true
	exit 1
}

# A free UDP port on both 127.0.0.1 and ::1.
port=
for _ in $(seq 1 50); do
	p=$((20000 + RANDOM % 40000))
	if ! ss -Hlun "( sport = :$p )" | grep -q .; then port=$p; break; fi
done
[ -n "$port" ] || fail "no free UDP port found"

sed -e "s|@PORT@|$port|g" -e "s|@DIR@|$work|g" "$SOURCE_DIR/tests/integration/live.yaml" >"$work/live.yaml"
"$NFSENTRY" check-config "$work/live.yaml" >/dev/null || fail "check-config refused the test configuration"

"$NFSENTRY" run -c "$work/live.yaml" 2>"$work/run.log" &
pid=$!
for _ in $(seq 1 100); do
	[ "$(grep -c 'listening on udp' "$work/run.log" || true)" -ge 2 ] && break
	kill -0 "$pid" 2>/dev/null || fail "collector exited at start"
	sleep 0.1
done
[ "$(grep -c 'listening on udp' "$work/run.log" || true)" -ge 2 ] || fail "collector did not start listening"

# The capture once over IPv4 and once over IPv6: twice the records, from two exporters
# (different source addresses, so separate template and sequence state).
"$NFSENTRY" send "$FIXTURE" --to "127.0.0.1:$port" --rate 2000 2>"$work/send4.log" || fail "send over IPv4 failed: $(cat "$work/send4.log")"
"$NFSENTRY" send "$FIXTURE" --to "[::1]:$port" --rate 2000 2>"$work/send6.log" || fail "send over IPv6 failed: $(cat "$work/send6.log")"
sleep 0.5

kill -TERM "$pid"
rc=0
for _ in $(seq 1 100); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then fail "collector did not exit within 10 s of SIGTERM"; fi
wait "$pid" || rc=$?
pid=
[ "$rc" -eq 0 ] || fail "collector exited with status $rc"

want=$((RECORDS * 2))
# The last periodic log line (at SIGTERM): "udp: ...; decoder: ... records=N ...".
decoded=$(grep 'udp: ' "$work/run.log" | sed -n 's/.*; decoder: .* records=\([0-9]*\).*/\1/p' | tail -1)
[ "$decoded" = "$want" ] || fail "collector decoded ${decoded:-?} records, want $want"
grep -q "exporter 127.0.0.1 " "$work/run.log" || fail "no IPv4 exporter in the report"
grep -q "exporter ::1 " "$work/run.log" || fail "no IPv6 exporter in the report"

db="$work/store/nfsentry.db"
[ -f "$db" ] || fail "store $db was not created"
records=$(sqlite3 "$db" "select coalesce(sum(json_extract(doc,'\$.records')),0) from documents where kind='slot'")
late=$(sqlite3 "$db" "select coalesce(sum(json_extract(doc,'\$.lateRecords')),0) from documents where kind='slot'")
[ "$records" = "$want" ] || fail "slot documents count $records records, want $want"
[ "$late" = "$want" ] || fail "slot documents count $late late records, want $want"
# Every slot document carries the listeners' counters: per slot, so they add up.
sent=$(($(sed -n 's/^sent \([0-9]*\) datagrams.*/\1/p' "$work/send4.log") + $(sed -n 's/^sent \([0-9]*\) datagrams.*/\1/p' "$work/send6.log")))
udp=$(sqlite3 "$db" "select coalesce(sum(json_extract(doc,'\$.collector.udpDatagrams')),0) from documents where kind='slot'")
[ "$udp" = "$sent" ] || fail "slot documents count $udp received datagrams (collector.udpDatagrams), sent $sent"
missing=$(sqlite3 "$db" "select count(*) from documents where kind='slot' and (json_type(doc,'\$.collector.udpTruncated') is not 'integer' or json_type(doc,'\$.collector.udpKernelDrops') is not 'integer' or json_type(doc,'\$.collector.notAllowed') is not 'integer')")
[ "$missing" = 0 ] || fail "$missing slot documents lack collector.udpTruncated, udpKernelDrops or notAllowed"
dec=$(sqlite3 "$db" "select coalesce(sum(json_extract(doc,'\$.collector.records')),0) from documents where kind='slot'")
[ "$dec" = "$want" ] || fail "slot documents count $dec decoded records (collector.records), want $want"
inside=$(sqlite3 "$db" "select count(*) from documents where kind='inside'")
[ "$inside" -gt 0 ] || fail "no inside documents in the store"

echo "live: ok: $decoded records over 127.0.0.1 and ::1 port $port, slot written on SIGTERM ($inside inside documents)"
