#!/bin/bash
# footprint.sh: rule III end to end (docs/offenders.md) -- the offender
# database, the block-list and the footprints of watched IPs ("where else it
# struck"), from a generated export capture replayed through the collector.
#
# 1. `genexport` writes IPFIX from two exporters (127.0.0.1, 127.0.0.2) for
#    a campus whose scanners probe 10.10.0.0/16 and 10.99.0.0/16 alike, over
#    three slots. Only 10.10.0.0/16 is a site: every probe of 10.99.0.0/16
#    belongs to no site, and the engine drops those records.
# 2. `nfsentry replay` judges the campus; its offenders go into the offender
#    database, are blocked, and are watched from the next slot on.
# 3. Checks: `offenders --json` has the fields the manual promises; the
#    block-list lists exactly the blocked addresses under its header; an
#    offender the campus found has, in a later slot, a footprint document
#    naming both exporters and /24s of 10.99.0.0/16 that belong to no site;
#    a second replay into a fresh directory gives the same database and the
#    same network documents (replay is deterministic); a replay of the same
#    capture into the same directory changes nothing (offences are recorded
#    once per site and slot).
set -euo pipefail

PROG=footprint
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${BUILD_DIR:?BUILD_DIR must point at the meson build directory}"
NFSENTRY=${NFSENTRY:-$BUILD_DIR/src/nfsentry}
GENEXPORT=${GENEXPORT:-$BUILD_DIR/tools/genexport}
PY=/usr/bin/python3
[ -x "$GENEXPORT" ] || die "genexport not built: $GENEXPORT"

lib_init footprint "${FOOTPRINT_KEEP:-0}"

"$GENEXPORT" -o "$T/export.pcap" --records 60000 --slots 3 --exporters 2 \
	--inside 10.10.0.0/16 --inside 10.99.0.0/16 --start 1767225600 2>"$T/genexport.log" ||
	die "genexport failed: $(cat "$T/genexport.log")"

cat >"$T/fp.yaml" <<'EOF'
log:
  level: warn
sites:
  - name: campus
    inside: [10.10.0.0/16]
store:
  path: data/nfsentry.db
EOF

run_replay() { # DIR
	mkdir -p "$1"
	cp "$T/fp.yaml" "$1/"
	(cd "$1" && "$NFSENTRY" replay "$T/export.pcap" -c fp.yaml --quiet 2>replay.log) ||
		die "replay in $1 failed: $(tail -5 "$1/replay.log")"
	(cd "$1" && "$NFSENTRY" offenders -c fp.yaml --json >offenders.json &&
		"$NFSENTRY" offenders -c fp.yaml --json --blocked >blocked.json &&
		"$NFSENTRY" offenders -c fp.yaml >offenders.txt) || die "offenders in $1 failed"
	"$PY" - "$1/data/nfsentry.db" >"$1/network.json" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
for (doc,) in db.execute("SELECT doc FROM documents WHERE site = '_network' "
                         "ORDER BY time_slot, kind, key"):
    print(doc)
EOF
}

run_replay "$T/a"
run_replay "$T/b"

"$PY" - "$T/a" <<'EOF' || die "the offender database or the footprints are wrong (work files in $T)"
import ipaddress, json, sys
d = sys.argv[1]
bad = []
def need(c, m):
    if not c:
        bad.append(m)
offenders = [json.loads(l) for l in open(d + "/offenders.json")]
blocked = [json.loads(l) for l in open(d + "/blocked.json")]
need(len(offenders) >= 10, "only %d offenders" % len(offenders))
for o in offenders:
    for k in ("ip", "offences", "sites", "labels", "blocked", "blockedUntil"):
        need(k in o, "%s: no %s" % (o.get("ip"), k))
need(all(o["sites"] == ["campus"] for o in offenders), "an offender outside campus")
need(blocked and all(o["blocked"] for o in blocked), "--blocked lists unblocked ones")
need(len(blocked) == sum(o["blocked"] for o in offenders), "--blocked misses some")
need(all(o["blockedUntil"] for o in blocked), "a block without an end")
# The block-list: header, then exactly the blocked addresses.
lines = open(d + "/data/blocklist.txt").read().splitlines()
need(lines[0].startswith("# nfsentry block-list"), "block-list header: %r" % lines[0])
need(lines[2] == "# %d blocked addresses, %d offenders known" % (len(blocked), len(offenders)),
     "block-list counts: %r" % lines[2])
need(sorted(lines[3:]) == sorted(o["ip"] for o in blocked), "block-list addresses")
# Footprints: a campus offender, watched from the slot after it was found,
# seen through both exporters scanning space that belongs to no site.
docs = [json.loads(l) for l in open(d + "/network.json")]
fps = [x for x in docs if x["kind"] == "footprint"]
reps = [x for x in docs if x["kind"] == "reputation"]
need(fps, "no footprint documents")
need(len(reps) == sum(o["offences"] for o in offenders), "reputation documents: %d" % len(reps))
first = {o["ip"]: o["firstSlot"] for o in offenders}
nosite = ipaddress.ip_network("10.99.0.0/16")
good = [f for f in fps
        if f["ip"] in first and f["timeSlot"] > first[f["ip"]]
        and set(f["exporters"]) == {"127.0.0.1", "127.0.0.2"}
        and f["noSitePrefixes"]
        and all(ipaddress.ip_network(p).subnet_of(nosite) for p in f["noSitePrefixes"])
        and f["sites"] == ["campus"] and f["sent"]["flows"] > 0]
need(len(good) >= 5, "%d footprints show an offender elsewhere through both exporters" % len(good))
need(all(f["ip"] in first for f in fps), "a footprint of an IP that was never an offender")
need(all(f["timeSlot"] > first[f["ip"]] for f in fps if f["ip"] in first),
     "a footprint before the IP was found")
for m in bad:
    print(m, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF

cmp -s "$T/a/network.json" "$T/b/network.json" || die "two replays wrote different network documents"
cmp -s "$T/a/offenders.json" "$T/b/offenders.json" || die "two replays built different databases"

# The same capture again into the same directory: nothing changes.
run_replay "$T/a"
cmp -s "$T/a/offenders.json" "$T/b/offenders.json" ||
	die "a second replay into the same database changed it"

log "$(wc -l <"$T/a/offenders.json") offenders, $(wc -l <"$T/a/blocked.json") blocked, $(grep -c '"footprint"' "$T/a/network.json") footprints; replays agree"
OK=1
