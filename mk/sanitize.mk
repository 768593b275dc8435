# Sanitizers: the whole Test::Nginx suite against an instrumented module.
#
#   make test-asan       the module built with AddressSanitizer and
#                        UndefinedBehaviorSanitizer into $(ASAN_BUILD), loaded
#                        by Debian's (uninstrumented) nginx through
#                        tools/asan-nginx, which preloads the runtimes; fails
#                        on a failed test or on any ASan, LSan or UBSan report
#   make test-valgrind   the regular module, every test nginx under memcheck
#                        (TEST_NGINX_USE_VALGRIND=1), the ones the plain
#                        Test::More files start through t/lib (TenantIdp,
#                        TenantNginx, TenantMetrics) too; fails on a failed
#                        test, a memcheck error or a definite leak
#
# Both take the usual test environment (TEST_NGINX_SERVER_PORT,
# TEST_NGINX_SERVROOT, PROVE_FLAGS) and the test files as T=...

ASAN_BUILD  ?= $(CURDIR)/build-asan
ASAN_MODULE := $(ASAN_BUILD)/ngx_http_tenant_module.so
ASAN_LOGS   ?= $(ASAN_BUILD)/reports

# -O1 keeps the stacks readable and the suite fast; no _FORTIFY_SOURCE, whose
# checked string functions would hide overflows from ASan's interceptors.
ASAN_CC_OPT := -g -O1 -fno-omit-frame-pointer -fPIC \
               -fsanitize=address,undefined -fno-sanitize-recover=all \
               -fstack-protector-strong -Wformat -Werror=format-security

ECHO_MODULE := /usr/lib/nginx/modules/ngx_http_echo_module.so
SAN_PKGS    := libasan8 libubsan1
VG_PKGS     := valgrind

.PHONY: build-asan test-asan test-valgrind

ASAN_ROOTS  := $(ASAN_BUILD)/lsan-nginx-roots.so
ASAN_NGX    := $(ASAN_BUILD)/nginx

# Its own build directory: a configure with other flags, a separate .so;
# then the library that keeps nginx's never-freed arrays reachable, built
# against the same nginx headers (tools/lsan-nginx-roots.c).
build-asan:
	@tools/apt-ensure $(BUILD_PKGS) $(SAN_PKGS)
	$(MAKE) BUILD=$(ASAN_BUILD) CC_OPT="$(ASAN_CC_OPT)" build
	$(MAKE) $(ASAN_ROOTS)

$(ASAN_ROOTS): tools/lsan-nginx-roots.c $(ASAN_MODULE)
	$(CC) -shared -fPIC -g -O1 $(WARN) -Wno-unused-parameter \
	    -I$(ASAN_NGX)/objs -I$(ASAN_NGX)/src/core -I$(ASAN_NGX)/src/event \
	    -I$(ASAN_NGX)/src/event/modules -I$(ASAN_NGX)/src/os/unix \
	    -o $@ $< -ldl

test-asan: deps build-asan
	@tools/apt-ensure $(SAN_PKGS)
	ASAN_LOGS=$(ASAN_LOGS) ASAN_NGINX_ROOTS=$(ASAN_ROOTS) \
	TEST_NGINX_LOAD_MODULES="$(ECHO_MODULE) $(ASAN_MODULE)" \
	    tools/test-asan $(T)

test-valgrind: deps $(MODULE)
	@tools/apt-ensure $(VG_PKGS)
	TEST_NGINX_LOAD_MODULES="$(ECHO_MODULE) $(MODULE)" \
	    tools/test-valgrind $(T)
