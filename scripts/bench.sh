#!/usr/bin/env bash
# Measures each stage as a process over generated flows, next to cat and jq
# doing the same work in the same run, and prints a table (Markdown).
# Usage: scripts/bench.sh [FLOWS]   (default 300000; jq gets a tenth)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-${BENCH_FLOWS:-300000}}
bin=$PWD/bin
work=$(mktemp -d "${TMPDIR:-/tmp}/skybench.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$bin/sky-genflows" -n "$n" > "$work/flows.ndjson"
"$bin/sky-classify" -q < "$work/flows.ndjson" > "$work/tagged.ndjson"
head -n $((n / 10)) "$work/tagged.ndjson" > "$work/tagged-jq.ndjson"
"$bin/sky-genflows" -n 10000 > "$work/small.ndjson"
"$bin/sky-genflows" -n "$n" --frames 100 > "$work/frames.ndjson"

expr='Tag != "other" && Transport.Protocol == "TCP" && Metric.ABBytes > 1000'
jqexpr='select(.Tag != "other" and .Transport.Protocol == "TCP" and .Metric.ABBytes > 1000)'
jqsecadvisor='{UUID, LayersPath, Version: "1.1.0", Status: (if .FinishType then "ENDED" else "UPDATED" end),
	FinishType: ({"1": "Timeout", "2": "SYN_FIN", "3": "SYN_RST"}[(.FinishType // 0) | tostring]),
	Network: (.Network | if . then {Protocol, A, B} else null end),
	Transport: (.Transport | if . then {Protocol, A: (.A | tostring), B: (.B | tostring)} else null end),
	LastUpdateMetric, Metric, Start, Last, UpdateCount: 0, LogStatus: "OK", Tag}'
jqaws='select(.Network) | {version: 2, "account-id": "-", "interface-id": .NodeTID, srcaddr: .Network.A, dstaddr: .Network.B,
	srcport: (.Transport.A // 0), dstport: (.Transport.B // 0),
	protocol: ({"TCP": 6, "UDP": 17}[.Transport.Protocol // ""] // 1),
	packets: (.LastUpdateMetric.ABPackets + .LastUpdateMetric.BAPackets), bytes: (.LastUpdateMetric.ABBytes + .LastUpdateMetric.BABytes),
	start: (.LastUpdateMetric.Start / 1000 | floor), end: (.LastUpdateMetric.Last / 1000 | floor),
	action: "ACCEPT", "log-status": "OK", Tag}'

# measure INPUT CMD...: run CMD reading INPUT, its stderr kept in
# $work/stderr; sets secs (wall clock), rss (KiB), user and sys (CPU
# seconds of CMD and its children) and returns CMD's status.
measure() {
	local input=$1 start end status=0
	shift
	start=$(date +%s%N)
	/usr/bin/time -o "$work/time" -f '%M %U %S' "$@" < "$input" > /dev/null 2> "$work/stderr" || status=$?
	end=$(date +%s%N)
	secs=$(echo "scale=4; ($end - $start) / 1000000000" | bc)
	read -r rss user sys < <(tail -n 1 "$work/time")
	return $status
}

# run KEY NAME INPUT CMD...: time CMD reading INPUT, print a table row and
# keep its flows/s under KEY (and its CPU microseconds a flow, user and
# system, of the command and its children). INPUT holds one flow a line
# unless flows_in says how many, and its size is the bytes handled unless
# bytes_in says.
declare -A rate cpu
run() {
	local key=$1 name=$2 input=$3
	shift 3
	local flows bytes
	flows=${flows_in:-$(wc -l < "$input")}
	bytes=${bytes_in:-$(stat -c %s "$input")}
	measure "$input" "$@" || true
	cpu[$key]=$(echo "scale=2; ($user + $sys) * 1000000 / $flows" | bc)
	rate[$key]=$(echo "$flows / $secs" | bc)
	printf '| %-44s | %9s | %7s | %7s |\n' "$name" "${rate[$key]}" \
		"$(echo "scale=1; $bytes / 1000000 / $secs" | bc)" "$(echo "scale=1; $rss / 1024" | bc)"
}

echo "flows: $n generated, $(( $(stat -c %s "$work/flows.ndjson") / n )) bytes each on average; $(nproc) cores"
echo
echo "| stage | flows/s | MB/s | max RSS MiB |"
echo "|---|---:|---:|---:|"
run cat "cat" "$work/flows.ndjson" cat
flows_in=$n run flows "sky-flows --replay (frames of 100 flows)" "$work/frames.ndjson" "$bin/sky-flows" -q --replay -
run classify "sky-classify" "$work/flows.ndjson" "$bin/sky-classify" -q
run classify-small "sky-classify (10k flows: memory is flat)" "$work/small.ndjson" "$bin/sky-classify" -q
run tag "sky-filter --exclude-tag other" "$work/tagged.ndjson" "$bin/sky-filter" -q --exclude-tag other
run expr "sky-filter EXPR" "$work/tagged.ndjson" "$bin/sky-filter" -q "$expr"
run csv "sky-encode --format csv" "$work/tagged.ndjson" "$bin/sky-encode" -q --format csv
run secadvisor "sky-encode --format secadvisor" "$work/tagged.ndjson" "$bin/sky-encode" -q --format secadvisor
run secadvisor-t "sky-transform --to secadvisor" "$work/tagged.ndjson" "$bin/sky-transform" -q --to secadvisor
run aws-t "sky-transform --to awsflowlogs" "$work/tagged.ndjson" "$bin/sky-transform" -q --to awsflowlogs
run vpclogs-t "sky-transform --to vpclogs" "$work/tagged.ndjson" "$bin/sky-transform" -q --to vpclogs
run prom "sky-prom (a gauge set per connection)" "$work/tagged.ndjson" "$bin/sky-prom" -q --metrics-addr 127.0.0.1:19732
run pipeline "classify | filter | encode pipeline" "$work/flows.ndjson" sh -c \
	"'$bin/sky-classify' -q | '$bin/sky-filter' -q --exclude-tag other | '$bin/sky-encode' -q -f secadvisor"
# The cost of --metrics-addr, scraped every second as Prometheus would:
# three runs with and three without, alternated, medians compared.
metrics_port=19731
(while sleep 1; do curl -s -o /dev/null "http://127.0.0.1:$metrics_port/metrics" || true; done) &
scraper=$!
declare -A metrics_cost
for stage in "sky-classify" "sky-transform --to secadvisor"; do
	off=() on=()
	read -r tool args <<< "$stage"
	for i in 1 2 3; do
		# shellcheck disable=SC2086
		run "m-off-$i" "$stage (metrics off, run $i)" "$work/tagged.ndjson" "$bin/$tool" -q $args > /dev/null
		off+=("${rate[m-off-$i]}")
		# shellcheck disable=SC2086
		run "m-on-$i" "$stage (metrics on, run $i)" "$work/tagged.ndjson" "$bin/$tool" -q $args \
			--metrics-addr "127.0.0.1:$metrics_port" > /dev/null
		on+=("${rate[m-on-$i]}")
	done
	moff=$(printf '%s\n' "${off[@]}" | sort -n | sed -n 2p)
	mon=$(printf '%s\n' "${on[@]}" | sort -n | sed -n 2p)
	metrics_cost[$stage]="$mon vs $moff flows/s ($(echo "scale=1; 100 * $mon / $moff" | bc)%)"
done
kill "$scraper" 2> /dev/null || true
# sky-flows live: the test analyzer (sky-analyzer-sim, on the same two
# cores) sends n flows as fast as they are taken; then the same with a
# downstream that reads nothing for 3 s, so the backlog goes to disk.
live() {
	local key=$1 name=$2 sink=$3 port=$4
	"$bin/sky-analyzer-sim" --listen "127.0.0.1:$port" -n "$n" --exit 2> "$work/sim.err" &
	flows_in=$n bytes_in=$(stat -c %s "$work/flows.ndjson") run "$key" "$name" /dev/null sh -c \
		"'$bin/sky-flows' -q --analyzer 127.0.0.1:$port --max-retries 1 --max-backoff 50ms --buffer-dir '$work/buffer' | $sink"
	wait
	grep -q "out $n dropped 0" "$work/stderr" || { echo "sky-flows lost flows:"; cat "$work/stderr"; }
}
live flows-live "sky-flows live from sky-analyzer-sim" "cat > /dev/null" 18481
live flows-backlog "sky-flows live, stdout blocked 3 s" "{ sleep 3; cat > /dev/null; }" 18482

# sky-batch: flow JSON into gzip objects (level 6, its default) on one
# core, next to gzip -6; the ratio is compressed / raw.
batchrun() {
	local key=$1 name=$2
	shift 2
	rm -rf "$work/spool"
	run "$key" "$name" "$work/flows.ndjson" "$bin/sky-batch" -q --spool "$work/spool" --max-age 1h "$@"
	ratio[$key]=$(echo "scale=4; $(cat "$work/spool"/ready/* | wc -c) / $(stat -c %s "$work/flows.ndjson")" | bc)
}
declare -A ratio
GOMAXPROCS=1 batchrun batch "sky-batch (gzip -6, 6000 records an object)"
GOMAXPROCS=1 batchrun batch-1m "sky-batch --max-records 1000000" --max-records 1000000
GOMAXPROCS=1 batchrun batch-zstd "sky-batch --compress zstd (level 1)" --compress zstd
# Parquet: the flows as rows, gzip pages, one object for the whole input
# (memory is bounded by a row group, not by the object).
GOMAXPROCS=1 batchrun batch-parquet "sky-batch --format flows-parquet, one object" --format flows-parquet --max-records 1000000
# built DIR COMMIT: sky-batch as it was at COMMIT, built into DIR; false
# when the clone does not have COMMIT.
built() {
	git cat-file -e "$2^{commit}" 2> /dev/null || return 1
	mkdir -p "$1"
	git archive "$2" | tar -x -C "$1"
	(cd "$1" && go build -o "$1/sky-batch" ./cmd/sky-batch)
}
# The cost of the write-through journal (every byte read is in the spool's
# input journal before its records are handled): sky-batch as it was
# before it, built from that commit, on the same flows.
if built "$work/before" 038c6b2a26888fd362d2aaf0ad624cb5d2334011; then
	rm -rf "$work/spool"
	GOMAXPROCS=1 run batch-before "sky-batch before the write-through journal" "$work/flows.ndjson" \
		"$work/before/sky-batch" -q --spool "$work/spool" --max-age 1h
fi
# Groups that outnumber --max-open: 20 000 Tags through 64 open objects,
# so that each object closes early with one record (what a forced close
# costs), next to sky-batch before objects were finished together.
head -n 20000 "$work/flows.ndjson" | awk '{ sub(/^\{/, "{\"Tag\":\"t" NR "\","); print }' > "$work/crowd.ndjson"
rm -rf "$work/spool"
run batch-crowd "sky-batch, 20 000 groups through --max-open 64" "$work/crowd.ndjson" \
	"$bin/sky-batch" -q --spool "$work/spool" --max-open 64
if built "$work/crowd-before" 7067a750fab54e6fab66912ab5aa0512489f09d3; then # the last commit before it
	rm -rf "$work/spool"
	run batch-crowd-before "the same, sky-batch before finishing together" "$work/crowd.ndjson" \
		"$work/crowd-before/sky-batch" -q --spool "$work/spool" --max-open 64
fi
run gzip "gzip -6" "$work/flows.ndjson" gzip -6
ratio[gzip]=$(echo "scale=4; $(gzip -6 -c "$work/flows.ndjson" | wc -c) / $(stat -c %s "$work/flows.ndjson")" | bc)
# libdeflate, the fastest deflate there is in C, when installed: what one
# core can do at all at these levels.
if command -v libdeflate-gzip > /dev/null; then
	for level in 6 5; do
		run "libdeflate$level" "libdeflate-gzip -$level" "$work/flows.ndjson" libdeflate-gzip "-$level" -c
		ratio[libdeflate$level]=$(echo "scale=4; $(libdeflate-gzip "-$level" -c < "$work/flows.ndjson" | wc -c) / $(stat -c %s "$work/flows.ndjson")" | bc)
	done
fi

# sky-nats: the flows published to a one-node stream and consumed back
# out of a durable consumer, then the same through a three-node cluster
# with an R3 stream, on this one machine.
for nodes in 1 3; do
	nats_env=(NATSLOCAL_DIR="$work/nats$nodes" NATSLOCAL_PORT=$((17100 + nodes * 10)))
	env "${nats_env[@]}" scripts/natslocal.sh start "$nodes" 2> /dev/null
	url=$(env "${nats_env[@]}" scripts/natslocal.sh env | sed 's/^export SKY_NATS_URL=//')
	flows_in=$n run "nats-pub$nodes" "sky-nats publish ($nodes node(s), R$nodes)" "$work/tagged.ndjson" \
		"$bin/sky-nats" publish --server "$url" --create-stream BENCH --replicas "$nodes"
	stored=$(sed -n 's/.* out \([0-9]*\) .* duplicates \([0-9]*\).*/\1 - \2/p' "$work/stderr" | bc)
	flows_in=$stored run "nats-con$nodes" "sky-nats consume (the same stream)" "$work/tagged.ndjson" \
		bash -c "'$bin/sky-nats' consume -q --server '$url' --stream BENCH --durable bench | head -n $stored"
	env "${nats_env[@]}" scripts/natslocal.sh stop
done

# sky-s3put: objects of about 256 KiB into the local versitygw.
export S3LOCAL_DIR="$work/s3" S3LOCAL_ADDR=127.0.0.1:17070 S3LOCAL_BUCKET=bench
scripts/s3local.sh start 2> /dev/null
trap 'scripts/s3local.sh stop; rm -rf "$work"' EXIT
eval "$(scripts/s3local.sh env)"
rm -rf "$work/spool"
head -n 60000 "$work/flows.ndjson" | "$bin/sky-batch" -q --spool "$work/spool" --compress none --max-bytes 262144 \
	--max-records 1000000 --max-age 1h > "$work/manifests" 2> /dev/null
objects=$(wc -l < "$work/manifests")
cp -r "$work/spool/ready" "$work/copy"
start=$(date +%s%N)
"$bin/sky-s3put" -q --spool "$work/spool" --concurrency 8 < "$work/manifests" > /dev/null 2>&1
end=$(date +%s%N)
s3rate=$(echo "$objects * 1000000000 / ($end - $start)" | bc)
awsrate="-"
if command -v aws > /dev/null; then
	start=$(date +%s%N)
	aws --endpoint-url "$SKY_S3_ENDPOINT" s3 cp --recursive --quiet "$work/copy" "s3://$SKY_S3_BUCKET/aws/" 2> /dev/null
	end=$(date +%s%N)
	awsrate=$(echo "$objects * 1000000000 / ($end - $start)" | bc)
fi
rclonerate="-"
if command -v rclone > /dev/null; then
	start=$(date +%s%N)
	RCLONE_CONFIG_L_TYPE=s3 RCLONE_CONFIG_L_PROVIDER=Other RCLONE_CONFIG_L_ENDPOINT="$SKY_S3_ENDPOINT" \
		RCLONE_CONFIG_L_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" RCLONE_CONFIG_L_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
		rclone copy "$work/copy" "l:$SKY_S3_BUCKET/rclone/" --transfers 8 2> /dev/null
	end=$(date +%s%N)
	rclonerate=$(echo "$objects * 1000000000 / ($end - $start)" | bc)
fi

# The whole secadvisor pipeline, replay to bucket: scripts/secadvisor as
# users run it, each tool wrapped to record its CPU time.
mkdir -p "$work/timed"
for s in flows classify filter transform batch s3put; do
	printf '#!/bin/sh\nexec /usr/bin/time -o "%s/cpu.%s" -f "%%U %%S" "%s/sky-%s" "$@"\n' "$work" "$s" "$bin" "$s" > "$work/timed/sky-$s"
	chmod +x "$work/timed/sky-$s"
done
stages=(flows classify filter transform batch s3put)
# Three runs (the machine is shared); the median one is reported, with
# each tool's CPU seconds in it.
runs=()
for r in 1 2 3; do
	rm -rf "$work/pipe-spool"
	start=$(date +%s%N)
	SKYFLOWS_BIN=$work/timed SKY_REPLAY=$work/frames.ndjson SKY_SPOOL=$work/pipe-spool SKY_QUIET=1 \
		scripts/secadvisor > "$work/pipe.out" 2> "$work/pipe.err" || { echo "scripts/secadvisor failed:"; cat "$work/pipe.err"; }
	end=$(date +%s%N)
	secs=$(echo "scale=3; ($end - $start) / 1000000000" | bc)
	cpu=""
	total=0
	for s in "${stages[@]}"; do
		c=$(awk '{print $1 + $2}' "$work/cpu.$s")
		total=$(echo "$total + $c" | bc)
		cpu="$cpu $s ${c}s"
	done
	runs+=("$(echo "$n / $secs" | bc) $secs $(wc -l < "$work/pipe.out") $(printf '%.2f' "$total")s:$cpu")
done
read -r piperate pipesecs pipeobjects pipecpu <<< "$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)"
piperates=$(printf '%s\n' "${runs[@]}" | cut -d' ' -f1 | sort -n | paste -sd' ')

if command -v jq > /dev/null; then
	run jq-tag "jq -c 'select(.Tag != \"other\")'" "$work/tagged-jq.ndjson" jq -c 'select(.Tag != "other")'
	run jq-expr "jq -c 'select(EXPR)'" "$work/tagged-jq.ndjson" jq -c "$jqexpr"
	run jq-secadvisor "jq -c SECADVISOR (the same fields, no state)" "$work/tagged-jq.ndjson" jq -c "$jqsecadvisor"
	run jq-aws "jq -c AWS (the same fields)" "$work/tagged-jq.ndjson" jq -c "$jqaws"
	echo
	echo "sky-filter --exclude-tag vs jq: $(echo "scale=1; ${rate[tag]} / ${rate[jq-tag]}" | bc)x," \
		"sky-filter EXPR vs jq: $(echo "scale=1; ${rate[expr]} / ${rate[jq-expr]}" | bc)x," \
		"sky-transform --to secadvisor vs jq: $(echo "scale=1; ${rate[secadvisor-t]} / ${rate[jq-secadvisor]}" | bc)x," \
		"--to awsflowlogs vs jq: $(echo "scale=1; ${rate[aws-t]} / ${rate[jq-aws]}" | bc)x"
else
	echo
	echo "jq is not installed: no jq comparison in this run"
fi
echo "EXPR = $expr"
echo
for stage in "${!metrics_cost[@]}"; do
	echo "$stage with --metrics-addr scraped every second: ${metrics_cost[$stage]} (medians of three, same run)"
done
if [ -n "${rate[batch-before]:-}" ]; then
	echo "sky-batch with the write-through journal: ${rate[batch]} flows/s, before it: ${rate[batch-before]} flows/s" \
		"($(echo "scale=1; 100 * ${rate[batch]} / ${rate[batch-before]}" | bc)% of it, same run)"
fi
if [ -n "${rate[batch-crowd-before]:-}" ]; then
	echo "sky-batch, 20 000 groups through --max-open 64: ${rate[batch-crowd]} flows/s, before objects were finished together:" \
		"${rate[batch-crowd-before]} flows/s ($(echo "scale=1; ${rate[batch-crowd]} / ${rate[batch-crowd-before]}" | bc)x, same run)"
fi
for nodes in 1 3; do
	slower=$(( rate[nats-pub$nodes] < rate[nats-con$nodes] ? rate[nats-pub$nodes] : rate[nats-con$nodes] ))
	echo "sky-nats, $nodes node(s), R$nodes: publish ${rate[nats-pub$nodes]} flows/s (${cpu[nats-pub$nodes]} CPU µs a flow)," \
		"consume ${rate[nats-con$nodes]} flows/s (${cpu[nats-con$nodes]} CPU µs a flow, with head);" \
		"the slower side is $(echo "scale=2; $slower / ${rate[batch]}" | bc)x sky-batch's rate on a pipe (${rate[batch]} flows/s), same run"
done
echo "sky-batch --compress zstd: ${rate[batch-zstd]} flows/s, ratio ${ratio[batch-zstd]}; gzip -6: ${rate[gzip]} flows/s, ratio ${ratio[gzip]}" \
	"($(echo "scale=1; ${rate[batch-zstd]} / ${rate[gzip]}" | bc)x as fast)"
echo "sky-batch --format flows-parquet (gzip pages): ${rate[batch-parquet]} flows/s, ratio ${ratio[batch-parquet]}," \
	"$(echo "scale=1; 100 - 100 * ${ratio[batch-parquet]} / ${ratio[batch-1m]}" | bc)% smaller than sky-batch's gzip text of the same flows (ratio ${ratio[batch-1m]})"
echo "sky-batch on one core: ${rate[batch]} flows/s, ratio ${ratio[batch]}; gzip -6: ratio ${ratio[gzip]};" \
	"sky-batch vs gzip -6: $(echo "scale=1; ${rate[batch]} / ${rate[gzip]}" | bc)x;" \
	"libdeflate-gzip -6 and -5: ratio ${ratio[libdeflate6]:--} and ${ratio[libdeflate5]:--} (- when not installed)"
echo "scripts/secadvisor, replay to bucket: $piperate flows/s, the median of $piperates ($n flows in ${pipesecs}s," \
	"$pipeobjects objects stored); CPU seconds, total on $(nproc) cores and per tool: $pipecpu"
echo "sky-s3put: $s3rate objects/s of $(( $(stat -c %s "$work/flows.ndjson") * 60000 / n / objects / 1024 )) KiB ($objects objects, 8 at once);" \
	"aws s3 cp --recursive: $awsrate objects/s; rclone copy: $rclonerate objects/s (- when not installed)"

# Parquet against the gzip -6 text of the same records, every kind, on
# 100 000 generated flows and on the flows recorded from a real analyzer
# repeated to 100 000 (new UUIDs and times): sizes, sky-batch's rates on
# one core (one object, one group) and its memory; then DuckDB on one
# thread over the AWS objects, Parquet against text.
"$bin/sky-genflows" -n 100000 > "$work/pq-generated.ndjson"
"$bin/sky-genflows" -n 100000 --repeat testdata/flows/recorded.ndjson > "$work/pq-recorded.ndjson"
# pqbatch FORMAT INPUT SPOOL [FLAGS...]: sky-batch into SPOOL on one
# core (on every core with procs=all), once; sets secs, and rss
# (measure).
pqbatch() {
	local format=$1 input=$2 spool=$3
	shift 3
	rm -rf "$spool"
	GOMAXPROCS=$([ "${procs:-1}" = all ] && nproc || echo 1) \
		measure "$input" "$bin/sky-batch" -q --spool "$spool" --max-age 1h --max-records 1000000 --format "$format" "$@" ||
		{ cat "$work/stderr" >&2; exit 1; }
}
# pqpair TEXT PARQUET INPUT: the text format and the Parquet one over
# INPUT, alternated five times (single runs of these 0.1 to 1 s jobs
# moved by a fifth from one to the next, and a machine's speed drifts):
# sets tsecs and psecs to the fastest run of each, prss to the Parquet
# runs' largest memory; the last objects stay in pq-text and pq-parquet.
pqpair() {
	tsecs=999 psecs=999 prss=0
	for _ in 1 2 3 4 5; do
		pqbatch "$1" "$3" "$work/pq-text"
		tsecs=$(echo "if ($secs < $tsecs) $secs else $tsecs" | bc)
		pqbatch "$2" "$3" "$work/pq-parquet"
		psecs=$(echo "if ($secs < $psecs) $secs else $psecs" | bc) prss=$(( rss > prss ? rss : prss ))
	done
}
echo
echo "| records | flows | records | gzip text bytes | Parquet bytes | Parquet/text | text rec/s | Parquet rec/s | Parquet/text rate | same on $(nproc) cores | Parquet max RSS MiB |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for src in generated recorded; do
	for kind in flows secadvisor awsflowlogs vpclogs; do
		case $kind in
		flows) cp "$work/pq-$src.ndjson" "$work/pq.ndjson"; text=ndjson ;;
		awsflowlogs) "$bin/sky-transform" -q --to awsflowlogs --aws-version 5 < "$work/pq-$src.ndjson" > "$work/pq.ndjson"; text=awsflowlogs ;;
		*) "$bin/sky-transform" -q --to "$kind" < "$work/pq-$src.ndjson" > "$work/pq.ndjson"; text=$kind ;;
		esac
		records=$(wc -l < "$work/pq.ndjson")
		procs=all pqpair "$text" "$kind-parquet" "$work/pq.ndjson"
		rate2=$(echo "scale=2; $tsecs / $psecs" | bc)
		pqpair "$text" "$kind-parquet" "$work/pq.ndjson"
		tsize=$(cat "$work/pq-text"/ready/* | wc -c) psize=$(cat "$work/pq-parquet"/ready/* | wc -c)
		trate=$(echo "$records / $tsecs" | bc) prate=$(echo "$records / $psecs" | bc)
		printf '| %s | %s | %d | %d | %d | %s | %d | %d | %s | %s | %s |\n' "$kind" "$src" "$records" "$tsize" "$psize" \
			"$(echo "scale=3; $psize / $tsize" | bc)" "$trate" "$prate" "$(echo "scale=2; $tsecs / $psecs" | bc)" \
			"$rate2" "$(echo "scale=1; $prss / 1024" | bc)"
		if [ "$kind/$src" = awsflowlogs/generated ]; then
			pqbatch awsflowlogs-parquet "$work/pq.ndjson" "$work/pq-bloom" --parquet-bloom
			bloomsize=$(cat "$work/pq-bloom"/ready/* | wc -c) awssize=$psize
			cp -r "$work/pq-text" "$work/aws-text"
			cp -r "$work/pq-parquet" "$work/aws-parquet"
		fi
	done
done
if scripts/duckdb.sh check 2> /dev/null; then
	text="read_csv('$work/aws-text/ready/*', delim = ' ', header = true, compression = 'gzip')"
	pq="read_parquet('$work/aws-parquet/ready/*')"
	bloom="read_parquet('$work/pq-bloom/ready/*')"
	addr=$(scripts/duckdb.sh query "SELECT srcaddr FROM $pq GROUP BY 1 ORDER BY count(*) DESC LIMIT 1" | tr -d '[]"')
	hour=$(scripts/duckdb.sh query "SELECT min(start) FROM $pq" | tr -d '[]"')
	sum="SELECT srcaddr, sum(bytes) FROM %s GROUP BY 1"
	one="SELECT count(*), sum(bytes) FROM %s WHERE srcaddr = '$addr' AND start >= $hour AND start < $hour + 3600"
	# shellcheck disable=SC2059
	for q in sum one; do
		tms=$(scripts/duckdb.sh time "$(printf "${!q}" "$text")")
		pms=$(scripts/duckdb.sh time "$(printf "${!q}" "$pq")")
		bms=$(scripts/duckdb.sh time "$(printf "${!q}" "$bloom")")
		echo "DuckDB, one thread, AWS records of the generated flows, $([ $q = sum ] && echo "sum of bytes by srcaddr" || echo "one srcaddr in one hour"):" \
			"gzip text ${tms} ms, Parquet ${pms} ms ($(echo "scale=1; $tms / ($pms + 0.5)" | bc)x faster), with --parquet-bloom ${bms} ms"
	done
fi
echo "--parquet-bloom on the address columns: the AWS Parquet objects of the generated flows $(echo "scale=1; 100 * $bloomsize / $awssize - 100" | bc)% larger"
# One object of 1 000 000 records of each Parquet kind (records of
# generated flows, every core): memory is bounded by a row group and
# sky-batch's soft limit (lib/batch/memory.go), not by the object.
"$bin/sky-genflows" -n 1200000 > "$work/m-flows.ndjson"
echo
echo "| 1 000 000 records in one Parquet object | seconds | max RSS MiB |"
echo "|---|---:|---:|"
for kind in flows secadvisor awsflowlogs vpclogs; do
	case $kind in
	flows) ;;
	awsflowlogs) "$bin/sky-transform" -q --to awsflowlogs --aws-version 5 < "$work/m-flows.ndjson" > "$work/m-all.ndjson" ;;
	*) "$bin/sky-transform" -q --to "$kind" < "$work/m-flows.ndjson" > "$work/m-all.ndjson" ;;
	esac
	head -n 1000000 "$work/$([ $kind = flows ] && echo m-flows || echo m-all).ndjson" > "$work/m.ndjson"
	rm -rf "$work/m-spool" "$work/m-all.ndjson"
	measure "$work/m.ndjson" "$bin/sky-batch" -q --spool "$work/m-spool" --max-age 1h --max-records 1000000 --format "$kind-parquet" ||
		{ cat "$work/stderr" >&2; exit 1; }
	printf '| %s | %s | %s |\n' "$kind" "$secs" "$(echo "scale=1; $rss / 1024" | bc)"
	rm -rf "$work/m-spool" "$work/m.ndjson"
done
rm -f "$work/m-flows.ndjson"
