# tokenstorm — see README.md. `make test` is what CI runs (.ci/run).
GO      ?= go
BIN     ?= bin/tokenstorm
PKGS    ?= ./...

.PHONY: all build test test-short bench lint fmt run serve docs clean verdict-stability

all: build

build:
	$(GO) build -o $(BIN) ./cmd/tokenstorm

## test: vet, then every test with the race detector (what CI runs)
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

## bench: every benchmark, with allocations
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m $(PKGS)

## verdict-stability: the probe battery N times (default 100) for ref and every
## mutant, with BURN CPU burners (default 2); 0 verdict flips required. Long.
verdict-stability:
	TOKENSTORM_STABILITY=$${N:-100} TOKENSTORM_STABILITY_BURN=$${BURN:-2} $(GO) test -run '^TestVerdictStability$$' -count=1 -timeout 0 -v ./harness/probe/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

## run: the main job on the embedded default stack
run:
	$(GO) run ./cmd/tokenstorm run

serve:
	$(GO) run ./cmd/tokenstorm serve

## docs: regenerate docs/steps.md from the step library
docs:
	$(GO) run ./cmd/tokenstorm steps --format markdown > docs/steps.md

clean:
	rm -rf bin tokenstorm-report
