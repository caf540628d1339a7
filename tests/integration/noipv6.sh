#!/usr/bin/env bash
# A host with IPv6 disabled: in a network namespace of its own (unshare -n, loopback up,
# net.ipv6.conf.{all,default,lo}.disable_ipv6=1), `nfsentry run` with IPv4 and IPv6
# listeners must log the IPv6 one it cannot open, keep the others, receive a capture sent
# over 127.0.0.1 and store the slot on SIGTERM. Needs root (or user namespaces) for
# unshare; skipped (77) without it.
set -euo pipefail

: "${NFSENTRY:?}" "${SOURCE_DIR:?}"
FIXTURE="$SOURCE_DIR/tests/data/replay/ipfix-campus.pcap"
RECORDS=4216 # nfdump's count for the fixture (tests/data/replay/README.md)
PATH=$PATH:/usr/sbin:/sbin

if [ "${NOIPV6_INSIDE:-0}" != 1 ]; then
	if ! unshare -n true 2>/dev/null; then
		echo "noipv6: SKIP: cannot make a network namespace (unshare -n needs root)"
		exit 77
	fi
	NOIPV6_INSIDE=1 exec unshare -n bash "$0" "$@"
fi

ip link set lo up
for k in all default lo; do sysctl -qw "net.ipv6.conf.$k.disable_ipv6=1"; done

work=$(mktemp -d /tmp/nfsentry-noipv6.XXXXXX)
pid=
failed=0
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
	if [ "$failed" = 1 ]; then echo "noipv6: work files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
	failed=1
	echo "noipv6: FAIL: $*"
	echo "--- collector log:"
	cat "$work/run.log" || true
	exit 1
}

# The namespace is new: every port is free.
port=2055
sed -e "s|@PORT@|$port|g" -e "s|@DIR@|$work|g" "$SOURCE_DIR/tests/integration/noipv6.yaml" >"$work/c.yaml"

"$NFSENTRY" run -c "$work/c.yaml" 2>"$work/run.log" &
pid=$!
for _ in $(seq 1 100); do
	[ "$(grep -c 'listening on udp' "$work/run.log" || true)" -ge 2 ] && break
	kill -0 "$pid" 2>/dev/null || fail "collector exited at start"
	sleep 0.1
done
grep -q "listening on udp 127.0.0.1:$port" "$work/run.log" || fail "not listening on 127.0.0.1:$port"
grep -q "listen \[::1\]:$port: bind: .*IPv6 is unavailable on this host" "$work/run.log" ||
	fail "no warning for the [::1] listener"

"$NFSENTRY" send "$FIXTURE" --to "127.0.0.1:$port" --rate 4000 2>"$work/send.log" ||
	fail "send failed: $(cat "$work/send.log")"
sleep 1.5 # the exporter watch looks once a second
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" -eq 0 ] || fail "collector exited with status $rc"

records=$(sqlite3 "$work/store/nfsentry.db" \
	"select coalesce(sum(json_extract(doc,'\$.records')),0) from documents where kind='slot'")
[ "$records" = "$RECORDS" ] || fail "slot documents count $records records, want $RECORDS"
# The slot close is one log line with its totals (docs/manual.md, "Logs").
grep -Eq "info: slot closed site=campus slot=[0-9]+ start=[-0-9T:]+Z records=$RECORDS .* labelled=(yes|no)" "$work/run.log" ||
	fail "no 'slot closed' log line with records=$RECORDS"
grep -Eq "info: exporter first seen exporter=127.0.0.1 port=[0-9]+ domain=0 version=10 sampling=1 templates=[1-9]" "$work/run.log" ||
	fail "no 'exporter first seen' log line"
echo "noipv6: ok: IPv6 disabled, [::1] left out, $records records received on 127.0.0.1:$port and stored"
