# The suite under openresty's own Test::Nginx.  `make test` runs it with
# the compatible runner in t/lib/compat (Debian has no Test::Nginx
# package); test-real runs the same files with the real one, from a
# checkout of github.com/openresty/test-nginx (only its lib/ is used) at
# ../shared/test-nginx next to this tree, else at /work/shared/test-nginx,
# else at TEST_NGINX_REAL=dir.  It needs a few Perl modules of Debian's.
#
#   make test-real                            the whole suite
#   make test-real TESTS=t/210-keyed-limits.t
#
# PROVE_FLAGS and the usual test environment (TEST_NGINX_PORT, ...) pass on.

TEST_NGINX_REAL ?= $(firstword $(wildcard \
                   $(abspath $(CURDIR)/../shared/test-nginx) \
                   /work/shared/test-nginx))
REAL_PKGS       := libtest-longstring-perl liblist-moreutils-perl \
                   liburi-perl libhttp-message-perl libwww-perl \
                   libipc-run-perl
ECHO_MODULE     ?= $(MODULES_DIR)/ngx_http_echo_module.so
TESTS           ?=

# The real one starts nginx afresh for every block and waits for the old
# one to go, about a minute a file: files run REAL_JOBS at a time, each
# on a port and in a servroot of its own (TEST_NGINX_RANDOMIZE).
REAL_JOBS       ?= 3

.PHONY: test-real

# where the real one is missing or does not load, say so before prove does
test-real: deps $(MODULE)
	@if [ -z "$(TEST_NGINX_REAL)" ]; then \
	    echo "test-real: no Test::Nginx at ../shared/test-nginx" \
	         "(next to this tree) or /work/shared/test-nginx: clone" \
	         "https://github.com/openresty/test-nginx there, or set" \
	         "TEST_NGINX_REAL=dir" >&2; \
	    exit 1; \
	fi
	@tools/apt-ensure $(REAL_PKGS)
	@PERL5LIB=$(TEST_NGINX_REAL)/lib perl -MTest::Nginx::Socket -e1 \
	    || { echo "test-real: $(TEST_NGINX_REAL)/lib has no usable" \
	              "Test::Nginx::Socket" >&2; exit 1; }
	TEST_NGINX_BINARY=$(NGINX) \
	TEST_NGINX_LOAD_MODULES="$(ECHO_MODULE) $(MODULE)" \
	TEST_NGINX_RANDOMIZE=1 \
	PERL5LIB=$(TEST_NGINX_REAL)/lib \
	    prove -I t/lib -j$(REAL_JOBS) $(PROVE_FLAGS) $(or $(TESTS),-r t)
	@rm -rf t/servroot_*
