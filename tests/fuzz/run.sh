#!/bin/sh
# Run each fuzz target for SECONDS over a scratch copy of its seed
# corpus (tests/fuzz/corpus/<name>/ is never written to).
# usage: tests/fuzz/run.sh BUILD_DIR SECONDS [target...]
# Crashes land in BUILD_DIR/fuzz-artifacts/; copy each into
# tests/data/fuzz-regress/ (name.bin) once fixed, so test_decoder replays it.
set -eu
build=${1:?usage: run.sh BUILD_DIR SECONDS [target...]}
secs=${2:?usage: run.sh BUILD_DIR SECONDS [target...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
targets=${*:-v5 v9 ipfix l2parse pcapin}
mkdir -p "$build/fuzz-artifacts"
status=0
failed=
# The failed targets, for tools/test.sh to name at the end of a long log.
: >"$build/fuzz-failed"
for t in $targets; do
	exe="$build/tests/fuzz/fuzz_$t"
	[ -x "$exe" ] || { echo "run.sh: $exe missing (configure with -Dfuzz=true)" >&2; exit 2; }
	work="$build/fuzz-work/$t"
	mkdir -p "$work"
	echo "== fuzz_$t for ${secs}s"
	log="$build/fuzz-work/$t.log"
	# Shown as it runs and kept for the reason of a failure; sh has no
	# pipefail, so the status comes through a file.
	{
		rc=0
		"$exe" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
			-artifact_prefix="$build/fuzz-artifacts/$t-" "$work" "$here/corpus/$t" \
			"$here/../data/fuzz-regress" 2>&1 || rc=$?
		echo "$rc" >"$log.rc"
	} | tee "$log"
	rc=$(cat "$log.rc")
	if [ "$rc" -ne 0 ]; then
		status=1
		failed="$failed $t"
		why=$(grep -m1 -E '^SUMMARY|^==[0-9]+== ?ERROR|deadly signal|out-of-memory|timeout' "$log" | cut -c1-200)
		echo "fuzz_$t: exit $rc: $why; artifacts: $(ls "$build/fuzz-artifacts" | grep "^$t-" | tr '\n' ' ')" >>"$build/fuzz-failed"
	fi
done
[ -z "$failed" ] || echo "run.sh: failed:$failed (see $build/fuzz-failed)" >&2
exit $status
