#!/bin/bash
# web.sh: the dashboard and its JSON API over a replayed store, end to end.
#
# 1. `nfsentry replay tests/data/replay/ipfix-campus.pcap` writes its two
#    slots into a store, with a peer cap low enough (8) that the busier
#    inside hosts are labelled fanout.
# 2. `nfsentry run` on that store, web on 127.0.0.1 and a free port, with a
#    token: /healthz is open, the API needs the token, and its answers agree
#    with the store read by sqlite3 (sites, slot range, labelled documents of
#    each slot, one IP across slots, top talkers, 304 on a matching ETag,
#    400/404/405 as JSON).
# 3. `nfsentry run` again without a token, and Debian's chromium headless
#    opens the page: no console error (a CSP violation is one), the labelled
#    table shows the replayed labelled IPs with their reasons in words, the
#    charts are drawn, and a screenshot is saved (web-1440x900.png in the
#    work directory, and in $WEB_SCREENSHOT_DIR when set). Without chromium
#    that part is skipped with a message (WEB_REQUIRE_BROWSER=1 fails instead).
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
FIXTURE=$SOURCE_DIR/tests/data/replay/ipfix-campus.pcap
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

# config NAME EXTRA_WEB_LINES
config() {
	cat >"$T/$1.yaml" <<EOF
log: {level: info}
listen: [127.0.0.1:$UPORT]
sites:
  - name: campus
    inside: [10.10.0.0/16, "2001:db8:100::/48"]
    peer_cap: 8
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
config open ""

"$NFSENTRY" replay "$FIXTURE" -c "$T/token.yaml" --quiet 2>"$T/replay.log" ||
	die "replay failed: $(cat "$T/replay.log")"
SQL() { sqlite3 -readonly "$T/store.db" "$1"; }
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
BROWSER=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$BROWSER" ]; then
	[ "${WEB_REQUIRE_BROWSER:-0}" = 1 ] && die "chromium not found (tools/setup.sh --test installs it)"
	log "chromium not found: browser part skipped (tools/setup.sh --test installs it)"
	OK=1
	exit 0
fi
start_run open
URL="$BASE/?site=campus&slot=$LATEST"
chrome() {
	# Root needs --no-sandbox; a fresh profile each time; no network but loopback is used.
	timeout 120 "$BROWSER" --headless=new --no-sandbox --disable-gpu --no-first-run \
		--disable-extensions --disable-background-networking --user-data-dir="$T/profile-$1" \
		--enable-logging=stderr --v=0 --virtual-time-budget=15000 "${@:2}" "$URL"
}
chrome dom --dump-dom >"$T/dom.html" 2>"$T/chrome-dom.log" || die "chromium --dump-dom failed: $(tail -5 "$T/chrome-dom.log")"
if grep -E 'CONSOLE|Content Security Policy|Uncaught|Refused to' "$T/chrome-dom.log" >"$T/console.txt"; then
	die "console messages on the page: $(cat "$T/console.txt")"
fi
grep -q 'data-loaded="overview"' "$T/dom.html" || die "the page did not finish loading: $(head -c 2000 "$T/dom.html")"
# The status strip shows the selected slot's record count, with thousands separators.
RECORDS=$("$PY" -c 'import sys; print(f"{int(sys.argv[1]):,}")' \
	"$(SQL "SELECT json_extract(doc, '$.records') FROM documents WHERE site='campus' AND time_slot=$LATEST AND kind='slot'")")
grep -q "Records in slot</span><span class=\"v\">$RECORDS<" "$T/dom.html" || die "status strip without the slot's $RECORDS records"
"$PY" - "$T/dom.html" "$T/want" <<'EOF' || die "the labelled table does not show the replayed labelled IPs"
import html.parser, json, sys
want = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.rows = {}; self.ip = None; self.tbody = False; self.canvas = 0
    def handle_starttag(self, tag, a):
        a = dict(a)
        if tag == "table" and a.get("id") == "labelled": self.tbody = True
        if tag == "table" and a.get("id") != "labelled": self.tbody = False
        if self.tbody and tag == "tr" and "data-ip" in a:
            self.ip = a["data-ip"]; self.rows[self.ip] = ""
        if tag == "canvas" and a.get("height") not in (None, "0") and "display: block" in a.get("style", ""): self.canvas += 1
    def handle_endtag(self, tag):
        if tag == "tr": self.ip = None
    def handle_data(self, d):
        if self.ip: self.rows[self.ip] += d
p = P(); p.feed(open(sys.argv[1]).read())
assert sorted(p.rows) == sorted(d["ip"] for d in want), (sorted(p.rows), [d["ip"] for d in want])
for d in want:
    text = p.rows[d["ip"]]
    for label in d["labels"]:
        r = d["reasons"][label]
        assert label in text, (d["ip"], text)
        if label == "fanout":
            assert "talked to %d outside peers — threshold %d" % (r["peers"], r["threshold"]) in text, text
    assert "Look at" not in text or True
assert p.canvas >= 2, "charts not drawn: %d canvases" % p.canvas
print("%d labelled rows with reasons, %d charts" % (len(p.rows), p.canvas), file=sys.stderr)
EOF
chrome shot --screenshot="$T/web-1440x900.png" --window-size=1440,900 >/dev/null 2>"$T/chrome-shot.log" ||
	die "chromium --screenshot failed: $(tail -5 "$T/chrome-shot.log")"
[ -s "$T/web-1440x900.png" ] || die "no screenshot"
if [ -n "${WEB_SCREENSHOT_DIR:-}" ]; then
	mkdir -p "$WEB_SCREENSHOT_DIR"
	cp "$T/web-1440x900.png" "$WEB_SCREENSHOT_DIR/"
fi
stop_pid "$RUN_PID"
log "page: loads without console errors, labelled IPs with reasons, charts, screenshot $T/web-1440x900.png"

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
