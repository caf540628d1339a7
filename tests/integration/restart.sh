#!/usr/bin/env bash
# Restarts of `nfsentry run` (docs/manual.md "Restarts"), loopback only, within one
# wall-clock slot (the capture's old export times are folded into the open slot as late):
# 1. a restart during a live send (SIGTERM, start, send the rest) gives the documents an
#    uninterrupted run gives: same IPs, same totals, one stored slot;
# 2. the slot written at each stop says partial, with coveredFrom and coveredTo;
# 3. SIGKILL then start: the start says the previous run did not stop cleanly, its slot is
#    partial from the time collection started and is stored as part 1 beside part 0, which
#    stays as it was;
# 4. a stop with nothing received writes no slot.
set -euo pipefail

: "${NFSENTRY:?}" "${SOURCE_DIR:?}"
FIXTURE="$SOURCE_DIR/tests/data/replay/ipfix-campus.pcap"

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
live_init restart
# Everything must happen within one 300-s slot: start early in one.
live_same_slot 60

send() { # send TO
	"$NFSENTRY" send "$FIXTURE" --to "$1" --rate 4000 >/dev/null 2>"$work/send.log" || fail "send to $1 failed: $(cat "$work/send.log")"
	sleep 0.5
}
q() { sqlite3 "$work/$1/store/nfsentry.db" "$2"; }

# The uninterrupted run.
config ref
start ref ref1
send "127.0.0.1:$port"
send "[::1]:$port"
stop

# The same sends with a restart between them.
config rs
start rs rs1
send "127.0.0.1:$port"
stop
grep -q 'restart: 1 open slots saved' "$work/rs1.log" || fail "the first stop did not save the open slot"
[ -f "$work/rs/store/nfsentry.db.state/slots" ] || fail "no saved state in $work/rs/store/nfsentry.db.state"
[ ! -e "$work/rs/store/nfsentry.db.state/running" ] || fail "the clean-stop marker was left behind"
[ "$(q rs "select json_extract(doc,'\$.partial') from documents where kind='slot'")" = 1 ] || fail "the slot written at the stop does not say partial"
[ -n "$(q rs "select json_extract(doc,'\$.coveredTo') from documents where kind='slot'")" ] || fail "the partial slot has no coveredTo"
start rs rs2
grep -q 'restart: open slots saved .*: 1 restored' "$work/rs2.log" || fail "the start did not restore the saved slot"
send "[::1]:$port"
stop
[ "$(($(date +%s) / 300))" = "$slot" ] || { echo "restart: SKIP: the test crossed a slot boundary"; exit 77; }

[ "$(q rs "select count(*) from slots")" = 1 ] || fail "the restarted run stored $(q rs "select count(*) from slots") slots, want 1"
docs="select kind, key, doc from documents where kind <> 'slot' order by kind, key"
[ "$(q rs "$docs")" = "$(q ref "$docs")" ] || fail "inside/outside/offender documents differ from the uninterrupted run's"
tot="select json_extract(doc,'\$.records'), json_extract(doc,'\$.egress'), json_extract(doc,'\$.ingress'), json_extract(doc,'\$.insideSeen'), json_extract(doc,'\$.conversations'), json_extract(doc,'\$.partial') from documents where kind='slot'"
[ "$(q rs "$tot")" = "$(q ref "$tot")" ] || fail "slot totals differ: $(q rs "$tot") vs $(q ref "$tot")"
n_ips=$(q rs "select count(*) from documents where kind='inside'")

# SIGKILL, then a start in the same slot.
part0=$(q rs "select group_concat(doc) from (select doc from documents where part = 0 order by kind, key)")
start rs rs3
send "127.0.0.1:$port"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
pid=
[ -e "$work/rs/store/nfsentry.db.state/running" ] || fail "no marker left by the killed run"
start rs rs4
grep -q 'did not stop cleanly' "$work/rs4.log" || fail "the start after SIGKILL did not say the previous run was lost"
t4=$(date +%s)
send "127.0.0.1:$port"
stop
[ "$(($(date +%s) / 300))" = "$slot" ] || { echo "restart: SKIP: the test crossed a slot boundary"; exit 77; }
[ "$(q rs "select count(*) from slots")" = 2 ] || fail "after SIGKILL the store holds $(q rs "select count(*) from slots") slot rows, want 2 (parts 0 and 1)"
[ "$(q rs "select group_concat(doc) from (select doc from documents where part = 0 order by kind, key)")" = "$part0" ] || fail "part 0 was replaced by a run that knew less"
from=$(q rs "select json_extract(doc,'\$.coveredFrom') from documents where kind='slot' and part = 1")
[ "$(q rs "select json_extract(doc,'\$.partial') from documents where kind='slot' and part = 1")" = 1 ] || fail "part 1 does not say partial"
[ "$(date -u -d "$from" +%s)" -ge $((t4 - 2)) ] || fail "part 1 covered from $from, before its run started"
# A stop with nothing received: its partial slot is not written (docs/documents.md
# "Slots at a stop"), so the site's latest slot stays the last one with traffic.
config quiet
start quiet q1
stop
grep -q 'stop: 1 partial slots without a record not written' "$work/q1.log" || fail "the stop did not leave out the empty partial slot"
[ "$(q quiet "select count(*) from slots")" = 0 ] || fail "a stop with nothing received stored $(q quiet "select count(*) from slots") slots, want 0"

echo "restart: ok: restart within slot $slot equals the uninterrupted run ($n_ips inside IPs); SIGKILL stored part 1 beside part 0; an empty stop wrote nothing"
