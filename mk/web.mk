# SPDX-License-Identifier: MIT
# web.mk - the web UI (web/) embedded into the binary: every file under
# web/ becomes a byte array in $(OUT)/web_assets.c (scripts/embed-web.sh),
# listed in the table include/htracr/web_assets.h declares, which
# src/server.c serves. Rebuilt when a file under web/ changes, or when one
# is added or removed (the directories' times change then).

# The Makefile includes this before its `all` rule: keep `make` building all.
.DEFAULT_GOAL := all

WEB_DIR ?= web
# (names make could not list, with spaces and the like, are left out here
# as the script leaves them out of the table)
WEB_FILES := $(shell find $(WEB_DIR) -type f 2>/dev/null | LC_ALL=C grep -v '[^A-Za-z0-9._/-]')
WEB_DIRS := $(shell find $(WEB_DIR) -type d 2>/dev/null | LC_ALL=C grep -v '[^A-Za-z0-9._/-]')

$(OUT)/web_assets.c: scripts/embed-web.sh mk/web.mk $(WEB_FILES) $(WEB_DIRS)
	$(call msg,EMBED,$(WEB_DIR)/)
	$(Q)mkdir -p $(@D)
	$(Q)scripts/embed-web.sh $@ $(WEB_DIR)

$(OUT)/web_assets.o: $(OUT)/web_assets.c include/htracr/web_assets.h
	$(call msg,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

EXTRA_OBJS += $(OUT)/web_assets.o

-include $(OUT)/web_assets.d
