#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME (10s); new failing
# inputs land in the package's testdata/fuzz.
#
# Go 1.26's fuzzing coordinator can report its own -fuzztime deadline as a
# failure, "context deadline exceeded" with no input written, when the
# machine is busy (go.dev/issue/75804, fixed in Go 1.27): such a run is
# made once more; a second one, or any other failure, fails.
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
fuzztime=${FUZZTIME:-10s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $("$go" list ./...); do
	for target in $("$go" test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "fuzz $pkg $target"
		for try in 1 2; do
			if "$go" test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg" > "$log" 2>&1; then
				break
			fi
			if [ "$try" = 1 ] && grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log"; then
				echo "  the coordinator's deadline (go.dev/issue/75804), no failing input: once more"
				continue
			fi
			cat "$log"
			exit 1
		done
	done
done
