
/*
 * Copyright (C) ngx_tenant_module authors
 */


/*
 * fuzz_json: the token parts' JSON parser against jansson.  The first byte
 * picks the flags (bit 0: JSON_ALLOW_NUL, as a payload is parsed), the
 * rest is the JSON text.  Whenever ngx_http_tenant_json_object() returns
 * a tree, json_loadb() with JSON_REJECT_DUPLICATES must return an object
 * equal to it, with its members in the same order (compared as compact
 * text, reals with 17 digits).  What the fast parser does not take is
 * left to jansson by the module, so a NULL is never a finding.
 */


#include "fuzz.h"
#include <jansson.h>

#include "ngx_http_tenant_json.h"


#define FUZZ_DUMP  (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17))


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    *fast_text, *ref_text;
    size_t   flags;
    json_t  *fast, *ref;

    if (size == 0) {
        return 0;
    }

    flags = (data[0] & 1) ? JSON_ALLOW_NUL : 0;
    data++;
    size--;

    fast = ngx_http_tenant_json_object(data, size, flags);

    if (fast == NULL) {
        return 0;
    }

    ref = json_loadb((const char *) data, size,
                     JSON_REJECT_DUPLICATES | flags, NULL);

    fuzz_assert(json_is_object(fast));
    fuzz_assert(ref != NULL);
    fuzz_assert(json_is_object(ref));
    fuzz_assert(json_equal(fast, ref));

    fast_text = json_dumps(fast, FUZZ_DUMP);
    ref_text = json_dumps(ref, FUZZ_DUMP);

    fuzz_assert(fast_text != NULL && ref_text != NULL);
    fuzz_assert(strcmp(fast_text, ref_text) == 0);

    free(fast_text);
    free(ref_text);
    json_decref(fast);
    json_decref(ref);

    return 0;
}
