# Sourced by s3local.sh and natslocal.sh, for the servers the tests run.

# gobin NAME PACKAGE VERSION: the path of NAME in GOBIN (else GOPATH/bin),
# go installing PACKAGE@VERSION first when it is not there.
gobin() {
	local bin who=${0##*/}
	bin=$(go env GOBIN)
	[ -n "$bin" ] || bin=$(go env GOPATH)/bin
	if [ ! -x "$bin/$1" ]; then
		echo "${who%.sh}: installing $1 $3" >&2
		go install "$2@$3"
	fi
	echo "$bin/$1"
}
