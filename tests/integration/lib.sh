# shellcheck shell=bash
# lib.sh: shell helpers shared by the integration tests that drive real
# programs (interop.sh, campus.sh and others), a live collector
# (restart.sh, templates.sh, reload.sh: "live collector" below) or headless
# Chromium (web.sh, web_pages.sh: "headless Chromium" below). Sourced, not
# run.
#
# Before sourcing, set PROG (the test's name, printed before every message).
# After sourcing, call lib_init NAME KEEP: it makes the work directory $T
# (/tmp/nfsentry-NAME.XXXXXX) and installs the traps. On exit every process
# the test started and recorded in PIDS is stopped by pid, and $T is removed
# when the test set OK=1 (kept otherwise, or when KEEP is 1).
#
# softflowd 1.1.0 in file mode has quirks (docs/testing.md, "softflowd 1.1.0
# reading a file"); run_softflowd is the one way these tests drive it.

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
	printf '%s: FAIL: %s\n' "$PROG" "$*" >&2
	exit 1
}

PIDS=()
OK=0
LIB_KEEP=0

# require_tools TOOL...: each must be on PATH (sbin directories are added).
require_tools() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
		command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (tools/setup.sh installs it)"
	done
}

# True while pid runs (a zombie child does not count).
proc_alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# Drop a reaped pid from PIDS, so that cleanup never signals a number the
# kernel may have handed to someone else.
forget_pid() {
	local keep=() p
	for p in ${PIDS[@]+"${PIDS[@]}"}; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=(${keep[@]+"${keep[@]}"})
}

# Stop what we started, by pid: SIGTERM (or $2), a grace period, then SIGKILL.
stop_pid() {
	local pid=$1 sig=${2:-TERM}
	if proc_alive "$pid"; then
		kill "-$sig" "$pid" 2>/dev/null || true
	fi
	for _ in $(seq 50); do
		proc_alive "$pid" || break
		sleep 0.1
	done
	if proc_alive "$pid"; then
		log "pid $pid ignored SIG$sig; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	forget_pid "$pid"
}

lib_cleanup() {
	local rc=$? pid
	for pid in ${PIDS[@]+"${PIDS[@]}"}; do
		stop_pid "$pid"
	done
	if [ "$OK" = 1 ] && [ "$LIB_KEEP" != 1 ]; then
		rm -rf "$T"
	else
		log "work files kept in $T"
	fi
	exit "$rc"
}

# lib_init NAME KEEP: work directory $T and traps.
lib_init() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/nfsentry-$1.XXXXXX")
	LIB_KEEP=${2:-0}
	trap lib_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# Wait (up to $2 s) until something listens on UDP port $1.
wait_udp_listen() {
	local port=$1 limit=$2
	for _ in $(seq $((limit * 10))); do
		ss -Hlun "sport = :$port" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

port_free() {
	! ss -Hlun "sport = :$1" 2>/dev/null | grep -q .
}

# free_port_base DEFAULT N: DEFAULT if DEFAULT..DEFAULT+N-1 are all free UDP
# ports, else a random base in 20000..59999 whose N ports are (a shared
# machine may run another test's collector on the default ports).
free_port_base() {
	local base=$1 n=$2 i ok try
	for try in $(seq 0 50); do
		ok=1
		for i in $(seq 0 $((n - 1))); do
			port_free $((base + i)) || { ok=0; break; }
		done
		[ "$ok" = 1 ] && { echo "$base"; return 0; }
		base=$((20000 + RANDOM % 40000))
	done
	echo "$1"
}

# capture_start PORT FILE LOG: dumpcap on lo records the UDP datagrams to
# 127.0.0.1:PORT into FILE (pcap); returns once it is capturing and sets
# CAPTURE_PID. Needs root or capture rights on lo.
capture_start() {
	local port=$1 file=$2 logf=$3
	dumpcap -i lo -f "udp and dst host 127.0.0.1 and dst port $port" -P -B 64 \
		-w "$file" >"$logf" 2>&1 &
	CAPTURE_PID=$!
	PIDS+=("$CAPTURE_PID")
	for _ in $(seq 100); do
		grep -q '^File:' "$logf" && return 0
		proc_alive "$CAPTURE_PID" || die "dumpcap did not start: $(cat "$logf")"
		sleep 0.1
	done
	die "dumpcap did not start: $(cat "$logf")"
}

# capture_stop LOG WHAT: SIGINT makes dumpcap finish the file; fail if it
# dropped a packet (WHAT names the capture in the message).
capture_stop() {
	local logf=$1 what=$2
	stop_pid "$CAPTURE_PID" INT
	grep -q 'dropped.*: [0-9]*/0 ' "$logf" ||
		die "dumpcap dropped packets for $what: $(grep dropped "$logf")"
}

# softflowd 1.1.0 in -r mode polls an uninitialised pollfd, so every turn of
# its main loop may block in accept() on the control socket. Each connection
# lets it run one more turn (one pcap_dispatch of up to -m packets); at end of
# file it exports every open flow and exits. So: poke it with a harmless
# "statistics" until it has gone (it removes its socket on the way out).
#
# run_softflowd VERSION PIECE PORT LOG: export one capture piece to
# 127.0.0.1:PORT as NetFlow VERSION (5, 9 or 10), record times adjusted to
# the capture (-a); v9 and IPFIX with IPv6 (-6) and millisecond times (-A).
run_softflowd() {
	local version=$1 piece=$2 port=$3 logf=$4
	local sock="$T/sf.ctl" pidf="$T/sf.pid" sf
	local args=(-r "$piece" -n "127.0.0.1:$port" -v "$version" -d -a -T full
		-c "$sock" -p "$pidf" -m 65536)
	if [ "$version" != 5 ]; then
		args+=(-6 -A milli)
	fi
	rm -f "$sock" "$pidf"
	softflowd "${args[@]}" >>"$logf" 2>&1 &
	sf=$!
	PIDS+=("$sf")
	for _ in $(seq 100); do
		[ -S "$sock" ] && break
		proc_alive "$sf" || break
		sleep 0.05
	done
	for _ in $(seq 200); do
		[ -S "$sock" ] || break
		proc_alive "$sf" || break
		timeout 5 softflowctl -c "$sock" statistics >/dev/null 2>&1 || true
	done
	# It removes the socket before it prints its statistics and exits: on a
	# busy machine it can still be alive here, with everything exported.
	for _ in $(seq 100); do
		proc_alive "$sf" || break
		sleep 0.05
	done
	if proc_alive "$sf"; then
		log "softflowd on $piece did not finish; stopping it"
		stop_pid "$sf"
		return 1
	fi
	local rc=0
	wait "$sf" || rc=$?
	forget_pid "$sf"
	[ "$rc" = 0 ] || {
		log "softflowd on $piece exited with $rc"
		return 1
	}
	return 0
}

# ---------------------------------------------------------------- headless Chromium
# The dashboard tests (web.sh, web_pages.sh) look at the page in Debian's chromium. They
# set $T (lib_init) and call browser_find first: BROWSER is its path; without one the test
# passes here with a message (or fails when WEB_REQUIRE_BROWSER=1). Each run has a fresh
# profile ($T/profile-NAME), no network but the loopback the URL names, and 15 s of virtual
# time: timers (the page's refreshes) run without waiting for them.

browser_find() {
	BROWSER=$(command -v chromium || command -v chromium-browser || true)
	[ -n "$BROWSER" ] && return 0
	[ "${WEB_REQUIRE_BROWSER:-0}" = 1 ] && die "chromium not found (tools/setup.sh --test installs it)"
	log "chromium not found: browser part skipped (tools/setup.sh --test installs it)"
	OK=1
	exit 0
}

# browser_run NAME URL ARGS...: chromium headless on URL (root needs --no-sandbox); its
# stdout is the caller's. ARGS may add --virtual-time-budget=0 and --timeout=MS to let the
# page run in real time instead.
browser_run() {
	timeout 120 "$BROWSER" --headless=new --no-sandbox --disable-gpu --no-first-run \
		--disable-extensions --disable-background-networking --user-data-dir="$T/profile-$1" \
		--enable-logging=stderr --v=0 --virtual-time-budget=15000 --hide-scrollbars "${@:3}" "$2"
}

# browser_check NAME URL LOADED: what a --dump-dom run of NAME left: no console message (a
# CSP violation is one) in $T/chrome-NAME.log, and the page said it finished (data-loaded).
browser_check() {
	if grep -E 'CONSOLE|Content Security Policy|Uncaught|Refused to' "$T/chrome-$1.log" >"$T/console.txt"; then
		die "console messages on $2: $(cat "$T/console.txt")"
	fi
	grep -q "data-loaded=\"$3\"" "$T/dom-$1.html" || die "$2 did not finish loading: $(head -c 2000 "$T/dom-$1.html")"
}

# browser_page NAME URL LOADED: the DOM of URL in $T/dom-NAME.html once the page says it
# finished (data-loaded="LOADED"), checked by browser_check.
browser_page() {
	browser_run "$1" "$2" --dump-dom >"$T/dom-$1.html" 2>"$T/chrome-$1.log" ||
		die "chromium --dump-dom $2 failed: $(tail -5 "$T/chrome-$1.log")"
	browser_check "$1" "$2" "$3"
}

# browser_shot FILE URL W,H: a screenshot of URL at W x H pixels into FILE (PNG).
browser_shot() {
	local name
	name=shot-$(basename "$1" .png)
	browser_run "$name" "$2" --screenshot="$1" --window-size="$3" >/dev/null 2>"$T/chrome-$name.log" ||
		die "chromium --screenshot $2 failed: $(tail -5 "$T/chrome-$name.log")"
	[ -s "$1" ] || die "no screenshot $1"
}

# ---------------------------------------------------------------- live collector
#
# The setup of the tests that start `nfsentry run` on loopback, send to it
# and stop it (restart.sh, templates.sh, reload.sh). They need NFSENTRY and
# SOURCE_DIR, and call live_init NAME first: it makes the work directory
# $work (/tmp/nfsentry-NAME.XXXXXX, removed at exit unless a check failed),
# finds a free UDP port $port, and installs the EXIT trap that kills the
# collector ($pid) and a background send ($spid) when still running. Then:
#   fail MSG...        NAME: FAIL: MSG, every $work/*.log, exit 1
#   live_same_slot S   wait for the next 300-s slot when fewer than S seconds
#                      of this one are left; $slot is the slot then
#   config NAME        $work/NAME.yaml: live.yaml with $port and its store in $work/NAME/
#   start NAME [LOG]   run -c $work/NAME.yaml (stderr in $work/LOG.log, LOG
#                      defaults to NAME) in the background ($pid), until both
#                      loopback listeners are up
#   stop               SIGTERM to $pid; fail unless it exits 0
# A test that sources lib.sh for the other helpers may define its own
# config, start or stop: its definition comes later and wins.

live_init() {
	LIVE_NAME=$1
	work=$(mktemp -d "/tmp/nfsentry-$1.XXXXXX")
	pid=
	spid=
	failed=0
	trap live_cleanup EXIT
	port=
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! ss -Hlun "( sport = :$p )" | grep -q .; then
			port=$p
			break
		fi
	done
	[ -n "$port" ] || fail "no free UDP port found"
}

live_cleanup() {
	if [ -n "$spid" ] && kill -0 "$spid" 2>/dev/null; then kill -KILL "$spid" 2>/dev/null || true; fi
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
	if [ "$failed" = 1 ]; then echo "$LIVE_NAME: work files kept in $work"; else rm -rf "$work"; fi
}

fail() {
	failed=1
	echo "$LIVE_NAME: FAIL: $*"
	for f in "$work"/*.log; do
		echo "--- $f:"
		cat "$f"
	done
	exit 1
}

live_same_slot() {
	local left=$((300 - $(date +%s) % 300))
	if [ "$left" -lt "$1" ]; then sleep $((left + 1)); fi
	# shellcheck disable=SC2034 # read by the test
	slot=$(($(date +%s) / 300))
}

config() {
	mkdir -p "$work/$1"
	sed -e "s|@PORT@|$port|g" -e "s|@DIR@|$work/$1|g" "$SOURCE_DIR/tests/integration/live.yaml" >"$work/$1.yaml"
}

start() {
	local logf="$work/${2:-$1}.log"
	"$NFSENTRY" run -c "$work/$1.yaml" 2>"$logf" &
	pid=$!
	for _ in $(seq 1 100); do
		[ "$(grep -c 'listening on udp' "$logf" || true)" -ge 2 ] && return 0
		kill -0 "$pid" 2>/dev/null || fail "collector exited at start (${2:-$1})"
		sleep 0.1
	done
	fail "collector did not start listening (${2:-$1})"
}

stop() {
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	pid=
	[ "$rc" -eq 0 ] || fail "collector exited with status $rc"
}
