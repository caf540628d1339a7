#!/bin/bash
# web_pages.sh: the offenders, attacks and daily pages and their API (docs/api.md) over a
# replayed store, end to end.
#
# 1. `genexport` writes three slots of IPFIX from two exporters for a campus
#    (10.10.0.0/16) whose scanners probe 10.10.0.0/16 and 10.99.0.0/16 (as
#    footprint.sh), from yesterday's midnight (UTC) on, with a planted SYN flood at 10.10.77.7 (2 000 sources,
#    100 000 packets/s, 30 s). `nfsentry replay --arp tests/data/daily/arp`
#    (attack.enabled) stores the slots: offenders in the offender database
#    and its block-list, the flood's attack event, and the daily analysis of
#    yesterday (UTC; partial: 3 of 288 slots), with the fixture's two MACs with
#    several IPs. One more attack document, an event with no end (ongoing),
#    is added by sqlite3: replay ends every open event when the capture ends.
# 2. `nfsentry run` on that store with a token: the new routes need it; the
#    offenders answer is `nfsentry offenders --json` (all, --blocked, one IP),
#    /blocklist.txt lists the block-list file's addresses under its header,
#    /api/v1/attacks gives the latest document of each event, the ongoing one
#    first, and filters by site and IP, the daily answer holds the stored
#    analysis (by date too) with its partial flag; 400/404 as JSON.
# 3. `nfsentry run` without a token; Debian's chromium headless opens the
#    attacks, offenders, daily, overview and IP pages: no console error, and
#    each shows the planted items (the ongoing attack as a card, the flood in
#    the ended table, every blocked offender, the partial day with the MACs
#    and its suspects, the overview's ongoing-attack banner, an offender's
#    record and the flood victim's event on their IP pages); the offenders
#    page's second page is the API's; the attacks page, open in real time,
#    shows an event stored meanwhile within its refresh, without a reload
#    (browser_live.py). Screenshots are
#    saved (webpages-*.png in the work directory and in $WEB_SCREENSHOT_DIR
#    when set). Without chromium that part is skipped with a message
#    (WEB_REQUIRE_BROWSER=1 fails instead).
#
# Environment: NFSENTRY, BUILD_DIR, SOURCE_DIR (from meson); WEB_PAGES_KEEP=1 keeps the
# work directory. Only loopback traffic.
set -euo pipefail

PROG=web_pages
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${NFSENTRY:?NFSENTRY must point at the nfsentry binary}"
: "${BUILD_DIR:?BUILD_DIR must point at the meson build directory}"
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
GENEXPORT=${GENEXPORT:-$BUILD_DIR/tools/genexport}
PY=/usr/bin/python3
require_tools curl sqlite3 ssh-keygen
[ -x "$PY" ] || die "$PY not found"
[ -x "$GENEXPORT" ] || die "genexport not built: $GENEXPORT"

lib_init web_pages "${WEB_PAGES_KEEP:-0}"

tcp_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WPORT=$(tcp_port)
UPORT=$(free_port_base 29140 1)
BASE=http://127.0.0.1:$WPORT
printf 'pages-token-%s\n' "$RANDOM$RANDOM" >"$T/token"
chmod 600 "$T/token"
TOKEN=$(cat "$T/token")
# Yesterday's UTC midnight: recent enough that the live run keeps the replayed blocks (at
# most a year long), and a day the daily analysis covers partially.
START=$((($(date -u +%s) / 86400 - 1) * 86400))
DAY=$(date -u -d "@$START" +%F)

"$GENEXPORT" -o "$T/export.pcap" --records 60000 --slots 3 --exporters 2 \
	--inside 10.10.0.0/16 --inside 10.99.0.0/16 --start $START \
	--plant flood,ip=10.10.77.7,start=400,dur=30,pps=100000,sources=2000,proto=syn \
	2>"$T/genexport.log" || die "genexport failed: $(cat "$T/genexport.log")"

# The replay reads the fixture's ARP table for the device gw1 (never polled: replay --arp).
mkdir -p "$T/keys"
ssh-keygen -q -t ed25519 -N '' -f "$T/keys/id"
: >"$T/keys/known_hosts"
# config NAME EXTRA_SITE_LINES EXTRA_WEB_LINES
config() {
	cat >"$T/$1.yaml" <<EOF
log: {level: warn}
listen: [127.0.0.1:$UPORT]
sites:
  - name: campus
    inside: [10.10.0.0/16]
$2
slots:
  grace_s: 10
store:
  path: $T/store.db
  retention_days: 30
# Blocks and records outlast the day between the capture and the wall clock, so the live
# run keeps the replayed database as it was.
reputation:
  block_base_s: 31536000
  block_max_s: 31536000
  memory_s: 31536000
attack:
  enabled: true
web:
  listen: [127.0.0.1:$WPORT]
  timeout_s: 5
$3
EOF
	"$NFSENTRY" check-config "$T/$1.yaml" >/dev/null || die "check-config refused $1.yaml"
}
config replay "    devices:
      - {name: gw1, kind: ios, host: 127.0.0.1, user: noc, key: $T/keys/id, known_hosts: $T/keys/known_hosts}" ""
config token "" "  token_file: $T/token"
config open "" ""

"$NFSENTRY" replay "$T/export.pcap" -c "$T/replay.yaml" --quiet \
	--arp "$SOURCE_DIR/tests/data/daily/arp" 2>"$T/replay.log" ||
	die "replay failed: $(tail -5 "$T/replay.log")"
SQL() { sqlite3 -readonly "$T/store.db" "$1"; }
LAST=$(SQL "SELECT max(time_slot) FROM slots WHERE site = 'campus'")
# An event still going on: its latest document has no end (one line, as stored documents are).
ONGOING=$(tr -d '\n' <<EOF
{"kind":"attack","site":"campus","timeSlot":$LAST,"id":"feedfacefeedface","seq":1,"state":"update",
"ip":"10.10.66.6","direction":"in","class":"udp","start":$(((START + 700) * 1000)),
"detected":$(((START + 701) * 1000)),"updated":$(((START + 800) * 1000)),
"current":{"pps":50000.0,"bps":4e8,"fps":10.0},"peak":{"pps":81234.0,"bps":6.5e8,"fps":12.0},
"thresholds":{"pps":20000.0,"bps":0.0,"fps":10000.0},"packets":8000000,"octets":8000000000,"flows":900.0,
"sources":[{"ip":"203.0.113.5","packets":4000000},{"ip":"203.0.113.9","packets":3000000}],
"ports":[{"port":123,"packets":8000000}],"protocols":[{"proto":17,"packets":8000000}]}
EOF
)
sqlite3 "$T/store.db" "INSERT INTO documents (time_slot, site, kind, key, doc, labelled)
  VALUES ($LAST, 'campus', 'attack', 'feedfacefeedface-1', '$ONGOING', 0)" || die "cannot add the ongoing attack"
N_ATK=$(SQL "SELECT count(*) FROM documents WHERE kind = 'attack'")
N_CC=$(SQL "SELECT count(*) FROM documents WHERE site = 'campus@daily' AND key LIKE 'ccSuspect:%'")
[ "$N_ATK" -ge 3 ] || die "the replay stored no attack event ($N_ATK documents)"
[ "$N_CC" -gt 0 ] || die "the replay stored no daily suspect"
log "replayed: $N_ATK attack documents, $N_CC daily suspects, $(wc -l <"$T/blocklist.txt") block-list lines"

RUN_PID=
start_run() {
	"$NFSENTRY" run -c "$T/$1.yaml" 2>"$T/run-$1.log" &
	RUN_PID=$!
	PIDS+=("$RUN_PID")
	for _ in $(seq 100); do
		curl -sf "$BASE/healthz" >/dev/null 2>&1 && return 0
		proc_alive "$RUN_PID" || die "nfsentry run exited: $(cat "$T/run-$1.log")"
		sleep 0.1
	done
	die "the web server did not answer on $BASE: $(cat "$T/run-$1.log")"
}
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }

# ---------------------------------------------------------------- API with a token
start_run token
H=(-H "Authorization: Bearer $TOKEN")
FROM=$START
TO=$((START + 3 * 300 - 1))
for r in "/api/v1/offenders" "/blocklist.txt" "/api/v1/attacks" "/api/v1/sites/campus/daily/latest"; do
	[ "$(code "$BASE$r")" = 401 ] || die "$r without the token: $(cat "$T/body")"
done

# The database as the offenders command prints it, read while the collector runs.
"$NFSENTRY" offenders -c "$T/token.yaml" --json >"$T/offenders.json" || die "offenders --json"
"$NFSENTRY" offenders -c "$T/token.yaml" --json --blocked >"$T/blocked.json" || die "offenders --blocked"
[ "$(code "${H[@]}" "$BASE/api/v1/offenders")" = 200 ] || die "offenders: $(cat "$T/body")"
cp "$T/body" "$T/api-offenders.json"
[ "$(code "${H[@]}" "$BASE/api/v1/offenders?blocked=1")" = 200 ] || die "offenders?blocked: $(cat "$T/body")"
cp "$T/body" "$T/api-blocked.json"
BLOCKED_IP=$(head -1 "$T/blocked.json" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["ip"])')
[ "$(code "${H[@]}" "$BASE/api/v1/offenders?ip=$BLOCKED_IP")" = 200 ] || die "offenders?ip: $(cat "$T/body")"
cp "$T/body" "$T/api-one.json"
[ "$(code "${H[@]}" "$BASE/blocklist.txt")" = 200 ] || die "blocklist.txt: $(cat "$T/body")"
cp "$T/body" "$T/api-blocklist.txt"
"$PY" - "$T" "$BLOCKED_IP" <<'EOF' || die "the offenders answers differ from the database"
import json, sys
t, ip = sys.argv[1], sys.argv[2]
lines = lambda p: [json.loads(l) for l in open(p) if l.strip()]
want, blocked = lines(t + "/offenders.json"), lines(t + "/blocked.json")
assert len(want) >= 10 and blocked, (len(want), len(blocked))
assert json.load(open(t + "/api-offenders.json")) == want
assert json.load(open(t + "/api-blocked.json")) == blocked
assert json.load(open(t + "/api-one.json")) == [o for o in want if o["ip"] == ip]
got, file = open(t + "/api-blocklist.txt").read().splitlines(), open(t + "/blocklist.txt").read().splitlines()
assert got[0] == file[0] and got[1].startswith("# generated ") and got[2] == file[2], (got[:3], file[:3])
assert got[3:] == file[3:] == sorted(o["ip"] for o in blocked), (got[3:6], file[3:6])
EOF

[ "$(code "${H[@]}" "$BASE/api/v1/attacks?from=$FROM&to=$TO")" = 200 ] || die "attacks: $(cat "$T/body")"
SQL "SELECT doc FROM documents WHERE kind = 'attack'" >"$T/attack-docs.json"
"$PY" - "$T/body" "$T/attack-docs.json" <<'EOF' || die "attacks: $(head -c 800 "$T/body")"
import json, sys
got = json.load(open(sys.argv[1]))
docs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
latest = {}
for d in docs:
    if d["id"] not in latest or d["seq"] > latest[d["id"]]["seq"]:
        latest[d["id"]] = d
assert len(latest) == 2, latest.keys()
assert got[0] == latest["feedfacefeedface"] and "end" not in got[0], got[0]
flood = [d for d in latest.values() if d["ip"] == "10.10.77.7"][0]
assert got[1] == flood and flood["state"] == "end" and flood["class"] == "syn", got[1]
assert len(got) == 2
EOF
[ "$(code "${H[@]}" "$BASE/api/v1/attacks?site=campus&ip=10.10.77.7&from=$FROM&to=$TO")" = 200 ] || die "attacks?ip: $(cat "$T/body")"
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [x["ip"] for x in d] == ["10.10.77.7"], d' "$T/body" ||
	die "attacks?ip=10.10.77.7: $(head -c 300 "$T/body")"
[ "$(code "${H[@]}" "$BASE/api/v1/attacks?site=nosuch&from=$FROM&to=$TO")" = 200 ] && [ "$(cat "$T/body")" = "[]" ] ||
	die "attacks of an unknown site: $(cat "$T/body")"
[ "$(code "${H[@]}" "$BASE/api/v1/attacks?ip=x")" = 400 ] || die "attacks?ip=x"
grep -q '"code":"bad_ip"' "$T/body" || die "400 body: $(cat "$T/body")"

[ "$(code "${H[@]}" "$BASE/api/v1/sites/campus/daily/latest")" = 200 ] || die "daily: $(cat "$T/body")"
cp "$T/body" "$T/daily.json"
[ "$(code "${H[@]}" "$BASE/api/v1/sites/campus/daily/latest?date=$DAY")" = 200 ] || die "daily?date: $(cat "$T/body")"
cmp -s "$T/body" "$T/daily.json" || die "daily of $DAY is not the latest"
"$PY" - "$T/daily.json" "$N_CC" "$START" "$DAY" <<'EOF' || die "daily: $(head -c 800 "$T/daily.json")"
import json, sys
d = json.load(open(sys.argv[1]))
s = d["summary"]
assert d["site"] == "campus" and d["timeSlot"] == int(sys.argv[3]) // 300, d["timeSlot"]
assert s["date"] == sys.argv[4] and s["partial"] is True and s["slotsPresent"] == 3, s
assert len(d["ccSuspect"]) == int(sys.argv[2]) == s["ccSuspects"]
assert all(x["finding"] == "ccSuspect" and x["date"] == sys.argv[4] for x in d["ccSuspect"])
macs = {m["mac"]: sorted(x["ip"] for x in m["ips"]) for m in d["macMultiIp"]}
assert macs == {"02:00:00:00:00:aa": ["10.10.5.8", "10.10.5.9"],
                "02:00:00:00:00:bb": ["10.10.9.1", "10.10.9.2"]}, macs
EOF
[ "$(code "${H[@]}" "$BASE/api/v1/sites/campus/daily/latest?date=$(date -u -d "@$((START - 86400))" +%F)")" = 404 ] ||
	die "daily of a day not analysed"
[ "$(code "${H[@]}" "$BASE/api/v1/sites/campus/daily/latest?date=yesterday")" = 400 ] || die "daily?date=yesterday"
[ "$(code "${H[@]}" "$BASE/api/v1/sites/nosuch/daily/latest")" = 404 ] || die "daily of an unknown site"
stop_pid "$RUN_PID"
log "API: token, offenders (all, blocked, one IP), block-list, attacks (order, filters), daily (latest, date), errors: ok"

# ---------------------------------------------------------------- the pages in Chromium
browser_find
start_run open
# page NAME QUERY LOADED: the DOM of /?QUERY once the page says it finished (data-loaded).
page() { browser_page "$1" "$BASE/?$2" "$3"; }
# shot NAME QUERY W,H: $T/webpages-NAME.png.
shot() { browser_shot "$T/webpages-$1.png" "$BASE/?$2" "$3"; }
# The pages' range ends with the replayed slots, not with the live run's own.
Q="site=campus&slot=$LAST"
page attacks "page=attacks&$Q" attacks
page offenders "page=offenders&blocked=1&$Q" offenders
page daily "page=daily&$Q" daily
page overview "$Q" overview
page offender-ip "$Q&ip=$BLOCKED_IP" ip
page victim-ip "$Q&ip=10.10.77.7" ip
"$PY" - "$T" "$BLOCKED_IP" "$N_CC" <<'EOF' || die "a page does not show what was planted"
import html.parser, json, sys
t, blocked_ip, n_cc = sys.argv[1], sys.argv[2], int(sys.argv[3])

class P(html.parser.HTMLParser):
    """Text of each element with an id (nested ones included), and the data-* rows of tables."""
    def __init__(self):
        super().__init__(); self.stack = []; self.text = {}; self.rows = {}; self.table = None
        self.cards = []; self.hidden = set()
    def handle_starttag(self, tag, a):
        a = dict(a)
        if "id" in a:
            self.text.setdefault(a["id"], "")
            if "hidden" in a: self.hidden.add(a["id"])
        if tag == "table": self.table = a.get("id")
        if tag == "tr" and self.table: self.rows.setdefault(self.table, []).append(a)
        if tag == "div" and "data-attack" in a: self.cards.append(a)
        self.stack.append(a.get("id"))
    def handle_endtag(self, tag):
        if self.stack: self.stack.pop()
    def handle_data(self, d):
        for i in self.stack:
            if i: self.text[i] += d

def parse(name):
    p = P(); p.feed(open("%s/dom-%s.html" % (t, name)).read()); return p

a = parse("attacks")
assert [c["data-ip"] for c in a.cards] == ["10.10.66.6"], a.cards
assert "ONGOING" in a.text["ongoing"] and "81.2 kpackets/s" in a.text["ongoing"] and "203.0.113.5" in a.text["ongoing"], a.text["ongoing"]
recent = [r.get("data-ip") for r in a.rows.get("recent", []) if "data-ip" in r]
assert recent == ["10.10.77.7"], recent
assert "syn" in a.text["recent"] and "100.0 kpackets/s" in a.text["recent"], a.text["recent"]

o = parse("offenders")
want = sorted(json.loads(l)["ip"] for l in open(t + "/blocked.json"))
shown = sorted(r["data-ip"] for r in o.rows.get("offenders", []) if "data-ip" in r)
assert shown == want, (len(shown), len(want))
assert "blocked until" in o.text["offenders"] and "probeUnused" in o.text["offenders"]

d = parse("daily")
assert "PARTIAL: 3 of 288 slots stored" in d.text["daily-summary"], d.text["daily-summary"]
assert len([r for r in d.rows.get("cc", []) if "data-ip" in r]) == n_cc
macs = [r["data-mac"] for r in d.rows.get("macs", []) if "data-mac" in r]
assert macs == ["02:00:00:00:00:aa", "02:00:00:00:00:bb"], macs
assert "10.10.5.8" in d.text["macs"] and "10.10.5.9" in d.text["macs"]

v = parse("overview")
assert "attack-banner" not in v.hidden and "1 ongoing attack" in v.text["attack-banner"] and "10.10.66.6" in v.text["attack-banner"], v.text["attack-banner"]

i = parse("offender-ip")
assert "ip-offender" not in i.hidden and "BLOCKED until" in i.text["ip-offender"], i.text.get("ip-offender")
assert "ip-attacks" in i.hidden

w = parse("victim-ip")
assert "ip-attacks" not in w.hidden and "syn" in w.text["ip-attacks"] and "100.0 kpackets/s" in w.text["ip-attacks"], w.text["ip-attacks"]
assert "ip-offender" in w.hidden
print("pages: attacks (1 ongoing, 1 ended), %d blocked offenders, daily (%d suspects, 2 MACs), banner, IP pages" % (len(shown), n_cc), file=sys.stderr)
EOF

# The offenders page pages on the server: two rows a page by offences, the second page shows
# the API's entries 3-4 in its order and says which of how many.
[ "$(code -D "$T/hdr" "$BASE/api/v1/offenders?sort=offences&offset=2&limit=2")" = 200 ] ||
	die "offenders page: $(cat "$T/body")"
mv "$T/body" "$T/offenders-page.json"
N_OFF=$(tr -d '\r' <"$T/hdr" | sed -n 's/^[Xx]-[Tt]otal-[Cc]ount: \([0-9]*\)$/\1/p')
[ -n "$N_OFF" ] && [ "$N_OFF" -gt 4 ] || die "offenders: X-Total-Count ${N_OFF:-missing}, want more than 4"
page offenders-paged "page=offenders&osort=offences&oo=2&rows=2&$Q" offenders
"$PY" - "$T/dom-offenders-paged.html" "$T/offenders-page.json" "$N_OFF" <<'EOF' || die "the offenders page's second page is wrong"
import json, re, sys
dom, api, n = open(sys.argv[1]).read(), json.load(open(sys.argv[2])), int(sys.argv[3])
body = dom.split('id="offenders"', 1)[1].split("</table>", 1)[0]
shown = re.findall(r'<tr data-ip="([^"]+)"', body)
assert shown == [o["ip"] for o in api] and len(shown) == 2, (shown, api)
rng = re.search(r'id="offenders-range">([^<]*)<', dom).group(1)
assert rng == "offenders 3–4 of {:,}".format(n), rng
assert re.search(r'<th data-sort="offences" class="sorted">', dom), "offences column not marked sorted"
print("offenders page: 3-4 of %d by offences as the API pages them" % n, file=sys.stderr)
EOF

# The attacks page follows events live: open on the latest slots (no slot chosen), it shows an
# event stored meanwhile (in the last stored slot, as the ongoing one above) within its 5-s
# refresh, in the same document (no reload). Chromium in real time over the DevTools pipe
# (browser_live.py).
LIVE=$(tr -d '\n' <<EOF
{"kind":"attack","site":"campus","timeSlot":$LAST,"id":"0ddba11cafe0babe","seq":1,"state":"start",
"ip":"10.10.55.5","direction":"in","class":"udp","start":$(((START + 850) * 1000)),
"detected":$(((START + 851) * 1000)),"updated":$(((START + 851) * 1000)),
"current":{"pps":42000.0,"bps":3e8,"fps":5.0},"peak":{"pps":42000.0,"bps":3e8,"fps":5.0},
"thresholds":{"pps":20000.0,"bps":0.0,"fps":10000.0},"packets":42000,"octets":42000000,"flows":5.0,
"sources":[{"ip":"203.0.113.77","packets":42000}],"ports":[{"port":53,"packets":42000}],
"protocols":[{"proto":17,"packets":42000}]}
EOF
)
printf "INSERT INTO documents (time_slot, site, kind, key, doc, labelled) VALUES (%s, 'campus', 'attack', '0ddba11cafe0babe-1', '%s', 0);\n" \
	"$LAST" "$LIVE" >"$T/live-attack.sql"
"$PY" "$SOURCE_DIR/tests/integration/browser_live.py" "$BROWSER" "$T/profile-live" \
	"$BASE/?page=attacks&site=campus" attacks 'div.attack[data-attack="0ddba11cafe0babe"]' \
	"sqlite3 -cmd '.timeout 10000' '$T/store.db' <'$T/live-attack.sql'" 12 2>"$T/live.log" ||
	die "the attacks page did not show a new event live: $(cat "$T/live.log"; tail -5 "$T/profile-live.log")"
grep -q "42.0 kpackets/s" "$T/live.log" || die "the live event's card lacks its peak rate: $(cat "$T/live.log")"
log "$(cat "$T/live.log")"

for size in 1440x900 1920x1080; do
	shot "attacks-$size" "page=attacks&$Q" "${size/x/,}"
	shot "offenders-$size" "page=offenders&$Q" "${size/x/,}"
	shot "daily-$size" "page=daily&$Q" "${size/x/,}"
done
shot "overview-banner-1440x900" "$Q" 1440,900
shot "ip-offender-1440x900" "$Q&ip=$BLOCKED_IP" 1440,900
shot "offenders-paged-1440x900" "page=offenders&osort=offences&oo=200&$Q" 1440,900
stop_pid "$RUN_PID"
if [ -n "${WEB_SCREENSHOT_DIR:-}" ]; then
	mkdir -p "$WEB_SCREENSHOT_DIR"
	cp "$T"/webpages-*.png "$WEB_SCREENSHOT_DIR/"
fi
log "pages: no console errors; planted attack, offenders, daily findings shown; screenshots in $T"
OK=1
