/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * The values of the module's directives (contract:
 * include/pal_conf_values.h), apart from cmd_parms so that they can be
 * tested and fuzzed without httpd.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "pal_conf_values.h"

/* ------------------------------------------------------------------ */
/* Numbers                                                              */
/* ------------------------------------------------------------------ */

/* Bounds of the numeric directives: a typo must not become a zero
 * timeout or a cache that keeps sessions for years. */
static const pal_number_bounds number_bounds[] = {
    { "ProxyAuthLDAPTimeout", 1, 300 },
    { "ProxyAuthLDAPPoolSize", 1, 1024 },
    { "ProxyAuthSessionIdle", 1, 86400 },
    { "ProxyAuthSessionMax", 1, 604800 },
    { "ProxyAuthNegativeTTL", 0, 86400 },
    { "ProxyAuthMaxBadPasswords", 0, 1000 },
    { NULL, 0, 0 }
};

const pal_number_bounds *pal_value_number_bounds(const char *directive)
{
    const pal_number_bounds *b = number_bounds;

    while (b->name && strcmp(b->name, directive))
        b++;
    return b->name ? b : NULL;
}

const char *pal_value_number(apr_pool_t *p, const char *directive,
                             const char *arg, int *out)
{
    const pal_number_bounds *b = pal_value_number_bounds(directive);
    /* the end of the table: a directive without bounds accepts nothing */
    long min = b ? b->min : 0, max = b ? b->max : 0;
    char *end;
    long v = strtol(arg, &end, 10);

    if (!b || !*arg || *end || v < min || v > max)
        return apr_psprintf(p, "%s: \"%s\" is not a number from %ld to %ld",
                            directive, arg, min, max);
    *out = (int)v;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Names                                                                */
/* ------------------------------------------------------------------ */

#define PAL_STR_(x) #x
#define PAL_STR(x) PAL_STR_(x)

const char *pal_value_realm(const char *arg)
{
    if (!*arg || strlen(arg) > PAL_MAX_REALM_BYTES)
        return "ProxyAuthRealm: the realm must be 1 to "
               PAL_STR(PAL_MAX_REALM_BYTES) " characters";
    return NULL;
}

const char *pal_value_header_name(apr_pool_t *p, const char *arg)
{
    const char *s;

    for (s = arg; *s; s++)
        if (!apr_isalnum(*s) && *s != '-' && *s != '_')
            break;
    if (!*arg || *s)
        return apr_psprintf(p, "ProxyAuthForwardUser: \"%s\" is not a "
                            "header name", arg);
    return NULL;
}

const char *pal_value_attr_name(apr_pool_t *p, const char *arg)
{
    if (!*arg || strpbrk(arg, "()*\\=, "))
        return apr_psprintf(p, "ProxyAuthLDAPGroupAttribute: \"%s\" is not "
                            "an attribute name", arg);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The cache                                                            */
/* ------------------------------------------------------------------ */

void pal_value_cache_spec(apr_pool_t *p, const char *arg,
                          const char **provider, const char **args)
{
    const char *colon = strchr(arg, ':');

    *provider = colon ? apr_pstrmemdup(p, arg, (apr_size_t)(colon - arg))
                      : arg;
    *args = colon ? colon + 1 : NULL;
}

const char *pal_value_shard_args(apr_pool_t *p, const char *args,
                                 const char *tag, int i, int n, int divisor,
                                 apr_int64_t min_bytes)
{
    const char *open = args ? strrchr(args, '(') : NULL;
    apr_int64_t size;

    if (!open || args[strlen(args) - 1] != ')' || n < 1 || divisor < 1)
        return NULL;
    size = apr_atoi64(open + 1) / divisor / n;
    if (size < min_bytes)
        return NULL;
    if (open == args)
        return apr_psprintf(p, "(%" APR_INT64_T_FMT ")", size);
    return apr_psprintf(p, "%s-%s%d(%" APR_INT64_T_FMT ")",
                        apr_pstrmemdup(p, args, (apr_size_t)(open - args)),
                        tag, i, size);
}
