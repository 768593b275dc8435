# ngx_http_tenant_module: build against Debian's nginx SDK (nginx-dev),
# test with Test::Nginx, run a demo.

NGX_SRC     ?= /usr/share/nginx/src
NGINX       ?= /usr/sbin/nginx
BUILD       ?= $(CURDIR)/build
MODULE      := $(BUILD)/ngx_http_tenant_module.so
MODULES_DIR ?= /usr/lib/nginx/modules
AVAIL_DIR   ?= /usr/share/nginx/modules-available

# Debian's own hardening flags, then the warnings we hold ourselves to.
# nginx's build adds -Wno-unused-parameter before these: handlers have
# fixed signatures (ngx_command_t *cmd, uintptr_t data) that many ignore.
CC_OPT ?= -g -O2 -fstack-protector-strong -Wformat -Werror=format-security \
          -fPIC -D_FORTIFY_SOURCE=2
WARN   := -Wall -Wextra -Werror

BUILD_PKGS := nginx nginx-dev gcc make libc6-dev libpcre2-dev zlib1g-dev \
              libjansson-dev libhiredis-dev libssl-dev
TEST_PKGS  := openssl redis-server redis-sentinel libtest-base-perl libcrypt-jwt-perl \
              libnginx-mod-http-echo curl perl libnet-dns-perl libio-socket-ssl-perl \
              prometheus wrk
BENCH_PKGS := wrk gnuplot-nox procps util-linux valgrind bc \
              libnginx-mod-http-lua lua-nginx-redis lua-cjson

SRCS := config $(wildcard ngx_tenant_module/*.c ngx_tenant_module/*.h)

.PHONY: all build deps deps-bench install test run stop bench clean

all: build

build: $(MODULE)

$(BUILD)/nginx/objs/Makefile: config
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -r $(NGX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && bash -c '. ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(CC_OPT) $(WARN)" \
	        --add-dynamic-module=$(CURDIR)' > $(BUILD)/configure.log \
	    || { tail -20 $(BUILD)/configure.log; exit 1; }

$(MODULE): $(BUILD)/nginx/objs/Makefile $(SRCS)
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile modules
	@# replace atomically: a running test nginx may have the old one mapped
	cp $(BUILD)/nginx/objs/ngx_http_tenant_module.so $@.tmp
	mv -f $@.tmp $@

# Installs the Debian packages that are missing (needs root).
deps:
	@tools/apt-ensure $(BUILD_PKGS) $(TEST_PKGS)

deps-bench:
	@tools/apt-ensure $(BENCH_PKGS)

install: $(MODULE)
	install -d $(DESTDIR)$(MODULES_DIR) $(DESTDIR)$(AVAIL_DIR)
	install -m 644 $(MODULE) $(DESTDIR)$(MODULES_DIR)/
	echo 'load_module modules/ngx_http_tenant_module.so;' \
	    > $(DESTDIR)$(AVAIL_DIR)/mod-http-tenant.conf

test: deps $(MODULE)
	tools/run-tests

run: deps $(MODULE)
	tools/demo start

stop:
	tools/demo stop

bench: deps deps-bench $(MODULE)
	bench/run

clean:
	rm -rf $(BUILD) t/servroot

# Further targets (sanitizers, fuzzing, event models), one concern per file.
-include mk/*.mk
