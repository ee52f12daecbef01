/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * libFuzzer entry point for pal_ldap_filter_escape (ldap_strings.c, make
 * fuzz). The escaped value is what a user name becomes inside the search
 * filter, so it must not be able to change the filter's structure: no
 * unescaped '*', '(', ')' or '\\', no NUL, no byte outside printable ASCII,
 * and every byte that is escaped and only those are. Decoding the \XX
 * escapes must give back the input exactly, NULs and all. Aborts when a
 * property does not hold. The same input is also handed to the RFC 4515
 * checker of configured filters (ldap_filter.c), whole and as a value. Pool strings are exact-size blocks (fuzz_pool.h),
 * so reads past their end are seen.
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

#include "pal_ldap_strings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_pool.h"

/* RFC 4515's must-escape set, and what the header promises on top. */
static int must_escape(unsigned char c)
{
    return c == '*' || c == '(' || c == ')' || c == '\\' || c == '\0'
           || c < 0x20 || c >= 0x80;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;  /* upper case is not what the contract writes */
}

/* Decodes out into dec (room for len bytes) while checking its form;
 * returns the number of bytes decoded. */
static size_t decode(const char *out, const unsigned char *in, size_t len,
                     unsigned char *dec)
{
    size_t o = 0, n = 0;

    while (out[o] != '\0') {
        unsigned char c = (unsigned char)out[o];

        CHECK(n < len);
        if (c == '\\') {
            int hi = hex_value(out[o + 1]), lo;

            CHECK(hi >= 0);
            lo = hex_value(out[o + 2]);
            CHECK(lo >= 0);
            dec[n] = (unsigned char)(hi * 16 + lo);
            CHECK(must_escape(dec[n]));
            o += 3;
        }
        else {
            CHECK(!must_escape(c));
            dec[n] = c;
            o++;
        }
        CHECK(dec[n] == in[n]);
        n++;
    }
    return n;
}

/* The value inside a filter item leaves the item's parentheses as they
 * were: one '(' and one ')', at the ends. */
static void check_in_filter(apr_pool_t *p, const char *out)
{
    const char *f = apr_pstrcat(p, "(uid=", out, ")", NULL);
    const char *open = strchr(f, '('), *close = strchr(f, ')');

    CHECK(open == f && strrchr(f, '(') == open);
    CHECK(close == f + strlen(f) - 1 && strrchr(f, ')') == close);
    CHECK(strchr(f, '*') == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *out;
    unsigned char *dec;

    p = run_begin();

    /* libFuzzer's data is an exact-size heap block: no copy needed for
     * ASan to see a read past size */
    out = pal_ldap_filter_escape(p, (const char *)data, size);
    CHECK(out != NULL);
    /* Any escaped value makes a well-formed filter (ldap_filter.c), and the
     * checker itself takes any input without reading past its end. */
    CHECK(pal_ldap_filter_check(apr_pstrcat(p, "(&(objectClass=*)(uid=", out,
                                            "))", NULL), NULL) == NULL);
    {
        char *raw = apr_palloc(p, size + 1);
        apr_size_t at = 0;
        memcpy(raw, data, size);
        raw[size] = '\0';
        if (pal_ldap_filter_check(raw, &at) == NULL)
            CHECK(at == strlen(raw) && raw[0] == '(');
        else
            CHECK(at <= strlen(raw));
    }
    dec = apr_palloc(p, size);
    CHECK(decode(out, data, size, dec) == size);
    check_in_filter(p, out);

    run_end(p);
    return 0;
}
