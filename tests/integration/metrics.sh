#!/bin/bash
# metrics.sh: /metrics and /api/v1/collector of a running collector, end to end.
#
# `nfsentry run` (web on a free port) receives tests/data/replay/ipfix-campus.pcap
# from `nfsentry send`; /metrics is scraped until the published snapshot (at most
# a second old) has every datagram, then parsed with Debian's
# python3-prometheus-client: the decoder's and the listeners' datagram counts
# must equal what the sender says it sent, the records the fixture's count, the
# per-exporter series must add up to the decoder's, every decoder drop reason
# must be a series, and /api/v1/collector must say the same. (The per-site
# series need a slot to close while the server runs; test_web checks them.)
#
# Alerts (docs/alerts.md): SIGTERM closes the slot, in which the peer cap of 8
# labels the busier inside hosts fanout: the log must hold one warn line per
# labelled IP, and the hook (a shell writing its standard input to a file) must
# get the JSON summary of those verdicts. Two more short runs: a hook that sleeps
# past alerts.timeout_s is killed and counted, a hook that exits 1 is counted.
#
# Environment: NFSENTRY, SOURCE_DIR (from meson); METRICS_KEEP=1 keeps the work
# directory. Only loopback traffic.
set -euo pipefail

PROG=metrics
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${NFSENTRY:?NFSENTRY must point at the nfsentry binary}"
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FIXTURE=$SOURCE_DIR/tests/data/replay/ipfix-campus.pcap
RECORDS=4216 # nfdump's count for the fixture (tests/data/replay/README.md)
PY=/usr/bin/python3
require_tools curl ss
"$PY" -c 'import prometheus_client' 2>/dev/null || die "python3-prometheus-client is missing (tools/setup.sh --test)"

lib_init metrics "${METRICS_KEEP:-0}"

tcp_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WPORT=$(tcp_port)
UPORT=$(free_port_base 29300 1)
BASE=http://127.0.0.1:$WPORT

cat >"$T/run.yaml" <<EOF
log: {level: info}
listen: [127.0.0.1:$UPORT]
sites:
  - name: campus
    inside: [10.10.0.0/16, "2001:db8:100::/48"]
    peer_cap: 8
store:
  path: $T/store.db
  retention_days: 3650
web:
  listen: [127.0.0.1:$WPORT]
alerts:
  hook: [/bin/sh, -c, "cat > $T/alert.json"]
  timeout_s: 5
EOF
"$NFSENTRY" check-config "$T/run.yaml" >/dev/null || die "check-config refused run.yaml"

"$NFSENTRY" run -c "$T/run.yaml" 2>"$T/run.log" &
RUN_PID=$!
PIDS+=("$RUN_PID")
for _ in $(seq 100); do
	curl -sf "$BASE/healthz" >/dev/null 2>&1 && grep -q 'listening on udp' "$T/run.log" && break
	proc_alive "$RUN_PID" || die "nfsentry run exited: $(cat "$T/run.log")"
	sleep 0.1
done

"$NFSENTRY" send "$FIXTURE" --to "127.0.0.1:$UPORT" --rate 5000 2>"$T/send.log" ||
	die "send failed: $(cat "$T/send.log")"
SENT=$(sed -n 's/^sent \([0-9]*\) datagrams.*/\1/p' "$T/send.log")
[ -n "$SENT" ] && [ "$SENT" -gt 0 ] || die "no count from send: $(cat "$T/send.log")"

# The snapshot is published once a second: scrape until it holds every datagram.
got=0
for _ in $(seq 50); do
	curl -sf "$BASE/metrics" -D "$T/hdr" -o "$T/metrics.txt" || die "/metrics failed"
	got=$(sed -n 's/^nfsentry_decoder_datagrams_total \([0-9]*\)$/\1/p' "$T/metrics.txt")
	[ "${got:-0}" -ge "$SENT" ] && break
	sleep 0.2
done
grep -qi '^content-type: text/plain; version=0.0.4' "$T/hdr" || die "content type: $(cat "$T/hdr")"

"$PY" - "$T/metrics.txt" "$SENT" "$RECORDS" <<'EOF' || die "/metrics does not match what was sent"
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
sent, records = int(sys.argv[2]), int(sys.argv[3])
fam = {f.name: f for f in text_string_to_metric_families(text)}
def one(name):
    s = fam[name].samples
    assert len(s) == 1, (name, s)
    return s[0].value
# The parser names a counter family without its _total.
assert fam["nfsentry_decoder_datagrams"].type == "counter"
assert one("nfsentry_decoder_datagrams") == sent, (one("nfsentry_decoder_datagrams"), sent)
assert one("nfsentry_udp_datagrams") == sent
assert one("nfsentry_decoder_records") == records
assert one("nfsentry_udp_kernel_drops") == 0
exp = fam["nfsentry_exporter_datagrams"].samples
assert len(exp) == 1 and exp[0].labels["exporter"] == "127.0.0.1", exp
assert int(exp[0].labels["port"]) > 0 and exp[0].labels["domain"] == "0", exp
assert sum(s.value for s in exp) == sent
assert sum(s.value for s in fam["nfsentry_exporter_records"].samples) == records
assert fam["nfsentry_exporter_sampling_rate"].samples[0].value == 1
assert fam["nfsentry_exporter_templates"].samples[0].value >= 1
# Malformed datagrams by reason: one series per drop row of the decoder's table.
for reason in ("short_header", "bad_version", "no_template", "template_invalid"):
    assert one("nfsentry_decoder_" + reason) == 0, reason
assert one("nfsentry_closer_queue_capacity") >= 1
assert "nfsentry_store_slots_stored" in fam
EOF

curl -sf "$BASE/api/v1/collector" -o "$T/collector.json" || die "/api/v1/collector failed"
"$PY" - "$T/collector.json" "$SENT" "$RECORDS" <<'EOF' || die "/api/v1/collector: $(head -c 800 "$T/collector.json")"
import json, sys
d = json.load(open(sys.argv[1]))
sent, records = int(sys.argv[2]), int(sys.argv[3])
assert d["published"] is True
assert d["counters"]["decoder"]["datagrams"] == sent
assert d["counters"]["decoder"]["records"] == records
assert d["counters"]["udp"]["udpDatagrams"] == sent
assert [e["datagrams"] for e in d["exporters"]] == [sent], d["exporters"]
assert d["exporters"][0]["version"] == 10
assert [s["site"] for s in d["sites"]] == ["campus"]
assert "storeDocsStored" in d["counters"]["store"]
EOF

stop_pid "$RUN_PID"
log "ok: /metrics and /api/v1/collector count the $SENT datagrams and $RECORDS records sent"

# ---------------------------------------------------------------- alerts
[ -s "$T/alert.json" ] || die "the hook got no summary: $(grep alert "$T/run.log")"
N_WARN=$(grep -c 'warn: alert: site=campus slot=[0-9]* kind=[a-z]* ip=[0-9a-f.:]* labels=' "$T/run.log" || true)
[ "$N_WARN" -gt 0 ] || die "no alert warn line: $(tail -20 "$T/run.log")"
"$PY" - "$T/alert.json" "$N_WARN" "$T/run.log" <<'EOF' || die "alert summary: $(head -c 800 "$T/alert.json")"
import json, re, sys
d = json.load(open(sys.argv[1]))
assert d["site"] == "campus" and d["omitted"] == 0, d
ips = {v["ip"] for v in d["verdicts"]}
assert len(d["verdicts"]) == int(sys.argv[2]), (len(d["verdicts"]), sys.argv[2])
warned = set(re.findall(r"warn: alert: site=campus slot=%d kind=\w+ ip=(\S+) " % d["timeSlot"],
                        open(sys.argv[3]).read()))
assert ips == warned, (ips ^ warned)
fan = [v for v in d["verdicts"] if "fanout" in v["labels"]]
assert fan and all(v["figures"]["fanout"]["threshold"] == 8 for v in fan), fan
EOF
grep -q 'alert: .*alertHookOk=1' "$T/run.log" || die "the hook's run was not counted: $(grep 'alert:' "$T/run.log" | tail -3)"

# alert_run NAME HOOK_SCRIPT: one short run whose slot closes at SIGTERM.
alert_run() {
	# A port of its own: the run before may still hold the last one for a moment.
	local up
	up=$(free_port_base $((UPORT + 1)) 1)
	sed -e "s|hook: .*|hook: [/bin/sh, -c, \"$2\"]|" -e 's|timeout_s: 5|timeout_s: 1|' \
		-e "s|127.0.0.1:$UPORT\]|127.0.0.1:$up]|" "$T/run.yaml" >"$T/$1.yaml"
	"$NFSENTRY" run -c "$T/$1.yaml" 2>"$T/$1.log" &
	RUN_PID=$!
	PIDS+=("$RUN_PID")
	for _ in $(seq 100); do
		grep -q 'listening on udp' "$T/$1.log" && break
		proc_alive "$RUN_PID" || die "nfsentry run exited: $(cat "$T/$1.log")"
		sleep 0.1
	done
	"$NFSENTRY" send "$FIXTURE" --to "127.0.0.1:$up" --rate 5000 2>/dev/null || die "send failed"
	sleep 0.5
	local t0=$SECONDS
	stop_pid "$RUN_PID"
	[ $((SECONDS - t0)) -le 4 ] || die "$1: the collector took $((SECONDS - t0)) s to stop"
}
alert_run slow "cat >/dev/null; sleep 30"
grep -q 'alert hook /bin/sh: killed after the time-out of 1 s' "$T/slow.log" || die "slow hook not killed: $(grep alert "$T/slow.log" | tail -3)"
grep -q 'alert: .*alertHookTimeouts=1' "$T/slow.log" || die "slow hook not counted"
alert_run failing "exit 1"
grep -q 'alert hook /bin/sh: exited with status 1' "$T/failing.log" || die "failing hook not logged"
grep -q 'alert: .*alertHookFailures=1' "$T/failing.log" || die "failing hook not counted"
log "ok: warn lines, the hook's summary, a slow hook killed and a failing one counted"
OK=1
