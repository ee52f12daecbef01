/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * RFC 4515 filters as administrators write them (ProxyAuthLDAPURL, Require
 * proxy-ldap-filter): checked at startup, so a typo is an error naming the
 * line instead of a 503 on every request. The grammar is the RFC's; a
 * filter nests at most PAL_FILTER_MAX_DEPTH deep, so the recursion is
 * bounded whatever the input.
 */
#include <string.h>

#include <apr_strings.h>

#include "pal_ldap_strings.h"

#define PAL_FILTER_MAX_DEPTH 32

typedef struct {
    const char *s;     /* the whole filter */
    const char *p;     /* where the parser is */
    const char *why;   /* the first problem found */
} cursor;

static int fail(cursor *c, const char *why)
{
    if (!c->why)
        c->why = why;
    return 0;
}

static int is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int is_hex(char ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* descr = ALPHA *(ALPHA / DIGIT / "-"); numericoid = number 1*("." number) */
static int read_oid_or_descr(cursor *c)
{
    const char *start = c->p;

    if (is_alpha(*c->p)) {
        while (is_alpha(*c->p) || is_digit(*c->p) || *c->p == '-')
            c->p++;
        return 1;
    }
    if (!is_digit(*c->p))
        return fail(c, "an attribute type is expected");
    for (;;) {
        while (is_digit(*c->p))
            c->p++;
        if (*c->p != '.')
            break;
        c->p++;
        if (!is_digit(*c->p))
            return fail(c, "a numeric OID has an empty part");
    }
    if (!memchr(start, '.', (apr_size_t)(c->p - start)))
        return fail(c, "a numeric OID has at least two parts");
    return 1;
}

/* attributedescription = attributetype *(";" option) */
static int read_attr(cursor *c)
{
    if (!read_oid_or_descr(c))
        return 0;
    while (*c->p == ';') {
        c->p++;
        if (!is_alpha(*c->p) && !is_digit(*c->p))
            return fail(c, "an attribute option is empty");
        while (is_alpha(*c->p) || is_digit(*c->p) || *c->p == '-')
            c->p++;
    }
    return 1;
}

/* assertionvalue: escapes are a backslash and two hex digits; '(' and ')'
 * never appear bare; '*' only where stars is set (substrings, presence). */
static int read_value(cursor *c, int stars)
{
    for (;;) {
        char ch = *c->p;
        if (ch == '\0')
            return fail(c, "the filter ends inside a value");
        if (ch == ')')
            return 1;
        if (ch == '(')
            return fail(c, "'(' in a value must be escaped as \\28");
        if (ch == '*' && !stars)
            return fail(c, "'*' in a value must be escaped as \\2a");
        if (ch == '\\') {
            if (!is_hex(c->p[1]) || !is_hex(c->p[2]))
                return fail(c, "'\\' in a value must start a two-digit hex "
                            "escape");
            c->p += 3;
            continue;
        }
        c->p++;
    }
}

/* extensible = ( attr [":dn"] [":" matchingrule] ":=" value )
 *            / ( [":dn"] ":" matchingrule ":=" value ) */
static int read_extensible(cursor *c, int have_attr)
{
    int rule = 0;

    if (!strncmp(c->p, ":dn", 3) || !strncmp(c->p, ":DN", 3)) {
        if (c->p[3] == ':') {
            c->p += 3;
        }
    }
    if (c->p[0] == ':' && c->p[1] != '=') {
        c->p++;
        if (!read_oid_or_descr(c))
            return 0;
        rule = 1;
    }
    if (!have_attr && !rule)
        return fail(c, "an extensible match without an attribute needs a "
                    "matching rule");
    if (c->p[0] != ':' || c->p[1] != '=')
        return fail(c, "an extensible match needs ':='");
    c->p += 2;
    return read_value(c, 0);
}

/* item = simple / present / substring / extensible */
static int read_item(cursor *c)
{
    int have_attr = 0;

    if (*c->p != ':') {
        if (!read_attr(c))
            return 0;
        have_attr = 1;
    }
    if (*c->p == ':')
        return read_extensible(c, have_attr);
    if (*c->p == '=') {
        c->p++;
        return read_value(c, 1);
    }
    if ((*c->p == '~' || *c->p == '>' || *c->p == '<') && c->p[1] == '=') {
        c->p += 2;
        return read_value(c, 0);
    }
    return fail(c, "a comparison ('=', '~=', '>=', '<=' or ':=') is "
                "expected after the attribute");
}

static int read_filter(cursor *c, int depth);

static int read_list(cursor *c, int depth)
{
    int n = 0;

    while (*c->p == '(') {
        if (!read_filter(c, depth + 1))
            return 0;
        n++;
    }
    return n ? 1 : fail(c, "'&' and '|' need at least one filter");
}

/* filter = "(" filtercomp ")" */
static int read_filter(cursor *c, int depth)
{
    int ok;

    if (depth > PAL_FILTER_MAX_DEPTH)
        return fail(c, "the filter nests too deep");
    if (*c->p != '(')
        return fail(c, "a filter starts with '('");
    c->p++;
    switch (*c->p) {
    case '&':
    case '|':
        c->p++;
        ok = read_list(c, depth);
        break;
    case '!':
        c->p++;
        ok = read_filter(c, depth + 1);
        break;
    default:
        ok = read_item(c);
    }
    if (!ok)
        return 0;
    if (*c->p != ')')
        return fail(c, "')' is expected");
    c->p++;
    return 1;
}

const char *pal_ldap_filter_problem(apr_pool_t *p, const char *filter)
{
    apr_size_t at;
    const char *why = pal_ldap_filter_check(filter, &at);

    if (!why)
        return NULL;
    return apr_psprintf(p, "%s (at character %lu)", why,
                        (unsigned long)at + 1);
}

const char *pal_ldap_filter_check(const char *filter, apr_size_t *at)
{
    cursor c;

    c.s = c.p = filter;
    c.why = NULL;
    if (read_filter(&c, 0) && *c.p != '\0')
        fail(&c, "text after the filter's last ')'");
    if (at)
        *at = (apr_size_t)(c.p - c.s);
    return c.why;
}
