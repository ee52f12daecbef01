/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Unit tests for negotiate_token.c: the Negotiate header and what a token
 * is, from hand-built DER (RFC 2743 3.1, RFC 4178) and every prefix of it.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "pal_negotiate.h"
#include "tap.h"

static const unsigned char KRB5_OID[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                          0xf7, 0x12, 0x01, 0x02, 0x02 };
static const unsigned char MSKRB5_OID[] = { 0x06, 0x09, 0x2a, 0x86, 0x48,
                                            0x82, 0xf7, 0x12, 0x01, 0x02,
                                            0x02 };
static const unsigned char NTLM_OID[] = { 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04,
                                          0x01, 0x82, 0x37, 0x02, 0x02,
                                          0x0a };
static const unsigned char SPNEGO_OID[] = { 0x06, 0x06, 0x2b, 0x06, 0x01,
                                            0x05, 0x05, 0x02 };

typedef struct {
    unsigned char b[4096];
    size_t n;
} buf;

static void put(buf *o, const void *p, size_t n)
{
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

/* tag, DER length (short or two-byte long form), contents */
static void wrap(buf *o, unsigned char tag, const buf *in)
{
    buf t = { { 0 }, 0 };
    unsigned char h[4];

    h[0] = tag;
    if (in->n < 0x80) {
        h[1] = (unsigned char)in->n;
        put(&t, h, 2);
    }
    else {
        h[1] = 0x82;
        h[2] = (unsigned char)(in->n >> 8);
        h[3] = (unsigned char)in->n;
        put(&t, h, 4);
    }
    put(&t, in->b, in->n);
    *o = t;
}

static buf krb5_token(const unsigned char *oid, size_t oidlen, size_t body)
{
    buf t = { { 0 }, 0 };
    unsigned char z[300];

    memset(z, 0x41, sizeof(z));
    put(&t, oid, oidlen);
    put(&t, "\x01\x00", 2);           /* TOK_ID of an AP-REQ */
    put(&t, z, body);
    wrap(&t, 0x60, &t);
    return t;
}

/* SPNEGO NegTokenInit: the OIDs given, optionally a mechToken. */
static buf spnego(const unsigned char *const *oids, const size_t *lens,
                  int n, const buf *mech_token)
{
    buf list = { { 0 }, 0 }, seq = { { 0 }, 0 }, x, tok = { { 0 }, 0 };
    int i;

    for (i = 0; i < n; i++)
        put(&list, oids[i], lens[i]);
    wrap(&list, 0x30, &list);
    wrap(&list, 0xa0, &list);
    put(&seq, list.b, list.n);
    if (mech_token) {
        x = *mech_token;
        wrap(&x, 0x04, &x);
        wrap(&x, 0xa2, &x);
        put(&seq, x.b, x.n);
    }
    wrap(&seq, 0x30, &seq);
    wrap(&seq, 0xa0, &seq);
    put(&tok, SPNEGO_OID, sizeof(SPNEGO_OID));
    put(&tok, seq.b, seq.n);
    wrap(&tok, 0x60, &tok);
    return tok;
}

/* No prefix of a token (nor the token with a byte more) is anything but
 * refused, or of the same kind for a prefix that is whole by itself. */
static void prefixes(const buf *t, const char *name)
{
    size_t i;
    int bad = 0;
    unsigned char *copy;

    for (i = 0; i < t->n; i++) {
        copy = malloc(i ? i : 1);
        memcpy(copy, t->b, i);
        if (pal_token_classify(copy, i) != PAL_TOKEN_UNKNOWN)
            bad++;
        free(copy);
    }
    copy = malloc(t->n + 1);
    memcpy(copy, t->b, t->n);
    copy[t->n] = 0;
    if (pal_token_classify(copy, t->n + 1) != PAL_TOKEN_UNKNOWN)
        bad++;
    free(copy);
    ok(bad == 0, "%s: every prefix, and a trailing byte, is refused", name);
}

static void test_classify(void)
{
    const unsigned char *k5[] = { KRB5_OID, NTLM_OID };
    const size_t k5l[] = { sizeof(KRB5_OID), sizeof(NTLM_OID) };
    const unsigned char *ms[] = { MSKRB5_OID, KRB5_OID, NTLM_OID };
    const size_t msl[] = { sizeof(MSKRB5_OID), sizeof(KRB5_OID),
                           sizeof(NTLM_OID) };
    const unsigned char *nt[] = { NTLM_OID };
    const size_t ntl[] = { sizeof(NTLM_OID) };
    const unsigned char *ntk[] = { NTLM_OID, KRB5_OID };
    const size_t ntkl[] = { sizeof(NTLM_OID), sizeof(KRB5_OID) };
    buf raw = krb5_token(KRB5_OID, sizeof(KRB5_OID), 200);
    buf big = krb5_token(KRB5_OID, sizeof(KRB5_OID), 20);
    buf ntlm = { { 'N', 'T', 'L', 'M', 'S', 'S', 'P', 0, 1, 0, 0, 0 }, 12 };
    buf t, resp = { { 0 }, 0 };

    ok(pal_token_classify(raw.b, raw.n) == PAL_TOKEN_KRB5, "raw Kerberos 5");
    prefixes(&raw, "raw Kerberos 5");
    t = krb5_token(MSKRB5_OID, sizeof(MSKRB5_OID), 10);
    ok(pal_token_classify(t.b, t.n) == PAL_TOKEN_KRB5,
       "raw Kerberos 5 under Microsoft's OID");
    t = spnego(k5, k5l, 2, &raw);
    ok(pal_token_classify(t.b, t.n) == PAL_TOKEN_SPNEGO_KRB5,
       "SPNEGO, Kerberos first with its token");
    prefixes(&t, "SPNEGO");
    t = spnego(ms, msl, 3, &big);
    ok(pal_token_classify(t.b, t.n) == PAL_TOKEN_SPNEGO_KRB5,
       "SPNEGO as Windows sends it (Microsoft's OID first)");
    t = spnego(ntk, ntkl, 2, NULL);
    ok(pal_token_classify(t.b, t.n) == PAL_TOKEN_SPNEGO_INIT,
       "SPNEGO, NTLM first then Kerberos, no token: more legs");
    t = spnego(ntk, ntkl, 2, &ntlm);
    ok(pal_token_classify(t.b, t.n) == PAL_TOKEN_SPNEGO_INIT,
       "SPNEGO, NTLM token with Kerberos offered: more legs");
    t = spnego(nt, ntl, 1, &ntlm);
    ok(pal_token_classify(t.b, t.n) == PAL_TOKEN_NTLM,
       "SPNEGO offering NTLM only");
    t = spnego(nt, ntl, 1, NULL);
    ok(pal_token_classify(t.b, t.n) == PAL_TOKEN_NTLM,
       "SPNEGO offering NTLM only, no token");
    ok(pal_token_classify(ntlm.b, ntlm.n) == PAL_TOKEN_NTLM, "raw NTLMSSP");
    t = spnego(ntk, ntkl, 0, NULL);
    ok(pal_token_classify(t.b, t.n) == PAL_TOKEN_UNKNOWN,
       "SPNEGO with an empty mechanism list");
    put(&resp, "\x30\x03\x0a\x01\x01", 5);
    wrap(&resp, 0xa1, &resp);
    ok(pal_token_classify(resp.b, resp.n) == PAL_TOKEN_SPNEGO_NEXT,
       "negTokenResp: a later leg");
    ok(pal_token_classify((const unsigned char *)"\x60\x84\xff\xff\xff\xff",
                          6) == PAL_TOKEN_UNKNOWN,
       "a four-byte length past the end");
    ok(pal_token_classify((const unsigned char *)"\x60\x85\x00\x00\x00\x00\x05"
                          "\x06\x01\x00\x00\x00", 12) == PAL_TOKEN_UNKNOWN,
       "a five-byte length");
    ok(pal_token_classify((const unsigned char *)"\x60\x80\x06\x00\x00\x00",
                          6) == PAL_TOKEN_UNKNOWN, "an indefinite length");
    t = krb5_token(KRB5_OID, sizeof(KRB5_OID), 0);
    t.n = 2 + sizeof(KRB5_OID);
    t.b[1] = (unsigned char)sizeof(KRB5_OID);
    ok(pal_token_classify(t.b, t.n) == PAL_TOKEN_UNKNOWN,
       "Kerberos OID without a token");
    ok(pal_token_classify(NULL, 0) == PAL_TOKEN_UNKNOWN, "nothing");
}

static void test_header(apr_pool_t *p)
{
    const unsigned char *tok = NULL;
    apr_size_t len = 0;
    char *big;
    size_t n;

    ok(pal_scheme_of(NULL) == PAL_SCHEME_NONE, "scheme: none");
    ok(pal_scheme_of(" \t") == PAL_SCHEME_NONE, "scheme: white space");
    ok(pal_scheme_of("Basic YQ==") == PAL_SCHEME_BASIC, "scheme: Basic");
    ok(pal_scheme_of("  nEGOTIATE abcd") == PAL_SCHEME_NEGOTIATE,
       "scheme: Negotiate, any case, leading space");
    ok(pal_scheme_of("NegotiateX abcd") == PAL_SCHEME_OTHER,
       "scheme: NegotiateX is another");
    ok(pal_scheme_of("NTLM TlRMTQ==") == PAL_SCHEME_OTHER, "scheme: NTLM");

    ok(pal_parse_negotiate(p, "Negotiate YWJj", &tok, &len) == PAL_NEG_OK
       && len == 3 && !memcmp(tok, "abc", 3), "a token");
    ok(pal_parse_negotiate(p, "Negotiate   YWJj \t", &tok, &len)
       == PAL_NEG_OK, "spaces before, white space after");
    ok(pal_parse_negotiate(p, "Negotiate", &tok, &len) == PAL_NEG_NO_TOKEN,
       "no token");
    ok(pal_parse_negotiate(p, "Negotiate   ", &tok, &len) == PAL_NEG_NO_TOKEN,
       "only spaces");
    ok(pal_parse_negotiate(p, "Negotiate\tYWJj", &tok, &len)
       == PAL_NEG_BAD_BASE64, "a tab is not the separator");
    ok(pal_parse_negotiate(p, "Negotiate YWJj YWJj", &tok, &len)
       == PAL_NEG_BAD_BASE64, "two tokens");
    ok(pal_parse_negotiate(p, "Negotiate YWJ", &tok, &len)
       == PAL_NEG_BAD_BASE64, "length not a multiple of 4");
    ok(pal_parse_negotiate(p, "Negotiate YWJk=", &tok, &len)
       == PAL_NEG_BAD_BASE64, "bad padding");
    ok(pal_parse_negotiate(p, "Negotiate YR==", &tok, &len)
       == PAL_NEG_BAD_BASE64, "unused bits set (non-canonical)");
    ok(pal_parse_negotiate(p, "Basic YWJj", &tok, &len)
       == PAL_NEG_NOT_NEGOTIATE, "Basic is not Negotiate");

    n = (PAL_MAX_TOKEN_BYTES / 3) * 4;        /* 65535 bytes: fits */
    big = apr_palloc(p, n + 20);
    strcpy(big, "Negotiate ");
    memset(big + 10, 'A', n);
    big[10 + n] = '\0';
    ok(pal_parse_negotiate(p, big, &tok, &len) == PAL_NEG_OK
       && len == PAL_MAX_TOKEN_BYTES / 3 * 3, "65535 bytes: accepted");
    memset(big + 10 + n, 'A', 4);
    big[14 + n] = '\0';
    ok(pal_parse_negotiate(p, big, &tok, &len) == PAL_NEG_TOO_LONG,
       "65538 bytes: too long");
    ok(strlen(pal_neg_reason(PAL_NEG_TOO_LONG)) > 0, "a reason for each");
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    test_classify();
    test_header(p);
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
