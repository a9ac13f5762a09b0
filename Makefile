# srvgate -- make builds, make run serves, make test tests.
# SANITIZE=1 builds with AddressSanitizer and UBSan (into build-san/).
# make test TESTS="unit e2e/dns.sh" runs only those tests (tests/run).
# make fuzz runs the libFuzzer harnesses, make fuzz-replay replays their
# corpus (tests/fuzz/fuzz.mk).
#
# Sources live in src/<subsystem>/; include/ has the headers that cross
# subsystems, private headers sit beside their .c (found by #include "x.h").

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
BUILD   ?= build

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Iinclude -D_GNU_SOURCE -MMD -MP
LDLIBS  += -levent -levent_pthreads -levent_openssl -lssl -lcrypto -lldns -lcares \
           -ljansson -llmdb -lpthread

ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
BUILD   := build-san
endif

SRCS    := $(sort $(wildcard src/*.c src/*/*.c))
OBJS    := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS))
LIBOBJS := $(filter-out $(BUILD)/obj/main.o,$(OBJS))
UNIT    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
BIN     := $(BUILD)/srvgate
# The fsync-delaying LD_PRELOAD shim of the tests; never sanitized (it is
# preloaded ahead of the ASan runtime).
SHIM    := $(BUILD)/slowsync.so
# Unit tests reach into every subsystem's private headers.
UNIT_INC := $(addprefix -I,$(sort $(wildcard src/*/)))

.PHONY: all deps run test unit check install clean bench

all: $(BIN)

deps:
	@scripts/install-deps build

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BIN): $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests link against an archive, so each pulls in only the objects
# it needs.
LIB     := $(BUILD)/libsrvgate.a
$(LIB): $(LIBOBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(UNIT_INC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

-include $(OBJS:.o=.d) $(UNIT:=.d)

run:
	@scripts/install-deps build
	@$(MAKE) --no-print-directory all
	$(BIN) serve

unit: $(UNIT)

$(SHIM): tests/shim/slowsync.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl

test:
	@scripts/install-deps test
	@$(MAKE) --no-print-directory all unit $(SHIM)
	@SANITIZE=$(if $(filter 1,$(SANITIZE)),1,0) TESTS="$(TESTS)" \
		SLOWSYNC_SO=$(abspath $(SHIM)) SRVGATE_BIN=$(abspath $(BIN)) \
		UNIT_DIR=$(abspath $(BUILD)/tests) tests/run

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/srvgate

bench:
	@scripts/install-deps bench
	@$(MAKE) --no-print-directory all
	scripts/bench-http
	scripts/bench-dns

clean:
	rm -rf build build-san build-fuzz

include tests/fuzz/fuzz.mk
