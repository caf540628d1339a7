#!/bin/bash
# campus.sh: the judge end to end, on a synthetic campus with planted
# behaviours, through a real exporter.
#
# 1. `gentraffic --scenario campus` writes a deterministic capture of the
#    campus 10.10.0.0/16 + 2001:db8:100::/48 over 660 s from 30 s after a slot
#    boundary, in one-minute pieces, and a manifest of who is who
#    (tests/data/campus/README.md describes the scenario and its figures).
# 2. Every piece is exported by its own softflowd as IPFIX (or v9) to a UDP
#    sink on 127.0.0.1 while dumpcap records the export datagrams.
# 3. The capture's timestamps are set to each datagram's export time: that is
#    what a capture taken at the collector shows, and replay uses capture
#    time as its clock. (softflowd reads the pieces in a few seconds of wall
#    time, months after the traffic's date; unchanged, every record would
#    count as late and fold into one slot.)
# 4. `nfsentry replay --flows csv` gives the records the export carried;
#    `nfsentry replay -c campus.yaml --docs -` the documents of every slot.
# 5. The documents must say exactly what was planted, in the right slot and
#    nothing else: scan + probeUnused + noPayload on the scanner in the first
#    slot, flood (udp) on the flooder in the second, p2p on the p2p host in
#    both, fanout and scanOut on their hosts in the second, and no label on
#    any client, server, resolver or peer in any slot. Each slot's totals
#    must equal what the flow records say, record for record.
#
# Exit 0 when all holds; otherwise 1 with every mismatch and the figures of
# the documents concerned on stderr (the work directory is kept).
#
# Environment: NFSENTRY, BUILD_DIR (from meson), and optionally
#   CAMPUS_VERSION   10 (IPFIX, default) or 9
#   CAMPUS_PORT      UDP port of the export (default 29065, or a random free one if taken)
#   CAMPUS_SEED      gentraffic seed (default 1)
#   CAMPUS_KEEP=1    keep the work directory on success too
#   CAMPUS_EXPORT_ONLY=1  stop after the export and the --flows check
#   CAMPUS_REFLECT=0 leave out gentraffic's "reflect" scenario (default on):
#                    a DNS reflection flood at 10.10.1.6 in the second slot,
#                    which must be labelled flood on the reflector
#                    (docs/testing.md, docs/judge.md)
set -euo pipefail

PROG=campus
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${BUILD_DIR:?BUILD_DIR must point at the meson build directory}"
NFSENTRY=${NFSENTRY:-$BUILD_DIR/src/nfsentry}
GENTRAFFIC=${GENTRAFFIC:-$BUILD_DIR/tools/gentraffic}
HERE=$(cd "$(dirname "$0")" && pwd)
VERSION=${CAMPUS_VERSION:-10}
PORT=${CAMPUS_PORT:-$(free_port_base 29065 1)}
SEED=${CAMPUS_SEED:-1}
START=1767225630 # 2026-01-01T00:00:30Z: slot 5890752 + 30 s
DURATION=660
SPLIT=60
EXPORT_ONLY=${CAMPUS_EXPORT_ONLY:-0}
SCENARIO=campus
[ "${CAMPUS_REFLECT:-1}" = 1 ] && SCENARIO=campus,reflect
PY=/usr/bin/python3 # Debian's, whatever else is on PATH

case $VERSION in 9 | 10) ;; *) die "CAMPUS_VERSION must be 9 or 10 (v5 has no IPv6)" ;; esac
require_tools softflowd softflowctl dumpcap ss timeout
[ -x "$PY" ] || die "$PY not found"
[ -x "$GENTRAFFIC" ] || die "gentraffic not built: $GENTRAFFIC"
[ -x "$NFSENTRY" ] || die "nfsentry not built: $NFSENTRY"

lib_init campus "${CAMPUS_KEEP:-0}"
SECONDS=0

# ---------------------------------------------------------------- capture

"$GENTRAFFIC" --scenario "$SCENARIO" -o "$T/traffic.pcap" --seed "$SEED" --start "$START" \
	--duration "$DURATION" --split "$SPLIT" --snaplen 128 --manifest "$T/manifest.txt" -v \
	2>"$T/gentraffic.log" || die "gentraffic failed: $(cat "$T/gentraffic.log")"
PIECES=("$T"/traffic-[0-9][0-9][0-9].pcap)
CAP_PACKETS=$(sed -n 's/.* \([0-9]*\) packets,.*/\1/p' "$T/gentraffic.log")
[ -n "$CAP_PACKETS" ] || die "cannot read the packet count from gentraffic -v"
log "$(cat "$T/gentraffic.log") in ${#PIECES[@]} pieces"

# ---------------------------------------------------------------- export

# A receiver, so that softflowd's connected socket gets no ICMP port
# unreachable; the datagrams themselves are what dumpcap records.
port_free "$PORT" || die "UDP port $PORT is busy (set CAMPUS_PORT)"
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
wait_udp_listen "$PORT" 10 || die "the UDP sink did not listen on $PORT: $(cat "$T/sink.log")"
capture_start "$PORT" "$T/export-raw.pcap" "$T/dumpcap.log"
for piece in "${PIECES[@]}"; do
	run_softflowd "$VERSION" "$piece" "$PORT" "$T/softflowd.log" ||
		die "softflowd -v $VERSION failed on $piece (see $T/softflowd.log)"
done
sleep 1
capture_stop "$T/dumpcap.log" "the export"
stop_pid "$SINK"

# Each datagram's capture time := its export time (header unix_secs for v9,
# Export Time for IPFIX). Fails on anything that is not an export datagram.
"$PY" - "$T/export-raw.pcap" "$T/export.pcap" <<'EOF' || die "cannot retime the export capture"
import struct, sys
src, dst = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
magic = data[:4]
if magic == b"\xd4\xc3\xb2\xa1":
    e = "<"
elif magic == b"\xa1\xb2\xc3\xd4":
    e = ">"
else:
    sys.exit("%s: not a microsecond pcap file (magic %s)" % (src, magic.hex()))
linktype = struct.unpack(e + "I", data[20:24])[0]
l2 = {1: 14, 113: 16, 228: 0}.get(linktype)
if l2 is None:
    sys.exit("%s: link type %d" % (src, linktype))
out = [data[:24]]
off, n, last = 24, 0, 0
while off < len(data):
    sec, usec, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
    pkt = data[off + 16:off + 16 + incl]
    ip = pkt[l2:]
    if ip[0] >> 4 != 4:
        sys.exit("packet %d: not IPv4" % n)
    udp = ip[(ip[0] & 15) * 4:]
    p = udp[8:]
    version = struct.unpack(">H", p[:2])[0]
    if version == 9:
        t = struct.unpack(">I", p[8:12])[0]
    elif version == 10:
        t = struct.unpack(">I", p[4:8])[0]
    else:
        sys.exit("packet %d: NetFlow version %d" % (n, version))
    if t < last:
        sys.exit("packet %d: export time %d before %d" % (n, t, last))
    last = t
    out.append(struct.pack(e + "IIII", t, 0, incl, orig) + pkt)
    off += 16 + incl
    n += 1
open(dst, "wb").write(b"".join(out))
EOF
N_DGRAMS=$(grep -o 'Packets captured: [0-9]*' "$T/dumpcap.log" | awk '{print $3}')
[ "$VERSION" = 10 ] && FORMAT=IPFIX || FORMAT="NetFlow v9"
log "export: $N_DGRAMS $FORMAT datagrams from ${#PIECES[@]} softflowd runs ($SECONDS s)"

# ---------------------------------------------------------------- records

(cd "$T" && "$NFSENTRY" replay export.pcap --flows csv >flows.csv 2>flows.log) ||
	die "nfsentry replay --flows csv failed: $(tail -5 "$T/flows.log")"
[ "$(head -n1 "$T/flows.csv")" = \
	'export_time,exporter,src,dst,sport,dport,proto,tcp_flags,packets,octets,first,last,in_if,out_if,sampling' ] ||
	die "unexpected CSV header: $(head -n1 "$T/flows.csv")"

# The planted behaviours must be in the records before the judge is asked
# about them (a failure here is the exporter's or the generator's, not the
# judge's): per role and window, records, packets, octets and distinct peers.
"$PY" - "$T/flows.csv" "$T/manifest.txt" "$CAP_PACKETS" >"$T/flows.summary" <<'EOF' ||
import collections, csv, ipaddress, sys
flows, manifest, cap_packets = sys.argv[1], sys.argv[2], int(sys.argv[3])
inside = [ipaddress.ip_network("10.10.0.0/16"), ipaddress.ip_network("2001:db8:100::/48")]
roles, windows = collections.defaultdict(set), {}
for line in open(manifest):
    f = line.split()
    if f[0] == "window":
        windows[int(f[2])] = f[1]
    else:
        roles[f[0]].add(str(ipaddress.ip_address(f[1])))
def ins(a):
    return any(ipaddress.ip_address(a) in n for n in inside)
rows = list(csv.DictReader(open(flows)))
bad = []
pk = sum(int(r["packets"]) for r in rows)
if pk != cap_packets:
    bad.append("the export carries %d packets, the capture has %d" % (pk, cap_packets))
unmatched = [r for r in rows if not ins(r["src"]) and not ins(r["dst"])]
if unmatched:
    bad.append("%d records have no end inside the campus" % len(unmatched))
# role -> window -> [records, packets in, packets out, octets in, octets out, peers]
st = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0, 0, 0, 0, set()]))
for r in rows:
    w = windows.get(int(r["export_time"]) // 300000, "?")
    for role in ("scanner", "flooder", "p2p", "fanout", "scanOut", "reflector"):
        for a, other, d in ((r["src"], r["dst"], "out"), (r["dst"], r["src"], "in")):
            if a in roles[role]:
                s = st[role][w]
                s[0] += 1
                s[1 if d == "in" else 2] += int(r["packets"])
                s[3 if d == "in" else 4] += int(r["octets"])
                if d == "out" or role in ("scanner", "flooder", "reflector"):
                    s[5].add(other)
for role in ("scanner", "flooder", "p2p", "fanout", "scanOut", "reflector"):
    for w in sorted(st[role]):
        s = st[role][w]
        print("%-8s %s: %5d records, packets in %6d out %6d, octets in %9d out %9d, %d peers"
              % (role, w, s[0], s[1], s[2], s[3], s[4], len(s[5])))
def need(cond, msg):
    if not cond:
        bad.append(msg)
g = lambda role, w: st[role].get(w, [0, 0, 0, 0, 0, set()])
need(len(g("scanner", "W0")[5] & roles["client"]) >= 50 and len(g("scanner", "W0")[5] & roles["unused"]) >= 40,
     "scanner: W0 records do not reach 50 clients and 40 unused addresses")
need(g("scanner", "W1")[0] == 0 and g("scanner", "W2")[0] == 0, "scanner: records outside W0")
need(g("flooder", "W1")[2] >= 36000 and g("flooder", "W1")[1] == 0, "flooder: W1 has not 36000 one-way packets")
need(g("flooder", "W0")[0] == 0 and g("flooder", "W2")[0] == 0, "flooder: records outside W1")
for w in ("W0", "W1"):
    s = g("p2p", w)
    need(s[3] >= 5000000 and s[4] >= 5000000 and (s[3] + s[4]) / max(1, s[1] + s[2]) <= 800
         and len(s[5]) >= 50, "p2p: %s misses volume, packet size or peers" % w)
need(len(g("fanout", "W1")[5]) >= 320, "fanout: fewer than 320 peers in W1")
need(len(g("fanout", "W0")[5]) < 200, "fanout: 200 peers or more in W0")
need(len(g("scanOut", "W1")[5]) >= 160, "scanOut: fewer than 160 peers in W1")
if roles["reflector"]:
    need(g("reflector", "W1")[2] >= 36000 and g("reflector", "W1")[1] == 0,
         "reflector: W1 has not 36000 one-way packets")
print("records %d, packets %d" % (len(rows), pk))
if bad:
    sys.stderr.write("".join("campus: FAIL (records): %s\n" % b for b in bad))
    sys.exit(1)
EOF
	die "the planted behaviours are not in the exported records (see above; $T)"
while read -r line; do log "$line"; done <"$T/flows.summary"

if [ "$EXPORT_ONLY" = 1 ]; then
	OK=1
	log "export only: done (${SECONDS} s)"
	exit 0
fi

# ---------------------------------------------------------------- documents

cp "$HERE/campus.yaml" "$T/campus.yaml"
(cd "$T" && "$NFSENTRY" replay export.pcap -c campus.yaml --docs - >docs.jsonl 2>docs.log) ||
	die "nfsentry replay --docs failed: $(tail -5 "$T/docs.log")"
[ -s "$T/docs.jsonl" ] || die "nfsentry replay --docs wrote no document: $(tail -5 "$T/docs.log")"
[ -s "$T/campus-store.db" ] || die "the store $T/campus-store.db was not written"
# Replay is deterministic (DESIGN "Clock and slots"): a second run, without
# the store, prints the same bytes.
(cd "$T" && "$NFSENTRY" replay export.pcap -c campus.yaml --no-store --docs - >docs2.jsonl 2>docs2.log) ||
	die "nfsentry replay --no-store --docs failed: $(tail -5 "$T/docs2.log")"
cmp -s "$T/docs.jsonl" "$T/docs2.jsonl" ||
	die "two replays of the same capture printed different documents ($T/docs.jsonl, docs2.jsonl)"

"$PY" - "$T/docs.jsonl" "$T/flows.csv" "$T/manifest.txt" "$T/campus-store.db" <<'EOF' || die "the judge's documents are not what was planted (work files in $T)"
import collections, csv, ipaddress, json, sqlite3, sys
docs_path, flows, manifest, store = sys.argv[1:5]
inside = [ipaddress.ip_network("10.10.0.0/16"), ipaddress.ip_network("2001:db8:100::/48")]
def norm(a):
    return str(ipaddress.ip_address(a))
def ins(a):
    return any(ipaddress.ip_address(a) in n for n in inside)
roles, slot_of, wname = collections.defaultdict(set), {}, {}
for line in open(manifest):
    f = line.split()
    if f[0] == "window":
        slot_of[f[1]] = int(f[2])
        wname[int(f[2])] = f[1]
    else:
        roles[f[0]].add(norm(f[1]))
one = lambda role: next(iter(roles[role]))
bad = []
def need(cond, msg):
    if not cond:
        bad.append(msg)

docs = []
for n, line in enumerate(open(docs_path), 1):
    try:
        d = json.loads(line)
    except ValueError as e:
        sys.exit("docs line %d is not JSON: %s" % (n, e))
    for k in ("kind", "site", "timeSlot", "@timestamp"):
        if k not in d:
            sys.exit("docs line %d has no %s" % (n, k))
    if d["kind"] != "slot":
        for k in ("ip", "labels", "reasons"):
            if k not in d:
                sys.exit("docs line %d (%s) has no %s" % (n, d["kind"], k))
        d["ip"] = norm(d["ip"])
        if set(d["labels"]) != set(d["reasons"]):
            bad.append("%s %s slot %d: labels %s but reasons for %s"
                       % (d["kind"], d["ip"], d["timeSlot"], d["labels"], sorted(d["reasons"])))
    docs.append(d)
by = collections.defaultdict(dict)  # (kind, slot) -> ip -> doc
slots = {}
for d in docs:
    need(d["site"] == "campus", "document for site %r" % d["site"])
    if d["kind"] == "slot":
        need(d["timeSlot"] not in slots, "two slot documents for slot %d" % d["timeSlot"])
        slots[d["timeSlot"]] = d
    else:
        need(d["ip"] not in by[(d["kind"], d["timeSlot"])],
             "two %s documents for %s in slot %d" % (d["kind"], d["ip"], d["timeSlot"]))
        by[(d["kind"], d["timeSlot"])][d["ip"]] = d

# --- the slot documents against the records ---------------------------------
need(sorted(slots) == sorted(slot_of.values()),
     "slot documents for %s, the capture covers %s" % (sorted(slots), sorted(slot_of.values())))
agg = collections.defaultdict(lambda: {"records": 0, "egress": [0, 0, 0], "ingress": [0, 0, 0],
                                       "internal": [0, 0, 0]})
n_rec = 0
for r in csv.DictReader(open(flows)):
    n_rec += 1
    k = int(r["export_time"]) // 300000
    s, dd = ins(r["src"]), ins(r["dst"])
    d = "internal" if s and dd else "egress" if s else "ingress" if dd else None
    if d is None:
        continue
    a = agg[k]
    a["records"] += 1
    a[d][0] += 1
    a[d][1] += int(r["packets"])
    a[d][2] += int(r["octets"])
total = 0
for k, sd in sorted(slots.items()):
    a = agg[k]
    total += sd["records"]
    need(sd["records"] == a["records"],
         "slot %d: %d records, the export has %d" % (k, sd["records"], a["records"]))
    for d in ("egress", "ingress", "internal"):
        got = [sd[d]["flows"], sd[d]["packets"], sd[d]["octets"]]
        need(got == a[d], "slot %d: %s flows/packets/octets %s, the records say %s" % (k, d, got, a[d]))
    need(sd.get("lateRecords") == 0 and sd.get("futureRecords") == 0,
         "slot %d: late %s, future %s records" % (k, sd.get("lateRecords"), sd.get("futureRecords")))
    need(all(v == 0 for v in sd.get("capsHit", {}).values()), "slot %d: caps hit %s" % (k, sd.get("capsHit")))
    n_in = len(by[("inside", k)])
    need(sd["insideActive"] == n_in, "slot %d: insideActive %d, %d inside documents" % (k, sd["insideActive"], n_in))
need(total == n_rec, "slots hold %d records in all, replay --flows csv counts %d" % (total, n_rec))

# --- labels: exactly what was planted ------------------------------------------
W0, W1 = slot_of["W0"], slot_of["W1"]
expected = {
    ("outside", W0, one("scanner"), "scan"),
    ("outside", W0, one("scanner"), "probeUnused"),
    ("outside", W0, one("scanner"), "noPayload"),   # SYNs and RSTs: 40-44 bytes
    ("outside", W1, one("flooder"), "flood"),
    ("inside", W0, one("p2p"), "p2p"),
    ("inside", W1, one("p2p"), "p2p"),
    ("inside", W1, one("fanout"), "fanout"),
    ("inside", W1, one("scanOut"), "scanOut"),
}
if roles["reflector"]:
    expected.add(("outside", W1, one("reflector"), "flood"))
actual = set()
for (kind, k), m in by.items():
    if kind in ("inside", "outside"):
        for ip, d in m.items():
            for l in d["labels"]:
                actual.add((kind, k, ip, l))
role_of = {}
for role, ips in roles.items():
    for ip in ips:
        role_of.setdefault(ip, role)
def show(kind, k, ip):
    d = by[(kind, k)].get(ip)
    if d is None:
        return "no %s document" % kind
    keep = {x: d[x] for x in d if x not in ("arrayPeer", "kind", "site", "@timestamp", "timeSlot", "ip", "ipList")}
    return json.dumps(keep, sort_keys=True)
for kind, k, ip, l in sorted(expected - actual):
    bad.append("missing: %s %s (%s) in slot %d (%s) has no %s: %s"
               % (kind, ip, role_of.get(ip, "?"), k, wname.get(k, "?"), l, show(kind, k, ip)))
for kind, k, ip, l in sorted(actual - expected):
    bad.append("unexpected: %s %s (%s) in slot %d (%s) labelled %s: %s"
               % (kind, ip, role_of.get(ip, "other"), k, wname.get(k, "?"), l, show(kind, k, ip)))
# Offenders (array C): the two attackers, each in its own slot, nothing else.
off = {(k, ip) for (kind, k), m in by.items() if kind == "offender" for ip in m}
want = {(W0, one("scanner")), (W1, one("flooder"))}
if roles["reflector"]:
    want.add((W1, one("reflector")))
for k, ip in sorted(off ^ want):
    bad.append("offender %s %s (%s) in slot %d: %s" % ("missing" if (k, ip) in want else "unexpected",
               ip, role_of.get(ip, "other"), k, show("offender", k, ip)))
for (kind, k), m in by.items():
    if kind == "outside":
        for ip, d in m.items():
            need(d.get("offender", False) == ((k, ip) in off),
                 "outside %s slot %d: offender %s but offender document %s" % (ip, k, d.get("offender"), (k, ip) in off))

# --- the figures behind the planted labels ---------------------------------------
def reason(kind, k, ip, l):
    return by[(kind, k)].get(ip, {}).get("reasons", {}).get(l, {})
r = reason("outside", W1, one("flooder"), "flood")
need(r.get("protocol") == "udp" and r.get("targets") == 1 and r.get("packets", 0) >= 36000,
     "flood reason: %s (want protocol udp, 1 target, >= 36000 packets)" % r)
r = reason("outside", W0, one("scanner"), "scan")
active_clients = roles["client"] & set(by[("inside", W0)])
od = by[("offender", W0)].get(one("scanner"), {})
hit = set(map(norm, od.get("ipList", []))) & active_clients
need(len(active_clients) > 0 and len(hit) * 2 > len(active_clients),
     "scanner reached %d of %d active clients in slot %d" % (len(hit), len(active_clients), W0))
need(od.get("unusedTouched") == len(roles["unused"]),
     "scanner: unusedTouched %s, %d unused addresses were probed" % (od.get("unusedTouched"), len(roles["unused"])))
r = reason("inside", W1, one("fanout"), "fanout")
need(r.get("peers") == 320 and r.get("peerCap") == 200, "fanout reason: %s (want 320 peers, cap 200)" % r)
# The allow-list is what keeps the web server quiet: it is past the cap.
for k in (W0, W1):
    for ip in roles["webServer"] | roles["dnsServer"]:
        d = by[("inside", k)].get(ip)
        need(d is not None and d.get("allowListed") is True, "server %s slot %d: not allow-listed or absent" % (ip, k))
    d = by[("inside", k)].get("10.10.0.80", {})
    need(d.get("peerCapHit") is True, "web server slot %d: peers %s, below the cap: the allow-list is not tested"
         % (k, d.get("peers")))
# The inside scanner's victims sent RSTs, 40 of them each for the port-scanned
# ones: enough packets for a noPayload label had they counted as started.
for ip in roles["portScanned"]:
    d = by[("outside", W1)].get(ip)
    need(d is not None and d.get("fromPackets", 0) >= 20 and d.get("startedTargets") == 0 and not d["labels"],
         "scanOut victim %s: %s" % (ip, d and show("outside", W1, ip)))
# Every client and server is in A in the first two slots.
for k in (W0, W1):
    missing = (roles["client"] | roles["webServer"]) - set(by[("inside", k)])
    need(not missing, "slot %d: no inside document for %s" % (k, sorted(missing)))

# --- the store holds the same documents, and says how many per slot ------------
try:
    db = sqlite3.connect("file:%s?mode=ro" % store, uri=True)
    # The daily analysis's pseudo-site (docs/daily.md) is not the judge's.
    stored = [json.loads(r[0]) for r in db.execute("SELECT doc FROM documents WHERE site = 'campus'")]
    per_slot = dict(db.execute("SELECT time_slot, n_docs FROM slots WHERE site = 'campus'"))
    canon = lambda v: sorted(json.dumps(d, sort_keys=True) for d in v)
    if canon(stored) != canon(docs):
        bad.append("the store holds %d documents, --docs printed %d, and they differ"
                   % (len(stored), len(docs)))
    n_by_slot = collections.Counter(d["timeSlot"] for d in docs)
    need(per_slot == dict(n_by_slot), "store slots.n_docs %s, --docs printed %s" % (per_slot, dict(n_by_slot)))
except sqlite3.Error as e:
    bad.append("cannot read the store %s: %s" % (store, e))

# --- report --------------------------------------------------------------------
for k, sd in sorted(slots.items()):
    print("slot %d (%s): %d records, %d inside active, %d outside, labels %s"
          % (k, wname.get(k, "?"), sd["records"], sd["insideActive"], sd["outsideSeen"],
             {l: v for l, v in sd["labels"].items() if v}))
for kind, k, ip, l in sorted(expected & actual, key=lambda x: (x[1], x[2], x[3])):
    r = dict(reason(kind, k, ip, l))
    print("  %s %s %s: %s %s" % (wname[k], role_of.get(ip), l, ip, json.dumps(r, sort_keys=True)))
if bad:
    sys.stderr.write("".join("campus: FAIL: %s\n" % b for b in bad))
    sys.exit(1)
EOF
OK=1
log "all planted behaviours labelled as expected, nothing else labelled (${SECONDS} s)"
