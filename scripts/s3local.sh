#!/usr/bin/env bash
# A local S3 server for the tests and for users: versitygw with its posix
# backend on 127.0.0.1.
#
#   scripts/s3local.sh install  install versitygw (go install, into GOBIN)
#   scripts/s3local.sh start    install versitygw if needed, start it, create the bucket
#   scripts/s3local.sh stop     stop it (its data stays)
#   scripts/s3local.sh env      print the variables that point the tools at it
#   eval "$(scripts/s3local.sh env)"
#
# Settings (environment): S3LOCAL_DIR (.run/s3), S3LOCAL_ADDR (127.0.0.1:7070),
# S3LOCAL_BUCKET (skyflows; empty: none), S3LOCAL_ACCESS_KEY, S3LOCAL_SECRET_KEY.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${S3LOCAL_DIR:-$root/.run/s3}
addr=${S3LOCAL_ADDR:-127.0.0.1:7070}
bucket=${S3LOCAL_BUCKET-skyflows}
access=${S3LOCAL_ACCESS_KEY:-skyflows}
secret=${S3LOCAL_SECRET_KEY:-skyflows-local-secret}
version=v1.8.0

env_lines() {
	cat <<EOV
export AWS_ACCESS_KEY_ID=$access
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_REGION=us-east-1
export SKY_S3_ENDPOINT=http://$addr
export SKY_S3_BUCKET=$bucket
export SKY_S3_PATH_STYLE=true
EOV
}

. "$root/scripts/gobin.sh"

gw() {
	if command -v versitygw > /dev/null; then
		command -v versitygw
		return
	fi
	gobin versitygw github.com/versity/versitygw/cmd/versitygw "$version"
}

running() { [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2> /dev/null; }

# listening PID: whether process PID listens on $addr (its port, TCP).
# grep reads all of ls's lines (with -q, it stopped at the socket's, and
# ls, still writing the rest of a busy server's descriptors, died of
# SIGPIPE: under pipefail, a failure).
listening() {
	local port=${addr##*:} inode
	for inode in $(awk -v p="$(printf '%04X' "$port")" 'NR > 1 && $4 == "0A" && $2 ~ ":"p"$" { print $10 }' /proc/net/tcp /proc/net/tcp6 2> /dev/null); do
		if ls -l "/proc/$1/fd" 2> /dev/null | grep -F "socket:[$inode]" > /dev/null; then
			return 0
		fi
	done
	return 1
}

# taken: whether anything listens on $addr.
taken() { (exec 3<> "/dev/tcp/${addr%:*}/${addr##*:}") 2> /dev/null; }

start() {
	if running; then
		echo "s3local: already running on $addr" >&2
		return
	fi
	if taken; then
		echo "s3local: $addr is taken by another process: choose another S3LOCAL_ADDR" >&2
		exit 1
	fi
	local vgw
	vgw=$(gw)
	mkdir -p "$dir/data" "$dir/meta"
	# The posix backend keeps object metadata in extended attributes; where
	# the file system has none, in a sidecar directory.
	local meta=()
	if ! python3 -c "import os,sys; os.setxattr(sys.argv[1], 'user.skyflows', b'1')" "$dir/data" 2> /dev/null; then
		meta=(--sidecar "$dir/meta")
	fi
	ROOT_ACCESS_KEY_ID=$access ROOT_SECRET_ACCESS_KEY=$secret \
		nohup "$vgw" --port "$addr" posix "${meta[@]}" "$dir/data" > "$dir/log" 2>&1 &
	echo $! > "$dir/pid"
	# Ready once the process we started, and no other, listens on the port.
	for _ in $(seq 200); do
		running || { cat "$dir/log" >&2; echo "s3local: versitygw did not start" >&2; rm -f "$dir/pid"; exit 1; }
		if listening "$(cat "$dir/pid")"; then
			break
		fi
		sleep 0.05
	done
	if ! listening "$(cat "$dir/pid")"; then
		cat "$dir/log" >&2
		echo "s3local: versitygw does not listen on $addr" >&2
		stop
		exit 1
	fi
	if [ -n "$bucket" ]; then
		eval "$(env_lines)"
		[ -x "$root/bin/sky-s3put" ] || make -C "$root" build > /dev/null
		"$root/bin/sky-s3put" --create-bucket --check --quiet < /dev/null
	fi
	echo "s3local: versitygw on http://$addr, bucket $bucket, data in $dir/data" >&2
}

stop() {
	if running; then
		kill "$(cat "$dir/pid")"
		for _ in $(seq 50); do running || break; sleep 0.1; done
	fi
	rm -f "$dir/pid"
}

case "${1:-}" in
install) gw > /dev/null ;;
start) start ;;
stop) stop ;;
env) env_lines ;;
*)
	echo "usage: $0 install|start|stop|env" >&2
	exit 2
	;;
esac
