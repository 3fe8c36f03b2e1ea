# PatrolHub — the two commands a new user needs:
#   make demo   install what is missing, build, run the hub with its embedded broker and a simulator drill (simulators/demo.yaml),
#               then keep the hub and its live board up with the scenario replayed in a loop until Ctrl-C
#   make test   install what is missing, build, run the whole test suite (real mosquitto, real SQLite)

DEB_PACKAGES := libmosquitto-dev mosquitto mosquitto-clients libsqlite3-dev pkg-config chromium python3-prometheus-client fonts-noto-cjk postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT ?= swift

SCALEOUT_ARGS ?=
.PHONY: deps build demo test faults scaleout soak soak-month mutants fuzz test-asan bench bench-ingest bench-grid bench-pipeline bench-sim bench-events clean

# Installs the Debian packages that are missing (and only then runs apt-get update).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "swift not found: install the Swift 6 toolchain (swift.org) and put it on PATH"; exit 1; }

build: deps
	$(SWIFT) build

# The drill, then the hub, the live board and the scenario replayed in a loop stay up until Ctrl-C.
# DEMO_ARGS: --http 127.0.0.1:8081 (the board elsewhere), --scenario FILE, --background FILE.
demo: build
	.build/debug/patrolhub demo --config config/patrolhub.yaml --serve $(DEMO_ARGS)

# The integration tests start their own mosquitto on a free loopback port and
# run the built `patrolhub` executable, so build everything first.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

# Fault tests (scripts/faults/faults.py): the built hub, a real mosquitto and the simulator at ~5 000
# QoS 1 messages/s, through 20 rounds of kill -9, the broker stopped, killed and absent, a full disk,
# a read-only data folder and the store and inbox locked 30 s; fails on any message lost or outcome
# lost or duplicated (figures: BENCHMARKS.md). Mounts a tmpfs and a loop file: run as root (those
# two tests are skipped, saying so, otherwise). `make faults FAULTS_ARGS=--short` is CI's version.
# The same build as `make test`, so running it after the tests builds nothing.
faults: deps
	$(SWIFT) build --build-tests
	python3 scripts/faults/faults.py $(FAULTS_ARGS)

# Scale-out test (scripts/scaleout/scaleout.py, docs/POSTGRES.md "A group of hubs"): 3 hubs in one
# shared-subscription group on one PostgreSQL store and 1 hub on SQLite, fed by one simulator run (the
# multi-source incident on dense background traffic) on a real mosquitto; the group's leader is killed
# with SIGKILL mid-run and restarted; fails unless the group's outcomes equal the SQLite hub's.
# PostgreSQL: PATROLHUB_TEST_POSTGRES_URL, else a throwaway one (scripts/postgres/test-server.sh).
# SCALEOUT_ARGS="--bench 24000" instead measures backlog drain throughput, 1 hub on SQLite against 1, 2
# and 3 on PostgreSQL (BENCHMARKS.md; with --exe .build/release/patrolhub for figures worth keeping).
scaleout: deps
	$(SWIFT) build --build-tests
	python3 scripts/scaleout/scaleout.py $(SCALEOUT_ARGS)

# Soak run (scripts/soak/soak.py, docs/SOAK.md): the release hub with its embedded broker under a steady
# simulated load in every format (simulators/soak.yaml, 4 000 msg/s until 10 million messages), RSS, fds,
# threads, store size and lag sampled to soak-out/soak.csv and plotted (soak-out/*.svg); fails when RSS
# grows more than --bound-mib (24) between the first and last third after the warm-up, the hub dies or
# the lag does not come back. SOAK_ARGS: --duration 3h, --events 10M, --rate 4000, --bound-mib N,
# --set store.memory_mib=256, --out DIR. `make soak SOAK_ARGS=--short` is CI's 9-minute version (store.memory_mib 64) with the
# debug build `make test` made (so after the tests it builds nothing).
soak: deps
	$(if $(findstring --short,$(SOAK_ARGS)),$(SWIFT) build --build-tests,$(SWIFT) build -c release --product patrolhub)
	python3 scripts/soak/soak.py $(SOAK_ARGS)

# Mutation testing (scripts/mutants/mutants.py, docs/TESTING.md): 40 planted bugs in the code that carries
# the promises (ack after commit, outbox delete, dedup, thresholds, correlation, silences, SOS, lifecycle,
# routing, deadlines, zones, GCJ-02, patrol, adapters); each is built and the suites that guard it run;
# fails when one survives unexplained. About 45 minutes on 2 cores; not part of CI. MUTANTS_ARGS: --only ID,... (--check: every anchor still applies, nothing built; the suite runs it)
mutants: deps
	python3 scripts/mutants/mutants.py --swift $(SWIFT) $(MUTANTS_ARGS)

# Coverage-guided fuzzing (libFuzzer + AddressSanitizer) of every decoder of
# untrusted bytes, FUZZ_SECONDS per target; fails on any finding (Fuzz/run.sh).
FUZZ_SECONDS ?= 60
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) Fuzz/run.sh

# The decoder and reader tests built and run under AddressSanitizer (own build folder);
# leaks inside the toolchain's XCTest and Foundation are suppressed (Fuzz/lsan.supp).
ASAN_SUITES := NativeDecoderTests|AdapterCorpusTests|SupportTests|DeviceAdapterTests|FrigateAdapterTests|GB28181AdapterTests|ONVIFAdapterTests|XMLScannerTests|ZoneValidationTests|ConfigTests|ScenarioParserTests|FuzzCorpusTests|FuzzRegressionTests|NestingLimitTests|EventTimeBoundTests|IDMismatchTests
test-asan: deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	LSAN_OPTIONS=suppressions=$(CURDIR)/Fuzz/lsan.supp $(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan --filter '$(ASAN_SUITES)'

bench: bench-ingest bench-grid bench-pipeline bench-sim

bench-ingest: deps
	$(SWIFT) build -c release --product patrolhub-bench
	.build/release/patrolhub-bench ingest --messages 100000 --runs 5

bench-grid: deps
	$(SWIFT) build -c release --product patrolhub-bench
	.build/release/patrolhub-bench grid --import-time

# In-process pipeline throughput on one thread (goal ≥ 100 000 events/s), next to decode only and decode + rules.
bench-pipeline: deps
	$(SWIFT) build -c release --product patrolhub-bench
	.build/release/patrolhub-bench pipeline --messages 200000 --runs 5

# Event-driven services (BENCHMARKS.md §7): idle CPU, publish → processed latency at 5 000 events/s,
# backlog drain against mosquitto_sub, two builds alternating in one run. BASELINE names the other
# build's patrolhub (default: this build against itself, which still gives the ratio to mosquitto_sub).
BASELINE ?= .build/release/patrolhub
EVENTS_ARGS ?= --only latency,backlog --runs 5
bench-events: deps
	$(SWIFT) build -c release --product patrolhub
	$(SWIFT) build -c release --product patrolhub-bench
	.build/release/patrolhub-bench events --baseline $(BASELINE) $(EVENTS_ARGS)

# Simulator throughput: QoS 1 messages/s to a local mosquitto (goal ≥ 20 000), 5 × 200 000 messages.
bench-sim: deps
	$(SWIFT) build -c release --product patrolhub-bench
	.build/release/patrolhub-bench sim --messages 200000 --runs 5

# 30 simulated days in about 20 minutes (scripts/soak/month.py, docs/SOAK-MONTH.md): the hub and the
# simulator on one simulated clock; fails naming what the month's reports, documents or slots got wrong.
SOAK_MONTH_ARGS ?=
soak-month: deps
	$(SWIFT) build -c release --product patrolhub
	python3 scripts/soak/month.py --binary .build/release/patrolhub $(SOAK_MONTH_ARGS)

clean:
	rm -rf .build .build-asan Fuzz/.build data soak-out
