# Sourced by the scenarios' shell lines that wait (. "$WAIT"), so that
# every wait is bounded and says what it waited for.
#
#   until COND; do timeout_after 60 "what COND waits for" || exit 1; done
wait_start=$(date +%s)

# timeout_after SECONDS WHAT [PAUSE], the body of an until loop: sleeps
# PAUSE (0.01 s; 0 for a loop that must catch a moment, as a kill at a
# random point does), or, once SECONDS have passed since the line
# started, says what it waited for and fails.
timeout_after() {
	if [ $(($(date +%s) - wait_start)) -ge "$1" ]; then
		echo "timed out after $1 s waiting for $2" >&2
		return 1
	fi
	[ "${3:-0.01}" = 0 ] || sleep "${3:-0.01}"
}
