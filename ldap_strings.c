/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Text that goes to or comes from a directory server (contract:
 * include/pal_ldap_strings.h): assertion values escaped for filters (RFC
 * 4515), DNs normalised for comparison (RFC 4514), and a server's own
 * text made safe for the error log. Every input is untrusted: loops are
 * bounded by explicit lengths and nothing recurses.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "pal_ldap_strings.h"
#include "pal_ascii.h"

/* ------------------------------------------------------------------ */
/* Filter values                                                        */
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
            out[n++] = pal_hex_digits[u[i] >> 4];
            out[n++] = pal_hex_digits[u[i] & 0x0f];
        }
        else
            out[n++] = (char)u[i];
    }
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
    while (!dn_at_end(c) && pal_is_ows(c->s[c->pos]))
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
        out[n++] = pal_ascii_lower(ch);
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
    hi = pal_hex_value(c->s[c->pos + 1]);
    if (hi >= 0) {
        if (rest < 3 || (lo = pal_hex_value(c->s[c->pos + 2])) < 0)
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

    while (end < c->len && pal_hex_value(c->s[end]) >= 0)
        end++;
    after = *c;
    after.pos = end;
    dn_skip_space(&after);
    if (end - start < 2 || (end - start) % 2 != 0 || !dn_at_value_end(&after))
        return 0;
    for (i = start; i < end; i++)
        raw[i - start] = (unsigned char)pal_ascii_lower(c->s[i]);
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
        if (!pal_is_ows(ch))
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

        if (pal_is_control(b)) {
            out[n++] = '\\';
            out[n++] = pal_hex_digits[b >> 4];
            out[n++] = pal_hex_digits[b & 0x0f];
            continue;
        }
        if (dn_must_escape(raw, len, i))
            out[n++] = '\\';
        out[n++] = pal_ascii_lower((char)b);
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

/* ------------------------------------------------------------------ */
/* Server text for the error log                                        */
/* ------------------------------------------------------------------ */

static int log_needs_escape(unsigned char c)
{
    return c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
}

char *pal_log_escape(apr_pool_t *p, const char *s)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    apr_size_t i, n = 0;
    char *out;

    for (i = 0; u[i] != '\0'; i++)
        n += log_needs_escape(u[i]) ? (u[i] == '"' || u[i] == '\\' ? 2 : 4)
                                    : 1;
    out = apr_palloc(p, n + 1);
    n = 0;
    for (i = 0; u[i] != '\0'; i++) {
        if (!log_needs_escape(u[i])) {
            out[n++] = (char)u[i];
            continue;
        }
        out[n++] = '\\';
        if (u[i] == '"' || u[i] == '\\') {
            out[n++] = (char)u[i];
            continue;
        }
        out[n++] = 'x';
        out[n++] = pal_hex_digits[u[i] >> 4];
        out[n++] = pal_hex_digits[u[i] & 0x0f];
    }
    out[n] = '\0';
    return out;
}
