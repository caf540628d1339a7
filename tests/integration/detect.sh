#!/bin/bash
# detect.sh: the detection benchmark's small set, end to end, in CI.
#
# tools/detect-eval with one seed, the smallest and a middle site (10 and
# 100 active hosts) at nominal intensity: gentraffic's detect scenario (every
# planted behaviour of docs/detection.md: unanswered and answered SYN
# floods, a short UDP burst, a reflection flood, a distributed flood from
# 200 spoofed sources, a fast hit-list scan and a slow scan of silent
# addresses, p2p, fan-out, outbound scan and flood, among clients, a busy
# resolver, a CDN node, a backup upload, a video call and a busy client of
# the site's two servers), exported by softflowd as IPFIX, replayed. Every
# planted behaviour must carry its label in its slot, and no other host any
# label. The full sweep (5 seeds x 3 site sizes x 6 intensities) is the
# hand-run `tools/detect-eval` (docs/detection.md).
#
# Environment: BUILD_DIR, SOURCE_DIR (from meson); DETECT_PORT (UDP port of
# the export, default a free one from 29265).
set -euo pipefail

PROG=detect
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${BUILD_DIR:?BUILD_DIR must point at the meson build directory}"
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
require_tools softflowd softflowctl dumpcap timeout
PORT=${DETECT_PORT:-$(free_port_base 29265 1)}
/usr/bin/python3 "$SOURCE_DIR/tools/detect-eval" --build "$BUILD_DIR" --seeds 1 \
	--scales 10,100 --intensities 100 --port "$PORT" --out - ||
	die "a planted behaviour was missed or a normal host labelled (see above)"
log "every planted behaviour labelled, no normal host labelled"
