#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite:
#   1. unit and integration tests (build/)
#   2. the same under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
#   3. the release build of tools/run.sh compiles without warnings (build-release-check/)
#   4. each decoder's libFuzzer target for a short bounded run (build-fuzz/)
# Ends with one line "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --test || exit 1

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
# A sanitizer report is a failure, not a line in a log nobody reads: UBSan
# otherwise prints "runtime error" and lets the test pass.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
passed=0
failed=0
failures=()

# count_meson DIR: add the results of the last `meson test` in DIR.
count_meson() {
	local log="$1/meson-logs/testlog.json"
	[ -f "$log" ] || return 0
	local p f
	p=$(grep -c '"result": "OK"' "$log" || true)
	f=$(grep -Ec '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
	passed=$((passed + p))
	failed=$((failed + f))
	# The names go into the last lines too: a CI log is often read from its tail,
	# and the fuzz output pushes meson's own summary far above it.
	local t
	while IFS= read -r t; do
		[ -n "$t" ] && failures+=("$1: $t")
	done < <(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("result") in ("FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS"):
        tail = (r.get("stdout") or "").splitlines()[-12:]
        print(r.get("name", "?"), r["result"], "%.1fs" % r.get("duration", 0),
              " | ".join(l.strip()[:160] for l in tail))
' "$log")
}

# suite NAME DIR MESON_SETUP_ARGS...: configure, build and test one build dir.
suite() {
	local name=$1 dir=$2
	shift 2
	echo "=== $name ($dir)"
	if [ ! -d "$dir" ]; then
		meson setup "$dir" "$@" >/dev/null || {
			echo "$name: meson setup failed"
			failed=$((failed + 1))
			failures+=("$dir: meson setup")
			return
		}
	fi
	if ! ninja -C "$dir"; then
		echo "$name: build failed"
		failed=$((failed + 1))
		failures+=("$dir: build")
		return
	fi
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --print-errorlogs --num-processes 2 ${MESON_TEST_ARGS:-}
	count_meson "$dir"
}

suite "tests" build
suite "tests under ASan+UBSan" build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	-Dbuildtype=debug

# The README's run command builds with --buildtype=release (-O3), whose
# warnings differ from -O2's; -Werror must hold there too.
echo "=== release build (tools/run.sh's)"
if [ ! -d build-release-check ]; then
	meson setup build-release-check --buildtype=release -Dtests=false >/dev/null || true
fi
if ninja -C build-release-check; then
	passed=$((passed + 1))
else
	echo "release build failed"
	failed=$((failed + 1))
	failures+=("build-release-check: build")
fi

echo "=== fuzz (${FUZZ_SECONDS}s per target)"
if [ ! -d build-fuzz ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null || failed=$((failed + 1))
fi
if ninja -C build-fuzz && [ -x tests/fuzz/run.sh ]; then
	if tests/fuzz/run.sh build-fuzz "$FUZZ_SECONDS"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		while IFS= read -r t; do
			failures+=("build-fuzz: $t")
		done <build-fuzz/fuzz-failed
		[ -s build-fuzz/fuzz-failed ] || failures+=("build-fuzz: a fuzz target")
	fi
elif [ -x tests/fuzz/run.sh ]; then
	echo "fuzz: build failed"
	failed=$((failed + 1))
	failures+=("build-fuzz: build")
fi

for f in "${failures[@]}"; do
	echo "FAILED $f"
done
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
