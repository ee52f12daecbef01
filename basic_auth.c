/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Parsing and escaping of bytes that come from clients and directory servers
 * (contract: include/pal_basic.h). Every input is untrusted: loops are bounded
 * by explicit lengths, nothing recurses, and failures return a status or NULL
 * instead of guessing.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_tables.h>

#include "pal_basic.h"

static const char hex_digits[] = "0123456789abcdef";

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

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
static int b64_decode_strict(const char *in, apr_size_t len,
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

static int ascii_caseeq(const char *a, const char *b, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++)
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return 0;
    return 1;
}

static int is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

int pal_has_control(const char *s)
{
    for (; *s; s++)
        if (is_control((unsigned char)*s))
            return 1;
    return 0;
}

/* C1 controls (U+0080..U+009F) are control characters too: they must not
 * reach log lines or directory searches any more than C0 ones. */
static int user_chars_ok(const unsigned char *u, apr_size_t len)
{
    apr_size_t i;

    if (is_ows((char)u[0]) || is_ows((char)u[len - 1]))
        return 0;
    for (i = 0; i < len; i++)
        if (is_control(u[i]))
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
    while (is_ows(*s))
        s++;
    if (*s == '\0')
        return PAL_CRED_MISSING;

    scheme = s;
    while (*s != '\0' && !is_ows(*s))
        s++;
    if (s - scheme != 5 || !ascii_caseeq(scheme, "basic", 5))
        return PAL_CRED_NOT_BASIC;
    /* RFC 7235: auth-scheme 1*SP token68; a tab is not a separator there */
    if (*s != ' ')
        return PAL_CRED_BAD_BASE64;
    while (*s == ' ')
        s++;

    token = s;
    while (*s != '\0' && !is_ows(*s))
        s++;
    token_len = (apr_size_t)(s - token);
    while (is_ows(*s))
        s++;
    /* httpd joins repeated headers with ", ": a second token lands here */
    if (*s != '\0' || token_len == 0 || token_len % 4 != 0)
        return PAL_CRED_BAD_BASE64;

    buf = apr_palloc(p, token_len / 4 * 3 + 1);
    if (!b64_decode_strict(token, token_len, buf, &n))
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
/* LDAP filters, domains, AD diagnostics, header quoting               */
/* ------------------------------------------------------------------ */

static int filter_needs_escape(unsigned char c)
{
    return c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20
           || c >= 0x80;
}

char *pal_ldap_filter_escape(apr_pool_t *p, const char *s, apr_size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_size_t i, n = 0;
    char *out;

    if (s == NULL)
        len = 0;
    if (len > (APR_SIZE_MAX - 1) / 3)
        return NULL;
    for (i = 0; i < len; i++)
        n += filter_needs_escape(u[i]) ? 3 : 1;
    out = apr_palloc(p, n + 1);
    n = 0;
    for (i = 0; i < len; i++) {
        if (filter_needs_escape(u[i])) {
            out[n++] = '\\';
            out[n++] = hex_digits[u[i] >> 4];
            out[n++] = hex_digits[u[i] & 0x0f];
        }
        else
            out[n++] = (char)u[i];
    }
    out[n] = '\0';
    return out;
}

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

const char *pal_ad_subcode(apr_pool_t *p, const char *diagnostic)
{
    const char *s;

    if (diagnostic == NULL)
        return NULL;
    for (s = strstr(diagnostic, "data "); s != NULL;
         s = strstr(s + 1, "data ")) {
        const char *code = s + 5;
        apr_size_t n = 0, i;
        char *out;

        /* "metadata 52e" is not AD's "data 52e" */
        if (s > diagnostic && apr_isalnum(s[-1]))
            continue;
        while (n < 9 && apr_isxdigit(code[n]))
            n++;
        if (n == 0 || n > 8)
            continue;
        if (code[n] != '\0' && code[n] != ',' && code[n] != ' ')
            continue;
        out = apr_palloc(p, n + 1);
        for (i = 0; i < n; i++)
            out[i] = ascii_lower(code[i]);
        out[n] = '\0';
        return out;
    }
    return NULL;
}

static const struct {
    const char *code;
    const char *name;
    int account_state;
} ad_subcodes[] = {
    { "525", "user not found", 0 },
    { "52e", "bad password or unknown user", 0 },
    { "530", "logon not permitted at this time (logon hours)", 1 },
    { "531", "logon not permitted at this workstation", 1 },
    { "532", "password expired", 1 },
    { "533", "account disabled", 1 },
    { "568", "too many security identifiers (groups) in the token", 0 },
    { "701", "account expired", 1 },
    { "773", "user must change password", 1 },
    { "775", "account locked out", 1 },
};

static int ad_subcode_index(const char *code)
{
    apr_size_t i;

    if (code == NULL)
        return -1;
    for (i = 0; i < sizeof(ad_subcodes) / sizeof(ad_subcodes[0]); i++)
        if (strlen(code) == 3 && ascii_caseeq(code, ad_subcodes[i].code, 3))
            return (int)i;
    return -1;
}

const char *pal_ad_subcode_name(const char *code)
{
    int i = ad_subcode_index(code);

    return i < 0 ? "unknown AD sub-code" : ad_subcodes[i].name;
}

int pal_ad_subcode_is_account_state(const char *code)
{
    int i = ad_subcode_index(code);

    return i < 0 ? 0 : ad_subcodes[i].account_state;
}

char *pal_quote_string(apr_pool_t *p, const char *s)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    apr_size_t i, n = 2;
    char *out;

    for (i = 0; u[i] != '\0'; i++) {
        if (is_control(u[i]))
            continue;
        n += (u[i] == '"' || u[i] == '\\') ? 2 : 1;
    }
    out = apr_palloc(p, n + 1);
    n = 0;
    out[n++] = '"';
    for (i = 0; u[i] != '\0'; i++) {
        if (is_control(u[i]))
            continue;
        if (u[i] == '"' || u[i] == '\\')
            out[n++] = '\\';
        out[n++] = (char)u[i];
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

/* ------------------------------------------------------------------ */
/* DN normalisation                                                    */
/* ------------------------------------------------------------------ */

/*
 * Each attribute value is decoded to its bytes and written again in one
 * canonical spelling, so "a\,b", "a\2Cb" and "\"a,b\"" compare equal. The
 * canonical form is itself a DN that normalises to itself.
 */

typedef enum { DN_BAD, DN_STRING, DN_HEX } dn_value_kind;

typedef struct {
    const char *s;
    apr_size_t len;
    apr_size_t pos;
} dn_cursor;

static int dn_at_end(const dn_cursor *c)
{
    return c->pos >= c->len;
}

static int dn_is_separator(char ch)
{
    return ch == ',' || ch == ';' || ch == '+';
}

static void dn_skip_space(dn_cursor *c)
{
    while (!dn_at_end(c) && is_ows(c->s[c->pos]))
        c->pos++;
}

/* ';' separates RDNs in RFC 2253 DNs, which RFC 4514 readers still accept */
static int dn_at_value_end(const dn_cursor *c)
{
    return dn_at_end(c) || dn_is_separator(c->s[c->pos]);
}

static apr_size_t dn_read_type(dn_cursor *c, char *out)
{
    apr_size_t n = 0;

    while (!dn_at_end(c)) {
        char ch = c->s[c->pos];

        if (!apr_isalnum(ch) && ch != '-' && ch != '.')
            break;
        out[n++] = ascii_lower(ch);
        c->pos++;
    }
    if (n > 0 && !apr_isalnum(out[0]))
        return 0;
    return n;
}

/* At a '\': "\XX" is a byte, '\' before any other printable character is
 * that character. */
static int dn_unescape(dn_cursor *c, unsigned char *byte)
{
    apr_size_t rest = c->len - c->pos;
    int hi, lo;

    if (rest < 2)
        return 0;
    hi = hex_value(c->s[c->pos + 1]);
    if (hi >= 0) {
        if (rest < 3 || (lo = hex_value(c->s[c->pos + 2])) < 0)
            return 0;
        *byte = (unsigned char)(hi * 16 + lo);
        c->pos += 3;
        return 1;
    }
    if ((unsigned char)c->s[c->pos + 1] < 0x20)
        return 0;
    *byte = (unsigned char)c->s[c->pos + 1];
    c->pos += 2;
    return 1;
}

static dn_value_kind dn_read_quoted(dn_cursor *c, unsigned char *raw,
                                    apr_size_t *raw_len)
{
    apr_size_t n = 0;

    c->pos++;
    for (;;) {
        char ch;

        if (dn_at_end(c))
            return DN_BAD;
        ch = c->s[c->pos];
        if (ch == '"') {
            c->pos++;
            break;
        }
        if (ch == '\\') {
            if (!dn_unescape(c, &raw[n]))
                return DN_BAD;
            n++;
            continue;
        }
        raw[n++] = (unsigned char)ch;
        c->pos++;
    }
    dn_skip_space(c);
    if (!dn_at_value_end(c))
        return DN_BAD;
    *raw_len = n;
    return DN_STRING;
}

/* "#" hexstring (BER encoding, RFC 4514 2.4); anything else starting with
 * '#' is read as a string so that sloppy input still normalises. */
static int dn_read_hex(dn_cursor *c, unsigned char *raw, apr_size_t *raw_len)
{
    apr_size_t start = c->pos + 1, end = start, i;
    dn_cursor after;

    while (end < c->len && hex_value(c->s[end]) >= 0)
        end++;
    after = *c;
    after.pos = end;
    dn_skip_space(&after);
    if (end - start < 2 || (end - start) % 2 != 0 || !dn_at_value_end(&after))
        return 0;
    for (i = start; i < end; i++)
        raw[i - start] = (unsigned char)ascii_lower(c->s[i]);
    *raw_len = end - start;
    *c = after;
    return 1;
}

static dn_value_kind dn_read_value(dn_cursor *c, unsigned char *raw,
                                   apr_size_t *raw_len)
{
    apr_size_t n = 0, keep = 0;

    if (!dn_at_end(c) && c->s[c->pos] == '"')
        return dn_read_quoted(c, raw, raw_len);
    if (!dn_at_end(c) && c->s[c->pos] == '#' && dn_read_hex(c, raw, raw_len))
        return DN_HEX;

    while (!dn_at_value_end(c)) {
        char ch = c->s[c->pos];

        if (ch == '\\') {
            if (!dn_unescape(c, &raw[n]))
                return DN_BAD;
            keep = ++n;
            continue;
        }
        if (ch == '"')
            return DN_BAD;
        raw[n++] = (unsigned char)ch;
        c->pos++;
        /* unescaped trailing white space is not part of the value */
        if (!is_ows(ch))
            keep = n;
    }
    *raw_len = keep;
    return DN_STRING;
}

static int dn_must_escape(const unsigned char *raw, apr_size_t len,
                          apr_size_t i)
{
    unsigned char b = raw[i];

    if (strchr("\"+,;<>\\", b) != NULL && b != '\0')
        return 1;
    if (i == 0 && (b == ' ' || b == '#'))
        return 1;
    return i == len - 1 && b == ' ';
}

static apr_size_t dn_encode_value(const unsigned char *raw, apr_size_t len,
                                  char *out)
{
    apr_size_t i, n = 0;

    for (i = 0; i < len; i++) {
        unsigned char b = raw[i];

        if (is_control(b)) {
            out[n++] = '\\';
            out[n++] = hex_digits[b >> 4];
            out[n++] = hex_digits[b & 0x0f];
            continue;
        }
        if (dn_must_escape(raw, len, i))
            out[n++] = '\\';
        out[n++] = ascii_lower((char)b);
    }
    return n;
}

static int dn_compare_avas(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *pal_dn_normalize(apr_pool_t *p, const char *dn)
{
    dn_cursor c;
    apr_array_header_t *rdns, *avas;
    unsigned char *raw;
    char *ava;

    if (dn == NULL)
        return NULL;
    c.s = dn;
    c.len = strlen(dn);
    c.pos = 0;
    /* an AVA is its type, '=' and at most 3 output bytes per value byte */
    if (c.len > (APR_SIZE_MAX - 2) / 4)
        return NULL;
    dn_skip_space(&c);
    if (dn_at_end(&c))
        return apr_pstrdup(p, "");

    raw = apr_palloc(p, c.len + 1);
    ava = apr_palloc(p, 4 * c.len + 2);
    rdns = apr_array_make(p, 4, sizeof(char *));
    avas = apr_array_make(p, 2, sizeof(char *));

    for (;;) {
        apr_array_clear(avas);
        for (;;) {
            apr_size_t n, raw_len = 0;
            dn_value_kind kind;

            dn_skip_space(&c);
            n = dn_read_type(&c, ava);
            if (n == 0)
                return NULL;
            dn_skip_space(&c);
            if (dn_at_end(&c) || c.s[c.pos] != '=')
                return NULL;
            c.pos++;
            ava[n++] = '=';
            dn_skip_space(&c);
            kind = dn_read_value(&c, raw, &raw_len);
            if (kind == DN_BAD)
                return NULL;
            if (kind == DN_HEX) {
                ava[n++] = '#';
                memcpy(ava + n, raw, raw_len);
                n += raw_len;
            }
            else
                n += dn_encode_value(raw, raw_len, ava + n);
            *(char **)apr_array_push(avas) = apr_pstrmemdup(p, ava, n);
            if (dn_at_end(&c) || c.s[c.pos] != '+')
                break;
            c.pos++;
        }
        /* a multi-valued RDN is a set: "cn=a+uid=b" equals "uid=b+cn=a" */
        qsort(avas->elts, (size_t)avas->nelts, sizeof(char *),
              dn_compare_avas);
        *(char **)apr_array_push(rdns) = apr_array_pstrcat(p, avas, '+');
        if (dn_at_end(&c))
            break;
        c.pos++;  /* ',' or ';': dn_read_value stopped at one */
    }
    return apr_array_pstrcat(p, rdns, ',');
}
