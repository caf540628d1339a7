#!/usr/bin/env bash
# attack: the fast path end to end (docs/attacks.md). tools/genexport writes
# IPFIX export of a campus (10.0.0.0/16, 2000 active hosts, seven slots)
# with planted behaviours (--plant):
#   - a SYN flood of 100 000 packets/s from 5 000 spoofed sources at
#     10.0.77.7 from 600 s to 630 s, exported every 5 s per source;
#   - an answered 800 Mbit/s download to 10.0.5.5 (300 s .. 900 s);
#   - a busy server 10.0.6.6 with 2 000 new clients a second (900 .. 1020 s);
#   - a 60 000 packets/s UDP flow to 10.0.8.8 exported once, as one record
#     of an 1800-second active timeout, and one to 10.0.8.9 exported every
#     60 s (a 60-second active timeout).
# `nfsentry replay --docs -` must give exactly one attack event: 10.0.77.7,
# in, syn, detected within 8 s of export time of the flood's start, ended
# after it stopped (within 15 s), the spoofed sources on top, its peak near
# 100 000 packets/s; nothing for the transfer, the server or the long
# records. The hook receives every attack document. The same flood exported
# with 1:1000 sampling (the collector scales it back, exporters.sampling) is
# detected at the same rate. A flood of UDP fragments under the UDP thresholds is a
# fragments event, from NetFlow v9 and from IPFIX. A hook that hangs is killed at its time-out and
# a failing one is counted; the replay still succeeds. Live, an attack going on across a
# restart of `nfsentry run` keeps its event, and one that stopped while the collector was
# down ends; /api/v1/attacks shows an attack within seconds of its start, long before its
# slot is stored, with its updates and then its end.
set -euo pipefail
PROG=attack
. "$SOURCE_DIR/tests/integration/lib.sh"
: "${BUILD_DIR:?}"
GENEXPORT=${GENEXPORT:-$BUILD_DIR/tools/genexport}
PY=/usr/bin/python3
[ -x "$GENEXPORT" ] || die "genexport not built: $GENEXPORT"
lib_init attack "${ATTACK_KEEP:-0}"
OK=0

START=1767225600 # 2026-01-01T00:00:00Z, a slot boundary
FLOOD_S=600
FLOOD_DUR=30

"$GENEXPORT" -o "$T/export.pcap" --records 70000 --slots 7 --inside 10.0.0.0/16 \
	--inside-hosts 2000 --start $START \
	--plant flood,ip=10.0.77.7,start=$FLOOD_S,dur=$FLOOD_DUR,pps=100000,sources=5000,proto=syn \
	--plant transfer,ip=10.0.5.5,start=300,dur=600,bps=800000000 \
	--plant server,ip=10.0.6.6,start=900,dur=120,cps=2000 \
	--plant long,ip=10.0.8.8,start=0,dur=2000,pps=60000,timeout=1800 \
	--plant long,ip=10.0.8.9,start=0,dur=2000,pps=60000,timeout=60 \
	2>"$T/genexport.log" || die "genexport: $(cat "$T/genexport.log")"
log "$(cat "$T/genexport.log")"

cat >"$T/a.yaml" <<EOF
log:
  level: warn
sites:
  - name: campus
    inside: [10.0.0.0/16]
store:
  path: $T/store.db
attack:
  enabled: true
  hook: cat >> $T/hook.out
EOF

"$NFSENTRY" replay "$T/export.pcap" -c "$T/a.yaml" --docs - >"$T/docs.jsonl" 2>"$T/replay.err" ||
	die "replay failed: $(tail -5 "$T/replay.err")"
grep '"kind":"attack"' "$T/docs.jsonl" >"$T/attack.jsonl" || die "no attack document"

# Check one event's documents against what was planted; prints the figures. The
# defaults are the SYN flood's: 10.0.77.7, syn, 100 000 packets/s, port 80, TCP.
check_event() { # FILE START_S DUR_S TOLERANCE_PCT [IP CLASS PPS PORT PROTO]
	"$PY" - "$@" <<'PYEOF'
import json, sys
path, start_s, dur_s, tol = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ip, cls, pps, port, proto = (sys.argv[5:10] + ["10.0.77.7", "syn", "100000", "80", "6"][len(sys.argv[5:10]):])
pps, port, proto = float(pps), int(port), int(proto)
docs = [json.loads(l) for l in open(path)]
bad = []
ids = {d["id"] for d in docs}
if len(ids) != 1:
    bad.append("want one event, got %d: %s" % (len(ids), sorted({(d["ip"], d["direction"], d["class"]) for d in docs})))
d0 = docs[0]
if (d0["ip"], d0["direction"], d0["class"]) != (ip, "in", cls):
    bad.append("event is %s %s %s" % (d0["ip"], d0["direction"], d0["class"]))
states = [d["state"] for d in docs]
if states[0] != "start" or states[-1] != "end" or states.count("end") != 1:
    bad.append("states %s" % states)
if [d["seq"] for d in docs] != list(range(len(docs))):
    bad.append("seq %s" % [d["seq"] for d in docs])
att0, att1 = start_s * 1000, (start_s + dur_s) * 1000
lat = d0["detected"] - att0
if not 0 <= lat <= 8000:
    bad.append("detected %d ms after the flood started" % lat)
end = docs[-1]
if not att1 <= end["end"] <= att1 + 15000:
    bad.append("end %d ms after the flood stopped" % (end["end"] - att1))
peak = end["peak"]["pps"]
if abs(peak - pps) > pps * tol / 100:
    bad.append("peak %.0f pps, want %.0f +- %g %%" % (peak, pps, tol))
src = end["sources"]
if len(src) != 10 or not all(s["ip"].startswith(("203.0.113.", "198.51.")) for s in src):
    bad.append("sources %s" % src)
if end["ports"][0]["port"] != port or end["protocols"][0]["proto"] != proto:
    bad.append("ports %s protocols %s" % (end["ports"], end["protocols"]))
for b in bad:
    print("MISMATCH " + b)
print("event %s: detected %.1f s after the flood's start (start %+.1f s), ended %.1f s after it stopped, peak %.0f pps, %d documents"
      % (d0["id"], lat / 1000, (d0["start"] - att0) / 1000, (end["end"] - att1) / 1000, peak, len(docs)))
sys.exit(1 if bad else 0)
PYEOF
}

out=$(check_event "$T/attack.jsonl" $((START + FLOOD_S)) $FLOOD_DUR 5) || die "$out"
log "unsampled: $out"
grep -q 'warn: attack: site campus 10.0.77.7 in syn started' "$T/replay.err" || die "no start log line"
grep -q 'warn: attack: site campus 10.0.77.7 in syn ended' "$T/replay.err" || die "no end log line"
# The hook got every document, in order (the replay waits for it at exit).
cmp -s "$T/attack.jsonl" "$T/hook.out" || die "the hook's input differs from the attack documents"
# The store holds them too: the documents of kind attack, by slot.
n_store=$("$PY" -c "
import sqlite3,sys
c=sqlite3.connect(sys.argv[1])
print(c.execute(\"select count(*) from documents where kind='attack'\").fetchone()[0])" "$T/store.db")
[ "$n_store" = "$(wc -l <"$T/attack.jsonl")" ] || die "store holds $n_store attack documents"

# --- the same flood, sampled 1:1000 -------------------------------------------
"$GENEXPORT" -o "$T/sampled.pcap" --records 200 --slots 1 --inside 10.0.0.0/16 --start $START \
	--plant flood,ip=10.0.77.7,start=120,dur=$FLOOD_DUR,pps=100000,sources=5000,proto=syn,sample=1000 \
	2>>"$T/genexport.log" || die "genexport (sampled) failed"
cat >"$T/s.yaml" <<EOF
log:
  level: warn
exporters:
  sampling:
    - {exporter: 127.0.0.1, rate: 1000}
    - {exporter: 127.0.0.2, rate: 1000}
sites:
  - name: campus
    inside: [10.0.0.0/16]
attack:
  enabled: true
EOF
"$NFSENTRY" replay "$T/sampled.pcap" -c "$T/s.yaml" --no-store --docs - >"$T/sdocs.jsonl" \
	2>"$T/sreplay.err" || die "replay (sampled) failed"
grep '"kind":"attack"' "$T/sdocs.jsonl" >"$T/sattack.jsonl" || die "sampled: no attack document"
out=$(check_event "$T/sattack.jsonl" $((START + 120)) $FLOOD_DUR 15) || die "sampled: $out"
log "sampled 1:1000: $out"

# --- a flood of UDP fragments, NetFlow v9 and IPFIX ------------------------------
# 60 000 packets/s of fragmented 2 960-byte DNS answers from 2 000 sources at 10.0.9.9:
# under udp's 100 000 packets/s and 1 Gbit/s (710 Mbit/s), over fragments' 10 000
# packets/s. Exactly one event, of class fragments (none of udp); the busiest port is 0
# (second fragments have no UDP header).
cat >"$T/fr.yaml" <<EOF
log:
  level: warn
sites:
  - name: campus
    inside: [10.0.0.0/16]
attack:
  enabled: true
EOF
for ver in 9 10; do
	"$GENEXPORT" -o "$T/frag$ver.pcap" --records 200 --slots 1 --inside 10.0.0.0/16 --start $START \
		--version $ver --plant flood,ip=10.0.9.9,start=120,dur=$FLOOD_DUR,pps=60000,sources=2000,proto=frag \
		2>>"$T/genexport.log" || die "genexport (fragments, v$ver) failed"
	"$NFSENTRY" replay "$T/frag$ver.pcap" -c "$T/fr.yaml" --no-store --docs - >"$T/fdocs$ver.jsonl" \
		2>"$T/freplay$ver.err" || die "replay (fragments, v$ver) failed: $(tail -3 "$T/freplay$ver.err")"
	grep '"kind":"attack"' "$T/fdocs$ver.jsonl" >"$T/fattack$ver.jsonl" || die "fragments v$ver: no attack document"
	out=$(check_event "$T/fattack$ver.jsonl" $((START + 120)) $FLOOD_DUR 5 10.0.9.9 fragments 60000 0 17) ||
		die "fragments v$ver: $out"
	log "fragments (v$ver): $out"
done
grep -q 'warn: attack: site campus 10.0.9.9 in fragments started' "$T/freplay10.err" || die "no start log line for the fragments event"

# --- hooks that hang or fail ----------------------------------------------------
sed "s#  hook: .*#  hook: sleep 30\n  hook_timeout_ms: 200#" "$T/a.yaml" >"$T/h.yaml"
sed -i "s#path: $T/store.db#path: $T/store2.db#" "$T/h.yaml"
t0=$(date +%s)
"$NFSENTRY" replay "$T/export.pcap" -c "$T/h.yaml" --quiet 2>"$T/hang.err" ||
	die "replay with a hanging hook failed: $(tail -3 "$T/hang.err")"
n_docs=$(wc -l <"$T/attack.jsonl")
n_kill=$(grep -c 'attack hook: sleep 30: killed after 200 ms' "$T/hang.err" || true)
[ "$n_kill" = "$n_docs" ] || die "hanging hook: $n_kill kills for $n_docs documents"
[ $(($(date +%s) - t0)) -lt 60 ] || die "the hanging hook held the replay up"
sed "s#  hook: .*#  hook: exit 7#" "$T/a.yaml" >"$T/f.yaml"
sed -i "s#path: $T/store.db#path: $T/store3.db#" "$T/f.yaml"
"$NFSENTRY" replay "$T/export.pcap" -c "$T/f.yaml" --quiet 2>"$T/fail.err" ||
	die "replay with a failing hook failed"
n_fail=$(grep -c 'attack hook: exit 7: exit status 7' "$T/fail.err" || true)
[ "$n_fail" = "$n_docs" ] || die "failing hook: $n_fail failures logged for $n_docs documents"
log "hook: hanging one killed $n_kill times at 200 ms, failing one logged $n_fail times"

# --- across a restart (live) --------------------------------------------------------
# `nfsentry run` with a store keeps its open attack events across a stop and a start
# (docs/attacks.md, "Across a restart"). A SYN flood sent at 60x the capture's pace
# (about 120 000 packets/s on the collector's clock) opens an event; a stop during it
# saves it. (1) The flood sent again right after the start: the same event goes on --
# the hook sees one start and one end, all with one id, seq counting on across the
# restart. (2) A stop during the flood and a start with no more flood: the saved event
# ends, with an end no later than the stop.
port=
for _ in $(seq 1 50); do
	p=$((20000 + RANDOM % 40000))
	if ! ss -Hlun "( sport = :$p )" | grep -q .; then port=$p; break; fi
done
[ -n "$port" ] || die "no free UDP port found"
"$GENEXPORT" -o "$T/live.pcap" --records 1 --slots 1 --inside 10.0.0.0/16 --start $START \
	--plant flood,ip=10.0.66.6,start=0,dur=600,pps=2000,sources=200,proto=syn \
	2>>"$T/genexport.log" || die "genexport (live flood) failed"
cat >"$T/live.yaml" <<EOF
log:
  level: info
listen:
  - 127.0.0.1:$port
sites:
  - name: campus
    inside: [10.0.0.0/16]
store:
  path: $T/live/store.db
web:
  listen: []
attack:
  enabled: true
  hook: cat >> $T/live-hook.out
EOF
mkdir -p "$T/live"
lpid=
live_start() { # LOG
	"$NFSENTRY" run -c "$T/live.yaml" 2>"$T/$1.log" &
	lpid=$!
	PIDS+=("$lpid")
	for _ in $(seq 1 100); do
		grep -q 'listening on udp' "$T/$1.log" && return 0
		proc_alive "$lpid" || die "collector exited at start ($1): $(tail -3 "$T/$1.log")"
		sleep 0.1
	done
	die "collector did not start listening ($1)"
}
live_stop() {
	kill -TERM "$lpid"
	local rc=0
	wait "$lpid" || rc=$?
	forget_pid "$lpid"
	[ "$rc" -eq 0 ] || die "collector exited with status $rc"
}
live_send() {
	"$NFSENTRY" send "$T/live.pcap" --to "127.0.0.1:$port" --speed 60 >/dev/null 2>>"$T/send.log" ||
		die "send failed: $(tail -3 "$T/send.log")"
}
# Check the hook's documents of one run pair: one event, one start, one end; prints its id.
check_live() { # FILE MAX_END_MS
	"$PY" - "$@" <<'PYEOF'
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
max_end = int(sys.argv[2])
ids = {d["id"] for d in docs}
states = [d["state"] for d in docs]
bad = []
if len(ids) != 1:
    bad.append("want one event, got %d: %s" % (len(ids), [(d["id"], d["state"], d["seq"]) for d in docs]))
if states.count("start") != 1 or states.count("end") != 1 or states[0] != "start" or states[-1] != "end":
    bad.append("states %s" % states)
if [d["seq"] for d in docs] != list(range(len(docs))):
    bad.append("seq %s" % [d["seq"] for d in docs])
if len({d["start"] for d in docs}) != 1:
    bad.append("starts %s" % sorted({d["start"] for d in docs}))
if (docs[0]["ip"], docs[0]["class"]) != ("10.0.66.6", "syn"):
    bad.append("event %s %s" % (docs[0]["ip"], docs[0]["class"]))
if max_end and docs[-1].get("end", 0) > max_end:
    bad.append("end %d after the stop %d" % (docs[-1]["end"], max_end))
for b in bad:
    print("MISMATCH " + b)
print("%s: %d documents, %s" % (docs[0]["id"], len(docs), " ".join(states)))
sys.exit(1 if bad else 0)
PYEOF
}
# (1) going on across the restart
live_start live1
live_send
live_stop
grep -q 'restart: 1 open attack events saved' "$T/live1.log" || die "the stop did not save the open event: $(grep -i attack "$T/live1.log" | tail -3)"
grep -q 'in syn ended' "$T/live1.log" && die "the stop ended the event"
live_start live2
grep -q 'restart: attack events saved .*: 1 going on' "$T/live2.log" || die "the start did not take the event back: $(grep restart "$T/live2.log")"
live_send
sleep 14 # the flood's tail (5 s), the windows to go quiet (5 s), margin
live_stop
grep -q 'in syn started' "$T/live2.log" && die "the restarted run opened a new event"
out=$(check_live "$T/live-hook.out" 0) || die "across a restart: $out"
log "across a restart, going on: $out"
# (2) ended while down
mv "$T/live-hook.out" "$T/live-hook1.out"
live_start live3
live_send
stop_ms=$(($(date +%s%3N) + 1000))
live_stop
live_start live4
sleep 13 # the window refilling (6 s), five quiet windows, margin
live_stop
out=$(check_live "$T/live-hook.out" "$stop_ms") || die "ended while down: $out"
log "across a restart, ended while down: $out"

# --- on the dashboard in seconds (live) ---------------------------------------------
# /api/v1/attacks shows an attack while it goes on, from the live table, long before
# its slot closes (slots.grace_s 290: nothing of the flood is stored until the stop),
# with its rates as updates arrive, and then its end.
wport=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s|$T/live/store.db|$T/dash/store.db|" -e "s|listen: \[\]|listen: [127.0.0.1:$wport]|" \
	-e "s|$T/live-hook.out|$T/dash-hook.out|" "$T/live.yaml" >"$T/dash.yaml"
printf '  update_s: 2\nslots:\n  grace_s: 290\n' >>"$T/dash.yaml" # attack: is the last section
mkdir -p "$T/dash"
"$NFSENTRY" run -c "$T/dash.yaml" 2>"$T/dash.log" &
lpid=$!
PIDS+=("$lpid")
for _ in $(seq 1 100); do
	grep -q 'listening on udp' "$T/dash.log" && break
	proc_alive "$lpid" || die "collector exited at start (dash): $(tail -3 "$T/dash.log")"
	sleep 0.1
done
"$PY" - "http://127.0.0.1:$wport/api/v1/attacks?site=campus" "$T/dash/store.db" \
	>"$T/dash.out" 2>&1 <<'PYEOF' &
import json, sqlite3, sys, time, urllib.request
url, db = sys.argv[1], sys.argv[2]
t0 = time.monotonic()
seen = ended = None
seqs = []
while time.monotonic() - t0 < 90 and not ended:
    try:
        docs = json.load(urllib.request.urlopen(url, timeout=2))
    except Exception:
        docs = []
    for d in docs:
        if d.get("ip") != "10.0.66.6" or d.get("class") != "syn":
            continue
        if not seqs or seqs[-1] != d["seq"]:
            seqs.append(d["seq"])
        if seen is None and "end" not in d:
            seen = time.monotonic() - t0
            con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
            stored = con.execute("SELECT count(*) FROM documents WHERE kind='attack'").fetchone()[0]
            con.close()
            print("seen %.1f s after the send started, seq %d, current %.0f packets/s, stored attack documents %d"
                  % (seen, d["seq"], d["current"]["pps"], stored))
            if stored:
                print("MISMATCH the event was stored already")
        if "end" in d:
            ended = time.monotonic() - t0
            print("ended, seen %.1f s after the send started, seq %d" % (ended, d["seq"]))
    time.sleep(0.25)
if seen is None or seen > 15:
    print("MISMATCH not shown ongoing within 15 s")
if ended is None:
    print("MISMATCH no end shown")
if len(seqs) < 3 or seqs != sorted(seqs):
    print("MISMATCH updates not shown in order: %s" % seqs)
print("seqs shown: %s" % seqs)
PYEOF
ppid=$!
"$NFSENTRY" send "$T/live.pcap" --to "127.0.0.1:$port" --speed 60 >/dev/null 2>>"$T/send.log" ||
	die "send failed: $(tail -3 "$T/send.log")"
wait "$ppid" || true
live_stop
grep -q MISMATCH "$T/dash.out" && die "dashboard: $(cat "$T/dash.out")"
grep -q '^seen ' "$T/dash.out" || die "dashboard: $(cat "$T/dash.out")"
log "dashboard: $(tr '\n' ';' <"$T/dash.out")"

OK=1
log "ok"
