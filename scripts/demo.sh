#!/usr/bin/env bash
# The main job on embedded defaults: frames recorded from a real Skydive
# analyzer replayed, their flows classified by the RFC 1918 cluster ranges,
# the "other" ones dropped, made secadvisor records, encoded as a document.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin
frames=testdata/analyzer/frames-flow.ndjson

echo "== $frames: $(wc -l < "$frames") frames recorded from a real analyzer" >&2
"$bin/sky-flows" --replay "$frames" \
	| "$bin/sky-classify" \
	| "$bin/sky-filter" --exclude-tag other \
	| "$bin/sky-transform" --to secadvisor --exclude-started \
	| "$bin/sky-encode" --format secadvisor > "${TMPDIR:-/tmp}/skyflows-demo.json"
echo "== secadvisor document: ${TMPDIR:-/tmp}/skyflows-demo.json, $(wc -c < "${TMPDIR:-/tmp}/skyflows-demo.json") bytes" >&2
echo "== the TCP flows as CSV" >&2
"$bin/sky-flows" -q --replay "$frames" \
	| "$bin/sky-classify" -q \
	| "$bin/sky-filter" -q 'Tag != "other" && Transport.Protocol == "TCP"' \
	| "$bin/sky-encode" -q --format csv --columns UUID,Tag,Network.A,Network.B,Transport.B,Metric.ABBytes,Metric.BABytes
