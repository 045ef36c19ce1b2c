# SPDX-License-Identifier: MIT
# mk/bpf.mk - the eBPF socket filter: bpf/htracr.bpf.c is compiled with
# clang for the BPF target, stripped of DWARF (BTF stays), and turned by
# `bpftool gen skeleton` into $(OUT)/htracr.skel.h, which src/capture_bpf.c
# includes: the object is embedded in the binary, nothing is looked up at
# run time. Only with BPF=1 (the default); `make BPF=0` skips all of it.
#
#   make test-bpf     the filter on canned packets, then a live smoke test in
#                     network namespaces (root)

ifeq ($(BPF),1)

BPF_CLANG ?= clang
BPFTOOL ?= bpftool
LLVM_STRIP ?= $(shell command -v llvm-strip 2>/dev/null)
BPF_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/ppc64le/powerpc/' \
	-e 's/riscv64/riscv/' -e 's/s390x/s390/')
# The BPF target has no multiarch directory of its own; <asm/types.h> lives there.
BPF_MULTIARCH := /usr/include/$(shell $(CC) -dumpmachine 2>/dev/null)
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Werror \
	-I$(OUT) -Ibpf -idirafter $(BPF_MULTIARCH)

$(OUT)/bpf $(OUT)/tests/bpf:
	mkdir -p $@

$(OUT)/bpf/htracr.bpf.o: bpf/htracr.bpf.c bpf/htracr.h | $(OUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c -o $@ $<
ifneq ($(LLVM_STRIP),)
	$(Q)$(LLVM_STRIP) -g $@
endif

$(OUT)/htracr.skel.h: $(OUT)/bpf/htracr.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name htracr_bpf > $@.tmp && mv $@.tmp $@

$(OUT)/src/capture_bpf.o: $(OUT)/htracr.skel.h bpf/htracr.h

# tests/bpf: the filter through bpf_prog_test_run_opts, and the backend live.
$(OUT)/tests/bpf/%.o: tests/bpf/%.c $(OUT)/htracr.skel.h bpf/htracr.h | $(OUT)/tests/bpf
	$(call msg,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -Ibpf -c -o $@ $<

# Only the capture stage (and logging) is linked: the test needs nothing else.
BPF_TEST_OBJS := $(filter $(OUT)/src/capture%.o $(OUT)/src/log.o,$(LIB_OBJS))
$(OUT)/tests/bpf/test_filter: $(OUT)/tests/bpf/test_filter.o $(BPF_TEST_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

TEST_BINS += $(OUT)/tests/bpf/test_filter

.PHONY: test-bpf
test-bpf: $(OUT)/tests/bpf/test_filter
	OUT=$(OUT) bash tests/bpf/run.sh

-include $(wildcard $(OUT)/tests/bpf/*.d)

endif
