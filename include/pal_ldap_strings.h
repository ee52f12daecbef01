/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_ldap_strings.h
 * @brief Text to and from directory servers: filter values (RFC 4515),
 *        DN comparison (RFC 4514), server text for the error log.
 *
 * No httpd headers: APR only, so unit tests and fuzzers link it alone.
 */
#ifndef PAL_LDAP_STRINGS_H
#define PAL_LDAP_STRINGS_H

#include <apr_pools.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * RFC 4515 escaping of an assertion value: '*', '(', ')', '\\', NUL and every
 * byte >= 0x80 or < 0x20 become \XX (two lower-case hex digits).
 */
char *pal_ldap_filter_escape(apr_pool_t *p, const char *s, apr_size_t len);

/**
 * Normalise a DN for comparison: attribute types and values lower-cased
 * (ASCII), white space around ',', '+' and '=' removed, escaped characters
 * kept as escapes. Returns NULL for a string that is not a DN (unbalanced
 * quoting, a trailing lone backslash, a component without '=').
 * "CN=Admins , ou=Groups,DC=Example, dc=test" ->
 * "cn=admins,ou=groups,dc=example,dc=test"
 */
char *pal_dn_normalize(apr_pool_t *p, const char *dn);

/**
 * An RFC 4515 filter as written in a configuration (ldap_filter.c):
 * NULL when it is one well-formed filter, else what is wrong, with *at
 * (when not NULL) the offset where the parser stopped.
 */
const char *pal_ldap_filter_check(const char *filter, apr_size_t *at);

/** The same check, as start-up errors say it: "WHY (at character N)",
 *  counting from 1; NULL for a good filter. */
const char *pal_ldap_filter_problem(apr_pool_t *p, const char *filter);

/**
 * Text that came from a directory server (diagnostic messages), made safe
 * for one log line: '"' and '\\' are backslash-escaped, control
 * characters, DEL and bytes >= 0x80 become \\xHH (as httpd's
 * ap_escape_logitem does). NULL gives "".
 */
char *pal_log_escape(apr_pool_t *p, const char *s);

#ifdef __cplusplus
}
#endif
#endif /* PAL_LDAP_STRINGS_H */
