/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_basic.h
 * @brief The Basic scheme as it arrives in Proxy-Authorization: strict
 *        parsing, the user-name rules, and quoting for the challenge.
 *
 * No httpd headers: these functions depend on APR only, so unit tests and
 * fuzzers link them alone (t/unit/).
 */
#ifndef PAL_BASIC_H
#define PAL_BASIC_H

#include <apr_pools.h>
#include <apr_strings.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Limits from SPEC.md's status table. */
#define PAL_MAX_USER_BYTES     256
#define PAL_MAX_PASSWORD_BYTES 1024

/** Why a Proxy-Authorization header was refused (each one answers 407). */
typedef enum {
    PAL_CRED_OK = 0,
    PAL_CRED_MISSING,        /**< no header, or only white space */
    PAL_CRED_NOT_BASIC,      /**< another scheme than Basic */
    PAL_CRED_BAD_BASE64,     /**< bad alphabet, bad padding, trailing data,
                                  non-canonical encoding, several tokens */
    PAL_CRED_NO_COLON,       /**< decoded data has no ':' */
    PAL_CRED_EMPTY_USER,
    PAL_CRED_EMPTY_PASSWORD,
    PAL_CRED_USER_TOO_LONG,  /**< decoded user name > PAL_MAX_USER_BYTES */
    PAL_CRED_PASSWORD_TOO_LONG,
    PAL_CRED_USER_BAD_CHARS, /**< NUL, control characters, leading or
                                  trailing white space, invalid UTF-8 */
    PAL_CRED_PASSWORD_NUL    /**< password contains a NUL byte */
} pal_cred_status;

/** Decoded Basic credentials. Both strings are NUL-terminated copies in the
 *  pool; the lengths are exact (a password is bound with its exact length). */
typedef struct {
    const char *user;
    apr_size_t user_len;
    const char *password;
    apr_size_t password_len;
} pal_credentials;

/**
 * Parse a Proxy-Authorization header value: "Basic" (case-insensitive), one or
 * more spaces, one strict base64 token (RFC 4648 alphabet, '=' padding only
 * at the end, length a multiple of 4, unused bits zero), optional trailing
 * spaces/tabs, nothing else. Then split at the first ':' (RFC 7617) and
 * validate user and password per SPEC.md.
 * @param value header value, may be NULL (PAL_CRED_MISSING)
 * @param out   filled only when PAL_CRED_OK is returned
 */
pal_cred_status pal_parse_basic(apr_pool_t *p, const char *value,
                                pal_credentials *out);

/** Strict RFC 4648 base64 of exactly len bytes (a multiple of 4) into out
 *  (room for len / 4 * 3 bytes): one spelling only for a byte string, so
 *  two different headers never carry the same credentials. Returns 1 and
 *  sets *out_len, or 0. */
int pal_b64_decode_strict(const char *in, apr_size_t len,
                          unsigned char *out, apr_size_t *out_len);

/** A short English reason for a pal_cred_status, for the error log. */
const char *pal_cred_reason(pal_cred_status st);

/** Non-zero when s holds a C0 control character or DEL. */
int pal_has_control(const char *s);

/** Non-zero when [s, s+len) is well-formed UTF-8 (no overlongs, no
 *  surrogates, nothing above U+10FFFF). */
int pal_utf8_valid(const char *s, apr_size_t len);

/**
 * Apply ProxyAuthLDAPStripDomain: "DOMAIN\\user" -> "user" always;
 * "user@domain" -> "user" unless keep_at is non-zero (the login attribute is
 * userPrincipalName, which is looked up whole). Returns a pool copy (or the
 * input when there is nothing to strip). An input that would become empty
 * (e.g. "DOMAIN\\" or "@domain") is returned unchanged.
 */
const char *pal_strip_domain(apr_pool_t *p, const char *user, int keep_at);

/** A quoted-string for a header parameter: surrounding '"', with '"' and
 *  '\\' escaped by '\\'; control characters are dropped. */
char *pal_quote_string(apr_pool_t *p, const char *s);

#ifdef __cplusplus
}
#endif
#endif /* PAL_BASIC_H */
