# Fuzzing: libFuzzer targets for the parts that read untrusted bytes
# without a request (token, claims, tenant ID, header hygiene), built with
# clang, ASan and UBSan from the module's own sources and nginx's own core
# (pool, array, list, hash, string, from Debian's source package).
#
#   make fuzz-build     build the targets into $(FUZZ_BUILD)
#   make fuzz-regress   run every target once over its corpus in fuzz/corpus
#   make fuzz           both, then fuzz each target for FUZZ_SECONDS;
#                       fails on a crash, a leak or a broken invariant
#
# New inputs go to $(FUZZ_BUILD)/corpus/TARGET, crashes to
# $(FUZZ_BUILD)/artifacts; see fuzz/README.md.

FUZZ_BUILD   ?= $(BUILD)/fuzz
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   ?=
FUZZ_TARGETS := fuzz_token fuzz_claims fuzz_tenant_id fuzz_headers fuzz_json

FUZZ_NGX     := $(FUZZ_BUILD)/nginx
FUZZ_OBJS    := $(FUZZ_BUILD)/objs
FUZZ_PKGS    := clang-14 libclang-rt-14-dev dpkg-dev libjansson-dev \
                libssl-dev libhiredis-dev libpcre2-dev zlib1g-dev

# NGX_DEBUG_PALLOC: every pool allocation is a malloc() of its own, so ASan
# sees an overrun of a pool allocation, not only of the pool's block.
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer -DNGX_DEBUG_PALLOC=1 \
                -fsanitize=address,undefined -fno-sanitize-recover=all \
                -fsanitize=fuzzer-no-link
FUZZ_WARN    := -Wall -Wextra -Werror -Wno-unused-parameter
FUZZ_INCS    := -I $(FUZZ_NGX)/src/core -I $(FUZZ_NGX)/src/event \
                -I $(FUZZ_NGX)/src/event/modules -I $(FUZZ_NGX)/src/os/unix \
                -I $(FUZZ_NGX)/objs -I $(FUZZ_NGX)/src/http \
                -I $(FUZZ_NGX)/src/http/modules -I $(FUZZ_NGX)/src/http/v2 \
                -I ngx_tenant_module -I fuzz
FUZZ_LIBS    := -ljansson -lcrypto

FUZZ_NGX_OBJS := $(addprefix $(FUZZ_NGX)/objs/src/, core/ngx_palloc.o \
                 core/ngx_array.o core/ngx_list.o core/ngx_hash.o \
                 core/ngx_string.o os/unix/ngx_alloc.o)
FUZZ_MOD_OBJS := $(addprefix $(FUZZ_OBJS)/ngx_http_tenant_, b64.o json.o jwt.o \
                 keys.o jwks.o claims.o headers.o where.o)
FUZZ_LIB      := $(FUZZ_OBJS)/libfuzztenant.a
FUZZ_BINS     := $(addprefix $(FUZZ_BUILD)/, $(FUZZ_TARGETS))

.PHONY: fuzz fuzz-build fuzz-regress fuzz-deps
.SECONDARY: $(patsubst %,$(FUZZ_OBJS)/%.o,$(FUZZ_TARGETS) fuzz_shim)

fuzz-deps:
	@tools/apt-ensure $(FUZZ_PKGS)

fuzz-build: fuzz-deps $(FUZZ_BINS)

# Debian's source, configured with Debian's arguments and clang; only the
# core objects above are ever compiled
$(FUZZ_NGX)/objs/Makefile: fuzz/nginx-source
	fuzz/nginx-source $(FUZZ_BUILD)
	cd $(FUZZ_NGX) && bash -c '. $(NGX_SRC)/conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --with-cc=$(FUZZ_CC) \
	        --with-cc-opt="$(FUZZ_CFLAGS)" \
	        --with-ld-opt="-fsanitize=address,undefined"' \
	    > $(FUZZ_BUILD)/configure.log 2>&1 \
	    || { tail -20 $(FUZZ_BUILD)/configure.log; exit 1; }

$(FUZZ_NGX_OBJS): $(FUZZ_NGX)/objs/Makefile
	$(MAKE) -C $(FUZZ_NGX) -f objs/Makefile \
	    $(patsubst $(FUZZ_NGX)/%,%,$(FUZZ_NGX_OBJS))

$(FUZZ_OBJS)/%.o: ngx_tenant_module/%.c $(wildcard ngx_tenant_module/*.h) \
                  $(FUZZ_NGX)/objs/Makefile
	@mkdir -p $(FUZZ_OBJS)
	$(FUZZ_CC) -c $(FUZZ_CFLAGS) $(FUZZ_WARN) $(FUZZ_INCS) -o $@ $<

$(FUZZ_OBJS)/fuzz_%.o: fuzz/fuzz_%.c fuzz/fuzz.h \
                       $(wildcard ngx_tenant_module/*.h) \
                       $(FUZZ_NGX)/objs/Makefile
	@mkdir -p $(FUZZ_OBJS)
	$(FUZZ_CC) -c $(FUZZ_CFLAGS) $(FUZZ_WARN) $(FUZZ_INCS) \
	    -DFUZZ_DATA_DIR='"$(CURDIR)/t/data"' -o $@ $<

$(FUZZ_LIB): $(FUZZ_NGX_OBJS) $(FUZZ_MOD_OBJS) $(FUZZ_OBJS)/fuzz_shim.o
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_OBJS)/fuzz_%.o $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

# every corpus file, once: the regressions
fuzz-regress: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	    echo "$$t: $$(ls fuzz/corpus/$$t | wc -l) corpus files"; \
	    $(FUZZ_BUILD)/$$t -runs=0 fuzz/corpus/$$t \
	        > $(FUZZ_BUILD)/$$t.regress.log 2>&1 \
	        || { tail -40 $(FUZZ_BUILD)/$$t.regress.log; exit 1; }; \
	done

# each target in turn, one process: the machine is shared
fuzz: fuzz-regress
	@mkdir -p $(FUZZ_BUILD)/artifacts
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	    dict=; [ -f fuzz/$$t.dict ] && dict=-dict=fuzz/$$t.dict; \
	    echo "$$t: fuzzing for $(FUZZ_SECONDS)s"; \
	    $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) \
	        -print_final_stats=1 $$dict $(FUZZ_FLAGS) \
	        -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- \
	        $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t \
	        > $(FUZZ_BUILD)/$$t.log 2>&1 \
	        || { tail -60 $(FUZZ_BUILD)/$$t.log; \
	             echo "$$t: FAILED, input in $(FUZZ_BUILD)/artifacts"; \
	             exit 1; }; \
	    grep -E '^#[0-9]+.*DONE' $(FUZZ_BUILD)/$$t.log | tail -1; \
	    grep -E 'stat::number_of_executed_units' $(FUZZ_BUILD)/$$t.log; \
	done
