# Sourced by the ready pipelines: the tools from this checkout's bin/ (or
# SKYFLOWS_BIN, or PATH), and the settings every pipeline shares. Every
# tool reads its flags from SKY_* variables too (see each one's --help).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${SKYFLOWS_BIN:-$here/../bin}
if [ -x "$bin/sky-flows" ]; then
	PATH=$bin:$PATH
fi
command -v sky-flows > /dev/null || { echo "$0: the sky-* tools are not built: make build" >&2; exit 1; }

# The source: a live analyzer, or a recorded capture when SKY_REPLAY is set.
export SKY_ANALYZER=${SKY_ANALYZER:-ws://127.0.0.1:8082}   # --analyzer; credentials: SKY_ANALYZER_USERNAME, SKY_ANALYZER_PASSWORD
export SKY_CLUSTER_NETS=${SKY_CLUSTER_NETS:-10.0.0.0/8,172.16.0.0/12,192.168.0.0/16}
# With a live analyzer, records are enriched from its topology (pods,
# containers, hosts; the IBM direction) and the Kubernetes nodes count as
# inside the cluster: SKY_ENRICH=false and SKY_AUTODISCOVER=false turn it off.
# SKY_SOURCE=nats: the store pipelines start from a JetStream durable
# consumer (sky-nats consume; scripts/capture publishes) in place of an
# analyzer; SKY_NATS_URL, SKY_NATS_STREAM, SKY_NATS_DURABLE.
source=${SKY_SOURCE:-analyzer}
case $source in analyzer | nats) ;; *) echo "$0: SKY_SOURCE=$source: analyzer or nats" >&2; exit 2 ;; esac
live=true
if [ -n "${SKY_REPLAY:-}" ] || [ "$source" = nats ]; then live=false; fi
export SKY_ENRICH=${SKY_ENRICH:-$live}
export SKY_AUTODISCOVER=${SKY_AUTODISCOVER:-$SKY_ENRICH}
# SKY_SPOOL: sky-batch's objects until sky-s3put stored them (default: /var/spool/skyflows
# for root, else ~/.local/state/skyflows/spool; the two tools agree).
# One thread of Go code per tool: the pipeline's parallelism is its
# processes, and a stage's own workers only contend with the next stage
# (scripts/secadvisor replaying 300 000 flows on 2 cores, four runs each
# way: 58-62k flows/s became 66-70k).
export GOMAXPROCS=${GOMAXPROCS:-1}
# The store: SKY_S3_BUCKET (required), SKY_S3_ENDPOINT, SKY_S3_REGION,
# SKY_S3_PATH_STYLE, and credentials from the AWS chain (AWS_PROFILE,
# AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY...).

# pipeline STAGE '|' STAGE '|' ... runs the stages chained by pipes and
# waits for every one. The first stage reads the script's standard input
# and the last writes its standard output, as they were given (a socket
# to the journal, another user's pipe): nothing is reopened by name.
# SIGINT, SIGTERM or SIGHUP, to the process group or to this script
# alone, goes to the source (the first stage), which closes its output:
# every later stage finishes and flushes, and the script exits 0. A stage
# that fails is named, and the script exits with its status (unless bash
# lost it, which it says: the stage's own stderr tells).
pipeline() {
	local pids=() names=() stage=() n=0 word
	if [ "$source" = nats ] && [ "$1" = sky-flows ]; then
		shift
		set -- sky-nats consume "$@"
	fi
	fifos=$(mktemp -d "${TMPDIR:-/tmp}/skyflows-pipeline.XXXXXX")
	trap 'rm -rf "$fifos"' EXIT
	# The script's stdin, for the first stage: a background command
	# would otherwise read /dev/null.
	exec 3<&0
	start() {
		local in=$fifos/$((n - 1)) out=$fifos/$n last=${1:-}
		[ -n "$last" ] || mkfifo "$out"
		(
			if [ $n -eq 0 ]; then exec <&3; else exec < "$in"; fi
			if [ -z "$last" ]; then exec > "$out"; fi
			exec "${stage[@]}" 3<&-
		) &
		pids+=($!) names+=("${stage[0]}") stage=() n=$((n + 1))
	}
	for word in "$@"; do
		if [ "$word" = '|' ]; then start; else stage+=("$word"); fi
	done
	start last
	exec 3<&-
	# The source may be gone already (the signal went to the whole process
	# group): a failed kill must not end the script, which set -e would do.
	trap 'kill -TERM "${pids[0]}" 2> /dev/null || true' TERM HUP
	trap 'kill -INT "${pids[0]}" 2> /dev/null || true' INT
	local i status=0 s
	for i in "${!pids[@]}"; do
		# A trapped signal ends wait early: wait again until the stage is gone.
		while kill -0 "${pids[$i]}" 2> /dev/null; do wait "${pids[$i]}" || true; done
		s=0
		wait "${pids[$i]}" || s=$?
		# bash loses the status of a stage that ends while a trap runs now
		# and then (wait says -1; 14 times in 200 when every stage ends at
		# a process group's signal, hangup.txtar): its own stderr said
		# whether it failed.
		if [ "$s" -lt 0 ]; then
			echo "$0: ${names[$i]} (stage $((i + 1)) of ${#pids[@]}) ended; bash lost its exit status" >&2
		elif [ "$s" -ne 0 ]; then
			echo "$0: ${names[$i]} (stage $((i + 1)) of ${#pids[@]}) failed with exit $s" >&2
			[ $status -ne 0 ] || status=$s
		fi
	done
	return $status
}
