/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * libFuzzer entry point for what the module reads in a directory server's
 * diagnostic message (make fuzz): pal_log_escape (ldap_strings.c), which
 * makes it one safe log line, and pal_ad_subcode (ad_codes.c), which finds
 * AD's "data XXX" in it.
 *
 * pal_log_escape: the output is printable ASCII only (no byte < 0x20, no
 * 0x7f, no byte >= 0x80), every '"' and '\\' is escaped, exactly the bytes
 * that need it are escaped, and unescaping gives the input back.
 * pal_ad_subcode: the code is the first run of 1 to 8 hex digits after
 * "data " on a word boundary, in lower case, and there is one whenever the
 * input has such a run. Aborts when a property does not hold. Pool
 * strings are exact-size blocks (fuzz_pool.h), so reads past their end are
 * seen.
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
#include "pal_ad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_pool.h"

static int needs_escape(unsigned char c)
{
    return c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* One escape at out (a '\\'): the byte it stands for, and its length. */
static unsigned char unescape(const char *out, size_t *len)
{
    int hi, lo;

    if (out[1] == '"' || out[1] == '\\') {
        *len = 2;
        return (unsigned char)out[1];
    }
    CHECK(out[1] == 'x');
    hi = hex_value(out[2]);
    CHECK(hi >= 0);
    lo = hex_value(out[3]);
    CHECK(lo >= 0);
    *len = 4;
    return (unsigned char)(hi * 16 + lo);
}

static void fuzz_log_escape(apr_pool_t *p, const char *s)
{
    const char *out = pal_log_escape(p, s);
    size_t o = 0, i = 0;

    CHECK(out != NULL);
    while (out[o] != '\0') {
        unsigned char c = (unsigned char)out[o], b;
        size_t len = 1;

        CHECK(c >= 0x20 && c < 0x7f && c != '"');
        b = c == '\\' ? unescape(out + o, &len) : c;
        CHECK(s[i] != '\0' && (unsigned char)s[i] == b);
        /* escaped exactly when needed, and '"' / '\\' by a backslash */
        CHECK((len > 1) == needs_escape(b));
        CHECK(len != 4 || (b != '"' && b != '\\'));
        o += len;
        i++;
    }
    CHECK(s[i] == '\0');
}

static int is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
           || (c >= 'A' && c <= 'Z');
}

static int is_hex(char c)
{
    return hex_value(c) >= 0 || (c >= 'A' && c <= 'F');
}

/* Where the code of the first "data XXX" is (1 to 8 hex digits after
 * "data " on a word boundary, then the end, ',' or ' '), and its length;
 * NULL when there is none. */
static const char *expected_code(const char *s, size_t *len)
{
    const char *at;

    for (at = strstr(s, "data "); at != NULL; at = strstr(at + 1, "data ")) {
        const char *code = at + 5;
        size_t n = 0;

        if (at > s && is_alnum(at[-1]))
            continue;
        while (n < 9 && is_hex(code[n]))
            n++;
        if (n >= 1 && n <= 8
            && (code[n] == '\0' || code[n] == ',' || code[n] == ' ')) {
            *len = n;
            return code;
        }
    }
    return NULL;
}

static void fuzz_ad(apr_pool_t *p, const char *s)
{
    const char *code = pal_ad_subcode(p, s);
    size_t i, n = 0;
    const char *want = expected_code(s, &n);

    CHECK((code == NULL) == (want == NULL));
    if (code == NULL)
        return;
    CHECK(strlen(code) == n);
    for (i = 0; i < n; i++) {
        char w = want[i] >= 'A' && want[i] <= 'F' ? want[i] - 'A' + 'a'
                                                  : want[i];

        CHECK(code[i] == w);
    }
    CHECK(pal_ad_subcode_name(code) != NULL);
    /* the codes that end sessions are a subset of the account states */
    CHECK(!pal_ad_subcode_ends_sessions(code)
          || pal_ad_subcode_is_account_state(code));
    (void)pal_ad_subcode_counts_as_bad_password(code);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *s;

    p = run_begin();

    s = apr_palloc(p, size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    fuzz_log_escape(p, s);
    fuzz_ad(p, s);

    run_end(p);
    return 0;
}
