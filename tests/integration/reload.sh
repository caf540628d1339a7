#!/usr/bin/env bash
# SIGHUP reload during a live send (docs/manual.md "Reloading the configuration"), loopback,
# within one wall-clock slot (the capture's old export times are folded into the open slot
# as late): a valid changed file (a lowered threshold, another listen port) then an invalid
# one arrive while `nfsentry send` is sending. Asserted: every record decoded and in the slot
# (as many as the uninterrupted reference run), one stored slot (the slot went on), the log
# lines of each reload, the listen change kept at its running value (the old port still
# receives). That the new threshold applies from the next slot is tests/unit/test_engine.c
# (test_sites_set): a live slot boundary is 5 minutes away.
set -euo pipefail

: "${NFSENTRY:?}" "${SOURCE_DIR:?}"
FIXTURE="$SOURCE_DIR/tests/data/replay/ipfix-campus.pcap"
RECORDS=4216 # nfdump's count for the fixture (tests/data/replay/README.md)

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
live_init reload
# Everything must happen within one 300-s slot: start early in one.
live_same_slot 40

decoded() { # decoded LOG: the decoder's records in the last statistics line
	grep 'udp: ' "$work/$1.log" | sed -n 's/.*; decoder: .* records=\([0-9]*\).*/\1/p' | tail -1
}
q() { sqlite3 "$work/$1/store/nfsentry.db" "$2"; }
tot="select json_extract(doc,'\$.records'), json_extract(doc,'\$.egress'), json_extract(doc,'\$.ingress'), json_extract(doc,'\$.insideSeen'), json_extract(doc,'\$.conversations') from documents where kind='slot'"

# The reference: the same send, no reload.
config ref
start ref
"$NFSENTRY" send "$FIXTURE" --to "127.0.0.1:$port" --rate 100 >/dev/null 2>"$work/send-ref.log" || fail "send failed"
sleep 0.5
stop

# The send, about 2 s at 100 datagrams/s, with two reloads in the middle of it.
config rl
start rl
"$NFSENTRY" send "$FIXTURE" --to "127.0.0.1:$port" --rate 100 >/dev/null 2>"$work/send.log" &
spid=$!
sleep 0.5
cp "$work/rl.yaml" "$work/rl.orig"
other=$((port == 65535 ? port - 1 : port + 1))
sed -e "s|127.0.0.1:$port|127.0.0.1:$other|" \
	-e 's|^    allow: \[10.10.0.80, 10.10.0.53\]|&\n    thresholds:\n      min_packets: 1|' \
	"$work/rl.orig" >"$work/rl.yaml"
"$NFSENTRY" check-config "$work/rl.yaml" >/dev/null || fail "the changed configuration is not valid"
kill -HUP "$pid"
sleep 0.5
printf 'bogus_key: 1\n' >>"$work/rl.yaml"
kill -HUP "$pid"
wait "$spid" || fail "send failed: $(cat "$work/send.log")"
spid=
sleep 0.5
kill -0 "$pid" 2>/dev/null || fail "the collector did not survive the reloads"
stop
[ "$(($(date +%s) / 300))" = "$slot" ] || { echo "reload: SKIP: the test crossed a slot boundary"; exit 77; }

log="$work/rl.log"
grep -q "listen changed: needs a restart; keeping the running value" "$log" || fail "no restart line for listen"
grep -q "configuration reloaded from $work/rl.yaml: 1 keys changed (sites\[campus\].thresholds), 1 need a restart (listen)" "$log" || fail "no (or another) reloaded line for the valid file"
grep -q "$work/rl.yaml:[0-9]*: bogus_key: " "$log" || fail "the invalid file's error is not logged as FILE:LINE"
grep -q "configuration not reloaded: 1 errors in $work/rl.yaml; the running configuration is unchanged" "$log" || fail "no refusal line for the invalid file"
[ "$(grep -c 'configuration reloaded from\|configuration not reloaded' "$log")" = 2 ] || fail "want exactly one final line per reload"
grep -q "listening on udp 127.0.0.1:$other" "$log" && fail "the changed listen address was opened without a restart"

want=$(decoded ref)
[ "$want" = "$RECORDS" ] || fail "the reference run decoded ${want:-?} records, want $RECORDS"
[ "$(decoded rl)" = "$RECORDS" ] || fail "the reloaded run decoded $(decoded rl) records, want $RECORDS: records lost"
[ "$(q rl "select count(*) from slots")" = 1 ] || fail "the reloaded run stored $(q rl "select count(*) from slots") slots, want 1 (the slot must go on)"
[ "$(q rl "$tot")" = "$(q ref "$tot")" ] || fail "slot totals differ from the reference: $(q rl "$tot") vs $(q ref "$tot")"
echo "reload: ok: two reloads (valid, invalid) during a send; $RECORDS records in one slot, as without them"
