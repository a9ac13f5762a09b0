# tests/fuzz/fuzz.mk -- the libFuzzer harnesses (tests/fuzz/fuzz_*.c),
# included by the Makefile.
#
#   make fuzz [FUZZ_SECS=60] [FUZZ_HARNESSES="dns_query zonefile"]
#     builds them with clang (-fsanitize=fuzzer,address,undefined) into
#     build-fuzz/libfuzzer/ and runs each for FUZZ_SECS seconds on its
#     committed corpus, tests/fuzz/corpus/<h>/. New inputs go to
#     build-fuzz/corpus/<h>/, crashes to build-fuzz/crashes/<h>/; nothing
#     in the tree changes.
#   make fuzz-replay
#     builds them as ASan+UBSan binaries with a standalone driver
#     (tests/fuzz/replay.c) into build-fuzz/replay/, runs every committed
#     corpus file through them and ends with "N passed, N failed" (one
#     check per harness). `make test` runs it (tests/e2e/fuzz_replay.sh).
#
# Both build the library again in their own directory, through a sub-make
# with SANITIZE=1 and BUILD set; FUZZ says which kind.

FUZZ_ALL       := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_HARNESSES ?= $(FUZZ_ALL)
FUZZ_SECS      ?= 60
FUZZ_CC        ?= clang

.PHONY: fuzz fuzz-replay fuzz-bins

ifeq ($(FUZZ),libfuzzer)
CFLAGS      += -fsanitize=fuzzer-no-link
FUZZ_LINK   := -fsanitize=fuzzer
FUZZ_DRIVER :=
else
FUZZ_LINK   :=
FUZZ_DRIVER := $(BUILD)/fuzz/replay.o
endif

FUZZ_BINS := $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_HARNESSES))

fuzz-bins: $(FUZZ_BINS)

# fuzz_grpc includes the generated protobuf-c header.
$(FUZZ_BINS): | $(PB_C:.c=.h)

$(BUILD)/fuzz/replay.o: tests/fuzz/replay.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/dns_fixture.h tests/fuzz/fuzz_util.h \
		      $(FUZZ_DRIVER) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(UNIT_INC) $(LDFLAGS) $(FUZZ_LINK) -o $@ $< \
		$(FUZZ_DRIVER) $(LIB) $(LDLIBS)

fuzz:
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz needs" \
		"$(FUZZ_CC) and libclang-rt-14-dev: scripts/install-deps test" >&2; \
		exit 1; }
	@$(MAKE) --no-print-directory SANITIZE=1 FUZZ=libfuzzer CC=$(FUZZ_CC) \
		BUILD=build-fuzz/libfuzzer fuzz-bins
	@tests/fuzz/run.sh build-fuzz/libfuzzer/fuzz $(FUZZ_SECS) $(FUZZ_HARNESSES)

fuzz-replay:
	@$(MAKE) --no-print-directory SANITIZE=1 FUZZ=replay \
		BUILD=build-fuzz/replay fuzz-bins
	@tests/fuzz/replay.sh build-fuzz/replay/fuzz $(FUZZ_HARNESSES)

-include $(FUZZ_BINS:=.d)
