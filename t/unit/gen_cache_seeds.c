/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Writes the seeds of fuzz_cache.c (make fuzz-seeds): real entries from
 * entry.c's encoders under the fuzzer's secret and id, so that the fuzzer
 * starts past the MAC with well-formed fields. Each entry is written twice,
 * in the two shapes the fuzzer reads:
 *   NAME.entry   the encoded entry as a cache returns it (decoded as is);
 *   NAME.sealed  the clock and windows of the rules, then the entry's fields
 *                without the version, kind and MAC (the fuzzer seals them).
 * The output depends on nothing but this file and entry.c, so running it
 * again changes no seed unless the encoding changed.
 *
 *   gen_cache_seeds DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "pal_entry.h"
#include "fuzz_cache_key.h"

#define T0 (apr_time_from_sec(1700000000))

static apr_pool_t *pool;
static pal_secret secret;
static const char *dir;

static void put_u64(unsigned char *b, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (56 - 8 * i));
}

/* Rules at T0 + 60 s with the module's default windows. */
static void rules(unsigned char head[FUZZ_CACHE_RULE_BYTES],
                  apr_time_t revoked)
{
    put_u64(head, (uint64_t)(T0 + apr_time_from_sec(60)));
    put_u64(head + 8, (uint64_t)revoked);
    put_u64(head + 16, 300);
    put_u64(head + 24, 3600);
    put_u64(head + 32, 30);
    put_u64(head + 40, 3);
}

static void write_file(const char *name, const unsigned char *a, size_t alen,
                       const unsigned char *b, size_t blen)
{
    const char *path = apr_pstrcat(pool, dir, "/", name, NULL);
    FILE *f = fopen(path, "wb");

    if (f == NULL || fwrite(a, 1, alen, f) != alen
        || (blen > 0 && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void emit(const char *name, const unsigned char *entry, apr_size_t len,
                 apr_time_t revoked)
{
    unsigned char head[FUZZ_CACHE_RULE_BYTES];

    if (len < 2 + PAL_HASH_LEN) {
        fprintf(stderr, "gen_cache_seeds: %s did not encode\n", name);
        exit(1);
    }
    write_file(apr_pstrcat(pool, name, ".entry", NULL), entry, len, NULL, 0);
    rules(head, revoked);
    write_file(apr_pstrcat(pool, name, ".sealed", NULL), head, sizeof(head),
               entry + 2, len - 2 - PAL_HASH_LEN);
}

static void pos(const char *name, const char *login, const char *dn,
                int ngroups, apr_time_t revoked)
{
    pal_group_result *g = apr_pcalloc(pool, sizeof(*g) * (ngroups + 1));
    pal_pos_entry e;
    unsigned char *out = NULL;
    apr_size_t len;
    int i;

    for (i = 0; i < ngroups; i++) {
        g[i].norm = apr_psprintf(pool, "cn=group%d,ou=groups,dc=example,"
                                 "dc=test", i);
        g[i].member = i % 2 == 0;
    }
    e.validated = T0;
    e.last_used = T0 + apr_time_from_sec(30);
    e.login = login;
    e.dn = dn;
    e.ngroups = ngroups;
    e.groups = g;
    len = pal_pos_encode(pool, &secret, FUZZ_CACHE_ID, &e, &out);
    emit(name, out, len, revoked);
}

static void neg(const char *name, const char *reason)
{
    pal_neg_entry e;
    unsigned char *out = NULL;
    apr_size_t len;

    e.first_failure = T0;
    e.last_failure = T0 + apr_time_from_sec(50);
    e.reason = reason;
    len = pal_neg_encode(pool, &secret, FUZZ_CACHE_ID, &e, &out);
    emit(name, out, len, 0);
}

static void name_entry(const char *name, const char *dn)
{
    pal_name_entry e;
    unsigned char *out = NULL;
    apr_size_t len;

    e.stored = T0;
    e.dn = dn;
    len = pal_name_encode(pool, &secret, FUZZ_CACHE_ID, &e, &out);
    emit(name, out, len, 0);
}

static void revoked(const char *name, apr_time_t when)
{
    pal_revoked_entry e;
    unsigned char *out = NULL;
    apr_size_t len;

    e.revoked = when;
    len = pal_revoked_encode(pool, &secret, FUZZ_CACHE_ID, &e, &out);
    emit(name, out, len, when);
}

int main(int argc, char **argv)
{
    char *longdn;

    if (argc != 2) {
        fprintf(stderr, "usage: gen_cache_seeds DIR\n");
        return 2;
    }
    dir = argv[1];
    apr_initialize();
    apr_pool_create(&pool, NULL);
    memset(secret.bytes, FUZZ_CACHE_SECRET_BYTE, PAL_SECRET_LEN);
    longdn = apr_palloc(pool, PAL_ENTRY_MAX_STRING + 1);
    memset(longdn, 'x', PAL_ENTRY_MAX_STRING);
    memcpy(longdn, "cn=", 3);
    longdn[PAL_ENTRY_MAX_STRING] = '\0';

    pos("pos-plain", "alice", "uid=alice,ou=people,dc=example,dc=test", 0,
        0);
    pos("pos-groups", "bob", "uid=bob,ou=people,dc=example,dc=test", 3, 0);
    pos("pos-utf8", "j\xc3\xbcrgen",
        "uid=j\xc3\xbcrgen,ou=people,dc=example,dc=test", 1, 0);
    pos("pos-revoked", "carol", "uid=carol,ou=staff,dc=example,dc=test", 0,
        T0 + apr_time_from_sec(10));
    pos("pos-max-groups", "dave", "cn=Doe\\, John,ou=people,dc=example,"
        "dc=test", PAL_ENTRY_MAX_GROUPS, 0);
    pos("pos-empty", "", "", 0, 0);
    neg("neg-bad-password", "bad password");
    neg("neg-ad-locked", "AD 775 account locked out");
    neg("neg-empty", "");
    name_entry("name-found", "uid=alice,ou=people,dc=example,dc=test");
    name_entry("name-not-found", "");
    name_entry("name-longest", longdn);
    revoked("revoked", T0);
    revoked("revoked-zero", 0);

    apr_pool_destroy(pool);
    apr_terminate();
    return 0;
}
