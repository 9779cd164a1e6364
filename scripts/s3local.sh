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

gw() {
	if command -v versitygw > /dev/null; then
		command -v versitygw
		return
	fi
	local bin
	bin=$(go env GOBIN)
	[ -n "$bin" ] || bin=$(go env GOPATH)/bin
	if [ ! -x "$bin/versitygw" ]; then
		echo "s3local: installing versitygw $version" >&2
		go install "github.com/versity/versitygw/cmd/versitygw@$version"
	fi
	echo "$bin/versitygw"
}

running() { [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2> /dev/null; }

start() {
	if running; then
		echo "s3local: already running on $addr" >&2
		return
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
	for _ in $(seq 100); do
		if curl -s -o /dev/null "http://$addr/"; then
			break
		fi
		running || { cat "$dir/log" >&2; echo "s3local: versitygw did not start" >&2; exit 1; }
		sleep 0.1
	done
	if [ -n "$bucket" ]; then
		eval "$(env_lines)"
		[ -x "$root/bin/sky-s3put" ] || make -C "$root" build > /dev/null
		"$root/bin/sky-s3put" --create-bucket --quiet < /dev/null
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
	echo "usage: $0 start|stop|env" >&2
	exit 2
	;;
esac
