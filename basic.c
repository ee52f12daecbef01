/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * The Basic scheme (RFC 7617) as it arrives in Proxy-Authorization, and
 * the user names it carries (contract: include/pal_basic.h). Every input
 * is untrusted: loops are bounded by explicit lengths, nothing recurses,
 * and failures return a status or NULL instead of guessing.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_tables.h>

#include "pal_basic.h"
#include "pal_ascii.h"

/* ------------------------------------------------------------------ */
/* Basic credentials                                                   */
/* ------------------------------------------------------------------ */

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Strict RFC 4648 decoding into out (room for len / 4 * 3 bytes). Only one
 * spelling of a given byte string is accepted, so two different headers can
 * never carry the same credentials.
 */
int pal_b64_decode_strict(const char *in, apr_size_t len,
                             unsigned char *out, apr_size_t *out_len)
{
    apr_size_t i, o = 0, pad = 0, data_end;

    if (len == 0 || len % 4 != 0)
        return 0;
    if (in[len - 1] == '=')
        pad = (in[len - 2] == '=') ? 2 : 1;
    data_end = len - pad;

    for (i = 0; i < len; i += 4) {
        apr_uint32_t quad = 0;
        apr_size_t k;

        for (k = 0; k < 4; k++) {
            int v = 0;

            if (i + k < data_end) {
                v = b64_value(in[i + k]);
                if (v < 0)
                    return 0;  /* includes '=' before the padding */
            }
            quad = (quad << 6) | (apr_uint32_t)v;
        }
        if (i + 4 < len || pad == 0) {
            out[o++] = (unsigned char)(quad >> 16);
            out[o++] = (unsigned char)(quad >> 8);
            out[o++] = (unsigned char)quad;
        }
        else if (pad == 1) {
            if (quad & 0xffu)
                return 0;      /* non-canonical: unused bits set */
            out[o++] = (unsigned char)(quad >> 16);
            out[o++] = (unsigned char)(quad >> 8);
        }
        else {
            if (quad & 0xffffu)
                return 0;
            out[o++] = (unsigned char)(quad >> 16);
        }
    }
    *out_len = o;
    return 1;
}

int pal_has_control(const char *s)
{
    for (; *s; s++)
        if (pal_is_control((unsigned char)*s))
            return 1;
    return 0;
}

/* C1 controls (U+0080..U+009F) are control characters too: they must not
 * reach log lines or directory searches any more than C0 ones. */
static int user_chars_ok(const unsigned char *u, apr_size_t len)
{
    apr_size_t i;

    if (pal_is_ows((char)u[0]) || pal_is_ows((char)u[len - 1]))
        return 0;
    for (i = 0; i < len; i++)
        if (pal_is_control(u[i]))
            return 0;
    if (!pal_utf8_valid((const char *)u, len))
        return 0;
    for (i = 0; i + 1 < len; i++)
        if (u[i] == 0xc2 && u[i + 1] <= 0x9f)
            return 0;
    return 1;
}

/* A refused header's password must not linger in pool memory that the next
 * request on this connection may reuse. */
static pal_cred_status refuse(unsigned char *buf, apr_size_t len,
                              pal_cred_status st)
{
    memset(buf, 0, len);
    return st;
}

pal_cred_status pal_parse_basic(apr_pool_t *p, const char *value,
                                pal_credentials *out)
{
    const char *s, *scheme, *token;
    apr_size_t token_len, n, user_len, pw_len;
    unsigned char *buf, *colon, *pw;

    if (value == NULL)
        return PAL_CRED_MISSING;
    s = value;
    while (pal_is_ows(*s))
        s++;
    if (*s == '\0')
        return PAL_CRED_MISSING;

    scheme = s;
    while (*s != '\0' && !pal_is_ows(*s))
        s++;
    if (s - scheme != 5 || !pal_ascii_caseeq(scheme, "basic", 5))
        return PAL_CRED_NOT_BASIC;
    /* RFC 7235: auth-scheme 1*SP token68; a tab is not a separator there */
    if (*s != ' ')
        return PAL_CRED_BAD_BASE64;
    while (*s == ' ')
        s++;

    token = s;
    while (*s != '\0' && !pal_is_ows(*s))
        s++;
    token_len = (apr_size_t)(s - token);
    while (pal_is_ows(*s))
        s++;
    /* httpd joins repeated headers with ", ": a second token lands here */
    if (*s != '\0' || token_len == 0 || token_len % 4 != 0)
        return PAL_CRED_BAD_BASE64;

    buf = apr_palloc(p, token_len / 4 * 3 + 1);
    if (!pal_b64_decode_strict(token, token_len, buf, &n))
        return refuse(buf, token_len / 4 * 3, PAL_CRED_BAD_BASE64);
    buf[n] = '\0';

    /* RFC 7617: the user name cannot contain ':', the password can */
    colon = memchr(buf, ':', n);
    if (colon == NULL)
        return refuse(buf, n, PAL_CRED_NO_COLON);
    user_len = (apr_size_t)(colon - buf);
    pw = colon + 1;
    pw_len = n - user_len - 1;

    if (user_len == 0)
        return refuse(buf, n, PAL_CRED_EMPTY_USER);
    if (pw_len == 0)
        return refuse(buf, n, PAL_CRED_EMPTY_PASSWORD);
    if (user_len > PAL_MAX_USER_BYTES)
        return refuse(buf, n, PAL_CRED_USER_TOO_LONG);
    if (pw_len > PAL_MAX_PASSWORD_BYTES)
        return refuse(buf, n, PAL_CRED_PASSWORD_TOO_LONG);
    if (!user_chars_ok(buf, user_len))
        return refuse(buf, n, PAL_CRED_USER_BAD_CHARS);
    if (memchr(pw, '\0', pw_len) != NULL)
        return refuse(buf, n, PAL_CRED_PASSWORD_NUL);

    /* one allocation holds both strings: fewer copies of the password */
    *colon = '\0';
    out->user = (const char *)buf;
    out->user_len = user_len;
    out->password = (const char *)pw;
    out->password_len = pw_len;
    return PAL_CRED_OK;
}

#define PAL_STR_(x) #x
#define PAL_STR(x) PAL_STR_(x)

const char *pal_cred_reason(pal_cred_status st)
{
    switch (st) {
    case PAL_CRED_OK:
        return "credentials well-formed";
    case PAL_CRED_MISSING:
        return "no Proxy-Authorization credentials";
    case PAL_CRED_NOT_BASIC:
        return "authentication scheme is not Basic";
    case PAL_CRED_BAD_BASE64:
        return "malformed Basic credentials (strict base64, one token)";
    case PAL_CRED_NO_COLON:
        return "decoded credentials contain no ':'";
    case PAL_CRED_EMPTY_USER:
        return "empty user name";
    case PAL_CRED_EMPTY_PASSWORD:
        return "empty password";
    case PAL_CRED_USER_TOO_LONG:
        return "user name longer than " PAL_STR(PAL_MAX_USER_BYTES) " bytes";
    case PAL_CRED_PASSWORD_TOO_LONG:
        return "password longer than " PAL_STR(PAL_MAX_PASSWORD_BYTES)
               " bytes";
    case PAL_CRED_USER_BAD_CHARS:
        return "user name has control characters, leading or trailing "
               "white space, or invalid UTF-8";
    case PAL_CRED_PASSWORD_NUL:
        return "password contains a NUL byte";
    }
    return "unknown credentials status";
}

int pal_utf8_valid(const char *s, apr_size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_size_t i = 0;

    while (i < len) {
        unsigned char c = u[i];
        unsigned char lo = 0x80, hi = 0xbf;
        apr_size_t need, k;

        if (c < 0x80) {
            i++;
            continue;
        }
        /* RFC 3629 table 4: the second byte's range excludes overlongs,
         * surrogates and code points above U+10FFFF */
        if (c >= 0xc2 && c <= 0xdf)
            need = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        }
        else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        }
        else
            return 0;
        if (len - i - 1 < need)
            return 0;
        if (u[i + 1] < lo || u[i + 1] > hi)
            return 0;
        for (k = 2; k <= need; k++)
            if (u[i + k] < 0x80 || u[i + k] > 0xbf)
                return 0;
        i += need + 1;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* User names and header quoting                                       */
/* ------------------------------------------------------------------ */

/*
 * The domain sits before the first '\' or after the last '@' (a UPN's realm
 * never contains '@'); each strip is skipped when it would leave nothing, so
 * "EXAMPLE\" or "@x" are looked up as sent and simply not found.
 */
const char *pal_strip_domain(apr_pool_t *p, const char *user, int keep_at)
{
    const char *start, *end, *bs, *at;

    if (user == NULL)
        return NULL;
    start = user;
    end = user + strlen(user);
    bs = strchr(user, '\\');
    if (bs != NULL && bs + 1 < end)
        start = bs + 1;
    if (!keep_at) {
        at = strrchr(start, '@');
        if (at != NULL && at > start)
            end = at;
    }
    if (start == user && *end == '\0')
        return user;
    return apr_pstrmemdup(p, start, (apr_size_t)(end - start));
}

char *pal_quote_string(apr_pool_t *p, const char *s)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    apr_size_t i, n = 2;
    char *out;

    for (i = 0; u[i] != '\0'; i++) {
        if (pal_is_control(u[i]))
            continue;
        n += (u[i] == '"' || u[i] == '\\') ? 2 : 1;
    }
    out = apr_palloc(p, n + 1);
    n = 0;
    out[n++] = '"';
    for (i = 0; u[i] != '\0'; i++) {
        if (pal_is_control(u[i]))
            continue;
        if (u[i] == '"' || u[i] == '\\')
            out[n++] = '\\';
        out[n++] = (char)u[i];
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}
