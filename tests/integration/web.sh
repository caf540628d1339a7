#!/bin/bash
# web.sh: the dashboard and its JSON API over a replayed store, end to end.
#
# 1. `nfsentry replay tests/data/replay/ipfix-campus-planted.pcap` (the
#    softflowd export of `gentraffic --scenario campus,reflect`, README.md
#    beside it) writes its three slots into a store, configured as
#    tests/integration/campus.yaml: the planted scanner, flooders, p2p,
#    fan-out and inside scanner are labelled. One more document, with a label
#    the page does not know, is added to the store by sqlite3 (a newer
#    collector's label must still show, with its figures).
# 2. `nfsentry run` on that store, web on 127.0.0.1 and a free port, with a
#    token: /healthz is open, the API needs the token, and its answers agree
#    with the store read by sqlite3 (sites, slot range, labelled documents of
#    each slot, one IP across slots, top talkers, 304 on a matching ETag,
#    400/404/405 as JSON).
# 3. `nfsentry run` again without a token, with a second configured site
#    that has no stored slot, and the capture sent to it once by `nfsentry
#    send`; Debian's chromium headless opens the pages: no console error (a
#    CSP violation is one); the overview of each planted slot shows exactly
#    the stored labelled IPs, the planted ones among them (flood, scan,
#    probeUnused, noPayload outside; p2p, fanout, scanOut inside) with their
#    reasons in words and figures; the charts are drawn; the scanner's IP
#    page shows its strip (one cell per slot, labelled in the first) and its
#    peers; the collector page shows the exporter with the datagrams sent;
#    the empty site says "no slot yet". Screenshots are saved (web-*.png in
#    the work directory, and in $WEB_SCREENSHOT_DIR when set). Without
#    chromium that part is skipped with a message (WEB_REQUIRE_BROWSER=1
#    fails instead).
# 4. `nfsentry run` with cert_file/key_file (a self-signed certificate from
#    openssl): the API answers over HTTPS, and plain HTTP is not served.
#
# Environment: NFSENTRY, SOURCE_DIR (from meson); WEB_KEEP=1 keeps the work
# directory. Only loopback traffic.
set -euo pipefail

PROG=web
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${NFSENTRY:?NFSENTRY must point at the nfsentry binary}"
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FIXTURE=$SOURCE_DIR/tests/data/replay/ipfix-campus-planted.pcap
PY=/usr/bin/python3
require_tools curl sqlite3 ss
[ -x "$PY" ] || die "$PY not found"

lib_init web "${WEB_KEEP:-0}"

tcp_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WPORT=$(tcp_port)
UPORT=$(free_port_base 29100 1)
BASE=http://127.0.0.1:$WPORT
printf 'campus-web-token-%s\n' "$RANDOM$RANDOM" >"$T/token"
chmod 600 "$T/token"
TOKEN=$(cat "$T/token")

# config NAME EXTRA_WEB_LINES [EXTRA_SITE_LINES]
config() {
	cat >"$T/$1.yaml" <<EOF
log: {level: info}
listen: [127.0.0.1:$UPORT]
sites:
  - name: campus
    inside: [10.10.0.0/16, "2001:db8:100::/48"]
    peer_cap: 200
    allow: [10.10.0.80, "2001:db8:100::80", 10.10.0.53, "2001:db8:100::53"]
${3:-}
slots:
  grace_s: 10
store:
  path: $T/store.db
  # The capture is from 2026-01-01: keep its slots whatever the wall clock says.
  retention_days: 3650
web:
  listen: [127.0.0.1:$WPORT]
  timeout_s: 5
$2
EOF
	"$NFSENTRY" check-config "$T/$1.yaml" >/dev/null || die "check-config refused $1.yaml"
}
config token "  token_file: $T/token"
config open "" "  - name: dorm
    inside: [10.20.0.0/16]"

"$NFSENTRY" replay "$FIXTURE" -c "$T/token.yaml" --quiet 2>"$T/replay.log" ||
	die "replay failed: $(cat "$T/replay.log")"
SQL() { sqlite3 -readonly "$T/store.db" "$1"; }
# A label this page has no words for: shown by name with the document's figures.
W1=$(SQL "SELECT min(time_slot) + 1 FROM slots WHERE site = 'campus'")
sqlite3 "$T/store.db" "INSERT INTO documents (time_slot, site, kind, key, doc, labelled) VALUES ($W1, 'campus',
  'outside', '100.64.99.99', '{\"kind\":\"outside\",\"site\":\"campus\",\"timeSlot\":$W1,\"ip\":\"100.64.99.99\",\"labels\":[\"exampleNewLabel\"],\"reasons\":{\"exampleNewLabel\":{\"value\":12000.0,\"threshold\":5000.0,\"synPackets\":12000,\"answeredRatio\":0.02}}}', 1)" ||
	die "cannot add the document with a new label"
N_LAB=$(SQL "SELECT count(*) FROM documents WHERE labelled = 1")
[ "$N_LAB" -gt 0 ] || die "the replay labelled nothing: the test needs labelled IPs"
log "replayed: $(SQL "SELECT count(*) FROM slots") slots, $N_LAB labelled documents"

RUN_PID=
CURL_TLS=()
start_run() {
	"$NFSENTRY" run -c "$T/$1.yaml" 2>"$T/run-$1.log" &
	RUN_PID=$!
	PIDS+=("$RUN_PID")
	for _ in $(seq 100); do
		curl -sf ${CURL_TLS[@]+"${CURL_TLS[@]}"} "$BASE/healthz" >/dev/null 2>&1 && return 0
		proc_alive "$RUN_PID" || die "nfsentry run exited: $(cat "$T/run-$1.log")"
		sleep 0.1
	done
	die "the web server did not answer on $BASE: $(cat "$T/run-$1.log")"
}

# ---------------------------------------------------------------- API with a token
start_run token
H=(-H "Authorization: Bearer $TOKEN")
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }

[ "$(code "$BASE/healthz")" = 200 ] || die "/healthz needs no token"
[ "$(code "$BASE/api/v1/sites")" = 401 ] || die "/api/v1/sites without the token: $(cat "$T/body")"
[ "$(code "$BASE/")" = 401 ] || die "/ without the token"
[ "$(code -H "Authorization: Bearer x$TOKEN" "$BASE/api/v1/sites")" = 401 ] || die "a wrong token was accepted"
grep -q "$TOKEN" "$T/run-token.log" && die "the token appears in the log"

[ "$(code "${H[@]}" "$BASE/api/v1/sites")" = 200 ] || die "/api/v1/sites: $(cat "$T/body")"
LATEST=$(SQL "SELECT max(time_slot) FROM slots WHERE site = 'campus'")
FIRST=$(SQL "SELECT min(time_slot) FROM slots WHERE site = 'campus'")
"$PY" - "$T/body" "$LATEST" <<'EOF' || die "/api/v1/sites: $(cat "$T/body")"
import json, sys
d = json.load(open(sys.argv[1]))
assert [s["site"] for s in d] == ["campus"], d
assert d[0]["timeSlot"] == int(sys.argv[2]), d
EOF

FROM=$((FIRST * 300))
TO=$((LATEST * 300))
[ "$(code "${H[@]}" "$BASE/api/v1/sites/campus/slots?from=$FROM&to=$TO")" = 200 ] || die "slots: $(cat "$T/body")"
"$PY" - "$T/body" "$FIRST" "$LATEST" <<'EOF' || die "slots: $(head -c 600 "$T/body")"
import json, sys
d = json.load(open(sys.argv[1]))
assert [x["timeSlot"] for x in d] == list(range(int(sys.argv[2]), int(sys.argv[3]) + 1)), d
assert all(x["kind"] == "slot" and x["site"] == "campus" for x in d)
EOF

for ts in $(SQL "SELECT time_slot FROM slots WHERE site = 'campus' ORDER BY time_slot"); do
	[ "$(code "${H[@]}" -D "$T/hdr" "$BASE/api/v1/sites/campus/slots/$ts/labelled")" = 200 ] ||
		die "labelled $ts: $(cat "$T/body")"
	# Exactly the stored documents, byte for byte, in (kind, key) order.
	SQL "SELECT doc FROM documents WHERE site = 'campus' AND time_slot = $ts AND labelled = 1
	     ORDER BY kind, key" >"$T/want"
	"$PY" - "$T/body" "$T/want" <<'EOF' || die "labelled $ts differs from the store"
import json, sys
got = json.load(open(sys.argv[1]))
want = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
assert got == want, (len(got), len(want))
for d in got:
    assert d["labels"] and set(d["labels"]) <= set(d["reasons"]), d
EOF
	grep -qi '^cache-control: private, max-age=31536000, immutable' "$T/hdr" || die "no immutable caching: $(cat "$T/hdr")"
	ETAG=$(sed -n 's/^[Ee][Tt][Aa][Gg]: \(.*\)\r$/\1/p' "$T/hdr")
	[ -n "$ETAG" ] || die "no ETag: $(cat "$T/hdr")"
	[ "$(code "${H[@]}" -H "If-None-Match: $ETAG" "$BASE/api/v1/sites/campus/slots/$ts/labelled")" = 304 ] ||
		die "If-None-Match did not give 304"
done
# The slot with the most labelled documents in pages of 3, and gzip'd: the same documents.
TS_MOST=$(SQL "SELECT time_slot FROM documents WHERE site = 'campus' AND labelled = 1
               GROUP BY time_slot ORDER BY count(*) DESC, time_slot LIMIT 1")
N_MOST=$(SQL "SELECT count(*) FROM documents WHERE site = 'campus' AND time_slot = $TS_MOST AND labelled = 1")
[ "$(code "${H[@]}" "$BASE/api/v1/sites/campus/slots/$TS_MOST/labelled")" = 200 ] || die "labelled $TS_MOST"
mv "$T/body" "$T/whole"
for ((off = 0; off < N_MOST + 3; off += 3)); do
	[ "$(code "${H[@]}" -D "$T/hdr" "$BASE/api/v1/sites/campus/slots/$TS_MOST/labelled?offset=$off&limit=3")" = 200 ] ||
		die "page at $off: $(cat "$T/body")"
	grep -qi "^x-total-count: $N_MOST"$'\r' "$T/hdr" || die "page at $off: no X-Total-Count $N_MOST: $(cat "$T/hdr")"
	cp "$T/body" "$T/page-$off"
done
[ "$(curl -s --compressed -D "$T/hdr" -o "$T/gz" "${H[@]}" "$BASE/api/v1/sites/campus/slots/$TS_MOST/labelled" -w '%{http_code}')" = 200 ] ||
	die "gzip'd labelled"
[ "$(wc -c <"$T/whole")" -lt 1024 ] || grep -qi '^content-encoding: gzip' "$T/hdr" || die "not gzip'd: $(cat "$T/hdr")"
"$PY" - "$T/whole" "$T/gz" "$T"/page-* <<'EOF' || die "pages or gzip differ from the whole answer"
import json, sys
whole = json.load(open(sys.argv[1]))
assert json.load(open(sys.argv[2])) == whole
pages = sorted(sys.argv[3:], key=lambda p: int(p.rsplit("-", 1)[1]))
joined = [d for p in pages for d in json.load(open(p))]
assert joined == whole, (len(joined), len(whole))
assert json.load(open(pages[-1])) == []
EOF
log "labelled of slot $TS_MOST ($N_MOST documents) in pages of 3 and gzip'd: the same"

IP=$(SQL "SELECT key FROM documents WHERE labelled = 1 ORDER BY key LIMIT 1")
[ "$(code "${H[@]}" "$BASE/api/v1/ip/$IP?from=$FROM&to=$TO")" = 200 ] || die "ip $IP: $(cat "$T/body")"
WANT=$(SQL "SELECT count(*) FROM documents WHERE key = '$IP'")
"$PY" - "$T/body" "$IP" "$WANT" <<'EOF' || die "ip $IP: $(head -c 600 "$T/body")"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == int(sys.argv[3]) and all(x["ip"] == sys.argv[2] for x in d), d
assert [x["timeSlot"] for x in d] == sorted(x["timeSlot"] for x in d)
EOF
[ "$(code "${H[@]}" "$BASE/api/v1/sites/campus/slots/latest/top?kind=inside&n=3")" = 200 ] || die "top: $(cat "$T/body")"
TOP=$(SQL "SELECT key FROM documents WHERE site='campus' AND time_slot=$LATEST AND kind='inside'
           ORDER BY json_extract(doc, '$.octets') DESC, key LIMIT 3" | tr '\n' ' ')
"$PY" - "$T/body" "$TOP" <<'EOF' || die "top: $(head -c 600 "$T/body")"
import json, sys
assert " ".join(x["ip"] for x in json.load(open(sys.argv[1]))) + " " == sys.argv[2]
EOF

[ "$(code "${H[@]}" "$BASE/api/v1/sites/nosuch/slots")" = 404 ] || die "unknown site"
grep -q '"code":"not_found"' "$T/body" || die "404 body: $(cat "$T/body")"
[ "$(code "${H[@]}" "$BASE/api/v1/sites/campus/slots/1/labelled")" = 404 ] || die "unknown slot"
[ "$(code "${H[@]}" "$BASE/api/v1/ip/192.0.2.250?from=$FROM&to=$TO")" = 404 ] || die "unknown ip"
[ "$(code "${H[@]}" "$BASE/api/v1/sites/campus/slots?from=$TO&to=$FROM")" = 400 ] || die "from > to"
[ "$(code "${H[@]}" "$BASE/api/v1/ip/not-an-ip")" = 400 ] || die "bad ip"
[ "$(code "${H[@]}" -X DELETE "$BASE/api/v1/sites")" = 405 ] || die "DELETE"
# Many connections at once, some never finishing their request: the server stays up.
for _ in $(seq 80); do (exec 3<>"/dev/tcp/127.0.0.1/$WPORT" && printf 'GET /heal' >&3 && sleep 2) & done
sleep 0.5
[ "$(code "$BASE/healthz")" = 200 ] || log "healthz while 80 connections hang: $(cat "$T/body") (bounded)"
wait_hung() { for _ in $(seq 100); do [ "$(code "$BASE/healthz")" = 200 ] && return 0; sleep 0.1; done; return 1; }
wait_hung || die "the server did not recover from 80 hanging connections"
stop_pid "$RUN_PID"
log "API: token, sites, slots, labelled ($N_LAB), ip, top, errors, 304: ok"

# ---------------------------------------------------------------- the page in Chromium
browser_find
start_run open
# page NAME QUERY LOADED: the DOM of /?QUERY once the page says it finished (data-loaded).
page() { browser_page "$1" "$BASE/?$2" "$3"; }
# shot NAME QUERY W,H: $T/web-NAME.png.
shot() { browser_shot "$T/web-$1.png" "$BASE/?$2" "$3"; }
W0=$FIRST
page w1 "site=campus&slot=$W1" overview
page w0 "site=campus&slot=$W0" overview
# The status strip shows the selected slot's record count, with thousands separators, and
# the health word links to the collector page.
RECORDS=$("$PY" -c 'import sys; print(f"{int(sys.argv[1]):,}")' \
	"$(SQL "SELECT json_extract(doc, '$.records') FROM documents WHERE site='campus' AND time_slot=$W1 AND kind='slot'")")
grep -q "Records in slot</span><span class=\"v\">$RECORDS<" "$T/dom-w1.html" || die "status strip without the slot's $RECORDS records"
grep -q 'href="/?page=collector&amp;site=campus" id="health-word">\(healthy\|degraded\)<' "$T/dom-w1.html" ||
	die "no health word linked to the collector page"
for ts in "$W0" "$W1"; do
	SQL "SELECT doc FROM documents WHERE site = 'campus' AND time_slot = $ts AND labelled = 1" >"$T/want-$ts"
done
# Every labelled document of the slot is a row (an outside IP that is also an offender is one
# row of both kinds) with every label and its reason in words; the planted ones are there.
"$PY" - "$T/dom-w0.html" "$T/want-$W0" "$T/dom-w1.html" "$T/want-$W1" <<'EOF' || die "the labelled table does not show the planted anomalies"
import html.parser, json, sys

class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.rows = {}; self.key = None; self.tbody = False; self.canvas = 0
    def handle_starttag(self, tag, a):
        a = dict(a)
        if tag == "table": self.tbody = a.get("id") == "labelled"
        if self.tbody and tag == "tr" and "data-ip" in a:
            self.key = (a["data-ip"], a["data-kind"]); self.rows[self.key] = ""
        if tag == "canvas" and a.get("height") not in (None, "0") and "display: block" in a.get("style", ""): self.canvas += 1
    def handle_endtag(self, tag):
        if tag == "tr": self.key = None
    def handle_data(self, d):
        if self.key: self.rows[self.key] += d

def f(v):  # the page's number format: thousands separators, at most 2 decimals
    v = round(v * 100) / 100
    return f"{int(v):,}" if v == int(v) else f"{v:,}"

def expect(label, r):
    th = " — threshold " + f(r["threshold"])
    return {
        "flood": lambda: f"{f(r['packets'])} packets (",
        "scan": lambda: f"probed {f(r['probedTargets'])} inside hosts ({f(r['probedSilent'])} silent) of {f(r['activeInside'])} active{th}",
        "probeUnused": lambda: f"touched {f(r['unusedTouched'])} unused inside addresses ({f(r['packets'])} packets){th}",
        "noPayload": lambda: f"average {f(r['avgPacketBytes'])} bytes per packet over {f(r['packets'])} packets{th} bytes",
        "fanout": lambda: f"talked to {f(r['peers'])} outside peers{th} (peer cap {f(r['peerCap'])})",
        "p2p": lambda: f"{f(r['peers'])} peers, ",
        "scanOut": lambda: f"contacted {f(r['peers'])} outside peers, {f(r['answeredPeers'])} answered",
        "exampleNewLabel": lambda: "syn packets 12,000, answered ratio 2.0 %, value 12,000 — threshold 5,000",
    }[label]()

planted = {  # slot index -> (ip, kind, label)
    0: [("192.0.2.66", "outside offender", "scan"), ("192.0.2.66", "outside offender", "probeUnused"),
        ("192.0.2.66", "outside offender", "noPayload"), ("10.10.2.10", "inside", "p2p")],
    1: [("192.0.2.99", "outside offender", "flood"), ("192.0.2.123", "outside offender", "flood"),
        ("10.10.2.10", "inside", "p2p"), ("10.10.2.20", "inside", "fanout"), ("10.10.2.30", "inside", "scanOut"),
        ("100.64.99.99", "outside", "exampleNewLabel")],
}
for i, (dom, wantf) in enumerate(((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4]))):
    want = [json.loads(l) for l in open(wantf) if l.strip()]
    p = P(); p.feed(open(dom).read())
    kinds = {}
    for d in want:
        kinds.setdefault(d["ip"], set()).add(d["kind"])
    keys = {(ip, " ".join(sorted(k, key=lambda x: (x != "outside", x)))) for ip, k in kinds.items()}
    assert set(p.rows) == keys, (sorted(p.rows), sorted(keys))
    for d in want:
        key = [k for k in p.rows if k[0] == d["ip"]][0]
        text = p.rows[key]
        for label in d["labels"]:
            assert label + ": " in text, (d["ip"], label, text)
            assert expect(label, d["reasons"][label]) in text, (d["ip"], label, expect(label, d["reasons"][label]), text)
    for ip, kind, label in planted[i]:
        assert (ip, kind) in p.rows and label + ": " in p.rows[(ip, kind)], (i, ip, kind, label, sorted(p.rows))
    assert p.canvas >= 2, "charts not drawn: %d canvases" % p.canvas
    print("slot %d: %d labelled rows with their reasons, %d charts" % (i, len(p.rows), p.canvas), file=sys.stderr)
EOF

# The table is paged, sorted and filtered by the server: two rows a page from the third by
# address shows the API's rows 3-4 in its order and says so; the label filter shows the flood
# rows only, with their reasons.
[ "$(code -D "$T/hdr" "$BASE/api/v1/sites/campus/slots/$W1/labelled?sort=ip&offset=2&limit=2")" = 200 ] ||
	die "labelled rows: $(cat "$T/body")"
mv "$T/body" "$T/rows-api.json"
N_ROWS=$(tr -d '\r' <"$T/hdr" | sed -n 's/^[Xx]-[Tt]otal-[Cc]ount: \([0-9]*\)$/\1/p')
[ -n "$N_ROWS" ] && [ "$N_ROWS" -gt 4 ] || die "labelled rows: X-Total-Count ${N_ROWS:-missing}, want more than 4"
page paged "site=campus&slot=$W1&sort=ip&lo=2&rows=2" overview
page flood "site=campus&slot=$W1&label=flood" overview
"$PY" - "$T/dom-paged.html" "$T/rows-api.json" "$N_ROWS" "$T/dom-flood.html" "$T/want-$W1" <<'EOF' || die "the labelled table's pages or filter are wrong"
import html.parser, json, sys

class P(html.parser.HTMLParser):
    """Rows of the labelled table (ip, kinds, text), the pager's text and buttons."""
    def __init__(self):
        super().__init__(); self.rows = []; self.tbody = False; self.inrow = False
        self.ids = {}; self.cur = None
    def handle_starttag(self, tag, a):
        a = dict(a)
        if tag == "table": self.tbody = a.get("id") == "labelled"
        if self.tbody and tag == "tr" and "data-ip" in a:
            self.rows.append([a["data-ip"], a["data-kind"], ""]); self.inrow = True
        if "id" in a:
            self.ids[a["id"]] = a; self.cur = a["id"]
    def handle_endtag(self, tag):
        if tag == "tr": self.inrow = False
        if tag == "table": self.tbody = False
        self.cur = None
    def handle_data(self, d):
        if self.inrow: self.rows[-1][2] += d
        if self.cur in ("labelled-range", "labelled-count"): self.ids[self.cur]["text"] = self.ids[self.cur].get("text", "") + d

api = json.load(open(sys.argv[2]))
n = int(sys.argv[3])
want = []
for d in api:  # an outside IP's offender document follows its outside one: one row
    if want and d["kind"] != "inside" and "inside" not in want[-1][1] and want[-1][0] == d["ip"]:
        want[-1][1].append(d["kind"])
    else:
        want.append([d["ip"], [d["kind"]]])
want = [(ip, " ".join(sorted(k, key=lambda x: (x != "outside", x)))) for ip, k in want]
p = P(); p.feed(open(sys.argv[1]).read())
assert [(r[0], r[1]) for r in p.rows] == want, ([(r[0], r[1]) for r in p.rows], want)
rng = p.ids["labelled-range"].get("text", "")
assert rng == "rows 3–4 of {:,}".format(n), rng
assert "disabled" not in p.ids["labelled-prev"], p.ids["labelled-prev"]
assert ("disabled" in p.ids["labelled-next"]) == (4 >= n), p.ids["labelled-next"]
for ip, kind, text in p.rows:
    assert ": " in text, (ip, text)

flood = {d["ip"] for d in (json.loads(l) for l in open(sys.argv[5]) if l.strip()) if "flood" in d["labels"]}
q = P(); q.feed(open(sys.argv[4]).read())
assert {r[0] for r in q.rows} == flood and len(q.rows) == len(flood), (q.rows, flood)
assert all("flood: " in r[2] and " packets (" in r[2] for r in q.rows), q.rows
assert q.ids["labelled-count"].get("text") == "(%d matching the filter)" % len(flood), q.ids["labelled-count"]
print("labelled table: rows 3-4 of %d by address as the API pages them; %d flood rows by the filter" % (n, len(flood)), file=sys.stderr)
EOF

# The scanner's IP page in its slot: one strip cell per slot, labelled scan in the first only;
# its peers (the inside hosts it touched) as links.
page ip "site=campus&ip=192.0.2.66&slot=$W0" ip
"$PY" - "$T/dom-ip.html" <<'EOF' || die "the scanner's IP page lacks its strip or peers"
import html.parser, sys
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.where = None; self.cells = []; self.peers = set(); self.cell = False
    def handle_starttag(self, tag, a):
        a = dict(a)
        if a.get("id") in ("ip-strip", "ip-slot"): self.where = a["id"]
        if a.get("id") in ("ip-peers", "ip-raw"): self.where = None
        if self.where == "ip-strip" and tag == "a":
            self.cells.append([a.get("class", ""), ""]); self.cell = True
        if self.where == "ip-slot" and tag == "a" and "data-ip" in a: self.peers.add(a["data-ip"])
    def handle_endtag(self, tag):
        if tag == "a": self.cell = False
    def handle_data(self, d):
        if self.cell: self.cells[-1][1] += d
p = P(); p.feed(open(sys.argv[1]).read())
assert len(p.cells) == 3, p.cells
assert "lab" in p.cells[0][0] and "scan" in p.cells[0][1] and "sel" in p.cells[0][0], p.cells
assert all("scan" not in c[1] for c in p.cells[1:]), p.cells
assert "10.10.1.1" in p.peers and len(p.peers) >= 5, sorted(p.peers)
print("ip page: %d strip cells, %d peers" % (len(p.cells), len(p.peers)), file=sys.stderr)
EOF

for size in 1440x900 1920x1080; do
	shot "overview-$size" "site=campus&slot=$W1" "${size/x/,}"
	shot "ip-$size" "site=campus&ip=192.0.2.66&slot=$W0" "${size/x/,}"
done
shot "overview-paged-1440x1300" "site=campus&slot=$W1&sort=ip&lo=2&rows=2" 1440,1300
# The capture once more, live: the collector page then has an exporter to show. (After the
# overview and IP pages: the records fold into the open slot, which may close meanwhile.)
"$NFSENTRY" send "$FIXTURE" --to "127.0.0.1:$UPORT" --rate 5000 2>"$T/send.log" || die "send: $(cat "$T/send.log")"
SENT=$(sed -n 's/.*sent \([0-9]*\) datagrams .*/\1/p' "$T/send.log" | head -1)
[ -n "$SENT" ] || die "cannot read what send sent: $(cat "$T/send.log")"
for _ in $(seq 50); do
	curl -s "$BASE/api/v1/collector" | grep -q "\"datagrams\":$SENT," && break
	sleep 0.1
done
# The collector page: the exporter with what send sent, every drop reason, the sites.
page collector "page=collector&site=campus" collector
"$PY" - "$T/dom-collector.html" "$SENT" <<'EOF' || die "the collector page is incomplete"
import re, sys
dom, sent = open(sys.argv[1]).read(), int(sys.argv[2])
rows = re.findall(r'<tr data-exporter="127\.0\.0\.1:\d+/0">(.*?)</tr>', dom)
assert len(rows) == 1, rows
cells = re.findall(r'<td[^>]*>(.*?)</td>', rows[0])
assert cells[3] == "IPFIX" and cells[4] == f"{sent:,}", cells
for r in ("udpKernelDrops", "noTemplate", "shortHeader", "noAddress"):
    assert f'data-reason="{r}"' in dom, r
assert '<a href="/?site=campus">campus</a>' in dom and '<a href="/?site=dorm">dorm</a>' in dom
print("collector page: exporter row %s" % cells[:6], file=sys.stderr)
EOF

for size in 1440x900 1920x1080; do
	shot "collector-$size" "page=collector&site=campus" "${size/x/,}"
done
stop_pid "$RUN_PID"

# A configured site with no slot stored yet is listed, and says so: `nfsentry run` on a new
# store (every stop writes the open slot, partial, so the store above has slots of both sites
# by now), looked at before its first slot closes (not within 40 s of a slot boundary).
while [ $(($(date +%s) % 300)) -gt 255 ] || [ $(($(date +%s) % 300)) -lt 15 ]; do sleep 5; done
sed "s|path: $T/store.db|path: $T/empty.db|" "$T/open.yaml" >"$T/empty.yaml"
start_run empty
[ "$(code "$BASE/api/v1/sites")" = 200 ] || die "sites: $(cat "$T/body")"
grep -q '{"site":"dorm","timeSlot":null,' "$T/body" || die "the configured site with no slot is not listed: $(cat "$T/body")"
page dorm "site=dorm" overview
grep -q 'no slot yet' "$T/dom-dorm.html" || die "the empty site does not say 'no slot yet'"
grep -q '<option value="dorm">dorm (no slot yet)</option>' "$T/dom-dorm.html" || die "the site picker hides the empty site"
stop_pid "$RUN_PID"

if [ -n "${WEB_SCREENSHOT_DIR:-}" ]; then
	mkdir -p "$WEB_SCREENSHOT_DIR"
	cp "$T"/web-*.png "$WEB_SCREENSHOT_DIR/"
fi
log "pages: no console errors; planted anomalies with reasons; charts; IP strip and peers; collector; empty site; screenshots in $T"

# ---------------------------------------------------------------- HTTPS
if command -v openssl >/dev/null 2>&1; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>"$T/openssl.log" ||
		die "openssl: $(cat "$T/openssl.log")"
	config tls "  cert_file: $T/cert.pem"$'\n'"  key_file: $T/key.pem"
	BASE=https://127.0.0.1:$WPORT
	CURL_TLS=(--cacert "$T/cert.pem")
	start_run tls
	[ "$(code --cacert "$T/cert.pem" "$BASE/api/v1/sites")" = 200 ] || die "https: $(cat "$T/body")"
	grep -q '"site":"campus"' "$T/body" || die "https sites: $(cat "$T/body")"
	[ "$(code "http://127.0.0.1:$WPORT/healthz")" = 200 ] && die "plain HTTP answered on the HTTPS port"
	stop_pid "$RUN_PID"
	log "https: served with the configured certificate"
else
	log "openssl not found: HTTPS part skipped (tools/setup.sh --test installs it)"
fi
OK=1
