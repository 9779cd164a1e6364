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
export SKY_SPOOL=${SKY_SPOOL:-/var/spool/skyflows}         # sky-batch's objects until sky-s3put stored them
# One thread of Go code per tool: the pipeline's parallelism is its
# processes, and a stage's own workers only contend with the next stage
# (scripts/secadvisor replaying 300 000 flows on 2 cores, four runs each
# way: 58-62k flows/s became 66-70k).
export GOMAXPROCS=${GOMAXPROCS:-1}
# The store: SKY_S3_BUCKET (required), SKY_S3_ENDPOINT, SKY_S3_REGION,
# SKY_S3_PATH_STYLE, and credentials from the AWS chain (AWS_PROFILE,
# AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY...).
