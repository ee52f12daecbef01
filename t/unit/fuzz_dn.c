/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * libFuzzer entry point for pal_dn_normalize (ldap_strings.c, make fuzz).
 *
 * The input is used twice. As it is, it must normalise without crashing or
 * reading past its end, and whatever normalises is a fixed point (its
 * normal form normalises to itself) in lower case without control bytes.
 * Read as a recipe (see read_dn), it describes a DN of typed attribute
 * values; that DN is written in several legal spellings (minimal escapes,
 * every byte as \XX, quoted values, upper case with white space around
 * '=' and the separators and the values of multi-valued RDNs reversed),
 * and each spelling must normalise, to the same string. Aborts when a
 * property does not hold. Pool strings are exact-size blocks
 * (fuzz_pool.h), so reads past their end are seen.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_pool.h"

/* ---- the input as it is ------------------------------------------------- */

static void check_normal_form(const char *n)
{
    const unsigned char *u = (const unsigned char *)n;

    for (; *u != '\0'; u++) {
        CHECK(*u >= 0x20 && *u != 0x7f);
        CHECK(!(*u >= 'A' && *u <= 'Z'));
    }
}

static void fuzz_raw(apr_pool_t *p, const char *s)
{
    const char *once = pal_dn_normalize(p, s);
    const char *twice;

    if (once == NULL)
        return;
    check_normal_form(once);
    twice = pal_dn_normalize(p, once);
    CHECK(twice != NULL && strcmp(once, twice) == 0);
}

/* ---- a DN built from the input ------------------------------------------ */

#define MAX_AVAS  12
#define MAX_VALUE 16
/* the longest spelling: per AVA a type of 14, '=', 3 bytes per value byte,
 * quotes, a separator and white space; well under this */
#define MAX_DN    2048

typedef struct {
    const char *type;
    unsigned char value[MAX_VALUE];
    size_t len;
    char sep;        /* ',', ';' or '+' after this AVA; 0 after the last */
} ava;

typedef struct {
    ava a[MAX_AVAS];
    int n;
} dn;

typedef struct {
    const uint8_t *d;
    size_t n;
} stream;

static unsigned take(stream *s)
{
    if (s->n == 0)
        return 0;
    s->n--;
    return *s->d++;
}

/* Per AVA: a type index, a value length, the value's bytes (any byte,
 * NUL included), a separator index. */
static void read_dn(stream *s, dn *d)
{
    static const char *const types[] = {
        "cn", "ou", "dc", "uid", "o", "c", "mail", "2.5.4.3",
        "sAMAccountName", "x-Attr"
    };
    size_t i;

    for (d->n = 0; s->n > 0 && d->n < MAX_AVAS; d->n++) {
        ava *a = &d->a[d->n];

        a->type = types[take(s) % (sizeof(types) / sizeof(types[0]))];
        a->len = take(s) % (MAX_VALUE + 1);
        for (i = 0; i < a->len; i++)
            a->value[i] = (unsigned char)take(s);
        a->sep = ",;+"[take(s) % 3];
    }
    if (d->n > 0)
        d->a[d->n - 1].sep = '\0';
}

typedef enum { SP_MINIMAL, SP_HEX, SP_QUOTED, SP_SPACED } spelling;

typedef struct {
    char b[MAX_DN];
    size_t n;
} text;

static void put(text *t, char c)
{
    CHECK(t->n + 1 < sizeof(t->b));
    t->b[t->n++] = c;
}

static void put_str(text *t, const char *s)
{
    while (*s)
        put(t, *s++);
}

static void put_hex(text *t, unsigned char b, int upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

    put(t, '\\');
    put(t, digits[b >> 4]);
    put(t, digits[b & 15]);
}

static char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* RFC 4514 2.4: what a string value must escape, plus NUL (it would end
 * the C string) and a tab at either end (it would be white space). */
static void put_value_minimal(text *t, const ava *a, int up)
{
    size_t i, last = a->len - 1;

    for (i = 0; i < a->len; i++) {
        unsigned char b = a->value[i];
        int edge = i == 0 || i == last;

        if (b == '\0' || (edge && b == '\t'))
            put_hex(t, b, (int)(i & 1));
        else if (strchr("\"+,;<>\\", b) != NULL
                 || (i == 0 && (b == ' ' || b == '#'))
                 || (i == last && b == ' ')) {
            put(t, '\\');
            put(t, (char)b);
        }
        else
            put(t, up ? upper((char)b) : (char)b);
    }
}

static void put_value(text *t, const ava *a, spelling sp)
{
    size_t i;

    switch (sp) {
    case SP_HEX:
        for (i = 0; i < a->len; i++)
            put_hex(t, a->value[i], (int)(i & 1));
        break;
    case SP_QUOTED:
        put(t, '"');
        for (i = 0; i < a->len; i++) {
            unsigned char b = a->value[i];

            if (b == '\0')
                put_hex(t, b, 0);
            else {
                if (b == '"' || b == '\\')
                    put(t, '\\');
                put(t, (char)b);
            }
        }
        put(t, '"');
        break;
    default:
        put_value_minimal(t, a, sp == SP_SPACED);
        break;
    }
}

static void put_ava(text *t, const ava *a, spelling sp)
{
    const char *c;

    for (c = a->type; *c; c++)
        put(t, sp == SP_SPACED ? upper(*c) : *c);
    put_str(t, sp == SP_SPACED ? " \t= " : "=");
    put_value(t, a, sp);
}

static void put_sep(text *t, char sep, spelling sp)
{
    if (sp == SP_SPACED)
        put_str(t, " \t");
    put(t, sep);
    if (sp == SP_SPACED)
        put_str(t, "\t ");
}

/* One RDN: a[first..last]. The spaced spelling writes the values of a
 * multi-valued RDN in reverse, which must not matter: it is a set. */
static void put_rdn(text *t, const dn *d, int first, int last, spelling sp)
{
    int i;

    for (i = 0; i <= last - first; i++) {
        const ava *a = &d->a[sp == SP_SPACED ? last - i : first + i];

        if (i > 0)
            put_sep(t, '+', sp);
        put_ava(t, a, sp);
    }
}

static const char *spell(apr_pool_t *p, const dn *d, spelling sp)
{
    text t;
    int first = 0, i;

    t.n = 0;
    if (sp == SP_SPACED)
        put_str(&t, " \t ");
    for (i = 0; i < d->n; i++) {
        if (d->a[i].sep == '+')
            continue;
        put_rdn(&t, d, first, i, sp);
        if (d->a[i].sep != '\0')
            put_sep(&t, d->a[i].sep, sp);
        first = i + 1;
    }
    if (sp == SP_SPACED)
        put_str(&t, "\t ");
    return apr_pstrmemdup(p, t.b, t.n);
}

static void fuzz_spellings(apr_pool_t *p, const uint8_t *data, size_t size)
{
    static const spelling others[] = { SP_HEX, SP_QUOTED, SP_SPACED };
    stream s;
    dn d;
    const char *want;
    size_t i;

    s.d = data;
    s.n = size;
    read_dn(&s, &d);
    want = pal_dn_normalize(p, spell(p, &d, SP_MINIMAL));
    CHECK(want != NULL);
    check_normal_form(want);
    CHECK(strcmp(pal_dn_normalize(p, want), want) == 0);
    for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        const char *got = pal_dn_normalize(p, spell(p, &d, others[i]));

        CHECK(got != NULL && strcmp(got, want) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *s;

    p = run_begin();

    s = apr_palloc(p, size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    fuzz_raw(p, s);
    fuzz_spellings(p, data, size);

    run_end(p);
    return 0;
}
