# dbx_oauth: PGXS build of a C++17 PostgreSQL 15 extension.
#
# The pure C++ core (src/core) and the PostgreSQL glue (src/pg) link into one
# module.  The SQL install script is assembled from one fragment per area
# (src/sql/NN_area.sql) so each feature owns its own SQL.

EXTENSION   = dbx_oauth databricks_auth
MODULE_big  = dbx_oauth
EXT_VERSION = 0.2

CORE_SRCS = $(sort $(wildcard src/core/*.cpp))
PG_SRCS   = $(sort $(wildcard src/pg/*.cpp src/pg/*/*.cpp))
OBJS      = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)

# Released install scripts are frozen, checked-in files (dbx_oauth--0.1.sql);
# the current version's install script and every upgrade script are built
# from fragments: src/sql/NN_area.sql and src/sql/upgrade/FROM--TO/NN_area.sql.
# The release rule is in DEVELOPING.md.
UPGRADE_DIRS = $(sort $(notdir $(wildcard src/sql/upgrade/*--*)))
DATA_built = dbx_oauth--$(EXT_VERSION).sql $(UPGRADE_DIRS:%=dbx_oauth--%.sql)
DATA       = dbx_oauth--0.1.sql databricks_auth--0.1.sql

# pg_regress: one file per feature, run against a temporary instance that
# preloads the library.
REGRESS      = $(sort $(notdir $(basename $(wildcard sql/*.sql))))
REGRESS_OPTS = --temp-config=$(CURDIR)/build/regress.conf \
               --temp-instance=$(or $(TEMP_INSTANCE),$(CURDIR)/tmp_check_regress) \
               --load-extension=dbx_oauth
TAP_TESTS    = 1
PROVE_TESTS ?= $(sort $(wildcard test/t/*.pl))


# Debian builds LLVM bitcode with clang, which would not see our C++ flags.
override with_llvm = no

PG_CPPFLAGS = -I$(srcdir)/src -DDBX_OAUTH_VERSION='"$(EXT_VERSION)"'
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-missing-field-initializers -Wno-register
SHLIB_LINK  = -lssl -lcrypto -lcurl -lstdc++

EXTRA_CLEAN = build tmp_check_regress $(OAUTH_TEST_CLIENT)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# TAP helpers (test/perl) for test/t/*.pl
PROVE_FLAGS += -I $(srcdir)/test/perl

# The core headers refuse to compile when postgres.h was included first;
# the glue must include core headers before PostgreSQL ones or not at all
# in the same translation unit as nothing else (see src/core/no_postgres.h).
.SECONDEXPANSION:
SQL_FRAGMENTS = $(sort $(wildcard src/sql/*.sql))
dbx_oauth--$(EXT_VERSION).sql: $(SQL_FRAGMENTS)
	cat $^ > $@
# An upgrade script FROM--TO is, for each fragment name in order, the
# checked-in src/sql/upgrade/FROM--TO/NN_area.sql (hand-written ALTERs and
# DROPs, or a symlink for an area new in TO), then the part of the install
# fragment src/sql/NN_area.sql from its marker line
#   -- Upgrade FROM--TO: from here on ...
# to its end, with CREATE FUNCTION made CREATE OR REPLACE FUNCTION.  What is
# new or changed in TO is thus written once, in the install fragment, and the
# upgrade cannot drift from it (DEVELOPING.md, "Releases and upgrade scripts").
upgrade_mark  = ^-- Upgrade $(1): from here on
upgrade_parts = $(sort $(notdir $(wildcard src/sql/upgrade/$(1)/*.sql) \
                  $(shell grep -l -e '$(call upgrade_mark,$(1))' $(SQL_FRAGMENTS))))
dbx_oauth--%.sql: $$(sort $$(wildcard src/sql/upgrade/%/*.sql)) $(SQL_FRAGMENTS)
	set -e; for n in $(call upgrade_parts,$*); do \
	  if [ -e src/sql/upgrade/$*/$$n ]; then cat src/sql/upgrade/$*/$$n; fi; \
	  if [ -e src/sql/$$n ]; then \
	    sed -n -e '/$(call upgrade_mark,$*)/,$${s/^CREATE FUNCTION /CREATE OR REPLACE FUNCTION /;p;}' src/sql/$$n; \
	  fi; \
	done > $@.tmp
	mv $@.tmp $@

$(OBJS): $(wildcard src/core/*.h src/pg/*/*.h)

# pg_regress validates tokens against keys made for the run: the temporary
# instance trusts them through dbx_oauth.jwks_file.
REGRESS_KEYS = $(CURDIR)/build/regress_keys
build/regress.conf: test/regress.conf
	@mkdir -p build
	sed 's|@REGRESS_KEYS@|$(REGRESS_KEYS)|g' $< > $@
$(REGRESS_KEYS)/jwks.json:
	test/fixtures/mint keygen --dir $(REGRESS_KEYS) --kid regress-rsa --type rsa2048 \
	  --kid regress-ec --type ec256 --kid regress-ed --type ed25519
installcheck: build/regress.conf $(REGRESS_KEYS)/jwks.json

# The libpq client test/t/100_oauth_door.pl logs in with through the
# PostgreSQL 18 OAuth door; needs libpq 18 (PQsetAuthDataHook).
OAUTH_TEST_CLIENT = test/oauth/oauth_hook_client
.PHONY: oauth-test-client
oauth-test-client: $(OAUTH_TEST_CLIENT)
$(OAUTH_TEST_CLIENT): test/oauth/oauth_hook_client.c
	$(CC) -std=c99 -Wall -Wextra -Werror -I$(shell $(PG_CONFIG) --includedir) $< \
	  -L$(shell $(PG_CONFIG) --libdir) -lpq -o $@

# ---------------------------------------------------------------------------
# Core unit tests (GoogleTest): the core linked alone, no PostgreSQL.
UNIT_CXX      ?= g++
UNIT_CXXFLAGS ?= -std=c++17 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter -Isrc
UNIT_DIR      ?= build/unit
UNIT_SRCS      = $(CORE_SRCS) $(sort $(wildcard test/unit/*.cpp))
UNIT_OBJS      = $(patsubst %.cpp,$(UNIT_DIR)/%.o,$(UNIT_SRCS))
UNIT_LIBS      = -lgtest -lgtest_main -lssl -lcrypto -lcurl -pthread

$(UNIT_DIR)/%.o: %.cpp $(wildcard src/core/*.h test/unit/*.h)
	@mkdir -p $(dir $@)
	$(UNIT_CXX) $(UNIT_CXXFLAGS) -c $< -o $@

$(UNIT_DIR)/unit_tests: $(UNIT_OBJS)
	$(UNIT_CXX) $(UNIT_CXXFLAGS) $^ $(UNIT_LIBS) -o $@

.PHONY: unit unit-asan
unit: $(UNIT_DIR)/unit_tests
	$(UNIT_DIR)/unit_tests

# Same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
unit-asan:
	$(MAKE) unit UNIT_CXX=clang++-14 UNIT_DIR=build/unit-asan \
	  UNIT_CXXFLAGS="-std=c++17 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter -Isrc -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
