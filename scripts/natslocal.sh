#!/usr/bin/env bash
# A local NATS JetStream for the demo, the tests and users: nats-server,
# one node or a three-node cluster, on 127.0.0.1.
#
#   scripts/natslocal.sh install    install nats-server (go install, into GOBIN)
#   scripts/natslocal.sh start [N]  install it if needed, start N nodes (1 or 3) with JetStream
#   scripts/natslocal.sh stop       stop every node (their data stays)
#   scripts/natslocal.sh kill I     SIGKILL node I (1..N), as a crash
#   scripts/natslocal.sh restart I  start node I again
#   scripts/natslocal.sh env        print the variable that points the tools at it
#   eval "$(scripts/natslocal.sh env)"
#
# Settings (environment): NATSLOCAL_DIR (.run/nats), NATSLOCAL_PORT (4222:
# node I serves clients on PORT+I-1, its cluster routes on PORT+100+I-1
# and its monitoring (/healthz) on PORT+200+I-1; every one of them must
# be free; 0: any free ones, kept in NATSLOCAL_DIR for the other commands
# and the next start). start and restart return once JetStream answers:
# a meta leader elected, the node current with it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${NATSLOCAL_DIR:-$root/.run/nats}
port=${NATSLOCAL_PORT:-4222}
if [ "$port" = 0 ] && [ -f "$dir/port" ]; then port=$(cat "$dir/port"); fi
version=v2.15.3

. "$root/scripts/gobin.sh"

# server: the nats-server of the pinned version, on PATH or installed.
server() {
	if command -v nats-server > /dev/null && nats-server --version 2> /dev/null | grep -q "${version#v}"; then
		command -v nats-server
		return
	fi
	gobin nats-server github.com/nats-io/nats-server/v2 "$version"
}

nodes() { cat "$dir/nodes" 2> /dev/null || echo 0; }
running() { [ -f "$dir/n$1/pid" ] && kill -0 "$(cat "$dir/n$1/pid")" 2> /dev/null; }
taken() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# free N: whether the ports of N nodes are free.
free() {
	local i
	for i in $(seq 1 "$1"); do
		if taken $((port + i - 1)) || taken $((port + 100 + i - 1)) || taken $((port + 200 + i - 1)); then return 1; fi
	done
}

# config I N: node I's configuration in a cluster of N.
config() {
	local i=$1 n=$2 routes="" j
	cat <<EOC
server_name: n$i
listen: 127.0.0.1:$((port + i - 1))
http: 127.0.0.1:$((port + 200 + i - 1))
jetstream { store_dir: "$dir/n$i/js" }
EOC
	if [ "$n" -gt 1 ]; then
		for j in $(seq 1 "$n"); do routes+="${routes:+, }\"nats-route://127.0.0.1:$((port + 100 + j - 1))\""; done
		cat <<EOC
cluster {
  name: skyflows
  listen: 127.0.0.1:$((port + 100 + i - 1))
  routes: [ $routes ]
}
EOC
	fi
}

# healthy I: whether node I says JetStream is ready (GET /healthz: 200).
healthy() {
	local status
	{ exec 3<> "/dev/tcp/127.0.0.1/$((port + 200 + $1 - 1))"; } 2> /dev/null || return 1
	printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3
	read -r -t 5 _ status _ <&3 || true
	exec 3>&-
	[ "$status" = 200 ]
}

# await I TRIES WHAT CMD...: run CMD every 50 ms until it succeeds, TRIES
# times at most, while node I runs; false, saying why, if it stopped or
# the time ran out (WHAT: what was waited for).
await() {
	local i=$1 tries=$2 what=$3
	shift 3
	for _ in $(seq 1 "$tries"); do
		if "$@"; then return; fi
		running "$i" || { echo "natslocal: node $i stopped:" >&2; tail -n 5 "$dir/n$i/log" >&2; return 1; }
		sleep 0.05
	done
	echo "natslocal: node $i: $what" >&2
	return 1
}

# serving I: whether node I takes clients (and routes, in a cluster).
serving() {
	taken $((port + $1 - 1)) && { [ "$(nodes)" = 1 ] || taken $((port + 100 + $1 - 1)); }
}

# ready I: wait until node I is healthy, a minute at most.
ready() {
	await "$1" 1200 "not ready after a minute (GET /healthz on $((port + 200 + $1 - 1)))" healthy "$1"
}

# launch I: start node I and wait until it serves clients (and routes,
# in a cluster); false if it did not start.
launch() {
	local i=$1 srv
	srv=$(server)
	(cd "$dir/n$i" && exec "$srv" -c "$dir/n$i/nats.conf" >> "$dir/n$i/log" 2>&1) &
	echo $! > "$dir/n$i/pid"
	await "$i" 200 "does not answer on $((port + i - 1))" serving "$i"
}

# pick N: a random port below the ephemeral range whose ports for N
# nodes are free.
pick() {
	port=$((10000 + RANDOM % 22000))
	until free "$1"; do port=$((10000 + RANDOM % 22000)); done
}

start() {
	local n=${1:-1} i auto=false attempt
	case $n in 1 | 3) ;; *) echo "natslocal: start 1 or 3 nodes" >&2; exit 2 ;; esac
	if [ "$(nodes)" -gt 0 ] && running 1; then
		echo "natslocal: already running" >&2
		return
	fi
	if [ "$port" = 0 ]; then
		auto=true
		pick "$n"
	elif ! free "$n"; then
		echo "natslocal: a port of $port-$((port + n - 1)), $((port + 100))-$((port + 100 + n - 1)) or $((port + 200))-$((port + 200 + n - 1)) is taken by another process: choose another NATSLOCAL_PORT" >&2
		exit 1
	fi
	mkdir -p "$dir"
	echo "$n" > "$dir/nodes"
	# With any free ports, a port another process took meanwhile means
	# other ones.
	for attempt in 1 2 3 4 5; do
		echo "$port" > "$dir/port"
		for i in $(seq 1 "$n"); do
			mkdir -p "$dir/n$i"
			config "$i" "$n" > "$dir/n$i/nats.conf"
		done
		local ok=true
		for i in $(seq 1 "$n"); do launch "$i" || { ok=false; break; }; done
		if $ok; then
			for i in $(seq 1 "$n"); do ready "$i" || exit 1; done
			echo "natslocal: $n node(s) on $(urls)" >&2
			return
		fi
		stop
		$auto && [ "$attempt" -lt 5 ] || exit 1
		pick "$n"
	done
}

stop() {
	local i pid
	for i in $(seq 1 "$(nodes)"); do
		if running "$i"; then
			pid=$(cat "$dir/n$i/pid")
			kill "$pid"
			while kill -0 "$pid" 2> /dev/null; do sleep 0.05; done
		fi
	done
}

urls() {
	local i out=""
	for i in $(seq 1 "$(nodes)"); do out+="${out:+,}nats://127.0.0.1:$((port + i - 1))"; done
	echo "$out"
}

case ${1:-} in
install) server > /dev/null ;;
start) start "${2:-1}" ;;
stop) stop ;;
kill) kill -9 "$(cat "$dir/n$2/pid")" ;;
restart) launch "$2" && ready "$2" ;;
env) echo "export SKY_NATS_URL=$(urls)" ;;
*)
	echo "usage: scripts/natslocal.sh install|start [1|3]|stop|kill I|restart I|env" >&2
	exit 2
	;;
esac
