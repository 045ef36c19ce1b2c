# SPDX-License-Identifier: MIT
# mk/llhttp.mk - llhttp.c compiled twice on x86-64 (in place of the
# Makefile's one llhttp.o): plain, and with -msse4.2, where llhttp's
# generated parser scans header values 16 bytes at a time (_mm_cmpestri)
# instead of one. The second copy's symbols get a _sse42 suffix (objcopy),
# the first copy's entry point a _base one, and src/llhttp_simd.c puts
# llhttp__internal_execute back as an ifunc that picks one when the program
# is loaded, from what the CPU says it has. So the binary still runs on any
# x86-64, and parses with fewer instructions where SSE4.2 exists (everywhere
# since 2008-2011). Off with LLHTTP_SIMD=0, on other architectures, and in
# sanitizer builds (an ifunc resolver runs before the sanitizer's runtime
# is up).

LLHTTP_SIMD ?= $(if $(filter x86_64-%,$(shell $(CC) -dumpmachine 2>/dev/null)),$(if $(SANITIZE),0,1),0)
OBJCOPY ?= objcopy
NM ?= nm

ifeq ($(LLHTTP_SIMD),1)
LLHTTP_OBJS := $(OUT)/llhttp/llhttp_base.o $(OUT)/llhttp/llhttp_sse42.o \
	$(OUT)/llhttp/api.o $(OUT)/llhttp/http.o
ALL_CFLAGS += -DHTRACR_LLHTTP_SIMD=1

# Both copies compiled here, with -fno-lto: objcopy renames symbols only in
# real object code (CFLAGS may ask for -flto).
LLHTTP_SIMD_CC = $(CC) -std=gnu11 $(filter-out -MMD -MP,$(CFLAGS)) -fno-lto -w -I$(LLHTTP_INC)

$(OUT)/llhttp/llhttp_base.o: $(LLHTTP_DIR)/llhttp.c | $(OUT)/llhttp
	$(call msg,CC,$@)
	$(Q)$(LLHTTP_SIMD_CC) -c -o $@.tmp $<
	$(Q)$(OBJCOPY) --redefine-sym llhttp__internal_execute=llhttp__internal_execute_base $@.tmp $@
	$(Q)rm -f $@.tmp

$(OUT)/llhttp/llhttp_sse42.o: $(LLHTTP_DIR)/llhttp.c | $(OUT)/llhttp
	$(call msg,CC,$@)
	$(Q)$(LLHTTP_SIMD_CC) -msse4.2 -c -o $@.tmp $<
	$(Q)$(NM) --defined-only -g $@.tmp | awk '{ print $$3, $$3 "_sse42" }' > $@.syms
	$(Q)$(OBJCOPY) --redefine-syms=$@.syms $@.tmp $@
	$(Q)rm -f $@.tmp $@.syms
endif
