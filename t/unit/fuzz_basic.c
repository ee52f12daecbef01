/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * libFuzzer entry point for basic.c (make fuzz): the Proxy-Authorization
 * parser, the domain stripping of user names and the quoting of the realm.
 * Besides looking for crashes it checks properties that must hold for every
 * input, and aborts when one does not. Pool strings are exact-size blocks
 * (fuzz_pool.h), so reads past their end are seen.
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

#include "pal_basic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_pool.h"
#include "b64_encode.h"


static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Accepted credentials: limits hold, and the header's token is the one
 * canonical base64 spelling of "user:password". */
static void check_credentials(apr_pool_t *p, const char *header,
                              const pal_credentials *cr)
{
    unsigned char *joined;
    const char *tok, *end;
    char *canon;

    CHECK(cr->user_len >= 1 && cr->user_len <= PAL_MAX_USER_BYTES);
    CHECK(cr->password_len >= 1 && cr->password_len <= PAL_MAX_PASSWORD_BYTES);
    CHECK(cr->user[cr->user_len] == '\0');
    CHECK(cr->password[cr->password_len] == '\0');
    CHECK(memchr(cr->user, ':', cr->user_len) == NULL);
    CHECK(memchr(cr->password, '\0', cr->password_len) == NULL);
    CHECK(strlen(cr->user) == cr->user_len);
    CHECK(pal_utf8_valid(cr->user, cr->user_len));
    CHECK(!is_ows(cr->user[0]) && !is_ows(cr->user[cr->user_len - 1]));

    joined = apr_palloc(p, cr->user_len + 1 + cr->password_len);
    memcpy(joined, cr->user, cr->user_len);
    joined[cr->user_len] = ':';
    memcpy(joined + cr->user_len + 1, cr->password, cr->password_len);
    canon = b64_encode(p, joined, cr->user_len + 1 + cr->password_len);

    tok = header;
    while (is_ows(*tok))
        tok++;
    tok += 5;
    while (*tok == ' ')
        tok++;
    end = tok;
    while (*end != '\0' && !is_ows(*end))
        end++;
    CHECK((size_t)(end - tok) == strlen(canon));
    CHECK(memcmp(tok, canon, strlen(canon)) == 0);
}

static void fuzz_parse(apr_pool_t *p, const char *header)
{
    pal_credentials cr;
    pal_cred_status st = pal_parse_basic(p, header, &cr);

    CHECK(pal_cred_reason(st) != NULL);
    if (st == PAL_CRED_OK)
        check_credentials(p, header, &cr);
}

static void fuzz_strip(apr_pool_t *p, const char *s, int keep_at)
{
    const char *out = pal_strip_domain(p, s, keep_at);

    CHECK(out != NULL);
    CHECK(strstr(s, out) != NULL);
    CHECK(*s == '\0' || *out != '\0');
}

static int is_control(char c)
{
    return (unsigned char)c < 0x20 || c == 0x7f;
}

/* The next byte of s that the quoting keeps, or its end. */
static size_t skip_controls(const char *s, size_t k)
{
    while (s[k] != '\0' && is_control(s[k]))
        k++;
    return k;
}

/* A quoted-string that unquotes to the input without its control
 * characters: nothing can end the parameter early or split the header. */
static void fuzz_quote(apr_pool_t *p, const char *s)
{
    const char *q = pal_quote_string(p, s);
    size_t i, k = 0, n = strlen(q);

    CHECK(n >= 2 && q[0] == '"' && q[n - 1] == '"');
    for (i = 1; i + 1 < n; i++, k++) {
        CHECK(!is_control(q[i]));
        if (q[i] == '\\') {
            i++;
            CHECK(q[i] == '"' || q[i] == '\\');
        }
        else
            CHECK(q[i] != '"');
        k = skip_controls(s, k);
        CHECK(q[i] == s[k]);
    }
    CHECK(i == n - 1);
    CHECK(s[skip_controls(s, k)] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *s;

    p = run_begin();

    s = apr_palloc(p, size + 1);
    memcpy(s, data, size);
    s[size] = '\0';

    fuzz_parse(p, s);
    /* base64 would hide the credential checks from the fuzzer: also hand it
     * the bytes as the decoded "user:password" of a well-formed header */
    fuzz_parse(p, apr_pstrcat(p, "Basic ", b64_encode(p, data, size), NULL));
    fuzz_strip(p, s, 0);
    fuzz_strip(p, s, 1);
    fuzz_quote(p, s);

    run_end(p);
    return 0;
}
