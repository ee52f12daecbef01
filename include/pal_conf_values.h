/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_conf_values.h
 * @brief The values of the module's directives: numbers and their bounds,
 *        header and attribute names, the realm, ProxyAuthCache's
 *        "provider:args", and the arguments of each shard of a sized cache.
 *
 * No httpd headers: APR only, so unit tests and fuzzers link conf_values.c
 * alone. config.c and cache.c apply these to cmd_parms and socache. Error
 * texts name the directive, as `apache2 -t` prints them.
 */
#ifndef PAL_CONF_VALUES_H
#define PAL_CONF_VALUES_H

#include <apr_pools.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Longest ProxyAuthRealm, in bytes. */
#define PAL_MAX_REALM_BYTES 256

/** The bounds of one numeric directive. */
typedef struct {
    const char *name;
    long min, max;
} pal_number_bounds;

/** The bounds of a numeric directive by its name; NULL for a directive
 *  that takes no number. */
const pal_number_bounds *pal_value_number_bounds(const char *directive);

/**
 * A numeric directive's value: the whole of arg is a decimal number (as
 * strtol reads it) within the directive's bounds. Returns NULL and sets
 * *out, or the error text (in p), which names the directive, the value and
 * the bounds ("from 0 to 0" for a directive without bounds).
 */
const char *pal_value_number(apr_pool_t *p, const char *directive,
                             const char *arg, int *out);

/** ProxyAuthRealm: 1 to PAL_MAX_REALM_BYTES bytes. NULL or the error. */
const char *pal_value_realm(const char *arg);

/** ProxyAuthForwardUser: a header name of [A-Za-z0-9_-] only, at least one
 *  byte. NULL or the error text (in p). */
const char *pal_value_header_name(apr_pool_t *p, const char *arg);

/** ProxyAuthLDAPGroupAttribute: one attribute name, nothing that would
 *  change the meaning of a filter or a DN ("()*\\=, "). NULL or the error
 *  text (in p). */
const char *pal_value_attr_name(apr_pool_t *p, const char *arg);

/**
 * ProxyAuthCache "provider[:args]": split at the first ':'. *provider is
 * the part before it (arg itself without a ':'), *args the rest, or NULL
 * without a ':'.
 */
void pal_value_cache_spec(apr_pool_t *p, const char *arg,
                          const char **provider, const char **args);

/**
 * The socache arguments of shard i of n of a store that gets 1/divisor of
 * the size in "path(bytes)" (the last '(' and a final ')'):
 * "path-TAGi(bytes / divisor / n)", or "(bytes / divisor / n)" without a
 * path. NULL when args carry no size, or when a shard would be smaller
 * than min_bytes: such a store is not split.
 */
const char *pal_value_shard_args(apr_pool_t *p, const char *args,
                                 const char *tag, int i, int n, int divisor,
                                 apr_int64_t min_bytes);

#ifdef __cplusplus
}
#endif
#endif /* PAL_CONF_VALUES_H */
