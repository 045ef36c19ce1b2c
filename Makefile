# SPDX-License-Identifier: MIT
# htracr - plain Makefile. Builds into .output/; `make help` lists targets.
#
#   make                      build ./htracr
#   make BPF=0                build without libbpf (libpcap only)
#   make SANITIZE=address,undefined
#   make LTO=                 build without link-time optimisation
#   make LLHTTP_SIMD=0        build llhttp once, without its SSE4.2 copy (mk/llhttp.mk)
#   make test                 install test dependencies, build, run every test
#   make run                  install dependencies, build, start htracr (live, UI on :8000;
#                             DEMO=1 serves a demo capture instead)
#   make fuzz                 libFuzzer harness over the whole pipeline (60 s)

CC ?= cc
.DEFAULT_GOAL := all
BPF ?= 1
OUT ?= .output
BIN ?= htracr
LLHTTP_DIR ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

PKGS := libpcap zlib
ifeq ($(BPF),1)
PKGS += libbpf libelf
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpcap -lz)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
OPT ?= -O2 -g
CFLAGS ?= $(OPT)
# Link-time optimisation: the stages call each other's small functions (a
# packet append, a series point) on every packet; LTO inlines them across
# files. Not in sanitizer builds (quicker to build, and what they report
# matches the source). LTO= turns it off.
LTO ?= $(if $(SANITIZE),,-flto=auto)
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(LTO) -Iinclude -I$(LLHTTP_INC) -I$(OUT) $(PKG_CFLAGS) \
	-DHTRACR_VERSION='"$(VERSION)"' -DHTRACR_BPF=$(BPF) -D_GNU_SOURCE -MMD -MP
LDLIBS := $(PKG_LIBS) -lcivetweb -lpthread
LDFLAGS ?=
LDFLAGS += $(if $(LTO),$(LTO) $(CFLAGS))

# `make V=1` shows the full commands.
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

# Every pipeline stage; main.c alone makes the binary, the rest is shared with tests.
LIB_SRCS := $(filter-out src/main.c,$(wildcard src/*.c))
ifneq ($(BPF),1)
LIB_SRCS := $(filter-out src/capture_bpf.c,$(LIB_SRCS))
endif
LIB_OBJS := $(patsubst src/%.c,$(OUT)/src/%.o,$(LIB_SRCS))
LLHTTP_OBJS := $(OUT)/llhttp/llhttp.o $(OUT)/llhttp/api.o $(OUT)/llhttp/http.o
# Fragments per part (mk/*.mk: the BPF skeleton, the embedded web assets)
# may add objects to EXTRA_OBJS and libraries to LDLIBS.
EXTRA_OBJS :=
TEST_BINS :=
include $(sort $(wildcard mk/*.mk))

UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_OBJS := $(patsubst tests/unit/%.c,$(OUT)/tests/unit/%.o,$(UNIT_SRCS))

.PHONY: all clean test test-unit test-sanitize run fuzz help deps test-deps format
all: $(BIN)

$(BIN): $(OUT)/src/main.o $(LIB_OBJS) $(LLHTTP_OBJS) $(EXTRA_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OUT)/src/%.o: src/%.c | $(OUT)/src
	$(call msg,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# llhttp: compiled from the C sources Debian's node-llhttp installs (not vendored).
$(OUT)/llhttp/%.o: $(LLHTTP_DIR)/%.c | $(OUT)/llhttp
	$(call msg,CC,$<)
	$(Q)$(CC) -std=gnu11 $(filter-out -MMD -MP,$(CFLAGS)) $(LTO) -w -I$(LLHTTP_INC) \
		$(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer) -c -o $@ $<

$(OUT)/tests/unit/%.o: tests/unit/%.c | $(OUT)/tests/unit
	$(call msg,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit -c -o $@ $<

$(OUT)/unit-tests: $(UNIT_OBJS) $(LIB_OBJS) $(LLHTTP_OBJS) $(EXTRA_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OUT)/src $(OUT)/llhttp $(OUT)/tests/unit $(OUT)/fuzz:
	mkdir -p $@

test-unit: $(OUT)/unit-tests
	$(OUT)/unit-tests

# Fuzzing: clang + libFuzzer, ASan/UBSan (stopping at the first report),
# whole pipeline from pcap bytes. Findings go to $(OUT)/fuzz/artifacts/.
FUZZ_SECONDS ?= 60
FUZZ_SAN := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_SRCS := $(filter-out src/server.c src/capture_bpf.c,$(LIB_SRCS))
$(OUT)/fuzz/fuzz-pcap: tests/fuzz/fuzz_pcap.c $(FUZZ_SRCS) $(LLHTTP_DIR)/llhttp.c $(LLHTTP_DIR)/api.c \
		$(LLHTTP_DIR)/http.c $(wildcard include/htracr/*.h) | $(OUT)/fuzz
	clang -std=gnu11 -g -O1 $(FUZZ_SAN) -Iinclude -I$(LLHTTP_INC) \
		-D_GNU_SOURCE -DHTRACR_VERSION='"$(VERSION)"' -DHTRACR_BPF=0 -o $@ $(filter %.c,$^) -lpcap -lz
fuzz: $(OUT)/fuzz/fuzz-pcap
	mkdir -p $(OUT)/fuzz/corpus $(OUT)/fuzz/artifacts
	./tests/fuzz/seed.sh $(OUT)/fuzz/corpus
	$(OUT)/fuzz/fuzz-pcap -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 \
		-artifact_prefix=$(OUT)/fuzz/artifacts/ $(OUT)/fuzz/corpus

deps:
	./scripts/install-deps.sh build

test-deps:
	./scripts/install-deps.sh test

test: test-deps
	$(MAKE) $(BIN) $(OUT)/unit-tests $(TEST_BINS)
	./tests/run.sh

# Unit and golden tests again on an ASan/UBSan build (its own build dir).
test-sanitize:
	$(MAKE) SANITIZE=address,undefined OUT=.output-san BIN=.output-san/htracr \
		.output-san/htracr .output-san/unit-tests

run: deps
	$(MAKE) $(BIN)
	./scripts/run.sh $(ARGS)

format:
	./tests/format.sh --fix

clean:
	rm -rf .output .output-san htracr

help:
	@sed -n '2,10p' Makefile

-include $(wildcard $(OUT)/src/*.d $(OUT)/tests/unit/*.d)
