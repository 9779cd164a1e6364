# skyflows: build, test, benchmark and install the stage binaries.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/skyflows/skyflows/lib/stage.Version=$(VERSION)
PREFIX  ?=
BINDIR  := $(if $(PREFIX),$(PREFIX)/bin,$(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin))
FUZZTIME ?= 10s
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TOOLS   := $(notdir $(wildcard cmd/sky-*))

.PHONY: build test deps fuzz bench gobench install lint clean demo

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

# The test command of the README: what the tests need installed, lint,
# each fuzz target for $(FUZZTIME) (new failing inputs land in
# testdata/fuzz), then every test, and every benchmark once (so that
# make bench still runs).
test: deps lint
	$(MAKE) --no-print-directory fuzz
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -timeout 10m -run '^$$' -bench . -benchtime 1x ./...

# What the tests run besides Go: versitygw and nats-server (go install)
# and DuckDB (npm), each installed once, with the caller's environment.
deps:
	scripts/s3local.sh install
	scripts/natslocal.sh install
	scripts/duckdb.sh install

fuzz:
	@GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

bench: build
	scripts/bench.sh
	$(MAKE) --no-print-directory gobench

gobench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# With PREFIX, also the ready pipelines (PREFIX/scripts: deploy/'s unit
# runs them from /opt/skyflows/scripts), the manual pages and the bash and
# zsh completions, made from the tools' own flags.
install:
	mkdir -p '$(BINDIR)'
	$(GO) build -ldflags '$(LDFLAGS)' -o '$(BINDIR)/' ./cmd/...
ifneq ($(PREFIX),)
	mkdir -p '$(PREFIX)/scripts' '$(PREFIX)/share/man/man1' '$(PREFIX)/share/bash-completion/completions' '$(PREFIX)/share/zsh/site-functions'
	cp scripts/pipeline.sh scripts/secadvisor scripts/awsflowlogs scripts/vpclogs scripts/dummy scripts/capture '$(PREFIX)/scripts/'
	for tool in $(TOOLS); do \
		'$(BINDIR)/'$$tool --man > '$(PREFIX)/share/man/man1/'$$tool.1 || exit 1; \
		cp scripts/completion.bash '$(PREFIX)/share/bash-completion/completions/'$$tool; \
	done
	cp scripts/completion.zsh '$(PREFIX)/share/zsh/site-functions/_skyflows'
endif

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

demo: build
	scripts/demo.sh

clean:
	rm -rf bin
