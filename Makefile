# tokenstorm — see README.md. `make test` is what CI runs (.ci/run).
GO      ?= go
BIN     ?= bin/tokenstorm
PKGS    ?= ./...

.PHONY: all build test test-short bench bench-storm lint fmt run serve docs clean fuzz verdict-stability

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

## bench-storm: memory per idle device at 1k, 10k and 100k devices, one
## process per size (TOKENSTORM_CURVE=1000,5000 to choose; takes minutes)
bench-storm:
	TOKENSTORM_LONG=1 $(GO) test -count=1 -run '^TestDeviceMemoryCurve$$' -v -timeout 1h ./harness/storm/

## fuzz: every fuzz target (func FuzzX in any _test.go) for FUZZTIME each: a
## duration (10s) or a count of execs (FUZZTIME=1000000x); prints execs and
## seconds per target. FUZZFLAGS adds go test flags (FUZZFLAGS='-parallel 1');
## FUZZDIRS limits the directories searched (FUZZDIRS=./harness/backend) and
## FUZZTARGETS the target names (an extended regexp: FUZZTARGETS='Bodies|Auth').
FUZZTIME ?= 10s
# Minimising a new input may take 60s by default (large seeds): keep it short.
FUZZMINIMIZE ?= 2s
FUZZFLAGS ?=
FUZZDIRS ?= .
FUZZTARGETS ?= .
# The execs of a run are go's last "execs: N" line; a run that ends while it
# still replays the corpus (a count under the corpus size, or a short time)
# prints none, so the last "baseline coverage: N/M" line counts then.
fuzz:
	@set -e; out=$$(mktemp); trap 'rm -f $$out' EXIT; \
	for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' $(FUZZDIRS) | xargs -n1 dirname | sort -u); do \
	  for t in $$(grep -h '^func Fuzz' $$dir/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/' | grep -E -- '$(FUZZTARGETS)' | sort -u); do \
	    start=$$(date +%s); \
	    if $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $(FUZZFLAGS) $$dir >$$out 2>&1; then \
	      execs=$$(grep -oE 'execs: [0-9]+|baseline coverage: [0-9]+' $$out | tail -n 1 | grep -oE '[0-9]+$$' || true); \
	      printf '%-48s execs: %-10s %ss\n' "$$dir $$t" "$${execs:-?}" "$$(( $$(date +%s) - start ))"; \
	    else cat $$out; echo "FAIL $$dir $$t"; exit 1; fi; \
	  done; \
	done

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
