#!/usr/bin/env bash
# DuckDB for the tests: installs tools/duckdb's package (the engine ships
# in it) from the npm registry, once; then runs a query.
#   scripts/duckdb.sh install
#   scripts/duckdb.sh query "SELECT 42"
set -euo pipefail
dir=$(cd "$(dirname "$0")/../tools/duckdb" && pwd)
case "${1:-}" in
install)
	if [ ! -d "$dir/node_modules/@duckdb/node-api" ]; then
		echo "duckdb: installing @duckdb/node-api (npm)" >&2
		npm install --prefix "$dir" --no-audit --no-fund --silent
	fi
	;;
query) node "$dir/query.mjs" "$2" ;;
*)
	echo "usage: $0 install | query SQL" >&2
	exit 2
	;;
esac
