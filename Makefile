# mod_proxyauth_ldap: build with apxs.
#   make            build .libs/mod_proxyauth_ldap.so
#   make install    apxs -i (as root)
#   make demo       a working authenticating proxy on 127.0.0.1:3128
#   make deb        the Debian package, in build/deb/
#   make test       the whole test suite (MPM=event|worker|prefork)
#   make test-asan  the suite against an ASan+UBSan build (build/asan/)
#   make test-tsan  the suite against a ThreadSanitizer build (build/tsan/)
#   make test-valgrind  the suite with every httpd under valgrind memcheck
#   make soak       a ~3 minute soak test: load while LDAP, redis and httpd are disturbed
#   make fuzz       every fuzzer for 60 s (FUZZ_SECONDS=5 for a quick run)
APXS    ?= $(shell command -v apxs 2>/dev/null || echo /usr/bin/apxs)
MODULE  := mod_proxyauth_ldap
SRCS    := mod_proxyauth_ldap.c config.c basic.c ldap_strings.c ad_codes.c \
           entry.c cache.c bind_gate.c softlock.c flight.c conn_identity.c \
           status.c process.c ldap_client.c ldap_url.c ldap_servers.c \
           conf_values.c negotiate_token.c gss_acceptor.c ldap_filter.c \
           require.c
HDRS    := $(wildcard include/*.h)
WARN    := -Wc,-Wall -Wc,-Wextra -Wc,-Werror=implicit-function-declaration
CFLAGS_EXTRA ?=
LDFLAGS_EXTRA ?=
LIBS    := -lldap -llber -lcrypto -lgssapi_krb5 -lkrb5
MPM     ?= event

.PHONY: all install demo test unit deps clean

all: .libs/$(MODULE).so

.libs/$(MODULE).so: $(SRCS) $(HDRS) | deps-build
	$(APXS) -c -o $(MODULE).la -Iinclude $(WARN) $(CFLAGS_EXTRA) $(LDFLAGS_EXTRA) $(SRCS) $(LIBS)

# Installs the Debian packages the build needs when they are missing.
.PHONY: deps-build
deps-build:
	@sh t/deps.sh build

install: all
	$(APXS) -i -n proxyauth_ldap $(MODULE).la

clean:
	rm -rf build .libs *.la *.lo *.slo *.o t/unit/*.o t/unit/unit_basic
	rm -rf t/logs t/state t/conf/*.conf t/conf/mime.types t/conf/apache_test_config.pm t/htdocs/index.html t/TEST

# Unit tests and fuzzers of the parts that need no httpd: APR (and
# libcrypto, libldap) only.
UNIT_CFLAGS = $(shell apr-1-config --includes --cflags --cppflags) -Iinclude -Wall -Wextra
UNIT_LIBS   = $(shell apr-1-config --link-ld --libs)

TEXT_SRCS = basic.c ldap_strings.c ldap_filter.c ad_codes.c
TEXT_HDRS = include/pal_basic.h include/pal_ldap_strings.h include/pal_ad.h \
            include/pal_ascii.h

t/unit/unit_basic: $(TEXT_SRCS) t/unit/unit_basic.c $(TEXT_HDRS) t/unit/tap.h \
    t/unit/b64_encode.h
	cc $(UNIT_CFLAGS) -o $@ $(TEXT_SRCS) t/unit/unit_basic.c $(UNIT_LIBS)

UNIT_BINS = t/unit/unit_basic t/unit/unit_cache t/unit/unit_softlock \
            t/unit/unit_conf_values t/unit/unit_url t/unit/unit_negotiate

unit: $(UNIT_BINS)
	./t/unit/unit_basic
	./t/unit/unit_cache
	./t/unit/unit_softlock
	./t/unit/unit_conf_values
	./t/unit/unit_url
	./t/unit/unit_negotiate

# The test suite: Apache::Test + a real slapd (see t/TEST.PL, t/lib/PALTest.pm).
#   make test                      all of t/*.t under mpm_event
#   make test MPM=prefork          or worker
#   make test TEST_ARGS=t/00harness.t    one file (any t/TEST option works too)
TEST_ARGS ?=

t/TEST: t/TEST.PL
	perl t/TEST.PL

test: all
	@sh t/deps.sh test
	@$(MAKE) --no-print-directory $(UNIT_BINS)
	@$(MAKE) --no-print-directory t/TEST
	PAL_MPM=$(MPM) perl t/TEST $(TEST_ARGS)

# The Debian package (debian/, debhelper and dh_apache2): built from a copy
# of the sources in build/deb/src, so nothing lands beside the checkout;
# build/deb/libapache2-mod-proxyauth-ldap_*.deb is the result.
DEB_SRC = $(SRCS) $(HDRS) Makefile README NOTICE t/deps.sh \
          $(wildcard conf.d/*) $(shell find debian -type f)
.PHONY: deb
deb:
	@sh t/deps.sh deb
	rm -rf build/deb
	mkdir -p build/deb/src
	tar -cf - $(DEB_SRC) | tar -C build/deb/src -xf -
	cd build/deb/src && dpkg-buildpackage -b -us -uc
	@ls build/deb/*.deb

# A working authenticating proxy on 127.0.0.1:3128, in the foreground (Ctrl-C ends it).
demo:
	sh demo/run.sh

# Unit tests and fuzzer for entry.c: APR and libcrypto only.
t/unit/unit_cache: entry.c t/unit/unit_cache.c include/pal_entry.h t/unit/tap.h
	cc $(UNIT_CFLAGS) -o $@ entry.c t/unit/unit_cache.c $(UNIT_LIBS) -lcrypto

.PHONY: clean-cache
clean: clean-cache
clean-cache:
	rm -f t/unit/unit_cache t/unit/unit_softlock t/unit/unit_conf_values \
	    t/unit/unit_url t/unit/unit_negotiate

# Unit tests for softlock.c: APR only; forks processes and starts threads.
t/unit/unit_softlock: softlock.c t/unit/unit_softlock.c include/pal_softlock.h \
    t/unit/tap.h
	cc $(UNIT_CFLAGS) -o $@ softlock.c t/unit/unit_softlock.c $(UNIT_LIBS)

# Unit tests for conf_values.c (the directives' values): APR only.
t/unit/unit_conf_values: conf_values.c t/unit/unit_conf_values.c t/unit/tap.h \
                         include/pal_conf_values.h
	cc $(UNIT_CFLAGS) -o $@ conf_values.c t/unit/unit_conf_values.c \
	    $(UNIT_LIBS)

# Unit tests for negotiate_token.c (the Negotiate header and tokens): APR.
t/unit/unit_negotiate: negotiate_token.c basic.c t/unit/unit_negotiate.c \
    include/pal_negotiate.h include/pal_basic.h t/unit/tap.h
	cc $(UNIT_CFLAGS) -o $@ negotiate_token.c basic.c t/unit/unit_negotiate.c \
	    $(UNIT_LIBS)

# Unit tests for ldap_url.c (ProxyAuthLDAPURL): APR and libldap.
t/unit/unit_url: ldap_url.c ldap_strings.c ldap_filter.c t/unit/unit_url.c \
    include/pal_ldap.h t/unit/tap.h
	cc $(UNIT_CFLAGS) -o $@ ldap_url.c ldap_strings.c ldap_filter.c t/unit/unit_url.c \
	    $(UNIT_LIBS) -lldap -llber

# Fuzzers (libFuzzer, ASan, UBSan), one per parser: t/unit/fuzz_NAME.c, its
# seeds in t/fuzz/corpus/NAME/, a dictionary in t/fuzz/dict/NAME.dict where
# one helps. Each runs FUZZ_SECONDS from its seeds (t/fuzz/run.sh); what a
# run finds goes to t/fuzz/out/NAME/, never into the seeds. Fails when any
# fuzzer crashes or a property it checks does not hold.
#   make fuzz                      all of them, 60 s each
#   make fuzz FUZZ_SECONDS=5       a quick run
#   make fuzz FUZZERS="dn url"     some of them
#   make fuzz-seeds                rewrite t/fuzz/corpus/cache/ from the encoders
FUZZ_SECONDS ?= 60
ALL_FUZZERS = basic filter dn log url conf cache negotiate
FUZZERS ?= $(ALL_FUZZERS)
FUZZ_CC ?= clang
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
             -fno-sanitize-recover=undefined
# What each fuzzer links besides itself and APR.
FUZZ_SRCS_basic  = basic.c
FUZZ_SRCS_filter = ldap_strings.c ldap_filter.c
FUZZ_SRCS_dn     = ldap_strings.c
FUZZ_SRCS_log    = ldap_strings.c ad_codes.c
FUZZ_SRCS_url    = ldap_url.c ldap_strings.c ldap_filter.c
FUZZ_LIBS_url    = -lldap -llber
FUZZ_SRCS_conf   = conf_values.c
FUZZ_SRCS_cache  = entry.c
FUZZ_SRCS_negotiate = negotiate_token.c basic.c
FUZZ_LIBS_cache  = -lcrypto

.PHONY: fuzz fuzz-build fuzz-seeds clean-fuzz
fuzz:
	@sh t/deps.sh fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@sh t/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)

fuzz-build: $(FUZZERS:%=t/unit/fuzz_%)
	@:

.SECONDEXPANSION:
$(ALL_FUZZERS:%=t/unit/fuzz_%): t/unit/fuzz_%: t/unit/fuzz_%.c \
        t/unit/fuzz_pool.h t/unit/b64_encode.h $$(FUZZ_SRCS_$$*) $(HDRS)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(UNIT_CFLAGS) -o $@ $(FUZZ_SRCS_$*) $< \
	    $(UNIT_LIBS) $(FUZZ_LIBS_$*) -ldl

t/unit/fuzz_cache: t/unit/fuzz_cache_key.h

t/unit/gen_cache_seeds: entry.c t/unit/gen_cache_seeds.c \
        t/unit/fuzz_cache_key.h include/pal_entry.h
	cc $(UNIT_CFLAGS) -o $@ entry.c t/unit/gen_cache_seeds.c $(UNIT_LIBS) \
	    -lcrypto

fuzz-seeds: t/unit/gen_cache_seeds
	@mkdir -p t/fuzz/corpus/cache
	./t/unit/gen_cache_seeds t/fuzz/corpus/cache

clean: clean-fuzz
clean-fuzz:
	rm -rf t/fuzz/out t/unit/gen_cache_seeds $(ALL_FUZZERS:%=t/unit/fuzz_%)

# Benchmark against httpd's own LDAP stack and Squid (bench/run.pl; needs the
# packages of `sh t/deps.sh bench`). Results: bench/out/results.md, bench.svg.
#   make bench              5 runs of 8 s per variant and scenario (~25 min)
#   make bench QUICK=1      1 run of 2 s (under a minute)
#   make bench PUBLISH=1    also copy them to bench/results/ (shown by the README)
#   make bench BENCH_ARGS="--variants e,e2 --keep"    any option of bench/run.pl
BENCH_ARGS ?=
HITBENCH = bench/hitbench/.libs/mod_pal_hitbench.so
.PHONY: bench
bench:
	@sh t/deps.sh bench
	@$(MAKE) --no-print-directory all $(HITBENCH)
	perl bench/run.pl $(if $(filter-out 0,$(QUICK)),--quick) $(if $(filter-out 0,$(PUBLISH)),--publish) $(BENCH_ARGS)
	perl bench/negotiate.pl $(if $(filter-out 0,$(QUICK)),--quick) $(NEGOTIATE_ARGS)
	$(if $(filter-out 0,$(PUBLISH)),cp bench/out/negotiate.md bench/results/negotiate.md)

# Negotiate alone (bench/negotiate.pl): mod_proxyauth_ldap's Kerberos
# throughput against mod_auth_gssapi and its own Basic cache hits, with an
# MIT KDC of its own; ~3 minutes. Results: bench/out/negotiate.md.
#   make bench-negotiate NEGOTIATE_ARGS="--runs 5 --keep"
NEGOTIATE_ARGS ?=
.PHONY: bench-negotiate
bench-negotiate:
	@sh t/deps.sh bench
	@$(MAKE) --no-print-directory all
	perl bench/negotiate.pl $(if $(filter-out 0,$(QUICK)),--quick) $(NEGOTIATE_ARGS)
	$(if $(filter-out 0,$(PUBLISH)),cp bench/out/negotiate.md bench/results/negotiate.md)

# The hit-path microbenchmark's handler module (bench/hitbench/), never
# installed.
$(HITBENCH): bench/hitbench/mod_pal_hitbench.c
	$(APXS) -c -o bench/hitbench/mod_pal_hitbench.la -Wc,-Wall -Wc,-Wextra \
	    bench/hitbench/mod_pal_hitbench.c

# Soak test (t/soak/soak.pl; needs the packages of `sh t/deps.sh soak`): steady
# proxy load through slapd SIGKILL/restart, SIGSTOP/SIGCONT, redis stop/restart
# and two graceful restarts, then a report of 7 invariants; about 3 minutes.
# Report and logs: t/soak/out/. Fails when an invariant does not hold.
#   make soak SOAK_ARGS="--rate 20 --keep"    any option of t/soak/soak.pl
SOAK_ARGS ?=
.PHONY: soak
soak:
	@sh t/deps.sh soak
	@$(MAKE) --no-print-directory all
	perl t/soak/soak.pl $(SOAK_ARGS)

# ---------------------------------------------------------------------------
# The suite under sanitizers and valgrind (t/bin/sanitized-suite runs it and
# fails on the suite's result or on any report; suppressions in
# t/sanitizers/). t/bin/httpd starts apache2 behind PAL_HTTPD_PREFIX (the
# sanitizer's runtime in LD_PRELOAD: apache2 itself is not instrumented);
# PAL_MODULE points t/TEST at the sanitizer build.
#   make test-asan TEST_ARGS="t/00harness.t t/90cache.t"    a few files
#
# Sanitizer builds live in build/NAME/, apart from .libs/ and t/unit/: a
# folder of links to the sources (apxs puts objects next to them), where this
# Makefile's own rules for the module and the unit tests run again with the
# sanitizer's flags.
ASAN_CFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=undefined -O1 -g
TSAN_CFLAGS = -fsanitize=thread -fno-omit-frame-pointer -O1 -g
SAN_SUITE   = t/bin/sanitized-suite
comma := ,

# $(call san_build,NAME,FLAGS): the module and the unit tests in build/NAME/.
define san_build
	@mkdir -p build/$(1)/t/unit
	@for f in *.c Makefile; do ln -sf ../../$$f build/$(1)/$$f; done
	@ln -sfn ../../include build/$(1)/include
	@ln -sf ../../../t/deps.sh build/$(1)/t/deps.sh
	@for f in t/unit/*.c t/unit/*.h; do \
	    [ -e "$$f" ] && ln -sf ../../../../$$f build/$(1)/$$f; done; true
	$(MAKE) -C build/$(1) --no-print-directory \
	    CFLAGS_EXTRA="$(addprefix -Wc$(comma),$(2))" \
	    LDFLAGS_EXTRA="-Wl,$(firstword $(2))" .libs/$(MODULE).so
	$(MAKE) -C build/$(1) --no-print-directory \
	    UNIT_CFLAGS="$(UNIT_CFLAGS) $(2)" $(UNIT_BINS)
endef

# LeakSanitizer's check at exit, with APR's mmap'd pool memory as roots
# (see the file); preloaded after libasan.
build/asan/lsan_pool_roots.so: t/sanitizers/lsan_pool_roots.c
	@mkdir -p build/asan
	cc -shared -fPIC -O1 -Wall -Wextra -o $@ t/sanitizers/lsan_pool_roots.c

.PHONY: test-asan test-tsan test-valgrind san-prep build-asan build-tsan
san-prep: all
	@sh t/deps.sh test
	@$(MAKE) --no-print-directory $(UNIT_BINS) t/TEST

build-asan: build/asan/lsan_pool_roots.so
	$(call san_build,asan,$(ASAN_CFLAGS))

build-tsan:
	$(call san_build,tsan,$(TSAN_CFLAGS))

test-asan: san-prep build-asan
	@for b in $(UNIT_BINS); do echo "./build/asan/$$b"; \
	    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    ./build/asan/$$b >build/asan/$$b.out 2>&1 \
	    || { cat build/asan/$$b.out; exit 1; }; done
	PAL_MPM=$(MPM) sh $(SAN_SUITE) asan $(TEST_ARGS)

test-tsan: san-prep build-tsan
	@for b in $(UNIT_BINS); do echo "./build/tsan/$$b"; \
	    TSAN_OPTIONS=halt_on_error=1 ./build/tsan/$$b >build/tsan/$$b.out 2>&1 \
	    || { cat build/tsan/$$b.out; exit 1; }; done
	sh $(SAN_SUITE) tsan $(TEST_ARGS)

test-valgrind: san-prep
	PAL_MPM=$(MPM) sh $(SAN_SUITE) valgrind $(TEST_ARGS)
