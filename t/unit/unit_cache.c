/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Unit tests for entry.c (include/pal_entry.h). Prints TAP; exits non-zero
 * when any test fails. Keys and entry MACs are also recomputed here with
 * OpenSSL's one-shot HMAC() from the documented layout, so the tests pin the
 * format, and hand-sealed payloads check that the decoders refuse malformed
 * contents even when the MAC is right.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "pal_entry.h"
#include "tap.h"

static apr_pool_t *pool;
static pal_secret secret, secret2;
static unsigned char ctx1[PAL_HASH_LEN], ctx2[PAL_HASH_LEN];

#define SEC(s) apr_time_from_sec(s)
#define T0     (apr_time_from_sec(1700000000))
#define ID     "P0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int streq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int contains(const void *hay, apr_size_t hlen, const void *needle,
                    apr_size_t nlen)
{
    const unsigned char *h = hay;
    apr_size_t i;

    for (i = 0; i + nlen <= hlen; i++)
        if (memcmp(h + i, needle, nlen) == 0)
            return 1;
    return 0;
}

static const char *hex(const unsigned char *b, apr_size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = apr_palloc(pool, 2 * n + 1);
    apr_size_t i;

    for (i = 0; i < n; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    s[2 * n] = '\0';
    return s;
}

static void put64(unsigned char *b, apr_uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* ---- an independent copy of the formats ---------------------------------- */

/* Byte buffer in the test pool. */
typedef struct {
    unsigned char *b;
    apr_size_t n, cap;
} buf;

static void buf_add(buf *x, const void *data, apr_size_t n)
{
    if (x->n + n > x->cap) {
        apr_size_t cap = (x->cap + n) * 2 + 64;
        unsigned char *nb = apr_palloc(pool, cap);

        if (x->n > 0)
            memcpy(nb, x->b, x->n);
        x->b = nb;
        x->cap = cap;
    }
    if (n > 0)
        memcpy(x->b + x->n, data, n);
    x->n += n;
}

static void buf_u8(buf *x, unsigned char c)
{
    buf_add(x, &c, 1);
}

static void buf_u32(buf *x, apr_uint32_t v)
{
    unsigned char b[4];

    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
    buf_add(x, b, 4);
}

static void buf_u64(buf *x, apr_uint64_t v)
{
    unsigned char b[8];

    put64(b, v);
    buf_add(x, b, 8);
}

static void buf_str(buf *x, const char *s)
{
    buf_u32(x, (apr_uint32_t)strlen(s));
    buf_add(x, s, strlen(s));
}

static void hmac(const pal_secret *sec, const buf *in,
                 unsigned char out[PAL_HASH_LEN])
{
    unsigned int len = 0;

    HMAC(EVP_sha256(), sec->bytes, PAL_SECRET_LEN, in->b, in->n, out, &len);
}

/* payload || HMAC(secret, "V" || len(id) || id || payload) */
static buf seal(const pal_secret *sec, const char *id, const buf *payload)
{
    buf in = {0}, out = {0};
    unsigned char mac[PAL_HASH_LEN];

    buf_u8(&in, 'V');
    buf_u64(&in, strlen(id));
    buf_add(&in, id, strlen(id));
    buf_add(&in, payload->b, payload->n);
    hmac(sec, &in, mac);
    buf_add(&out, payload->b, payload->n);
    buf_add(&out, mac, sizeof(mac));
    return out;
}

static const char *expected_key(pal_key_kind kind,
                                const unsigned char ctx[PAL_HASH_LEN],
                                const char *a, apr_size_t alen,
                                const char *b, apr_size_t blen)
{
    buf in = {0};
    unsigned char mac[PAL_HASH_LEN];

    buf_u8(&in, (unsigned char)kind);
    buf_add(&in, ctx, PAL_HASH_LEN);
    buf_u64(&in, alen);
    buf_add(&in, a, alen);
    buf_u8(&in, b != NULL);
    buf_u64(&in, b != NULL ? blen : 0);
    buf_add(&in, b, blen);
    hmac(&secret, &in, mac);
    {
        char lead[2];
        lead[0] = (char)(mac[PAL_HASH_LEN - 1] ? mac[PAL_HASH_LEN - 1] : 0xff);
        lead[1] = (char)kind;
        return apr_pstrcat(pool, apr_pstrmemdup(pool, lead, 2),
                           hex(mac, sizeof(mac)), NULL);
    }
}

/* ---- fixtures ------------------------------------------------------------ */

static pal_group_result groups3[] = {
    {"cn=staff,dc=example,dc=test", 1},
    {"cn=admins,dc=example,dc=test", 0},
    {"cn=proxy users,ou=groups,dc=example,dc=test", 1},
};

static pal_pos_entry sample_pos(void)
{
    pal_pos_entry e;

    e.validated = T0;
    e.last_used = T0 + SEC(42) + 17;
    e.login = "alice";
    e.dn = "uid=alice,ou=people,dc=example,dc=test";
    e.ngroups = 3;
    e.groups = groups3;
    return e;
}

static pal_neg_entry sample_neg(void)
{
    pal_neg_entry e;

    e.first_failure = T0;
    e.last_failure = T0 + SEC(5);
    e.reason = "AD 775 account locked out";
    return e;
}

static pal_name_entry sample_name(void)
{
    pal_name_entry e;

    e.stored = T0 - 1;
    e.dn = "uid=alice,ou=people,dc=example,dc=test";
    return e;
}

static pal_revoked_entry sample_revoked(void)
{
    pal_revoked_entry e;

    e.revoked = T0 - SEC(3600);
    return e;
}

static pal_windows windows(int idle, int max, int negative, int max_bad)
{
    pal_windows w;

    w.idle = idle;
    w.max = max;
    w.negative = negative;
    w.max_bad = max_bad;
    return w;
}

/* ---- secrets --------------------------------------------------------------- */

static const char *temp_file(const void *data, apr_size_t len)
{
    const char *dir;
    char *path;
    apr_file_t *f;
    apr_size_t written = 0;

    if (apr_temp_dir_get(&dir, pool) != APR_SUCCESS)
        return NULL;
    path = apr_pstrcat(pool, dir, "/pal_cache_XXXXXX", NULL);
    /* explicit flags: the default ones delete the file on close */
    if (apr_file_mktemp(&f, path, APR_FOPEN_CREATE | APR_FOPEN_READ
                                      | APR_FOPEN_WRITE | APR_FOPEN_EXCL,
                        pool) != APR_SUCCESS)
        return NULL;
    if (len > 0)
        apr_file_write_full(f, data, len, &written);
    apr_file_close(f);
    return written == len ? path : NULL;
}

static void test_secrets(void)
{
    static const char sixteen[] = "0123456789abcdef";
    pal_secret a, b, f;
    unsigned char want[PAL_HASH_LEN];
    unsigned int wlen = 0;
    const char *path, *err;
    char *big;

    ok(pal_secret_random(&a) == 1 && pal_secret_random(&b) == 1,
       "secret: random secrets made");
    ok(memcmp(a.bytes, b.bytes, PAL_SECRET_LEN) != 0,
       "secret: two random secrets differ");

    path = temp_file(sixteen, 16);
    memset(&f, 0, sizeof(f));
    err = pal_secret_from_file(pool, path, &f);
    EVP_Digest(sixteen, 16, want, &wlen, EVP_sha256(), NULL);
    ok(path != NULL && err == NULL
           && memcmp(f.bytes, want, PAL_HASH_LEN) == 0,
       "secret file: 16 bytes accepted, secret = SHA-256(bytes)");
    if (path != NULL)
        apr_file_remove(path, pool);

    path = temp_file(sixteen, 15);
    err = pal_secret_from_file(pool, path, &f);
    ok(err != NULL && strstr(err, "15 bytes") != NULL
           && strstr(err, "16") != NULL && strstr(err, path) != NULL,
       "secret file: 15 bytes refused, naming the file and the minimum");
    if (err != NULL)
        printf("#   %s\n", err);
    if (path != NULL)
        apr_file_remove(path, pool);

    path = temp_file("", 0);
    ok(pal_secret_from_file(pool, path, &f) != NULL,
       "secret file: empty file refused");
    if (path != NULL)
        apr_file_remove(path, pool);

    big = apr_palloc(pool, 65537);
    memset(big, 'x', 65537);
    path = temp_file(big, 65536);
    ok(pal_secret_from_file(pool, path, &f) == NULL,
       "secret file: 64 KiB accepted");
    if (path != NULL)
        apr_file_remove(path, pool);
    path = temp_file(big, 65537);
    err = pal_secret_from_file(pool, path, &f);
    ok(err != NULL && strstr(err, "larger") != NULL,
       "secret file: 64 KiB + 1 refused");
    if (path != NULL)
        apr_file_remove(path, pool);

    err = pal_secret_from_file(pool, "pal-cache-no-such-file.secret", &f);
    ok(err != NULL && strstr(err, "pal-cache-no-such-file.secret") != NULL,
       "secret file: a missing file is named in the message");
    if (err != NULL)
        printf("#   %s\n", err);
    ok(pal_secret_from_file(pool, NULL, &f) != NULL,
       "secret file: no path refused");
}

/* ---- contexts and keys ----------------------------------------------------- */

static void ctx_of(const pal_secret *sec, const char *const *fields, int n,
                   unsigned char out[PAL_HASH_LEN])
{
    pal_cache_context(sec, fields, n, out);
}

static int ctx_differ(const char *const *f1, int n1, const char *const *f2,
                      int n2)
{
    unsigned char a[PAL_HASH_LEN], b[PAL_HASH_LEN];

    ctx_of(&secret, f1, n1, a);
    ctx_of(&secret, f2, n2, b);
    return memcmp(a, b, PAL_HASH_LEN) != 0;
}

static void test_context(void)
{
    static const char *const f[] = {"Proxy", "ldap", "127.0.0.1", "389",
                                    "ou=people,dc=example,dc=test", "uid",
                                    "sub", "(objectClass=*)"};
    static const char *const a_bc[] = {"a", "bc"};
    static const char *const ab_c[] = {"ab", "c"};
    static const char *const null1[] = {NULL};
    static const char *const empty1[] = {""};
    static const char *const a1[] = {"a"};
    static const char *const a_empty[] = {"a", ""};
    static const char *const ba[] = {"b", "a"};
    static const char *const ab[] = {"a", "b"};
    unsigned char x[PAL_HASH_LEN], y[PAL_HASH_LEN];
    buf in = {0};
    unsigned char want[PAL_HASH_LEN];

    ctx_of(&secret, f, 8, x);
    ctx_of(&secret, f, 8, y);
    ok(memcmp(x, y, PAL_HASH_LEN) == 0, "context: deterministic");
    ctx_of(&secret2, f, 8, y);
    ok(memcmp(x, y, PAL_HASH_LEN) != 0, "context: another secret differs");

    buf_u8(&in, 'C');
    buf_u64(&in, 1);
    buf_add(&in, "a", 1);
    buf_u64(&in, 2);
    buf_add(&in, "bc", 2);
    hmac(&secret, &in, want);
    ctx_of(&secret, a_bc, 2, x);
    ok(memcmp(x, want, PAL_HASH_LEN) == 0,
       "context: HMAC over \"C\" and length-prefixed fields");

    ok(ctx_differ(a_bc, 2, ab_c, 2), "context: [a,bc] != [ab,c]");
    ok(ctx_differ(null1, 1, empty1, 1), "context: [NULL] != [\"\"]");
    ok(ctx_differ(a1, 1, a_empty, 2), "context: [a] != [a,\"\"]");
    ok(ctx_differ(NULL, 0, empty1, 1), "context: [] != [\"\"]");
    ok(ctx_differ(ab, 2, ba, 2), "context: field order matters");
    ok(ctx_differ(f, 8, f, 7), "context: a dropped field differs");

    /* The second call is answered from the thread's memo of the last
     * context: still the same HMAC, and never one of another secret. */
    ctx_of(&secret, a_bc, 2, x);
    ok(memcmp(x, want, PAL_HASH_LEN) == 0, "context: again (memo): same HMAC");
    ctx_of(&secret2, a_bc, 2, y);
    ok(memcmp(y, want, PAL_HASH_LEN) != 0,
       "context: same fields, another secret, after the memo: differs");
    ctx_of(&secret, a_bc, 2, x);
    ok(memcmp(x, want, PAL_HASH_LEN) == 0,
       "context: back to the first secret: its own HMAC");
    {
        /* longer than the memo's buffer: streamed, same construction */
        static char big[1500];
        const char *const longf[] = {"a", big};
        buf in2 = {0};

        memset(big, 'q', sizeof(big) - 1);
        buf_u8(&in2, 'C');
        buf_u64(&in2, 1);
        buf_add(&in2, "a", 1);
        buf_u64(&in2, sizeof(big) - 1);
        buf_add(&in2, big, sizeof(big) - 1);
        hmac(&secret, &in2, want);
        ctx_of(&secret, longf, 2, x);
        ok(memcmp(x, want, PAL_HASH_LEN) == 0,
           "context: a 1.5 KB field (not memoised): HMAC over the same input");
    }
}

static void test_keys(void)
{
    static const pal_key_kind kinds[] = {PAL_KEY_POSITIVE, PAL_KEY_NAME,
                                         PAL_KEY_NEGATIVE, PAL_KEY_REVOKED};
    const char *k, *k2, *kk[4];
    int i, j, distinct = 1, shape = 1;

    k = pal_cache_key(pool, &secret, PAL_KEY_POSITIVE, ctx1, "alice", 5,
                      "pw", 2);
    k2 = pal_cache_key(pool, &secret, PAL_KEY_POSITIVE, ctx1, "alice", 5,
                       "pw", 2);
    ok(streq(k, k2), "key: deterministic");
    ok(k != NULL && strlen(k) == 66 && k[0] != '\0' && k[1] == 'P'
           && strspn(k + 2, "0123456789abcdef") == 64,
       "key: spread byte + 'P' + 64 lower-case hex digits");
    ok(streq(k, expected_key(PAL_KEY_POSITIVE, ctx1, "alice", 5, "pw", 2)),
       "key: HMAC(kind || ctx || len a || a || 1 || len b || b)");
    ok(streq(pal_cache_key(pool, &secret, PAL_KEY_NAME, ctx1, "alice", 5,
                           NULL, 0),
             expected_key(PAL_KEY_NAME, ctx1, "alice", 5, NULL, 0)),
       "key: NULL b hashed as presence 0, length 0");

    for (i = 0; i < 4; i++) {
        kk[i] = pal_cache_key(pool, &secret, kinds[i], ctx1, "alice", 5,
                              "pw", 2);
        if (kk[i] == NULL || kk[i][1] != (char)kinds[i])
            shape = 0;
    }
    for (i = 0; i < 4; i++)
        for (j = i + 1; j < 4; j++)
            if (streq(kk[i], kk[j]) || streq(kk[i] + 2, kk[j] + 2))
                distinct = 0;
    ok(shape, "key: its second byte is the kind character");
    ok(distinct, "key: each kind hashes differently (not just the prefix)");

    ok(!streq(k, pal_cache_key(pool, &secret, PAL_KEY_POSITIVE, ctx2,
                               "alice", 5, "pw", 2)),
       "key: another context differs");
    ok(!streq(k, pal_cache_key(pool, &secret, PAL_KEY_POSITIVE, ctx1,
                               "alicf", 5, "pw", 2)),
       "key: another user differs");
    ok(!streq(k, pal_cache_key(pool, &secret, PAL_KEY_POSITIVE, ctx1,
                               "alice", 5, "pX", 2)),
       "key: another password differs");
    ok(!streq(k, pal_cache_key(pool, &secret2, PAL_KEY_POSITIVE, ctx1,
                               "alice", 5, "pw", 2)),
       "key: another secret differs");
    ok(!streq(pal_cache_key(pool, &secret, PAL_KEY_NAME, ctx1, "alice", 5,
                            NULL, 0),
              pal_cache_key(pool, &secret, PAL_KEY_NAME, ctx1, "alice", 5,
                            "", 0)),
       "key: NULL b != empty b");
    ok(!streq(pal_cache_key(pool, &secret, PAL_KEY_POSITIVE, ctx1, "ab", 2,
                            "c", 1),
              pal_cache_key(pool, &secret, PAL_KEY_POSITIVE, ctx1, "a", 1,
                            "bc", 2)),
       "key: a=ab,b=c != a=a,b=bc");
    ok(!streq(pal_cache_key(pool, &secret, PAL_KEY_POSITIVE, ctx1, "a", 1,
                            "pw\0x", 4),
              pal_cache_key(pool, &secret, PAL_KEY_POSITIVE, ctx1, "a", 1,
                            "pw", 2)),
       "key: lengths, not NULs, end the fields");
    ok(pal_cache_key(pool, &secret, PAL_KEY_REVOKED, ctx1, "", 0, NULL, 0)
           != NULL
           && pal_cache_key(pool, &secret, PAL_KEY_REVOKED, ctx1, NULL, 0,
                            NULL, 0) != NULL,
       "key: empty and NULL a with length 0 accepted");
    ok(pal_cache_key(pool, &secret, (pal_key_kind)'Q', ctx1, "a", 1, NULL, 0)
           == NULL,
       "key: unknown kind refused");
    ok(pal_cache_key(pool, &secret, PAL_KEY_NAME, ctx1, NULL, 3, NULL, 0)
           == NULL
           && pal_cache_key(pool, &secret, PAL_KEY_NAME, ctx1, "a", 1, NULL,
                            3) == NULL,
       "key: NULL with a non-zero length refused");
}

/* ---- entries --------------------------------------------------------------- */

static int pos_same(const pal_pos_entry *a, const pal_pos_entry *b)
{
    int i;

    if (a->validated != b->validated || a->last_used != b->last_used
        || !streq(a->login, b->login) || !streq(a->dn, b->dn)
        || a->ngroups != b->ngroups)
        return 0;
    for (i = 0; i < a->ngroups; i++)
        if (!streq(a->groups[i].norm, b->groups[i].norm)
            || (a->groups[i].member != 0) != (b->groups[i].member != 0))
            return 0;
    return 1;
}

static void test_round_trip(void)
{
    pal_pos_entry pe = sample_pos(), pd;
    pal_neg_entry ne = sample_neg(), nd;
    pal_name_entry me = sample_name(), md;
    pal_revoked_entry ae = sample_revoked(), ad;
    pal_group_result many[65];
    unsigned char *out;
    apr_size_t len;
    char *long_s;
    int i;

    len = pal_pos_encode(pool, &secret, ID, &pe, &out);
    memset(&pd, 0, sizeof(pd));
    ok(len > 0 && out != NULL && out[0] == 1
           && pal_pos_decode(pool, &secret, ID, out, len, &pd)
           && pos_same(&pe, &pd),
       "positive: round trip with three groups (version byte 1)");
    ok(pd.login != pe.login && pd.dn != pe.dn
           && pd.login[strlen(pe.login)] == '\0',
       "positive: decoded strings are NUL-terminated copies");

    pe.ngroups = 0;
    pe.groups = NULL;
    pe.validated = -5;
    pe.last_used = APR_INT64_MAX;
    pe.login = "";
    len = pal_pos_encode(pool, &secret, ID, &pe, &out);
    ok(len > 0 && pal_pos_decode(pool, &secret, ID, out, len, &pd)
           && pos_same(&pe, &pd) && pd.groups == NULL,
       "positive: no groups, negative and extreme times, empty login");

    pe = sample_pos();
    groups3[1].member = 7;
    len = pal_pos_encode(pool, &secret, ID, &pe, &out);
    ok(len > 0 && pal_pos_decode(pool, &secret, ID, out, len, &pd)
           && pd.groups[1].member == 1,
       "positive: a non-zero member flag is stored as 1");
    groups3[1].member = 0;

    for (i = 0; i < 65; i++) {
        many[i].norm = apr_psprintf(pool, "cn=g%d,dc=example,dc=test", i);
        many[i].member = i & 1;
    }
    pe.groups = many;
    pe.ngroups = 64;
    len = pal_pos_encode(pool, &secret, ID, &pe, &out);
    ok(len > 0 && pal_pos_decode(pool, &secret, ID, out, len, &pd)
           && pos_same(&pe, &pd),
       "positive: 64 groups round trip");
    pe.ngroups = 65;
    ok(pal_pos_encode(pool, &secret, ID, &pe, &out) == 0 && out == NULL,
       "positive: 65 groups refused by the encoder");
    pe.ngroups = -1;
    ok(pal_pos_encode(pool, &secret, ID, &pe, &out) == 0,
       "positive: negative group count refused");

    pe = sample_pos();
    long_s = apr_palloc(pool, 4098);
    memset(long_s, 'd', 4097);
    long_s[4096] = '\0';
    pe.dn = long_s;
    len = pal_pos_encode(pool, &secret, ID, &pe, &out);
    ok(len > 0 && pal_pos_decode(pool, &secret, ID, out, len, &pd)
           && pos_same(&pe, &pd),
       "positive: a 4096-byte DN round trips");
    long_s[4096] = 'd';
    long_s[4097] = '\0';
    ok(pal_pos_encode(pool, &secret, ID, &pe, &out) == 0,
       "positive: a 4097-byte DN refused by the encoder");

    len = pal_neg_encode(pool, &secret, ID, &ne, &out);
    memset(&nd, 0, sizeof(nd));
    ok(len > 0 && pal_neg_decode(pool, &secret, ID, out, len, &nd)
           && nd.first_failure == ne.first_failure
           && nd.last_failure == ne.last_failure
           && streq(nd.reason, ne.reason),
       "negative: round trip");
    ne.reason = NULL;
    len = pal_neg_encode(pool, &secret, ID, &ne, &out);
    ok(len > 0 && pal_neg_decode(pool, &secret, ID, out, len, &nd)
           && streq(nd.reason, ""),
       "negative: NULL reason stored as \"\"");

    len = pal_name_encode(pool, &secret, ID, &me, &out);
    memset(&md, 0, sizeof(md));
    ok(len > 0 && pal_name_decode(pool, &secret, ID, out, len, &md)
           && md.stored == me.stored && streq(md.dn, me.dn),
       "name: round trip");
    me.dn = "";
    len = pal_name_encode(pool, &secret, ID, &me, &out);
    ok(len > 0 && pal_name_decode(pool, &secret, ID, out, len, &md)
           && streq(md.dn, ""),
       "name: \"no such entry\" round trip");

    len = pal_revoked_encode(pool, &secret, ID, &ae, &out);
    memset(&ad, 0, sizeof(ad));
    ok(len > 0 && pal_revoked_decode(pool, &secret, ID, out, len, &ad)
           && ad.revoked == ae.revoked,
       "revoked: round trip");
}

/* Encodes one sample of every type. */
static int encode_all(const char *id, unsigned char *out[4], apr_size_t len[4])
{
    pal_pos_entry pe = sample_pos();
    pal_neg_entry ne = sample_neg();
    pal_name_entry me = sample_name();
    pal_revoked_entry ae = sample_revoked();

    len[0] = pal_pos_encode(pool, &secret, id, &pe, &out[0]);
    len[1] = pal_neg_encode(pool, &secret, id, &ne, &out[1]);
    len[2] = pal_name_encode(pool, &secret, id, &me, &out[2]);
    len[3] = pal_revoked_encode(pool, &secret, id, &ae, &out[3]);
    return len[0] && len[1] && len[2] && len[3];
}

/* Decodes data as type t (0 pos, 1 neg, 2 name, 3 revoked). */
static int decode_as(int t, const pal_secret *sec, const char *id,
                     const unsigned char *data, apr_size_t len)
{
    pal_pos_entry pd;
    pal_neg_entry nd;
    pal_name_entry md;
    pal_revoked_entry ad;

    switch (t) {
    case 0:
        return pal_pos_decode(pool, sec, id, data, len, &pd);
    case 1:
        return pal_neg_decode(pool, sec, id, data, len, &nd);
    case 2:
        return pal_name_decode(pool, sec, id, data, len, &md);
    default:
        return pal_revoked_decode(pool, sec, id, data, len, &ad);
    }
}

static const char *const type_names[] = {"positive", "negative", "name",
                                         "revoked"};

static void test_tamper(void)
{
    unsigned char *out[4], *copy;
    apr_size_t len[4], i, bad;
    int t, u, cross;
    pal_pos_entry untouched;

    ok(encode_all(ID, out, len), "tamper: samples encoded");

    for (t = 0; t < 4; t++) {
        unsigned char mac[PAL_HASH_LEN];
        buf payload = {0}, sealed;

        buf_add(&payload, out[t], len[t] - PAL_HASH_LEN);
        sealed = seal(&secret, ID, &payload);
        memcpy(mac, sealed.b + payload.n, PAL_HASH_LEN);
        ok(memcmp(mac, out[t] + len[t] - PAL_HASH_LEN, PAL_HASH_LEN) == 0,
           "%s: MAC = HMAC(secret, \"V\" || len(id) || id || payload)",
           type_names[t]);
    }

    copy = apr_palloc(pool, len[0]);
    bad = 0;
    memset(&untouched, 0x5a, sizeof(untouched));
    for (i = 0; i < len[0] * 8; i++) {
        pal_pos_entry pd;

        memcpy(copy, out[0], len[0]);
        copy[i / 8] ^= (unsigned char)(1u << (i % 8));
        memcpy(&pd, &untouched, sizeof(pd));
        if (pal_pos_decode(pool, &secret, ID, copy, len[0], &pd)
            || memcmp(&pd, &untouched, sizeof(pd)) != 0)
            bad++;
    }
    ok(bad == 0, "positive: each of %lu flipped bits refused, *out "
       "untouched", (unsigned long)(len[0] * 8));

    for (t = 1; t < 4; t++) {
        copy = apr_palloc(pool, len[t]);
        bad = 0;
        for (i = 0; i < len[t] * 8; i++) {
            memcpy(copy, out[t], len[t]);
            copy[i / 8] ^= (unsigned char)(1u << (i % 8));
            if (decode_as(t, &secret, ID, copy, len[t]))
                bad++;
        }
        ok(bad == 0, "%s: each flipped bit refused", type_names[t]);
    }

    for (t = 0; t < 4; t++) {
        bad = 0;
        for (i = 0; i < len[t]; i++) {
            /* an exact-size copy, so a sanitizer sees any read past it */
            unsigned char *pre = malloc(i ? i : 1);

            memcpy(pre, out[t], i);
            if (decode_as(t, &secret, ID, pre, i))
                bad++;
            free(pre);
        }
        ok(bad == 0 && decode_as(t, &secret, ID, out[t], len[t]),
           "%s: every truncated prefix (0..%lu bytes) refused",
           type_names[t], (unsigned long)len[t] - 1);
    }

    for (t = 0; t < 4; t++) {
        copy = apr_palloc(pool, len[t] + 1);
        memcpy(copy, out[t], len[t]);
        copy[len[t]] = 0;
        ok(!decode_as(t, &secret, ID, copy, len[t] + 1),
           "%s: a byte appended after the MAC refused", type_names[t]);
    }

    for (t = 0; t < 4; t++)
        ok(!decode_as(t, &secret, "P0123", out[t], len[t])
               && !decode_as(t, &secret, "", out[t], len[t])
               && !decode_as(t, &secret, NULL, out[t], len[t]),
           "%s: another id refused", type_names[t]);

    for (t = 0; t < 4; t++)
        ok(!decode_as(t, &secret2, ID, out[t], len[t]),
           "%s: another secret refused", type_names[t]);

    cross = 0;
    for (t = 0; t < 4; t++)
        for (u = 0; u < 4; u++)
            if (t != u && decode_as(u, &secret, ID, out[t], len[t]))
                cross++;
    ok(cross == 0, "entries: no type decodes as another");
    ok(!decode_as(0, &secret, ID, NULL, 0), "entries: NULL data refused");
}

/* Payloads with a correct MAC but contents the encoder never writes. */
static int sealed_pos_ok(const buf *payload)
{
    buf s = seal(&secret, ID, payload);
    unsigned char *exact = malloc(s.n);
    pal_pos_entry pd;
    int r;

    memcpy(exact, s.b, s.n);
    r = pal_pos_decode(pool, &secret, ID, exact, s.n, &pd);
    free(exact);
    return r;
}

static buf pos_payload(unsigned char version, unsigned char type,
                       apr_uint32_t ngroups, unsigned char member)
{
    buf p = {0};
    apr_uint32_t i;

    buf_u8(&p, version);
    buf_u8(&p, type);
    buf_u64(&p, (apr_uint64_t)T0);
    buf_u64(&p, (apr_uint64_t)T0);
    buf_str(&p, "alice");
    buf_str(&p, "uid=alice,dc=example,dc=test");
    buf_u32(&p, ngroups);
    for (i = 0; i < ngroups && i < 70; i++) {
        buf_str(&p, "cn=g,dc=example,dc=test");
        buf_u8(&p, member);
    }
    return p;
}

static void test_strict_contents(void)
{
    buf p;
    apr_size_t i;

    p = pos_payload(1, 'P', 2, 1);
    ok(sealed_pos_ok(&p), "sealed by hand: well-formed payload accepted");
    p = pos_payload(2, 'P', 2, 1);
    ok(!sealed_pos_ok(&p), "sealed by hand: version 2 refused");
    p = pos_payload(0, 'P', 2, 1);
    ok(!sealed_pos_ok(&p), "sealed by hand: version 0 refused");
    p = pos_payload(1, 'X', 2, 1);
    ok(!sealed_pos_ok(&p), "sealed by hand: another type byte refused");
    p = pos_payload(1, 'P', 2, 1);
    buf_u8(&p, 0);
    ok(!sealed_pos_ok(&p), "sealed by hand: trailing byte refused");
    p = pos_payload(1, 'P', 2, 2);
    ok(!sealed_pos_ok(&p), "sealed by hand: member flag 2 refused");
    p = pos_payload(1, 'P', 64, 0);
    ok(sealed_pos_ok(&p), "sealed by hand: 64 groups accepted");
    p = pos_payload(1, 'P', 65, 0);
    ok(!sealed_pos_ok(&p), "sealed by hand: 65 groups refused");
    p = pos_payload(1, 'P', 3, 0);
    p.n -= 24 + 4;  /* drop the last group: count says 3, 2 follow */
    ok(!sealed_pos_ok(&p), "sealed by hand: missing group refused");
    p = pos_payload(1, 'P', 0, 0);
    p.n -= 4;
    buf_u32(&p, 0xffffffffu);
    ok(!sealed_pos_ok(&p), "sealed by hand: group count 2^32-1 refused");

    p.n = 0;
    buf_u8(&p, 1);
    buf_u8(&p, 'P');
    buf_u64(&p, 0);
    buf_u64(&p, 0);
    buf_u32(&p, 4097);
    for (i = 0; i < 4097; i++)
        buf_u8(&p, 'a');
    buf_str(&p, "");
    buf_u32(&p, 0);
    ok(!sealed_pos_ok(&p), "sealed by hand: a 4097-byte string refused");

    p.n = 0;
    buf_u8(&p, 1);
    buf_u8(&p, 'P');
    buf_u64(&p, 0);
    buf_u64(&p, 0);
    buf_u32(&p, 0xfffffff0u);
    buf_str(&p, "");
    buf_u32(&p, 0);
    ok(!sealed_pos_ok(&p), "sealed by hand: a huge string length refused");

    p.n = 0;
    buf_u8(&p, 1);
    buf_u8(&p, 'P');
    buf_u64(&p, 0);
    buf_u64(&p, 0);
    buf_u32(&p, 3);
    buf_add(&p, "a\0b", 3);
    buf_str(&p, "");
    buf_u32(&p, 0);
    ok(!sealed_pos_ok(&p), "sealed by hand: a string holding NUL refused");

    p.n = 0;
    buf_u8(&p, 1);
    buf_u8(&p, 'P');
    ok(!sealed_pos_ok(&p), "sealed by hand: header only refused");
}

/* ---- windows --------------------------------------------------------------- */

static int pos_ok(apr_time_t validated, apr_time_t last_used,
                  const pal_windows *w, apr_time_t now, apr_time_t revoked)
{
    pal_pos_entry e = sample_pos();

    e.validated = validated;
    e.last_used = last_used;
    return pal_pos_usable(&e, w, now, revoked);
}

static int touch(apr_time_t last_used, int idle, apr_time_t now)
{
    pal_pos_entry e = sample_pos();
    pal_windows w = windows(idle, 3600, 30, 3);

    e.last_used = last_used;
    return pal_pos_needs_touch(&e, &w, now);
}

static void test_pos_windows(void)
{
    pal_windows w = windows(300, 3600, 30, 3);
    pal_windows off = windows(0, 3600, 30, 3);
    pal_pos_entry e = sample_pos();
    apr_time_t now = T0 + SEC(1000);

    ok(pos_ok(now - SEC(300) + 1, now - SEC(300) + 1, &w, now, 0),
       "session: idle 300, last use 300 s - 1 us ago: usable");
    ok(!pos_ok(now - SEC(300), now - SEC(300), &w, now, 0),
       "session: idle 300, last use 300 s ago: expired");
    ok(pos_ok(now - SEC(3600) + 1, now, &w, now, 0),
       "session: max 3600, validated 3600 s - 1 us ago: usable");
    ok(!pos_ok(now - SEC(3600), now, &w, now, 0),
       "session: max 3600, validated 3600 s ago: expired despite use");
    ok(pos_ok(now, now, &w, now, 0), "session: validated now: usable");
    ok(!pos_ok(now + 1, now + 1, &w, now, 0),
       "session: validated 1 us in the future: ignored");
    ok(!pos_ok(now + SEC(60), now - SEC(1), &w, now, 0),
       "session: future validation ignored whatever the last use");
    ok(pos_ok(now - SEC(10), now, &w, now, now - SEC(10)),
       "session: revoked at the validation time: usable");
    ok(!pos_ok(now - SEC(10), now, &w, now, now - SEC(10) + 1),
       "session: revoked 1 us after validation: void");
    ok(pos_ok(now - SEC(10), now, &w, now, now - SEC(11)),
       "session: revoked before validation: usable");
    ok(pos_ok(now - SEC(10), now, &w, now, 0), "session: revoked 0 = never");
    ok(!pos_ok(now, now, &off, now, 0), "session: idle 0: never usable");

    ok(!touch(now - SEC(30) + 1, 300, now),
       "touch: idle 300, used 30 s - 1 us ago: no rewrite");
    ok(touch(now - SEC(30), 300, now),
       "touch: idle 300, used 30 s ago: rewrite");
    ok(!touch(now - SEC(1) + 1, 5, now),
       "touch: idle 5, used 1 s - 1 us ago: no rewrite (1 s floor)");
    ok(touch(now - SEC(1), 5, now), "touch: idle 5, used 1 s ago: rewrite");
    ok(!touch(now - apr_time_from_msec(1500) + 1, 15, now)
           && touch(now - apr_time_from_msec(1500), 15, now),
       "touch: idle 15 -> every 1.5 s");
    ok(!touch(now + SEC(5), 300, now), "touch: last use in the future: no");

    e.validated = now - SEC(3500);
    e.last_used = now - SEC(10);
    ok(pal_pos_expiry(&e, &w) == now + SEC(100),
       "expiry: validated + max when that comes first");
    e.validated = now - SEC(10);
    ok(pal_pos_expiry(&e, &w) == now + SEC(290),
       "expiry: last use + idle when that comes first");
}

static int neg_ok(apr_time_t first, apr_time_t last, const pal_windows *w,
                  apr_time_t now)
{
    pal_neg_entry e = sample_neg();

    e.first_failure = first;
    e.last_failure = last;
    return pal_neg_usable(&e, w, now);
}

static void test_neg_windows(void)
{
    pal_windows w = windows(300, 3600, 30, 3);
    pal_windows off = windows(300, 3600, 0, 3);
    pal_neg_entry e = sample_neg();
    apr_time_t now = T0 + SEC(5000), t;
    int renewed = 1;

    ok(neg_ok(now - SEC(30) + 1, now - SEC(30) + 1, &w, now),
       "negative: last failure 30 s - 1 us ago: answers 407");
    ok(!neg_ok(now - SEC(30), now - SEC(30), &w, now),
       "negative: last failure 30 s ago: expired");
    ok(!neg_ok(now + 1, now + 1, &w, now),
       "negative: last failure in the future: ignored");
    ok(!neg_ok(now, now, &off, now), "negative: TTL 0: never");
    ok(neg_ok(now - SEC(3600) + 1, now, &w, now),
       "negative: first failure 3600 s - 1 us ago: still answers");
    ok(!neg_ok(now - SEC(3600), now, &w, now),
       "negative: first failure 3600 s ago: expired despite retries");

    e.last_failure = now - SEC(1) + 1;
    ok(!pal_neg_needs_touch(&e, now), "negative: renewed at most once a second");
    e.last_failure = now - SEC(1);
    ok(pal_neg_needs_touch(&e, now), "negative: renewed after a second");

    /* a client retrying every 20 s keeps its entry until SessionMax */
    e.first_failure = now;
    e.last_failure = now;
    for (t = now + SEC(20); t < now + SEC(3600); t += SEC(20)) {
        if (!pal_neg_usable(&e, &w, t) || !pal_neg_needs_touch(&e, t))
            renewed = 0;
        e.last_failure = t;
    }
    ok(renewed, "negative: retries every 20 s renew the entry");
    ok(!pal_neg_usable(&e, &w, now + SEC(3600)),
       "negative: ... until SessionMax after the first failure");
    e.last_failure = now + SEC(3580);
    ok(pal_neg_expiry(&e, &w) == now + SEC(3600),
       "negative expiry: first failure + max when that comes first");
    e.last_failure = now + SEC(10);
    ok(pal_neg_expiry(&e, &w) == now + SEC(40),
       "negative expiry: last failure + TTL when that comes first");
}

/* ---- no password material ---------------------------------------------------- */

static void test_no_password(void)
{
    static const char user[] = "alice";
    static const char pw[] = "C0rrect-Horse-Battery";
    unsigned char d1[PAL_HASH_LEN], d2[PAL_HASH_LEN];
    const char *needles[5];
    apr_size_t nlen[5];
    const char *joined = apr_pstrcat(pool, user, ":", pw, NULL);
    const char *kp, *kx, *kn, *ka;
    pal_pos_entry pe = sample_pos();
    pal_neg_entry ne = sample_neg();
    pal_name_entry me = sample_name();
    pal_revoked_entry ae = sample_revoked();
    unsigned char *out[4];
    apr_size_t len[4];
    unsigned int l = 0;
    int i, j, found = 0;

    EVP_Digest(pw, strlen(pw), d1, &l, EVP_sha256(), NULL);
    EVP_Digest(joined, strlen(joined), d2, &l, EVP_sha256(), NULL);
    needles[0] = pw;
    nlen[0] = strlen(pw);
    needles[1] = (const char *)d1;
    nlen[1] = sizeof(d1);
    needles[2] = (const char *)d2;
    nlen[2] = sizeof(d2);
    needles[3] = hex(d1, sizeof(d1));
    nlen[3] = 64;
    needles[4] = hex(d2, sizeof(d2));
    nlen[4] = 64;

    kp = pal_cache_key(pool, &secret, PAL_KEY_POSITIVE, ctx1, user,
                       strlen(user), pw, strlen(pw));
    kx = pal_cache_key(pool, &secret, PAL_KEY_NEGATIVE, ctx1, pe.dn,
                       strlen(pe.dn), pw, strlen(pw));
    kn = pal_cache_key(pool, &secret, PAL_KEY_NAME, ctx1, user, strlen(user),
                       NULL, 0);
    ka = pal_cache_key(pool, &secret, PAL_KEY_REVOKED, ctx1, pe.dn,
                       strlen(pe.dn), NULL, 0);
    len[0] = pal_pos_encode(pool, &secret, kp, &pe, &out[0]);
    len[1] = pal_neg_encode(pool, &secret, kx, &ne, &out[1]);
    len[2] = pal_name_encode(pool, &secret, kn, &me, &out[2]);
    len[3] = pal_revoked_encode(pool, &secret, ka, &ae, &out[3]);

    for (j = 0; j < 5; j++) {
        found += contains(kp, strlen(kp), needles[j], nlen[j]);
        found += contains(kx, strlen(kx), needles[j], nlen[j]);
        found += contains(kn, strlen(kn), needles[j], nlen[j]);
        found += contains(ka, strlen(ka), needles[j], nlen[j]);
        for (i = 0; i < 4; i++)
            found += contains(out[i], len[i], needles[j], nlen[j]);
    }
    ok(len[0] && len[1] && len[2] && len[3] && found == 0,
       "no key or entry holds the password, SHA-256(password) or "
       "SHA-256(user:password), raw or hex");
}

static void test_memeq(void)
{
    ok(pal_memeq("abcd", "abcd", 4), "memeq: equal");
    ok(!pal_memeq("abcd", "abce", 4), "memeq: last byte differs");
    ok(!pal_memeq("xbcd", "abcd", 4), "memeq: first byte differs");
    ok(pal_memeq("a", "b", 0), "memeq: zero length is equal");
}

/* A prepared secret (a keyed HMAC context copied per call) must hash
 * exactly as the slow path does, for keys, contexts and MACs. */
static void test_prepared(void)
{
    pal_secret slow, fast;
    unsigned char c1[PAL_HASH_LEN], c2[PAL_HASH_LEN];
    const char *f[2] = { "realm", "ldap://h/dc=x" };
    pal_neg_entry ne = { 1, 2, "bad password" };
    unsigned char *d1, *d2;
    apr_size_t n1, n2;
    const char *k1, *k2;

    pal_secret_random(&slow);
    fast = slow;
    ok(pal_secret_prepare(&fast) == 1 && fast.keyed != NULL,
       "prepared secret: keyed context made");
    pal_cache_context(&slow, f, 2, c1);
    pal_cache_context(&fast, f, 2, c2);
    ok(memcmp(c1, c2, PAL_HASH_LEN) == 0, "prepared secret: same context");
    k1 = pal_cache_key(pool, &slow, PAL_KEY_NEGATIVE, c1, "alice", 5, "pw", 2);
    k2 = pal_cache_key(pool, &fast, PAL_KEY_NEGATIVE, c2, "alice", 5, "pw", 2);
    ok(streq(k1, k2), "prepared secret: same key");
    n1 = pal_neg_encode(pool, &slow, k1, &ne, &d1);
    n2 = pal_neg_encode(pool, &fast, k2, &ne, &d2);
    ok(n1 == n2 && n1 > 0 && memcmp(d1, d2, n1) == 0,
       "prepared secret: same sealed entry");
    ok(pal_neg_decode(pool, &slow, k1, d2, n2, &ne)
       && pal_neg_decode(pool, &fast, k1, d1, n1, &ne),
       "prepared secret: each reads the other's entries");
    k2 = pal_cache_key(pool, &fast, PAL_KEY_NEGATIVE, c2, "alice", 5, "pw", 2);
    ok(streq(k1, k2), "prepared secret: reusable (the template is not used up)");
    pal_secret_release(&fast);
    ok(fast.keyed == NULL, "prepared secret: released");
}

int main(void)
{
    static const char *const scope1[] = {"Proxy", "ldap://127.0.0.1/"};
    static const char *const scope2[] = {"Proxy", "ldap://127.0.0.2/"};

    apr_initialize();
    apr_pool_create(&pool, NULL);
    memset(secret.bytes, 0x11, PAL_SECRET_LEN);
    memset(secret2.bytes, 0x11, PAL_SECRET_LEN);
    secret2.bytes[PAL_SECRET_LEN - 1] = 0x12;
    pal_cache_context(&secret, scope1, 2, ctx1);
    pal_cache_context(&secret, scope2, 2, ctx2);

    test_secrets();
    test_context();
    test_keys();
    test_round_trip();
    test_tamper();
    test_strict_contents();
    test_pos_windows();
    test_neg_windows();
    test_no_password();
    test_memeq();
    test_prepared();

    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
