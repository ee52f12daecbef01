/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * libFuzzer entry point for negotiate_token.c (make fuzz): the Negotiate
 * header and the DER walk that classifies a token. Checks, for every
 * input: the bytes, sent as a header's token, decode back to themselves
 * and classify the same; a token classified as Kerberos or SPNEGO starts
 * with its DER tag and no shorter prefix of it is whole; NTLMSSP is never
 * handed to GSSAPI.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "pal_negotiate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_pool.h"
#include "b64_encode.h"


/* The input in an exact-size block, so a read past its end is seen. */
static const unsigned char *exact(apr_pool_t *p, const uint8_t *d, size_t n)
{
    unsigned char *c = apr_palloc(p, n);
    memcpy(c, d, n);
    return c;
}

static void check_kind(const unsigned char *tok, size_t len,
                       pal_token_kind k)
{
    CHECK(pal_token_kind_name(k) != NULL);
    if (k == PAL_TOKEN_KRB5 || k == PAL_TOKEN_SPNEGO_KRB5
        || k == PAL_TOKEN_SPNEGO_INIT)
        CHECK(len > 2 && tok[0] == 0x60);
    if (k == PAL_TOKEN_SPNEGO_NEXT)
        CHECK(len >= 2 && tok[0] == 0xa1);
    if (len >= 8 && !memcmp(tok, "NTLMSSP", 8))
        CHECK(k == PAL_TOKEN_NTLM);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = run_begin();
    const unsigned char *tok = exact(p, data, size), *back = NULL;
    apr_size_t back_len = 0;
    pal_token_kind k = pal_token_classify(size ? tok : NULL, size);
    char *hdr, *raw;

    check_kind(tok, size, k);
    /* A DER element is whole: a strict prefix of a classified token that
     * is not NTLM is refused. */
    if (k != PAL_TOKEN_UNKNOWN && k != PAL_TOKEN_NTLM && size > 1)
        CHECK(pal_token_classify(tok, size - 1) == PAL_TOKEN_UNKNOWN);

    hdr = apr_pstrcat(p, "Negotiate ", b64_encode(p, data, size), NULL);
    if (size == 0)
        CHECK(pal_parse_negotiate(p, hdr, &back, &back_len)
              == PAL_NEG_NO_TOKEN);
    else if (size <= PAL_MAX_TOKEN_BYTES) {
        CHECK(pal_parse_negotiate(p, hdr, &back, &back_len) == PAL_NEG_OK);
        CHECK(back_len == size && !memcmp(back, data, size));
        CHECK(pal_token_classify(back, back_len) == k);
    }

    /* The bytes as a header value of their own. */
    raw = apr_palloc(p, size + 1);
    memcpy(raw, data, size);
    raw[size] = '\0';
    if (pal_parse_negotiate(p, raw, &back, &back_len) == PAL_NEG_OK) {
        CHECK(pal_scheme_of(raw) == PAL_SCHEME_NEGOTIATE);
        CHECK(back_len <= PAL_MAX_TOKEN_BYTES);
        check_kind(back, back_len, pal_token_classify(back, back_len));
    }
    run_end(p);
    return 0;
}
