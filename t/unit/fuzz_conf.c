/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * libFuzzer entry point for the directives' values (conf_values.c, make
 * fuzz). Every check gets the input, up to its first NUL as httpd would
 * pass it, as the directive's argument; the arguments part of a
 * ProxyAuthCache value also goes to the shard checks.
 *
 * Numbers: an accepted value is a decimal number (optional white space and
 * sign, then digits only) within the directive's bounds, and prints back
 * (%d) to a text that gives the same value; a refusal names the directive,
 * the value and the bounds. Header names: accepted exactly when made of
 * [A-Za-z0-9_-] only. Attribute names: accepted exactly when none of
 * "()*\\=, " is in them. The realm: accepted exactly when 1 to 256 bytes.
 * ProxyAuthCache: provider ":" args gives the text back. Shards: a shard
 * times the count (times the divisor) never exceeds the size written in
 * the arguments, no shard is under the minimum, each shard keeps the path
 * and gets a file of its own. Aborts when a property does not hold. Pool
 * strings are exact-size blocks (fuzz_pool.h), so reads past their end
 * are seen.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "pal_conf_values.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_pool.h"

static int streq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ---- numbers ------------------------------------------------------------ */

/* [white space][sign]digits, and nothing else */
static int decimal_form(const char *s)
{
    while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
        s++;
    if (*s == '+' || *s == '-')
        s++;
    if (!is_digit(*s))
        return 0;
    while (is_digit(*s))
        s++;
    return *s == '\0';
}

static void fuzz_number(apr_pool_t *p, const char *directive, const char *s)
{
    const pal_number_bounds *b = pal_value_number_bounds(directive);
    int v = INT32_MIN, again = INT32_MIN;
    const char *err = pal_value_number(p, directive, s, &v);
    char printed[16];

    if (err != NULL) {
        CHECK(v == INT32_MIN);
        CHECK(streq(err, apr_psprintf(p, "%s: \"%s\" is not a number from "
                                      "%ld to %ld", directive, s,
                                      b ? b->min : 0, b ? b->max : 0)));
        return;
    }
    CHECK(b != NULL && b->min <= v && v <= b->max);
    CHECK(decimal_form(s));
    snprintf(printed, sizeof(printed), "%d", v);
    CHECK(pal_value_number(p, directive, printed, &again) == NULL);
    CHECK(again == v);
}

static void fuzz_numbers(apr_pool_t *p, const char *s)
{
    static const char *const names[] = {
        "ProxyAuthLDAPTimeout", "ProxyAuthLDAPPoolSize",
        "ProxyAuthSessionIdle", "ProxyAuthSessionMax",
        "ProxyAuthNegativeTTL", "ProxyAuthMaxBadPasswords",
        "ProxyAuthRealm"  /* no bounds: refuses everything */
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        fuzz_number(p, names[i], s);
}

/* ---- names -------------------------------------------------------------- */

static int header_char(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || c == '-' || c == '_';
}

static void fuzz_names(apr_pool_t *p, const char *s, size_t len)
{
    const char *err;
    size_t i;
    int good = len > 0;

    for (i = 0; i < len; i++)
        good = good && header_char(s[i]);
    err = pal_value_header_name(p, s);
    CHECK((err == NULL) == good);
    CHECK(good || streq(err, apr_psprintf(p, "ProxyAuthForwardUser: \"%s\" "
                                          "is not a header name", s)));

    good = len > 0 && strpbrk(s, "()*\\=, ") == NULL;
    err = pal_value_attr_name(p, s);
    CHECK((err == NULL) == good);
    CHECK(good || streq(err, apr_psprintf(p, "ProxyAuthLDAPGroupAttribute: "
                                          "\"%s\" is not an attribute name",
                                          s)));

    good = len >= 1 && len <= PAL_MAX_REALM_BYTES;
    err = pal_value_realm(s);
    CHECK((err == NULL) == good);
    CHECK(good || streq(err, "ProxyAuthRealm: the realm must be 1 to 256 "
                             "characters"));
}

/* ---- the cache ---------------------------------------------------------- */

/* The size written in "path(size)", read as strtoll reads it (saturating
 * like apr_atoi64); -1 without "(...)" at the end. */
static long long written_size(const char *args)
{
    const char *open = strrchr(args, '(');
    size_t n = strlen(args);

    if (open == NULL || n == 0 || args[n - 1] != ')')
        return -1;
    return strtoll(open + 1, NULL, 10);
}

/* The shard's argument: prefix "(" size ")" with a decimal size. */
static long long shard_size(const char *a, size_t prefix)
{
    size_t n = strlen(a), i;

    CHECK(n >= prefix + 3 && a[prefix] == '(' && a[n - 1] == ')');
    for (i = prefix + 1; i < n - 1; i++)
        CHECK(is_digit(a[i]));
    return strtoll(a + prefix + 1, NULL, 10);
}

static void fuzz_shard(apr_pool_t *p, const char *args, int i, int n,
                       int divisor, long long min)
{
    const char *a = pal_value_shard_args(p, args, "aside", i, n, divisor,
                                         min);
    long long given = written_size(args), size;
    const char *open;
    size_t path;

    if (a == NULL) {
        CHECK(given < 0 || given / divisor / n < min);
        return;
    }
    open = strrchr(args, '(');
    path = (size_t)(open - args);
    if (path == 0)
        size = shard_size(a, 0);
    else {
        const char *head = apr_psprintf(p, "-aside%d", i);

        CHECK(strncmp(a, args, path) == 0);
        CHECK(strncmp(a + path, head, strlen(head)) == 0);
        size = shard_size(a, path + strlen(head));
    }
    CHECK(size >= min && size >= 1);
    CHECK((__int128)size * n * divisor <= (__int128)given);
}

static void fuzz_shards(apr_pool_t *p, const char *args)
{
    static const int counts[] = { 1, 2, 4, 8 };
    static const long long mins[] = { 1, 4 * 1024 * 1024 };
    size_t c, m;

    for (c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
        for (m = 0; m < sizeof(mins) / sizeof(mins[0]); m++) {
            const char *first = pal_value_shard_args(p, args, "", 0,
                                                     counts[c], 1, mins[m]);
            const char *last = pal_value_shard_args(p, args, "",
                                                    counts[c] - 1,
                                                    counts[c], 1, mins[m]);

            /* shards of one path never share a file */
            CHECK(counts[c] == 1 || first == NULL || *first == '('
                  || !streq(first, last));
            fuzz_shard(p, args, counts[c] - 1, counts[c], 1, mins[m]);
            fuzz_shard(p, args, 0, counts[c], 4, mins[m]);
        }
}

static void fuzz_cache_spec(apr_pool_t *p, const char *s)
{
    const char *provider = NULL, *args = NULL;

    pal_value_cache_spec(p, s, &provider, &args);
    CHECK(provider != NULL && strchr(provider, ':') == NULL);
    if (args == NULL)
        CHECK(streq(provider, s));
    else
        CHECK(streq(apr_pstrcat(p, provider, ":", args, NULL), s));
    if (args != NULL)
        fuzz_shards(p, args);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *s;
    size_t len;

    p = run_begin();

    /* httpd hands directives C strings: the value ends at a NUL */
    s = apr_palloc(p, size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    len = strlen(s);
    s = apr_pstrmemdup(p, s, len);

    fuzz_numbers(p, s);
    fuzz_names(p, s, len);
    fuzz_cache_spec(p, s);
    fuzz_shards(p, s);

    run_end(p);
    return 0;
}
