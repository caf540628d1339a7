#!/usr/bin/env bash
# es.sh MODE: the Elasticsearch output end to end against tests/integration/fake_es.py,
# a strict Elasticsearch-protocol server (any malformed request is a protocol error,
# and every test requires none). The documents come from replaying
# tests/data/replay/ipfix-campus.pcap (2 slots) under two site names (4 slots in all).
#
#   outage   a refused template stops the start; replay while the server is down (exit 1,
#            what is left is said); then with the server back but flaky (503, dropped
#            connection, 429, response cut in half, hang past the timeout, 500, 429 on
#            single items, one item refused by the mapping): every document is on the
#            server exactly once by _id, the refused one is in the dead-letter file; a
#            rewrite of already shipped slots overwrites, adding nothing.
#   rewrite  a slot shipped with every outside document, then written again with only
#            the labelled ones: the server holds exactly the new set (the earlier
#            documents deleted by query after the new ones are indexed, the first
#            delete failing once and retried before the cursor moves).
#   restart  `nfsentry run` drains a backlog to a slow server and is SIGKILLed mid-way;
#            started again it resumes from the cursor: all documents, none twice, gzip on.
#   tls      https with a CA made here (openssl) and basic auth from a password file;
#            a certificate that does not name the host is refused while verify_tls is
#            on (nothing shipped, exit 1) and accepted with verify_tls: false; a wrong
#            password is retried, never dropped; an API key from the environment works.
set -euo pipefail

: "${NFSENTRY:?}" "${SOURCE_DIR:?}"
MODE=${1:?usage: es.sh outage|rewrite|restart|tls}
PROG="es-$MODE"
# shellcheck source=lib.sh
. "$SOURCE_DIR/tests/integration/lib.sh"
lib_init "es-$MODE" "${ES_KEEP:-0}"

PY=/usr/bin/python3
FAKE="$SOURCE_DIR/tests/integration/fake_es.py"
FIXTURE="$SOURCE_DIR/tests/data/replay/ipfix-campus.pcap"
SCHEME=http
ES_PORT=0
ES_PID=

# start_server [ARGS...]: fake_es.py on 127.0.0.1 ($ES_PORT, 0 = any), documents kept
# in $T/es-state.json across restarts. Sets ES_PID, ES_PORT, URL.
start_server() {
	rm -f "$T/es.port"
	"$PY" "$FAKE" serve --port "$ES_PORT" --port-file "$T/es.port" --state "$T/es-state.json" \
		"$@" >>"$T/es.log" 2>&1 &
	ES_PID=$!
	PIDS+=("$ES_PID")
	for _ in $(seq 100); do
		[ -s "$T/es.port" ] && break
		proc_alive "$ES_PID" || die "fake_es.py did not start: $(cat "$T/es.log")"
		sleep 0.05
	done
	[ -s "$T/es.port" ] || die "fake_es.py did not start"
	ES_PORT=$(cat "$T/es.port")
	URL="$SCHEME://127.0.0.1:$ES_PORT"
}
stop_server() {
	stop_pid "$ES_PID" TERM
	ES_PID=
}

# Plain-http control and state requests (the tls mode reads its state file instead).
es_get() { "$PY" "$FAKE" get "http://127.0.0.1:$ES_PORT" "$1"; }
es_faults() { "$PY" "$FAKE" post "http://127.0.0.1:$ES_PORT" /_fake/faults "$1" >/dev/null; }
# jq-free JSON field access: es_field JSON EXPR (EXPR in Python over d).
json_field() { "$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# config NAME SITE [EXTRA_ES_LINES]: $T/NAME.yaml
config() {
	local name=$1 site=$2 extra=${3:-}
	cat >"$T/$name.yaml" <<EOF
log:
  level: info
listen:
  - 127.0.0.1:${UDP_PORT:-2055}
sites:
  - name: $site
    inside: [10.10.0.0/16, "2001:db8:100::/48"]
    allow: [10.10.0.80, 10.10.0.53]
store:
  path: $T/store/nfsentry.db
  # The capture is from 2026-01-01: keep its slots whatever the wall clock says.
  retention_days: 3650
# No dashboard: this test's runs must not depend on port 8080 being free.
web: {listen: []}
# The slot and document counts below are the judge's; the daily pseudo-slots are daily.sh's.
daily: {enabled: false}
elasticsearch:
  url: $URL
  dead_letter_path: $T/dead-letter.jsonl
  bulk_max_bytes: 64KiB
  timeout_s: 2
  retry_initial_ms: 20
  retry_max_s: 1
$extra
EOF
	"$NFSENTRY" check-config "$T/$name.yaml" >/dev/null || die "check-config refused $name.yaml"
}

# The _ids of every document in the store, sorted, one a line.
store_ids() {
	sqlite3 "$T/store/nfsentry.db" \
		"SELECT site || '|' || kind || '|' || time_slot || '|' || key FROM documents" | LC_ALL=C sort
}
# The _ids the server holds (from its state), sorted.
server_ids() {
	es_get '/_fake/state?ids=1' | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
held = set()
for ids in d["held"].values():
    held.update(ids)
for i in sorted(held):
    print(i)' | LC_ALL=C sort
}

# check_complete REFUSED [DL_LINES]: the server holds every stored document but the
# REFUSED ones, each once, no other, with no protocol error; the refused ones are in
# the dead-letter file (DL_LINES lines, default REFUSED: a rewritten slot is shipped,
# and refused, again).
check_complete() {
	local refused=$1 lines=${2:-$1} state
	state=$(es_get /_fake/state)
	[ "$(json_field "$state" 'len(d["protocol_errors"])')" = 0 ] ||
		die "protocol errors: $(json_field "$state" 'd["protocol_errors"]')"
	store_ids >"$T/want.ids"
	server_ids >"$T/have.ids"
	[ "$(json_field "$state" 'len(d["rejected"])')" = "$refused" ] ||
		die "server refused $(json_field "$state" 'd["rejected"]'), expected $refused"
	json_field "$state" '"\n".join(d["rejected"])' | sed '/^$/d' | LC_ALL=C sort >"$T/rejected.ids"
	LC_ALL=C comm -23 "$T/want.ids" "$T/rejected.ids" >"$T/want-shipped.ids"
	if ! cmp -s "$T/want-shipped.ids" "$T/have.ids"; then
		diff "$T/want-shipped.ids" "$T/have.ids" | head -20 >&2
		die "server documents differ from the store's ($(wc -l <"$T/want-shipped.ids") expected, $(wc -l <"$T/have.ids") held)"
	fi
	# Held once per _id by construction; the count must also match _count.
	[ "$(json_field "$(es_get /_count)" 'd["count"]')" = "$(wc -l <"$T/have.ids")" ] ||
		die "_count disagrees with the held ids"
	local dl=0
	[ -f "$T/dead-letter.jsonl" ] && dl=$(wc -l <"$T/dead-letter.jsonl")
	[ "$dl" = "$lines" ] || die "dead-letter file has $dl lines, expected $lines"
	if [ "$refused" != 0 ]; then
		"$PY" - "$T/dead-letter.jsonl" "$T/rejected.ids" <<'EOF' || die "dead-letter file does not match the refusals"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
want = set(open(sys.argv[2]).read().split())
assert {l["_id"] for l in lines} == want, (lines, want)
for l in lines:
    assert l["status"] == 400 and l["reason"]["type"] == "mapper_parsing_exception", l
    assert l["document"]["site"] == l["_id"].split("|")[0], l
EOF
	fi
	log "server holds all $(wc -l <"$T/have.ids") shipped documents once; $refused dead-lettered"
}

# cursor and highest seq of the store
cursor_seq() { sqlite3 "$T/store/nfsentry.db" "SELECT seq FROM cursors WHERE name='elasticsearch'"; }
max_seq() { sqlite3 "$T/store/nfsentry.db" "SELECT max(seq) FROM slots"; }

require_tools sqlite3 ss
[ -x "$PY" ] || die "$PY not found"

case "$MODE" in
outage)
	start_server
	config a campus "  drain_timeout_s: 2"
	config b campusb "  drain_timeout_s: 120"

	# A template the server refuses is a startup error, before anything is read.
	es_faults '{"template_status": 400}'
	rc=0
	"$NFSENTRY" replay "$FIXTURE" -c "$T/a.yaml" --quiet 2>"$T/refused.log" || rc=$?
	[ "$rc" = 1 ] || die "replay with a refused template exited $rc"
	grep -q 'template nfsentry-common (config/es/component-common.json): HTTP 400' "$T/refused.log" ||
		die "no clear template error: $(cat "$T/refused.log")"
	[ ! -e "$T/store/nfsentry.db" ] || [ "$(sqlite3 "$T/store/nfsentry.db" 'SELECT count(*) FROM slots')" = 0 ] ||
		die "replay went on after the template was refused"
	es_faults '{"template_status": 0}'

	# Down: the collector still collects and stores; replay says what it could not ship.
	stop_server
	rc=0
	"$NFSENTRY" replay "$FIXTURE" -c "$T/a.yaml" --quiet 2>"$T/down.log" || rc=$?
	[ "$rc" = 1 ] || die "replay with the server down exited $rc: $(cat "$T/down.log")"
	grep -q 'elasticsearch: 2 slots ([0-9]* documents) not shipped within elasticsearch.drain_timeout_s' "$T/down.log" ||
		die "replay did not say what is left: $(cat "$T/down.log")"
	grep -q 'Could not connect\|Connection refused\|Failed to connect' "$T/down.log" ||
		die "the reason (connection refused) is not given: $(cat "$T/down.log")"
	[ "$(sqlite3 "$T/store/nfsentry.db" 'SELECT count(*) FROM slots')" = 2 ] || die "slots not stored while down"
	[ "$(cursor_seq)" = 0 ] || die "cursor moved while nothing was shipped"

	# Back, but flaky: whole-request failures, one per _bulk in this order, then
	# 7 items answered 429 and the 5th item from now refused by the mapping.
	start_server
	es_faults '{"faults": ["503", "close", "429", "partial", "hang", "500", "413"], "hang_s": 4,
		"item_429": 7, "reject_nth": 5}'
	"$NFSENTRY" replay "$FIXTURE" -c "$T/b.yaml" --quiet 2>"$T/flaky.log" ||
		die "replay against the flaky server failed: $(cat "$T/flaky.log")"
	state=$(es_get /_fake/state)
	[ "$(json_field "$state" 'len(d["faults_left"])')" = 0 ] || die "not every fault was met: $state"
	for f in 503 close 429 partial hang 500 413; do
		[ "$(json_field "$state" "d['faults_served'].get('$f', 0)")" = 1 ] || die "fault $f not served once"
	done
	grep -q 'elasticsearch: esShipped=[0-9]* esRetried=[0-9]* esDeadLettered=1 esSlotsShipped=4 .*esBacklogSlots=0 ' "$T/flaky.log" ||
		die "unexpected report: $(grep elasticsearch: "$T/flaky.log")"
	[ "$(cursor_seq)" = "$(max_seq)" ] || die "cursor $(cursor_seq) is not at the last slot $(max_seq)"
	check_complete 1

	# A rewrite of shipped slots (same capture again) gets new seqs and is shipped
	# again: "index" with the same _ids overwrites, adding nothing.
	before=$(json_field "$(es_get /_fake/state)" 'd["items"]')
	"$NFSENTRY" replay "$FIXTURE" -c "$T/a.yaml" --quiet 2>"$T/rewrite.log" ||
		die "rewrite replay failed: $(cat "$T/rewrite.log")"
	after=$(json_field "$(es_get /_fake/state)" 'd["items"]')
	[ "$after" -gt "$before" ] || die "the rewritten slots were not shipped again"
	check_complete 1 2
	;;

rewrite)
	# A slot written again with fewer documents: the server ends with exactly the new set.
	start_server
	config all campus "  drain_timeout_s: 60"
	printf 'documents:\n  outside: all\n' >>"$T/all.yaml"
	config few campus "  drain_timeout_s: 60"
	printf 'documents:\n  outside: top\n  outside_top: 0\n' >>"$T/few.yaml"
	"$NFSENTRY" replay "$FIXTURE" -c "$T/all.yaml" --quiet 2>"$T/all.log" ||
		die "replay with every outside document failed: $(cat "$T/all.log")"
	check_complete 0
	n_all=$(wc -l <"$T/have.ids")
	# The first delete after the rewrite fails: the cursor must wait for the retry.
	es_faults '{"dbq_fail": 1}'
	"$NFSENTRY" replay "$FIXTURE" -c "$T/few.yaml" --quiet 2>"$T/few.log" ||
		die "replay with fewer documents failed: $(cat "$T/few.log")"
	check_complete 0
	n_few=$(wc -l <"$T/have.ids")
	[ "$n_few" -lt "$n_all" ] || die "the rewrite did not have fewer documents ($n_few vs $n_all)"
	state=$(es_get /_fake/state)
	[ "$(json_field "$state" 'd["dbq_fail_left"]')" = 0 ] || die "the failing delete was not met"
	[ "$(json_field "$state" 'd["deleted"]')" = $((n_all - n_few)) ] ||
		die "deleted $(json_field "$state" 'd["deleted"]'), expected $((n_all - n_few))"
	grep -q 'esStaleDeleted='$((n_all - n_few)) "$T/few.log" || die "esStaleDeleted not reported"
	[ "$(cursor_seq)" = "$(max_seq)" ] || die "cursor $(cursor_seq) is not at the last slot $(max_seq)"
	# A held document carries the seq of the write it came from.
	doc=$(es_get "/nfsentry-slot-2026.01.01/_doc/campus%7Cslot%7C5890752%7Csummary")
	want=$(sqlite3 "$T/store/nfsentry.db" "SELECT seq FROM slots WHERE time_slot = 5890752")
	[ "$(json_field "$doc" 'd["_source"]["writeSeq"]')" = "$want" ] ||
		die "the slot document does not carry writeSeq $want: $doc"
	log "rewrite: $n_all documents, then $n_few; $((n_all - n_few)) stale ones deleted"
	;;

restart)
	UDP_PORT=$(free_port_base 22055 1)
	start_server
	stop_server
	config a campus "  drain_timeout_s: 1"
	config b campusb "  drain_timeout_s: 1"
	config run campus "  gzip: true"
	# The backlog: 4 slots stored while the server is down.
	"$NFSENTRY" replay "$FIXTURE" -c "$T/a.yaml" --quiet 2>/dev/null && die "replay shipped to nobody"
	"$NFSENTRY" replay "$FIXTURE" -c "$T/b.yaml" --quiet 2>/dev/null && die "replay shipped to nobody"
	total=$(sqlite3 "$T/store/nfsentry.db" 'SELECT count(*) FROM documents')
	log "backlog: 4 slots, $total documents"

	# A slow server (400 ms per _bulk of ~200 documents): `run` is killed mid-way.
	start_server
	es_faults '{"delay_ms": 400}'
	"$NFSENTRY" run -c "$T/run.yaml" 2>"$T/run1.log" &
	run_pid=$!
	PIDS+=("$run_pid")
	for _ in $(seq 200); do
		items=$(json_field "$(es_get /_fake/state)" 'd["items"]')
		[ "$items" -ge 600 ] && break
		proc_alive "$run_pid" || die "run exited: $(cat "$T/run1.log")"
		sleep 0.1
	done
	kill -KILL "$run_pid"
	wait "$run_pid" 2>/dev/null || true
	forget_pid "$run_pid"
	held=$(json_field "$(es_get /_fake/state)" 'd["docs"]')
	log "killed with $held of $total documents on the server, cursor at seq $(cursor_seq) of $(max_seq)"
	[ "$held" -lt "$total" ] || die "everything was shipped before the kill; the test proves nothing"
	[ "$(cursor_seq)" -lt "$(max_seq)" ] || die "cursor already at the end"

	# Started again: it resumes from the cursor and drains the rest.
	es_faults '{"delay_ms": 0}'
	"$NFSENTRY" run -c "$T/run.yaml" 2>"$T/run2.log" &
	run_pid=$!
	PIDS+=("$run_pid")
	for _ in $(seq 300); do
		[ "$(cursor_seq)" = "$(max_seq)" ] && break
		proc_alive "$run_pid" || die "run exited: $(cat "$T/run2.log")"
		sleep 0.1
	done
	[ "$(cursor_seq)" = "$(max_seq)" ] || die "the backlog did not drain: $(cat "$T/run2.log")"
	stop_pid "$run_pid" TERM
	grep -q 'elasticsearch: esShipped=[0-9]* esRetried=0 esDeadLettered=0 esSlotsShipped=[0-9] .*esBacklogSlots=0 esBacklogDocs=0 ' "$T/run2.log" ||
		die "unexpected report: $(grep elasticsearch: "$T/run2.log")"
	check_complete 0
	# The slot `run` closed at SIGTERM carries the shipper's counters in "collector".
	es_in_doc=$(sqlite3 "$T/store/nfsentry.db" "SELECT json_extract(doc, '\$.collector.esShipped') FROM documents WHERE kind = 'slot' AND time_slot > 5890800")
	if [ -n "$es_in_doc" ]; then
		[ "$es_in_doc" -gt 0 ] || die "slot document says esShipped $es_in_doc"
		log "slot document written at SIGTERM: collector.esShipped $es_in_doc"
	fi
	# Resent documents (the slot in flight at the kill) are overwrites, never copies.
	log "writes per _id at most $(json_field "$(es_get /_fake/state)" 'd["max_writes"]')"
	;;

tls)
	require_tools openssl
	# A CA, a server certificate for 127.0.0.1/localhost, and one for another name.
	(
		cd "$T"
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=nfsentry-test-ca \
			-keyout ca.key -out ca.pem
		openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout good.key -out good.csr
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >good.ext
		openssl x509 -req -in good.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
			-extfile good.ext -out good.pem
		openssl req -newkey rsa:2048 -nodes -subj /CN=wrong.example -keyout wrong.key -out wrong.csr
		printf 'subjectAltName=DNS:wrong.example,IP:192.0.2.1\n' >wrong.ext
		openssl x509 -req -in wrong.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
			-extfile wrong.ext -out wrong.pem
	) >"$T/openssl.log" 2>&1 || die "openssl failed: $(cat "$T/openssl.log")"
	printf 'n0t-in-the-config\n' >"$T/es-password"
	printf 'bad-pw-X7\n' >"$T/bad-password"
	SCHEME=https
	auth="  username: nfsentry
  ca_file: $T/ca.pem"

	# Good certificate, CA from the file, basic auth from the password file.
	start_server --tls-cert "$T/good.pem" --tls-key "$T/good.key" --basic nfsentry:n0t-in-the-config
	config good campus "$auth
  password_file: $T/es-password
  drain_timeout_s: 30"
	"$NFSENTRY" replay "$FIXTURE" -c "$T/good.yaml" --quiet 2>"$T/good.log" ||
		die "replay over TLS failed: $(cat "$T/good.log")"
	grep -q 'elasticsearch: esShipped=[0-9]* esRetried=0 esDeadLettered=0 esSlotsShipped=2 ' "$T/good.log" ||
		die "unexpected report: $(cat "$T/good.log")"
	grep -q 'n0t-in-the-config' "$T/good.log" && die "the password appeared in the log"
	stop_server
	# The state file is where the documents are now (the control port speaks TLS).
	"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); n=sum(len(v) for v in d["docs"].values()); sys.exit(0 if n == int(sys.argv[2]) else "held %d" % n)' \
		"$T/es-state.json" "$(sqlite3 "$T/store/nfsentry.db" 'SELECT count(*) FROM documents')" ||
		die "not every document arrived over TLS"
	[ -z "$(sqlite3 "$T/store/nfsentry.db" "SELECT 1 FROM cursors WHERE seq < (SELECT max(seq) FROM slots)")" ] ||
		die "cursor not at the end after the TLS run"

	# Wrong password: refused (401), retried until the drain time is up, nothing lost.
	start_server --tls-cert "$T/good.pem" --tls-key "$T/good.key" --basic nfsentry:n0t-in-the-config
	config badpw campusb "$auth
  password_file: $T/bad-password
  drain_timeout_s: 2"
	rc=0
	"$NFSENTRY" replay "$FIXTURE" -c "$T/badpw.yaml" --quiet 2>"$T/badpw.log" || rc=$?
	[ "$rc" = 1 ] || die "replay with a wrong password exited $rc"
	grep -q 'HTTP 401' "$T/badpw.log" || die "401 not reported: $(cat "$T/badpw.log")"
	grep -q 'bad-pw-X7' "$T/badpw.log" && die "the password appeared in the log"
	stop_server

	# API key from the environment instead of a password: the backlog (campusb) drains.
	start_server --tls-cert "$T/good.pem" --tls-key "$T/good.key" --api-key a2V5LWlkOmtleS1zZWNyZXQ=
	config apikey campusb "  ca_file: $T/ca.pem
  api_key_env: NFSENTRY_TEST_ES_KEY
  drain_timeout_s: 30"
	NFSENTRY_TEST_ES_KEY=a2V5LWlkOmtleS1zZWNyZXQ= "$NFSENTRY" ship -c "$T/apikey.yaml" 2>"$T/apikey.log" ||
		die "ship with an API key failed: $(cat "$T/apikey.log")"
	grep -q 'elasticsearch: esShipped=[0-9]* esRetried=0 esDeadLettered=0 esSlotsShipped=2 ' "$T/apikey.log" ||
		die "unexpected report: $(cat "$T/apikey.log")"
	grep -q 'a2V5LWlkOmtleS1zZWNyZXQ=' "$T/apikey.log" && die "the API key appeared in the log"
	stop_server

	# A certificate for another name: refused while verify_tls is on (the default) ...
	rm -f "$T/es-state.json"
	start_server --tls-cert "$T/wrong.pem" --tls-key "$T/wrong.key"
	config wrong campusc "  ca_file: $T/ca.pem
  drain_timeout_s: 2"
	rc=0
	"$NFSENTRY" replay "$FIXTURE" -c "$T/wrong.yaml" --quiet 2>"$T/wrong.log" || rc=$?
	[ "$rc" = 1 ] || die "replay to a mismatched certificate exited $rc: $(cat "$T/wrong.log")"
	grep -qi "certificate\|SSL" "$T/wrong.log" || die "no TLS reason given: $(cat "$T/wrong.log")"
	grep -q 'not shipped' "$T/wrong.log" || die "what is left is not said: $(cat "$T/wrong.log")"
	# ... and accepted when the operator turns verification off.
	config noverify campusc "  verify_tls: false
  drain_timeout_s: 30"
	"$NFSENTRY" ship -c "$T/noverify.yaml" 2>"$T/noverify.log" ||
		die "ship with verify_tls false failed: $(cat "$T/noverify.log")"
	stop_server
	"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); n=sum(len(v) for v in d["docs"].values()); sys.exit(0 if n > 0 else "nothing held")' \
		"$T/es-state.json" || die "nothing shipped with verify_tls false"
	;;
*)
	die "unknown mode $MODE"
	;;
esac

OK=1
log "ok"
