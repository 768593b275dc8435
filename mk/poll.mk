# Event models: the suite under level-triggered poll and edge-triggered
# epoll.  Debian's nginx has no poll module, so test-poll builds Debian's
# nginx (its source package, its patches, its configure arguments) with
# --with-poll_module once into $(NGINX_POLL); our module and Debian's echo
# module, both built with --with-compat, load into it unchanged.
#
#   make test-poll      suite with `use poll;`  (that nginx)
#   make test-epoll     suite with `use epoll;` (Debian's nginx)
#   make nginx-poll     only build that nginx
#
# PROVE_FLAGS and a list of test files (TESTS=t/105-redis-live.t) pass on.

NGINX_POLL ?= $(BUILD)/nginx-poll
ECHO_MODULE ?= $(MODULES_DIR)/ngx_http_echo_module.so
TESTS ?=

.PHONY: nginx-poll test-poll test-epoll

nginx-poll: $(NGINX_POLL)

# rebuilt when the script changes or Debian's nginx is upgraded
$(NGINX_POLL): tools/build-nginx-poll $(NGINX)
	NGINX=$(NGINX) NGX_SRC=$(NGX_SRC) tools/build-nginx-poll $@

test-poll: deps $(MODULE) $(NGINX_POLL)
	TEST_NGINX_BINARY=$(NGINX_POLL) TEST_NGINX_EVENT_TYPE=poll \
	TEST_NGINX_LOAD_MODULES="$(ECHO_MODULE) $(MODULE)" \
	    tools/run-tests $(TESTS)

test-epoll: deps $(MODULE)
	TEST_NGINX_BINARY=$(NGINX) TEST_NGINX_EVENT_TYPE=epoll \
	TEST_NGINX_LOAD_MODULES="$(ECHO_MODULE) $(MODULE)" \
	    tools/run-tests $(TESTS)
