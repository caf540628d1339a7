#!/bin/bash
# daily.sh: the daily analysis end to end (docs/daily.md), on a multi-day
# store built from a synthetic capture through a real exporter.
#
# 1. `gentraffic --scenario daily` writes 28 hours of a quiet site, from
#    2026-01-01T22:00Z to 2026-01-03T02:00Z, in 300-second pieces aligned
#    to the slots: ordinary clients, a beacon host (one short HTTPS
#    connection every hour to one outside IP), a host that only receives a
#    few packets from one outside IP twice a day, a quiet host that uses a
#    different outside IP each time, and a daily scan of silent hosts that
#    answer it (tools/gentraffic.c, plan_daily).
# 2. softflowd exports every piece as IPFIX; the export's capture times
#    are set to the export times (as campus.sh does).
# 3. `nfsentry replay --arp tests/data/daily/arp` stores the slots (with
#    the gateway's ARP table, which shows a MAC with two IPs) and runs the
#    daily analysis for each day the capture covers: 2026-01-01 (2 hours:
#    partial), 2026-01-02 (whole) and 2026-01-03 (partial); the daily
#    documents, the report files and the hook are checked.
# 4. `nfsentry daily --json` gives the same findings, read from the slots' digests
#    or (--from-documents) their documents alike; in America/New_York
#    the day 2026-01-01 runs 05:00Z to 05:00Z and is partial.
# 5. The collector's daily thread: the same capture replayed into a second
#    store with daily.enabled: false, then `nfsentry run` on that store with
#    run_hour 1 and its daily clock set (NFSENTRY_DAILY_NOW) to
#    2026-01-03T01:00:05Z. It must analyse 2026-01-01 and 2026-01-02 (the
#    earlier days of its catch-up window have nothing stored), not
#    2026-01-03, store the daily documents, write the reports and run the
#    hook; the stored findings of 2026-01-02 must be those of the replay.
# Exactly the planted hosts and the MAC must be found; no client, scanned
# host or the quiet host.
#
# Environment: NFSENTRY, BUILD_DIR (from meson); DAILY_KEEP=1 keeps the
# work directory.
set -euo pipefail

PROG=daily
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${BUILD_DIR:?BUILD_DIR must point at the meson build directory}"
NFSENTRY=${NFSENTRY:-$BUILD_DIR/src/nfsentry}
GENTRAFFIC=${GENTRAFFIC:-$BUILD_DIR/tools/gentraffic}
HERE=$(cd "$(dirname "$0")" && pwd)
PORT=$(free_port_base 29165 2) # the exporter sink, then the collector of step 5
START=1767304800 # 2026-01-01T22:00:00Z
DURATION=100800  # 28 h
PY=/usr/bin/python3

require_tools softflowd softflowctl dumpcap ss timeout sqlite3
lib_init daily "${DAILY_KEEP:-0}"
SECONDS=0

"$GENTRAFFIC" --scenario daily -o "$T/traffic.pcap" --seed 3 --start "$START" \
	--duration "$DURATION" --split 300 --snaplen 128 --manifest "$T/manifest.txt" -v \
	2>"$T/gentraffic.log" || die "gentraffic failed: $(cat "$T/gentraffic.log")"
PIECES=("$T"/traffic-[0-9][0-9][0-9].pcap)
log "$(cat "$T/gentraffic.log") in ${#PIECES[@]} pieces"

port_free "$PORT" || die "UDP port $PORT is busy"
"$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    s.recv(65536)
' "$PORT" 2>"$T/sink.log" &
SINK=$!
PIDS+=("$SINK")
wait_udp_listen "$PORT" 10 || die "the UDP sink did not listen on $PORT"
capture_start "$PORT" "$T/export-raw.pcap" "$T/dumpcap.log"
for piece in "${PIECES[@]}"; do
	[ "$(stat -c %s "$piece")" -gt 24 ] || continue
	run_softflowd 10 "$piece" "$PORT" "$T/softflowd.log" ||
		die "softflowd failed on $piece (see $T/softflowd.log)"
done
sleep 1
capture_stop "$T/dumpcap.log" "the export"
stop_pid "$SINK"

# Each datagram's capture time := its IPFIX Export Time (campus.sh explains why).
"$PY" - "$T/export-raw.pcap" "$T/export.pcap" <<'EOF' || die "cannot retime the export capture"
import struct, sys
data = open(sys.argv[1], "rb").read()
e = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
l2 = {1: 14, 113: 16, 228: 0}[struct.unpack(e + "I", data[20:24])[0]]
out, off = [data[:24]], 24
while off < len(data):
    sec, usec, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
    pkt = data[off + 16:off + 16 + incl]
    ip = pkt[l2:]
    p = ip[(ip[0] & 15) * 4 + 8:]
    t = struct.unpack(">I", p[4:8])[0]
    out.append(struct.pack(e + "IIII", t, 0, incl, orig) + pkt)
    off += 16 + incl
open(sys.argv[2], "wb").write(b"".join(out))
EOF
log "export done ($SECONDS s)"

mkdir -p "$T/reports" "$T/keys"
: >"$T/keys/id" && : >"$T/keys/known_hosts"
cat >"$T/hook.sh" <<EOF
#!/bin/sh
cp "\$1" "\$(dirname "\$(dirname "\$1")")/hooked-\$(basename "\$1")"
EOF
chmod +x "$T/hook.sh"
config() { # FILE TZ
	cat >"$1" <<EOF
log: {level: warn}
sites:
  - name: campus
    inside: [10.10.0.0/16]
    devices:
      - {name: gw1, kind: ios, host: 127.0.0.1, user: noc, key: $T/keys/id, known_hosts: $T/keys/known_hosts}
store: {path: $T/store.db}
web: {listen: []}
daily:
  tz: $2
  exclude_prefixes: [10.10.9.0/24]
  report_dir: $T/reports
  hook: [$T/hook.sh]
EOF
}
config "$T/utc.yaml" UTC
config "$T/ny.yaml" America/New_York
# Step 5: the replay without the daily analysis, and the collector that does it.
mkdir -p "$T/live/reports"
sed -e "s|$T/store.db|$T/live/store.db|" -e "s|$T/reports|$T/live/reports|" \
	-e "s|^daily:|daily:\n  enabled: false|" "$T/utc.yaml" >"$T/live/replay.yaml"
sed -e "s|$T/store.db|$T/live/store.db|" -e "s|$T/reports|$T/live/reports|" \
	-e "s|^daily:|daily:\n  run_hour: 1|" -e "s|^store: {path: \(.*\)}|store: {path: \1, retention_days: 3650}|" \
	-e "s|^web:|listen: [127.0.0.1:$((PORT + 1))]\nweb:|" "$T/utc.yaml" >"$T/live/run.yaml"
"$NFSENTRY" check-config "$T/live/replay.yaml" >/dev/null || die "live/replay.yaml refused"
"$NFSENTRY" check-config "$T/live/run.yaml" >/dev/null || die "live/run.yaml refused"
"$NFSENTRY" check-config "$T/utc.yaml" >/dev/null || die "utc.yaml refused"

(cd "$T" && "$NFSENTRY" replay export.pcap -c utc.yaml --quiet \
	--arp "$HERE/../data/daily/arp" 2>replay.err) || die "replay failed: $(tail -5 "$T/replay.err")"
log "replay and daily runs done ($SECONDS s)"

(cd "$T" && "$NFSENTRY" replay export.pcap -c live/replay.yaml --quiet \
	--arp "$HERE/../data/daily/arp" 2>live/replay.err) ||
	die "replay (live store) failed: $(tail -5 "$T/live/replay.err")"
[ -z "$(sqlite3 -readonly "$T/live/store.db" "select 1 from documents where site='campus@daily' limit 1")" ] ||
	die "daily.enabled: false still wrote daily documents"
port_free "$((PORT + 1))" || die "UDP port $((PORT + 1)) is busy"
NFSENTRY_DAILY_NOW=1767402005 "$NFSENTRY" run -c "$T/live/run.yaml" 2>"$T/live/run.log" &
RUN=$!
PIDS+=("$RUN")
for _ in $(seq 1 300); do
	[ -s "$T/live/reports/campus-2026-01-02.txt" ] && [ -s "$T/live/hooked-campus-2026-01-02.txt" ] && break
	proc_alive "$RUN" || die "the collector exited: $(tail -5 "$T/live/run.log")"
	sleep 0.1
done
stop_pid "$RUN"
[ -s "$T/live/reports/campus-2026-01-02.txt" ] || die "the collector wrote no report: $(tail -5 "$T/live/run.log")"
for d in 2026-01-01 2026-01-02; do
	[ -s "$T/live/reports/campus-$d.txt" ] || die "the collector wrote no report for $d"
	cmp -s "$T/live/reports/campus-$d.txt" "$T/live/hooked-campus-$d.txt" ||
		die "the collector's hook did not get $d"
done
[ ! -e "$T/live/reports/campus-2026-01-03.txt" ] || die "the collector analysed 2026-01-03 before its run hour"
[ "$(ls "$T/live/reports" | wc -l)" -eq 2 ] || die "reports: $(ls "$T/live/reports")"
grep -q "nfsentry daily report: site campus, 2026-01-01 (UTC)" "$T/live/reports/campus-2026-01-01.txt" ||
	die "report of 2026-01-01: $(head -3 "$T/live/reports/campus-2026-01-01.txt")"
sqlite3 -readonly "$T/live/store.db" \
	"select doc from documents where site='campus@daily' order by time_slot, key" >"$T/live/stored.jsonl"
log "the collector's daily thread done ($SECONDS s)"

for d in 2026-01-01 2026-01-02 2026-01-03; do
	[ -s "$T/reports/campus-$d.txt" ] || die "no report for $d"
	cmp -s "$T/reports/campus-$d.txt" "$T/hooked-campus-$d.txt" || die "the hook did not get $d"
done
sqlite3 -readonly "$T/store.db" \
	"select doc from documents where site='campus@daily' order by time_slot, key" >"$T/stored.jsonl"
"$NFSENTRY" daily -c "$T/utc.yaml" --date 2026-01-02 --json >"$T/utc.jsonl" ||
	die "daily --json failed"
"$NFSENTRY" daily -c "$T/ny.yaml" --date 2026-01-01 --json >"$T/ny.jsonl" ||
	die "daily --json (New York) failed"
# The replay stored each slot's digest: read from them or from the documents, the same.
[ "$(sqlite3 -readonly "$T/store.db" "select count(*) from digests where site='campus'")" -gt 288 ] ||
	die "the replay stored no digests"
"$NFSENTRY" daily -c "$T/utc.yaml" --date 2026-01-02 --json --from-documents >"$T/utc-docs.jsonl" ||
	die "daily --from-documents failed"
cmp -s "$T/utc.jsonl" "$T/utc-docs.jsonl" || die "digest and document paths differ (work directory $T kept)"
sed "s/level: warn/level: info/" "$T/utc.yaml" >"$T/utc-info.yaml"
"$NFSENTRY" daily -c "$T/utc-info.yaml" --date 2026-01-02 2>"$T/utc.err" >/dev/null || die "daily failed"
grep -q "288 of 288 slots from digests, 0 corrupt" "$T/utc.err" || die "not read from digests: $(cat "$T/utc.err")"
# (the capture's slots, before 2026-01-04; the collector stores its own, live, with digests)
[ "$(sqlite3 -readonly "$T/live/store.db" "select count(*) from digests where time_slot < 5891616")" -eq 0 ] ||
	die "daily.enabled: false still wrote digests"

"$PY" - "$T" <<'EOF' || die "daily findings wrong (work directory $T kept)"
import json, sys
T = sys.argv[1]
roles = {}
for line in open(T + "/manifest.txt"):
    f = line.split()
    roles.setdefault(f[0], set()).add(f[1])
bad = []
def need(c, m):
    if not c:
        bad.append(m)
stored = [json.loads(l) for l in open(T + "/stored.jsonl")]
days = {}
for d in stored:
    need(d["kind"] == "daily", "stored kind %s" % d["kind"])
    days.setdefault(d["date"], []).append(d)
need(sorted(days) == ["2026-01-01", "2026-01-02", "2026-01-03"], "days %s" % sorted(days))
summ = {k: [d for d in v if d["finding"] == "summary"][0] for k, v in days.items()}
need(summ["2026-01-01"]["partial"] and summ["2026-01-03"]["partial"], "edge days not partial")
need(not summ["2026-01-02"]["partial"], "2026-01-02 partial: %s" % summ["2026-01-02"])
need(summ["2026-01-02"]["slotsPresent"] == 288, "slots %s" % summ["2026-01-02"]["slotsPresent"])
def check_day(lines, what, beacon_slots, receiver_slots):
    cc = {d["ip"]: d for d in lines if d.get("finding", d["kind"]) == "ccSuspect"}
    want = roles["beacon"] | (roles["receiver"] if receiver_slots else set())
    need(set(cc) == want, "%s: suspects %s, want %s" % (what, sorted(cc), sorted(want)))
    b = cc.get(next(iter(roles["beacon"])))
    if b:
        need(b["contactSlots"] == beacon_slots, "%s: beacon slots %s" % (what, b["contactSlots"]))
        need([c["ip"] for c in b["contacts"]] == list(roles["beaconPeer"]), "%s: beacon peers %s" % (what, b["contacts"]))
        need(b["contacts"][0]["how"] == "started", "%s: beacon how %s" % (what, b["contacts"]))
        need(b["beacon"] is True and b["meanGapSlots"] == 12, "%s: beacon regularity %s %s" % (what, b["beacon"], b["meanGapSlots"]))
    r = cc.get(next(iter(roles["receiver"])))
    if r and receiver_slots:
        need(r["receivedOnly"] and r["contactSlots"] == receiver_slots and r["flows"] == 0,
             "%s: receiver %s" % (what, r))
        need([c["ip"] for c in r["contacts"]] == list(roles["sender"]), "%s: receiver peers" % what)
        need(r["contacts"][0]["how"] == "received" and r["offender"], "%s: receiver how" % what)
    order = [d["ip"] for d in lines if d.get("finding", d["kind"]) == "ccSuspect"]
    macs = {d["mac"]: d for d in lines if d.get("finding", d["kind"]) == "macMultiIp"}
    need(set(macs) == {"02:00:00:00:00:aa"}, "%s: MACs %s" % (what, sorted(macs)))
    m = macs.get("02:00:00:00:00:aa")
    if m:
        need([i["ip"] for i in m["ips"]] == ["10.10.5.8", "10.10.5.9"], "%s: MAC IPs %s" % (what, m["ips"]))
        need(m["places"] == ["gw1 Vlan10"], "%s: MAC places %s" % (what, m["places"]))
    return order
check_day(days["2026-01-02"], "stored 2026-01-02", 24, 2)
utc = [json.loads(l) for l in open(T + "/utc.jsonl")]
need(utc[-1]["kind"] == "dailySummary" and not utc[-1]["partial"], "utc summary %s" % utc[-1])
order = check_day(utc[:-1], "daily --json 2026-01-02", 24, 2)
need(order[0] in roles["receiver"], "fewest flows first: %s" % order)
for d in utc[:-1]:
    need(d["site"] == "campus" and d["date"] == "2026-01-02", "json line %s" % d)
live = [json.loads(l) for l in open(T + "/live/stored.jsonl")]
need(sorted({d["date"] for d in live}) == ["2026-01-01", "2026-01-02"], "collector's days %s" % sorted({d["date"] for d in live}))
check_day([d for d in live if d["date"] == "2026-01-02"], "collector 2026-01-02", 24, 2)
findings = lambda ds: sorted(json.dumps(d, sort_keys=True) for d in ds
                             if d["date"] == "2026-01-02" and d["finding"] != "summary")
need(findings(live) == findings(stored), "the collector's findings of 2026-01-02 differ from the replay's")
ny = [json.loads(l) for l in open(T + "/ny.jsonl")]
need(ny[-1]["partial"] and ny[-1]["timeZone"] == "America/New_York", "ny summary %s" % ny[-1])
# 22:00Z .. 05:00Z: seven hourly contacts; the receiver's come at 03:30Z on 2026-01-02.
check_day(ny[:-1], "New York 2026-01-01", 7, 1)
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
EOF
log "report of 2026-01-02:"
sed 's/^/    /' "$T/reports/campus-2026-01-02.txt" >&2
log "ok ($SECONDS s)"
OK=1
