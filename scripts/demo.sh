#!/usr/bin/env bash
# The main job on embedded defaults: frames recorded from a real Skydive
# analyzer replayed through the secadvisor pipeline into a bucket of a
# local S3 server (versitygw) that this script starts and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin
frames=testdata/analyzer/frames-flow.ndjson
spool=.run/demo-spool

scripts/s3local.sh start
trap 'scripts/s3local.sh stop' EXIT
eval "$(scripts/s3local.sh env)"
rm -rf "$spool"
export SKY_SPOOL=$spool # sky-batch's, and so sky-s3put's

echo "== $frames: $(wc -l < "$frames") frames recorded from a real analyzer, into s3://$SKY_S3_BUCKET" >&2
"$bin/sky-flows" --replay "$frames" \
	| "$bin/sky-classify" \
	| "$bin/sky-filter" --exclude-tag other \
	| "$bin/sky-transform" --to secadvisor --exclude-started \
	| "$bin/sky-batch" --format secadvisor --prefix demo \
	| "$bin/sky-s3put"

echo "== the objects in the bucket (versitygw keeps them as files)" >&2
data=.run/s3/data/$SKY_S3_BUCKET
(cd "$data" && find demo -type f | sort)
first=$(cd "$data" && find demo -type f | sort | sed -n 1p) # sed reads all: no SIGPIPE under pipefail
echo "== the first records of $first" >&2
gzip -dc "$data/$first" | "$bin/sky-encode" -q -f json-pretty --max-line-bytes 67108864 2> /dev/null \
	| head -n 30 || true
