#!/usr/bin/env bash
# DuckDB for the tests: installs tools/duckdb's package (the engine ships
# in it) from the npm registry, once; then runs a query.
#   scripts/duckdb.sh install   (make test runs it)
#   scripts/duckdb.sh check     (exit 1, saying so, if not installed)
#   scripts/duckdb.sh query "SELECT 42"
#   scripts/duckdb.sh time "SELECT 42"   (one thread: the median ms of three runs)
set -euo pipefail
dir=$(cd "$(dirname "$0")/../tools/duckdb" && pwd)
case "${1:-}" in
install)
	if [ ! -d "$dir/node_modules/@duckdb/node-api" ]; then
		echo "duckdb: installing @duckdb/node-api (npm)" >&2
		npm install --prefix "$dir" --no-audit --no-fund --loglevel=error
	fi
	;;
check)
	if [ ! -d "$dir/node_modules/@duckdb/node-api" ]; then
		echo "duckdb: not installed: make test installs it (scripts/duckdb.sh install)" >&2
		exit 1
	fi
	;;
query) node "$dir/query.mjs" "$2" ;;
time) node "$dir/query.mjs" --time "$2" ;;
*)
	echo "usage: $0 install | check | query SQL | time SQL" >&2
	exit 2
	;;
esac
