/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * libFuzzer entry point for entry.c (make fuzz). Every decoder gets the
 * input as it is, and again sealed with a correct MAC (as a writable redis
 * holding the secret could store it), so the parsers behind the MAC are
 * reached too. Besides looking for crashes it checks that whatever a decoder
 * accepts encodes back to exactly the same bytes, and runs the window rules
 * on the decoded times, aborting when a property does not hold. Pool
 * strings are exact-size blocks (fuzz_pool.h), so reads past their end are
 * seen. The seeds (t/fuzz/corpus/cache/) come from the encoders: make
 * fuzz-seeds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "pal_entry.h"
#include "fuzz_cache_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_pool.h"

#define RULE_BYTES FUZZ_CACHE_RULE_BYTES  /* see rules_from */
#define ID FUZZ_CACHE_ID

static pal_secret secret;

/* kind || input || HMAC(secret, "V" || len(id) || id || payload), in an
 * exact-size block; with kind 0 the input is the whole payload. */
static unsigned char *seal(apr_pool_t *p, int kind, const uint8_t *data,
                           size_t size, size_t *len)
{
    size_t head = kind ? 2 : 0, plen = head + size, idlen = strlen(ID), i;
    unsigned char *in = apr_palloc(p, 1 + 8 + idlen + plen);
    unsigned char *out = apr_palloc(p, plen + PAL_HASH_LEN);
    unsigned int maclen = 0;

    if (kind) {
        out[0] = 1;
        out[1] = (unsigned char)kind;
    }
    if (size > 0)
        memcpy(out + head, data, size);
    in[0] = 'V';
    for (i = 0; i < 8; i++)
        in[1 + i] = (unsigned char)((uint64_t)idlen >> (56 - 8 * i));
    memcpy(in + 9, ID, idlen);
    memcpy(in + 9 + idlen, out, plen);
    CHECK(HMAC(EVP_sha256(), secret.bytes, PAL_SECRET_LEN, in,
               9 + idlen + plen, out + plen, &maclen) != NULL);
    *len = plen + PAL_HASH_LEN;
    return out;
}

static int64_t take64(const uint8_t **d, size_t *n)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < 8 && *n > 0; i++, (*d)++, (*n)--)
        v = (v << 8) | **d;
    return (int64_t)v;
}

/* Times and windows for the rules, taken from the input itself. */
typedef struct {
    apr_time_t now, revoked;
    pal_windows w;
} rule_args;

static rule_args rules_from(const uint8_t *d, size_t n)
{
    rule_args a;

    a.now = take64(&d, &n);
    a.revoked = take64(&d, &n);
    a.w.idle = (int)(int32_t)(uint32_t)take64(&d, &n);
    a.w.max = (int)(int32_t)(uint32_t)take64(&d, &n);
    a.w.negative = (int)(int32_t)(uint32_t)take64(&d, &n);
    a.w.max_bad = (int)(int32_t)(uint32_t)take64(&d, &n);
    return a;
}

static int is01(int v)
{
    return v == 0 || v == 1;
}

/* ---- one decoder each ------------------------------------------------------- */

static void fuzz_pos(apr_pool_t *p, const unsigned char *in, size_t len,
                     const rule_args *a)
{
    pal_pos_entry e;
    unsigned char *out;
    apr_size_t n;
    int usable, i;

    if (!pal_pos_decode(p, &secret, ID, in, len, &e))
        return;
    CHECK(e.ngroups >= 0 && e.ngroups <= 64);
    for (i = 0; i < e.ngroups; i++)
        CHECK(e.groups[i].norm != NULL && is01(e.groups[i].member));
    n = pal_pos_encode(p, &secret, ID, &e, &out);
    CHECK(n == len && memcmp(out, in, len) == 0);

    usable = pal_pos_usable(&e, &a->w, a->now, a->revoked);
    CHECK(is01(usable));
    CHECK(!usable || e.validated <= a->now);
    CHECK(!usable || a->revoked == 0 || e.validated >= a->revoked);
    CHECK(is01(pal_pos_needs_touch(&e, &a->w, a->now)));
    (void)pal_pos_expiry(&e, &a->w);
}

static void fuzz_neg(apr_pool_t *p, const unsigned char *in, size_t len,
                     const rule_args *a)
{
    pal_neg_entry e;
    unsigned char *out;
    apr_size_t n;
    int usable;

    if (!pal_neg_decode(p, &secret, ID, in, len, &e))
        return;
    CHECK(e.reason != NULL && strlen(e.reason) <= 4096);
    n = pal_neg_encode(p, &secret, ID, &e, &out);
    CHECK(n == len && memcmp(out, in, len) == 0);

    usable = pal_neg_usable(&e, &a->w, a->now);
    CHECK(is01(usable));
    CHECK(!usable || (a->w.negative > 0 && e.last_failure <= a->now));
    CHECK(is01(pal_neg_needs_touch(&e, a->now)));
    (void)pal_neg_expiry(&e, &a->w);
}

static void fuzz_name(apr_pool_t *p, const unsigned char *in, size_t len)
{
    pal_name_entry e;
    unsigned char *out;
    apr_size_t n;

    if (!pal_name_decode(p, &secret, ID, in, len, &e))
        return;
    CHECK(e.dn != NULL);
    n = pal_name_encode(p, &secret, ID, &e, &out);
    CHECK(n == len && memcmp(out, in, len) == 0);
}

static void fuzz_revoked(apr_pool_t *p, const unsigned char *in, size_t len)
{
    pal_revoked_entry e;
    unsigned char *out;
    apr_size_t n;

    if (!pal_revoked_decode(p, &secret, ID, in, len, &e))
        return;
    n = pal_revoked_encode(p, &secret, ID, &e, &out);
    CHECK(n == len && memcmp(out, in, len) == 0);
}

static void fuzz_all(apr_pool_t *p, const unsigned char *in, size_t len,
                     const rule_args *a)
{
    fuzz_pos(p, in, len, a);
    fuzz_neg(p, in, len, a);
    fuzz_name(p, in, len);
    fuzz_revoked(p, in, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int kinds[] = {0, PAL_KEY_POSITIVE, PAL_KEY_NEGATIVE,
                                PAL_KEY_NAME, PAL_KEY_REVOKED};
    apr_pool_t *p;
    rule_args a;
    size_t i, len, head;

    memset(secret.bytes, FUZZ_CACHE_SECRET_BYTE, PAL_SECRET_LEN);
    p = run_begin();

    /* the head of the input is the clock and the windows; the sealed
     * entries are made of the rest, so the two vary independently */
    head = size < RULE_BYTES ? size : RULE_BYTES;
    a = rules_from(data, head);

    fuzz_all(p, data, size, &a);
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        const unsigned char *in = seal(p, kinds[i], data + head, size - head,
                                       &len);

        fuzz_all(p, in, len, &a);
    }

    run_end(p);
    return 0;
}
