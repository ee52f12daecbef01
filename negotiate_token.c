/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * The Negotiate scheme as it arrives in Proxy-Authorization (contract:
 * include/pal_negotiate.h): the header value, and what the token is.
 * The token is read only far enough to refuse what GSSAPI should never
 * see (NTLM, other mechanisms, garbage); every read is bounded by the
 * lengths in hand and nothing recurses.
 */
#include <string.h>

#include <apr_strings.h>

#include "pal_ascii.h"
#include "pal_basic.h"
#include "pal_negotiate.h"

pal_scheme pal_scheme_of(const char *value)
{
    const char *s = value, *scheme;
    apr_size_t n;

    if (!s)
        return PAL_SCHEME_NONE;
    while (pal_is_ows(*s))
        s++;
    if (!*s)
        return PAL_SCHEME_NONE;
    scheme = s;
    while (*s && !pal_is_ows(*s))
        s++;
    n = (apr_size_t)(s - scheme);
    if (n == 5 && pal_ascii_caseeq(scheme, "basic", 5))
        return PAL_SCHEME_BASIC;
    if (n == 9 && pal_ascii_caseeq(scheme, "negotiate", 9))
        return PAL_SCHEME_NEGOTIATE;
    return PAL_SCHEME_OTHER;
}

pal_neg_status pal_parse_negotiate(apr_pool_t *p, const char *value,
                                   const unsigned char **tok,
                                   apr_size_t *len)
{
    const char *s, *t;
    apr_size_t tlen, n;
    unsigned char *buf;

    if (pal_scheme_of(value) != PAL_SCHEME_NEGOTIATE)
        return PAL_NEG_NOT_NEGOTIATE;
    s = value;
    while (pal_is_ows(*s))
        s++;
    s += 9;
    if (*s == '\0')
        return PAL_NEG_NO_TOKEN;
    /* RFC 7235: auth-scheme 1*SP token68 */
    if (*s != ' ')
        return PAL_NEG_BAD_BASE64;
    while (*s == ' ')
        s++;
    if (*s == '\0' || *s == '\t')
        return PAL_NEG_NO_TOKEN;
    t = s;
    while (*s && !pal_is_ows(*s))
        s++;
    tlen = (apr_size_t)(s - t);
    while (pal_is_ows(*s))
        s++;
    if (*s != '\0' || tlen % 4 != 0)
        return PAL_NEG_BAD_BASE64;
    if (tlen / 4 * 3 > PAL_MAX_TOKEN_BYTES + 2)
        return PAL_NEG_TOO_LONG;
    buf = apr_palloc(p, tlen / 4 * 3 + 1);
    if (!pal_b64_decode_strict(t, tlen, buf, &n))
        return PAL_NEG_BAD_BASE64;
    if (n > PAL_MAX_TOKEN_BYTES)
        return PAL_NEG_TOO_LONG;
    *tok = buf;
    *len = n;
    return PAL_NEG_OK;
}

const char *pal_neg_reason(pal_neg_status st)
{
    switch (st) {
    case PAL_NEG_OK:
        return "ok";
    case PAL_NEG_NOT_NEGOTIATE:
        return "not the Negotiate scheme";
    case PAL_NEG_NO_TOKEN:
        return "Negotiate without a token";
    case PAL_NEG_BAD_BASE64:
        return "malformed Negotiate token (strict base64, one token)";
    case PAL_NEG_TOO_LONG:
        return "Negotiate token longer than 65536 bytes";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ */
/* DER, as far as SPNEGO's first token needs it                          */
/* ------------------------------------------------------------------ */

typedef struct {
    const unsigned char *p;
    apr_size_t n;
} span;

/* Reads one element with the given tag from *in into *val and advances
 * *in past it. Definite lengths only (DER), at most four length bytes. */
static int der_take(span *in, unsigned char tag, span *val)
{
    apr_size_t len = 0, i, k;

    if (in->n < 2 || in->p[0] != tag)
        return 0;
    if (in->p[1] < 0x80) {
        len = in->p[1];
        i = 2;
    }
    else {
        k = in->p[1] & 0x7f;
        if (k == 0 || k > 4 || in->n < 2 + k)
            return 0;
        for (i = 0; i < k; i++)
            len = (len << 8) | in->p[2 + i];
        i = 2 + k;
    }
    if (len > in->n - i)
        return 0;
    val->p = in->p + i;
    val->n = len;
    in->p += i + len;
    in->n -= i + len;
    return 1;
}

/* The OIDs' DER contents (without tag and length). */
static const unsigned char OID_SPNEGO[] = { 0x2b, 0x06, 0x01, 0x05, 0x05,
                                            0x02 };
static const unsigned char OID_KRB5[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12,
                                          0x01, 0x02, 0x02 };
/* Microsoft's mistaken spelling of the Kerberos OID, which Windows sends
 * first. */
static const unsigned char OID_MS_KRB5[] = { 0x2a, 0x86, 0x48, 0x82, 0xf7,
                                             0x12, 0x01, 0x02, 0x02 };
static const unsigned char OID_NTLM[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82,
                                          0x37, 0x02, 0x02, 0x0a };
static const unsigned char NTLMSSP[] = { 'N', 'T', 'L', 'M', 'S', 'S', 'P',
                                         0 };

#define IS(sp, oid) ((sp).n == sizeof(oid) && !memcmp((sp).p, oid, sizeof(oid)))

static int is_krb5(span oid)
{
    return IS(oid, OID_KRB5) || IS(oid, OID_MS_KRB5);
}

/* NegTokenInit ::= SEQUENCE { mechTypes [0] MechTypeList, reqFlags [1],
 * mechToken [2] OCTET STRING, mechListMIC [3] }. Kerberos first with its
 * token is every domain client's first leg; Kerberos further down the
 * list takes SPNEGO's own exchange (more legs); NTLM first, without
 * Kerberos, is a client of a machine outside the domain. GSSAPI gets the
 * whole token either way: this only keeps from it what it would refuse
 * less clearly. */
static pal_token_kind classify_init(span body)
{
    span seq, mechs, list, oid, tag, octets;
    int krb5 = 0, krb5_first = 0, ntlm_first = 0, first = 1;

    if (!der_take(&body, 0xa0, &seq) || !der_take(&seq, 0x30, &body)
        || !der_take(&body, 0xa0, &mechs) || !der_take(&mechs, 0x30, &list))
        return PAL_TOKEN_UNKNOWN;
    while (list.n) {
        if (!der_take(&list, 0x06, &oid))
            return PAL_TOKEN_UNKNOWN;
        krb5 |= is_krb5(oid);
        if (first) {
            krb5_first = is_krb5(oid);
            ntlm_first = IS(oid, OID_NTLM);
        }
        first = 0;
    }
    if (body.n && body.p[0] == 0xa1 && !der_take(&body, 0xa1, &tag))
        return PAL_TOKEN_UNKNOWN;   /* reqFlags [1] is optional */
    octets.n = 0;
    if (body.n && body.p[0] == 0xa2
        && (!der_take(&body, 0xa2, &tag) || !der_take(&tag, 0x04, &octets)))
        return PAL_TOKEN_UNKNOWN;
    if (octets.n >= sizeof(NTLMSSP) && !memcmp(octets.p, NTLMSSP,
                                                sizeof(NTLMSSP)) && !krb5)
        return PAL_TOKEN_NTLM;
    if (krb5_first && octets.n)
        return PAL_TOKEN_SPNEGO_KRB5;
    if (krb5)
        return PAL_TOKEN_SPNEGO_INIT;
    return ntlm_first ? PAL_TOKEN_NTLM : PAL_TOKEN_UNKNOWN;
}

pal_token_kind pal_token_classify(const unsigned char *tok, apr_size_t len)
{
    span in, app, oid;

    if (!tok || len == 0)
        return PAL_TOKEN_UNKNOWN;
    if (len >= sizeof(NTLMSSP) && !memcmp(tok, NTLMSSP, sizeof(NTLMSSP)))
        return PAL_TOKEN_NTLM;
    in.p = tok;
    in.n = len;
    /* negTokenResp [1]: a later leg of an exchange. */
    if (tok[0] == 0xa1) {
        span resp;
        return der_take(&in, 0xa1, &resp) && in.n == 0
               ? PAL_TOKEN_SPNEGO_NEXT : PAL_TOKEN_UNKNOWN;
    }
    /* InitialContextToken ::= [APPLICATION 0] IMPLICIT SEQUENCE {
     * thisMech OID, innerContextToken ANY } (RFC 2743 3.1) */
    if (!der_take(&in, 0x60, &app) || in.n != 0
        || !der_take(&app, 0x06, &oid))
        return PAL_TOKEN_UNKNOWN;
    if (is_krb5(oid))
        return app.n ? PAL_TOKEN_KRB5 : PAL_TOKEN_UNKNOWN;
    if (!IS(oid, OID_SPNEGO))
        return PAL_TOKEN_UNKNOWN;
    return classify_init(app);
}

const char *pal_token_kind_name(pal_token_kind k)
{
    switch (k) {
    case PAL_TOKEN_KRB5:
        return "Kerberos 5";
    case PAL_TOKEN_SPNEGO_KRB5:
        return "SPNEGO with a Kerberos 5 token";
    case PAL_TOKEN_SPNEGO_INIT:
        return "SPNEGO offering Kerberos 5";
    case PAL_TOKEN_SPNEGO_NEXT:
        return "SPNEGO (later leg)";
    case PAL_TOKEN_NTLM:
        return "NTLM";
    case PAL_TOKEN_UNKNOWN:
        break;
    }
    return "neither Kerberos 5 nor SPNEGO";
}
