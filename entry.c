/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * The cache entries (include/pal_entry.h): keyed hashes, entries sealed
 * with a MAC, and the session windows. APR and libcrypto only, so the
 * unit tests and the fuzzer link this file alone.
 *
 * Every HMAC input starts with a byte of its own ('C' contexts, 'V' entry
 * MACs, the kind character for keys), so no input of one use can be read as
 * an input of another under the same secret.
 *
 * HMAC-SHA-256 is computed here from SHA-256's block API, with the inner and
 * outer states of the secret computed once (RFC 2104): a MAC is then two
 * struct copies and the hashing itself. EVP_MAC_CTX_dup and free per MAC
 * cost an allocation and a dozen atomic reference counts on objects every
 * thread shares; with 64 threads on a hit each, those counters' cache lines
 * were most of the time a hit took. The block API is deprecated in OpenSSL
 * 3.0 but present throughout 3.x, hence OPENSSL_SUPPRESS_DEPRECATED.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_general.h>
#include <apr_strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "pal_entry.h"

#define PAL_ENTRY_VERSION   1
#define PAL_SECRET_FILE_MIN 16
#define PAL_SECRET_FILE_MAX (64 * 1024)

/* Length prefix of a NULL context field: no real length reaches it, so NULL
 * and "" hash differently. */
#define PAL_NULL_FIELD APR_UINT64_MAX

/* ---- integers ------------------------------------------------------------ */

static void put_u64(unsigned char *b, apr_uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static void put_u32(unsigned char *b, apr_uint32_t v)
{
    int i;

    for (i = 3; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static apr_uint64_t get_u64(const unsigned char *b)
{
    apr_uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

static apr_uint32_t get_u32(const unsigned char *b)
{
    apr_uint32_t v = 0;
    int i;

    for (i = 0; i < 4; i++)
        v = (v << 8) | b[i];
    return v;
}

/* Two's complement by hand: a cast of a value above INT64_MAX to a signed
 * type is implementation-defined. */
static apr_uint64_t time_to_u64(apr_time_t t)
{
    return (apr_uint64_t)t;
}

static apr_time_t u64_to_time(apr_uint64_t v)
{
    if (v <= (apr_uint64_t)APR_INT64_MAX)
        return (apr_time_t)v;
    return -(apr_time_t)(~v) - 1;
}

/* ---- time arithmetic ----------------------------------------------------- */

/* Stored times may come from other servers' clocks (a shared redis): keep
 * the arithmetic defined whatever they are. */
static apr_time_t elapsed(apr_time_t now, apr_time_t then)
{
    if (then < 0 && now > APR_INT64_MAX + then)
        return APR_INT64_MAX;
    if (then > 0 && now < APR_INT64_MIN + then)
        return APR_INT64_MIN;
    return now - then;
}

static apr_time_t plus(apr_time_t t, apr_time_t d)
{
    if (d > 0 && t > APR_INT64_MAX - d)
        return APR_INT64_MAX;
    if (d < 0 && t < APR_INT64_MIN - d)
        return APR_INT64_MIN;
    return t + d;
}

static apr_time_t secs(int s)
{
    return apr_time_from_sec((apr_time_t)s);
}

static apr_time_t earlier(apr_time_t a, apr_time_t b)
{
    return a < b ? a : b;
}

/* ---- HMAC-SHA-256 ---------------------------------------------------------- */

/* Streaming, so keys never need a buffer holding the password. */
typedef struct {
    SHA256_CTX inner, outer;
    int ok;
} pal_hmac;

/* What pal_secret.keyed points to: the states after the key's padded
 * blocks, which every MAC under that key starts from. */
typedef struct {
    SHA256_CTX inner, outer;
} pal_keyed;

/* The state after one padded key block (ipad 0x36, opad 0x5c). */
static int keyed_block(SHA256_CTX *c, const unsigned char *key,
                       unsigned char fill)
{
    unsigned char pad[SHA256_CBLOCK];
    int i, ok;

    memset(pad, fill, sizeof(pad));
    for (i = 0; i < PAL_SECRET_LEN; i++)
        pad[i] ^= key[i];
    ok = SHA256_Init(c) == 1 && SHA256_Update(c, pad, sizeof(pad)) == 1;
    OPENSSL_cleanse(pad, sizeof(pad));
    return ok;
}

static int hmac_key_states(const unsigned char *key, SHA256_CTX *inner,
                           SHA256_CTX *outer)
{
    return keyed_block(inner, key, 0x36) && keyed_block(outer, key, 0x5c);
}

static void hmac_begin(pal_hmac *h, const pal_secret *sec)
{
    const pal_keyed *k = sec->keyed;

    if (k) {
        h->inner = k->inner;
        h->outer = k->outer;
        h->ok = 1;
        return;
    }
    h->ok = hmac_key_states(sec->bytes, &h->inner, &h->outer);
}

static void hmac_add(pal_hmac *h, const void *data, apr_size_t len)
{
    if (h->ok && len > 0)
        h->ok = SHA256_Update(&h->inner, data, len) == 1;
}

static void hmac_byte(pal_hmac *h, unsigned char c)
{
    hmac_add(h, &c, 1);
}

static void hmac_len(pal_hmac *h, apr_uint64_t n)
{
    unsigned char b[8];

    put_u64(b, n);
    hmac_add(h, b, sizeof(b));
}

static int hmac_end(pal_hmac *h, unsigned char out[PAL_HASH_LEN])
{
    unsigned char d[SHA256_DIGEST_LENGTH];

    if (h->ok)
        h->ok = SHA256_Final(d, &h->inner) == 1
                && SHA256_Update(&h->outer, d, sizeof(d)) == 1
                && SHA256_Final(out, &h->outer) == 1;
    OPENSSL_cleanse(d, sizeof(d));
    OPENSSL_cleanse(&h->inner, sizeof(h->inner));
    OPENSSL_cleanse(&h->outer, sizeof(h->outer));
    if (!h->ok)
        OPENSSL_cleanse(out, PAL_HASH_LEN);
    return h->ok;
}

/* ---- secrets --------------------------------------------------------------- */

int pal_secret_random(pal_secret *s)
{
    s->keyed = NULL;
    return apr_generate_random_bytes(s->bytes, sizeof(s->bytes))
           == APR_SUCCESS;
}

int pal_secret_prepare(pal_secret *s)
{
    pal_keyed *k;

    pal_secret_release(s);
    k = malloc(sizeof(*k));
    if (!k)
        return 0;
    if (!hmac_key_states(s->bytes, &k->inner, &k->outer)) {
        OPENSSL_cleanse(k, sizeof(*k));
        free(k);
        return 0;
    }
    s->keyed = k;
    return 1;
}

void pal_secret_release(pal_secret *s)
{
    if (s->keyed) {
        OPENSSL_cleanse(s->keyed, sizeof(pal_keyed));
        free(s->keyed);
        s->keyed = NULL;
    }
}

const char *pal_secret_from_file(apr_pool_t *p, const char *path,
                                 pal_secret *s)
{
    apr_file_t *f;
    apr_status_t rv;
    unsigned char *buf;
    apr_size_t n = 0;
    unsigned int mdlen = 0;
    const char *err = NULL;
    char msg[120];

    s->keyed = NULL;
    if (path == NULL || *path == '\0')
        return "no secret file given";
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY,
                       APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS)
        return apr_psprintf(p, "cannot open %s: %s", path,
                            apr_strerror(rv, msg, sizeof(msg)));
    /* one byte over the limit tells a too large file from a full one */
    buf = apr_palloc(p, PAL_SECRET_FILE_MAX + 1);
    rv = apr_file_read_full(f, buf, PAL_SECRET_FILE_MAX + 1, &n);
    apr_file_close(f);

    if (rv != APR_SUCCESS && rv != APR_EOF)
        err = apr_psprintf(p, "cannot read %s: %s", path,
                           apr_strerror(rv, msg, sizeof(msg)));
    else if (n > PAL_SECRET_FILE_MAX)
        err = apr_psprintf(p, "%s is larger than %d bytes", path,
                           PAL_SECRET_FILE_MAX);
    else if (n < PAL_SECRET_FILE_MIN)
        err = apr_psprintf(p, "%s holds %" APR_SIZE_T_FMT " bytes; a secret "
                           "file needs at least %d", path, n,
                           PAL_SECRET_FILE_MIN);
    else if (EVP_Digest(buf, n, s->bytes, &mdlen, EVP_sha256(), NULL) != 1
             || mdlen != PAL_SECRET_LEN)
        err = apr_psprintf(p, "cannot hash %s", path);

    /* pool memory is reused: leave no copy of the secret behind */
    OPENSSL_cleanse(buf, PAL_SECRET_FILE_MAX + 1);
    return err;
}

/* ---- contexts and keys ----------------------------------------------------- */

/* A context that could not be computed must still differ from every other
 * scope's, or two scopes would share entries: random, never a constant. */
static void context_fallback(unsigned char ctx[PAL_HASH_LEN])
{
    static unsigned int counter;
    unsigned int c;

    if (apr_generate_random_bytes(ctx, PAL_HASH_LEN) == APR_SUCCESS)
        return;
    c = ++counter;
    memset(ctx, 0xa5, PAL_HASH_LEN);
    memcpy(ctx, &c, sizeof(c));
}

/* The last context this thread computed, by value: requests of one scope
 * follow each other, and a cache hit then costs one HMAC fewer (a third
 * of its work). Thread-local, so no lock; fixed-size, so nothing to free
 * when the thread ends. The secret is part of the key: a context is never
 * served for another secret. */
#define CONTEXT_MEMO_BYTES 1024
static _Thread_local struct {
    apr_size_t len;              /* 0: empty */
    unsigned char secret[PAL_SECRET_LEN];
    unsigned char ctx[PAL_HASH_LEN];
    unsigned char in[CONTEXT_MEMO_BYTES];
} memo;

/* The HMAC input of a context ('C', then each field as its length and its
 * bytes); 0 when it does not fit. */
static apr_size_t context_input(const char *const *fields, int nfields,
                                unsigned char *in)
{
    apr_size_t at = 0;
    int i;

    in[at++] = 'C';
    for (i = 0; i < nfields; i++) {
        apr_size_t n = fields[i] ? strlen(fields[i]) : 0;

        if (n > CONTEXT_MEMO_BYTES || at + 8 + n > CONTEXT_MEMO_BYTES)
            return 0;
        put_u64(in + at, fields[i] ? n : PAL_NULL_FIELD);
        at += 8;
        memcpy(in + at, fields[i] ? fields[i] : "", n);
        at += n;
    }
    return at;
}

static void context_streamed(const pal_secret *sec, const char *const *fields,
                             int nfields, unsigned char ctx[PAL_HASH_LEN])
{
    pal_hmac h;
    int i;

    hmac_begin(&h, sec);
    hmac_byte(&h, 'C');
    for (i = 0; i < nfields; i++) {
        apr_size_t n;

        if (fields[i] == NULL) {
            hmac_len(&h, PAL_NULL_FIELD);
            continue;
        }
        n = strlen(fields[i]);
        hmac_len(&h, n);
        hmac_add(&h, fields[i], n);
    }
    if (!hmac_end(&h, ctx))
        context_fallback(ctx);
}

void pal_cache_context(const pal_secret *sec, const char *const *fields,
                       int nfields, unsigned char ctx[PAL_HASH_LEN])
{
    unsigned char in[CONTEXT_MEMO_BYTES];
    apr_size_t len = context_input(fields, nfields, in);
    pal_hmac h;

    if (len == 0) {
        context_streamed(sec, fields, nfields, ctx);
        return;
    }
    if (memo.len == len && !memcmp(memo.in, in, len)
        && !memcmp(memo.secret, sec->bytes, PAL_SECRET_LEN)) {
        memcpy(ctx, memo.ctx, PAL_HASH_LEN);
        return;
    }
    hmac_begin(&h, sec);
    hmac_add(&h, in, len);
    if (!hmac_end(&h, ctx)) {
        context_fallback(ctx);
        return;
    }
    memcpy(memo.secret, sec->bytes, PAL_SECRET_LEN);
    memcpy(memo.in, in, len);
    memcpy(memo.ctx, ctx, PAL_HASH_LEN);
    memo.len = len;
}

static int known_kind(pal_key_kind kind)
{
    return kind == PAL_KEY_POSITIVE || kind == PAL_KEY_NAME
           || kind == PAL_KEY_NEGATIVE || kind == PAL_KEY_REVOKED
           || kind == PAL_KEY_LOCK || kind == PAL_KEY_TRY
           || kind == PAL_KEY_PRINCIPAL;
}

int pal_cache_digest(const pal_secret *sec, pal_key_kind kind,
                     const unsigned char ctx[PAL_HASH_LEN],
                     const char *a, apr_size_t alen,
                     const char *b, apr_size_t blen,
                     unsigned char md[PAL_HASH_LEN])
{
    pal_hmac h;

    if (!known_kind(kind) || (a == NULL && alen > 0)
        || (b == NULL && blen > 0))
        return 0;
    hmac_begin(&h, sec);
    hmac_byte(&h, (unsigned char)kind);
    hmac_add(&h, ctx, PAL_HASH_LEN);
    hmac_len(&h, alen);
    hmac_add(&h, a, alen);
    hmac_byte(&h, b != NULL);
    hmac_len(&h, blen);
    hmac_add(&h, b, blen);
    return hmac_end(&h, md);
}

const char *pal_cache_key(apr_pool_t *p, const pal_secret *sec,
                          pal_key_kind kind,
                          const unsigned char ctx[PAL_HASH_LEN],
                          const char *a, apr_size_t alen,
                          const char *b, apr_size_t blen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[PAL_HASH_LEN];
    char *key;
    int i;

    if (!pal_cache_digest(sec, kind, ctx, a, alen, b, blen, md))
        return NULL;

    /* shmcb picks one of up to 256 subcaches by the id's first byte: a
     * byte of the HMAC spreads entries over all of them (a kind letter or
     * a hex digit would crowd every session into one or sixteen). */
    key = apr_palloc(p, 2 + 2 * PAL_HASH_LEN + 1);
    key[0] = (char)(md[PAL_HASH_LEN - 1] ? md[PAL_HASH_LEN - 1] : 0xff);
    key[1] = (char)kind;
    for (i = 0; i < PAL_HASH_LEN; i++) {
        key[2 + 2 * i] = hex[md[i] >> 4];
        key[3 + 2 * i] = hex[md[i] & 15];
    }
    key[2 + 2 * PAL_HASH_LEN] = '\0';
    return key;
}

/* ---- sealed entries -------------------------------------------------------- */

/*
 * Layout: version, entry type (the kind character, so one type is never
 * read as another), fixed-width big-endian fields, strings as a 4-byte
 * length and their bytes, then the MAC. Encoders refuse whatever the
 * decoders would refuse, so everything stored can be read back.
 */

static int entry_mac(const pal_secret *sec, const char *id,
                     const unsigned char *payload, apr_size_t len,
                     unsigned char mac[PAL_HASH_LEN])
{
    pal_hmac h;
    apr_size_t idlen = strlen(id);

    hmac_begin(&h, sec);
    hmac_byte(&h, 'V');
    hmac_len(&h, idlen);
    hmac_add(&h, id, idlen);
    hmac_add(&h, payload, len);
    return hmac_end(&h, mac);
}

/* Adds the encoded size of s to *n; 0 when s is too long to store. */
static int str_size(const char *s, apr_size_t *n)
{
    apr_size_t len = s != NULL ? strlen(s) : 0;

    if (len > PAL_ENTRY_MAX_STRING)
        return 0;
    *n += 4 + len;
    return 1;
}

static unsigned char *put_str(unsigned char *w, const char *s)
{
    apr_size_t len = s != NULL ? strlen(s) : 0;

    put_u32(w, (apr_uint32_t)len);
    if (len > 0)
        memcpy(w + 4, s, len);
    return w + 4 + len;
}

static unsigned char *put_time(unsigned char *w, apr_time_t t)
{
    put_u64(w, time_to_u64(t));
    return w + 8;
}

/* A buffer for a payload of plen bytes and its MAC, header written. */
static unsigned char *entry_begin(apr_pool_t *p, apr_size_t plen,
                                  pal_key_kind type, unsigned char **w)
{
    unsigned char *buf = apr_palloc(p, plen + PAL_HASH_LEN);

    buf[0] = PAL_ENTRY_VERSION;
    buf[1] = (unsigned char)type;
    *w = buf + 2;
    return buf;
}

static apr_size_t entry_seal(const pal_secret *sec, const char *id,
                             unsigned char *buf, apr_size_t plen,
                             unsigned char **out)
{
    if (!entry_mac(sec, id, buf, plen, buf + plen))
        return 0;
    *out = buf;
    return plen + PAL_HASH_LEN;
}

typedef struct {
    const unsigned char *p;
    apr_size_t left;
    int ok;
} pal_reader;

/* Checks the MAC before anything else is looked at, then the header. */
static int entry_open(const pal_secret *sec, const char *id,
                      pal_key_kind type, const unsigned char *data,
                      apr_size_t len, pal_reader *r)
{
    unsigned char mac[PAL_HASH_LEN];
    apr_size_t plen;
    int same;

    if (id == NULL || data == NULL || len < 2 + PAL_HASH_LEN)
        return 0;
    plen = len - PAL_HASH_LEN;
    if (!entry_mac(sec, id, data, plen, mac))
        return 0;
    same = pal_memeq(mac, data + plen, PAL_HASH_LEN);
    if (!same || data[0] != PAL_ENTRY_VERSION
        || data[1] != (unsigned char)type)
        return 0;
    r->p = data + 2;
    r->left = plen - 2;
    r->ok = 1;
    return 1;
}

static const unsigned char *rd_take(pal_reader *r, apr_size_t n)
{
    const unsigned char *at = r->p;

    if (!r->ok || r->left < n) {
        r->ok = 0;
        return NULL;
    }
    r->p += n;
    r->left -= n;
    return at;
}

static unsigned char rd_u8(pal_reader *r)
{
    const unsigned char *b = rd_take(r, 1);

    return b != NULL ? b[0] : 0;
}

static apr_uint32_t rd_u32(pal_reader *r)
{
    const unsigned char *b = rd_take(r, 4);

    return b != NULL ? get_u32(b) : 0;
}

static apr_time_t rd_time(pal_reader *r)
{
    const unsigned char *b = rd_take(r, 8);

    return b != NULL ? u64_to_time(get_u64(b)) : 0;
}

static const char *rd_str(pal_reader *r, apr_pool_t *p)
{
    apr_uint32_t len = rd_u32(r);
    const unsigned char *b;

    if (len > PAL_ENTRY_MAX_STRING) {
        r->ok = 0;
        return NULL;
    }
    b = rd_take(r, len);
    /* the encoder wrote C strings: an inner NUL would truncate silently */
    if (b == NULL || memchr(b, '\0', len) != NULL) {
        r->ok = 0;
        return NULL;
    }
    return apr_pstrmemdup(p, (const char *)b, len);
}

/* Every field read and nothing left over. */
static int rd_done(const pal_reader *r)
{
    return r->ok && r->left == 0;
}

/* ---- positive entries ---- */

apr_size_t pal_pos_encode(apr_pool_t *p, const pal_secret *sec,
                          const char *id, const pal_pos_entry *e,
                          unsigned char **out)
{
    apr_size_t plen = 2 + 8 + 8 + 4;
    unsigned char *buf, *w;
    int i;

    *out = NULL;
    if (id == NULL || e->ngroups < 0 || e->ngroups > PAL_ENTRY_MAX_GROUPS
        || (e->ngroups > 0 && e->groups == NULL)
        || !str_size(e->login, &plen) || !str_size(e->dn, &plen))
        return 0;
    for (i = 0; i < e->ngroups; i++) {
        if (!str_size(e->groups[i].norm, &plen))
            return 0;
        plen += 1;
    }

    buf = entry_begin(p, plen, PAL_KEY_POSITIVE, &w);
    w = put_time(w, e->validated);
    w = put_time(w, e->last_used);
    w = put_str(w, e->login);
    w = put_str(w, e->dn);
    put_u32(w, (apr_uint32_t)e->ngroups);
    w += 4;
    for (i = 0; i < e->ngroups; i++) {
        w = put_str(w, e->groups[i].norm);
        *w++ = e->groups[i].member != 0;
    }
    return entry_seal(sec, id, buf, plen, out);
}

int pal_pos_decode(apr_pool_t *p, const pal_secret *sec, const char *id,
                   const unsigned char *data, apr_size_t len,
                   pal_pos_entry *out)
{
    pal_reader r;
    pal_pos_entry e;
    apr_uint32_t n, i;

    if (!entry_open(sec, id, PAL_KEY_POSITIVE, data, len, &r))
        return 0;
    e.validated = rd_time(&r);
    e.last_used = rd_time(&r);
    e.login = rd_str(&r, p);
    e.dn = rd_str(&r, p);
    n = rd_u32(&r);
    if (!r.ok || n > PAL_ENTRY_MAX_GROUPS)
        return 0;
    e.ngroups = (int)n;
    e.groups = n > 0 ? apr_pcalloc(p, n * sizeof(*e.groups)) : NULL;
    for (i = 0; i < n && r.ok; i++) {
        unsigned char m;

        e.groups[i].norm = rd_str(&r, p);
        m = rd_u8(&r);
        if (m > 1)
            r.ok = 0;
        e.groups[i].member = m;
    }
    if (!rd_done(&r))
        return 0;
    *out = e;
    return 1;
}

/* ---- negative entries ---- */

apr_size_t pal_neg_encode(apr_pool_t *p, const pal_secret *sec,
                          const char *id, const pal_neg_entry *e,
                          unsigned char **out)
{
    apr_size_t plen = 2 + 8 + 8;
    unsigned char *buf, *w;

    *out = NULL;
    if (id == NULL || !str_size(e->reason, &plen))
        return 0;
    buf = entry_begin(p, plen, PAL_KEY_NEGATIVE, &w);
    w = put_time(w, e->first_failure);
    w = put_time(w, e->last_failure);
    put_str(w, e->reason);
    return entry_seal(sec, id, buf, plen, out);
}

int pal_neg_decode(apr_pool_t *p, const pal_secret *sec, const char *id,
                   const unsigned char *data, apr_size_t len,
                   pal_neg_entry *out)
{
    pal_reader r;
    pal_neg_entry e;

    if (!entry_open(sec, id, PAL_KEY_NEGATIVE, data, len, &r))
        return 0;
    e.first_failure = rd_time(&r);
    e.last_failure = rd_time(&r);
    e.reason = rd_str(&r, p);
    if (!rd_done(&r))
        return 0;
    *out = e;
    return 1;
}

/* ---- name entries ---- */

apr_size_t pal_name_encode(apr_pool_t *p, const pal_secret *sec,
                           const char *id, const pal_name_entry *e,
                           unsigned char **out)
{
    apr_size_t plen = 2 + 8;
    unsigned char *buf, *w;

    *out = NULL;
    if (id == NULL || !str_size(e->dn, &plen))
        return 0;
    buf = entry_begin(p, plen, PAL_KEY_NAME, &w);
    w = put_time(w, e->stored);
    put_str(w, e->dn);
    return entry_seal(sec, id, buf, plen, out);
}

int pal_name_decode(apr_pool_t *p, const pal_secret *sec, const char *id,
                    const unsigned char *data, apr_size_t len,
                    pal_name_entry *out)
{
    pal_reader r;
    pal_name_entry e;

    if (!entry_open(sec, id, PAL_KEY_NAME, data, len, &r))
        return 0;
    e.stored = rd_time(&r);
    e.dn = rd_str(&r, p);
    if (!rd_done(&r))
        return 0;
    *out = e;
    return 1;
}

/* ---- revocation entries ---- */

apr_size_t pal_revoked_encode(apr_pool_t *p, const pal_secret *sec,
                              const char *id, const pal_revoked_entry *e,
                              unsigned char **out)
{
    apr_size_t plen = 2 + 8;
    unsigned char *buf, *w;

    *out = NULL;
    if (id == NULL)
        return 0;
    buf = entry_begin(p, plen, PAL_KEY_REVOKED, &w);
    put_time(w, e->revoked);
    return entry_seal(sec, id, buf, plen, out);
}

int pal_revoked_decode(apr_pool_t *p, const pal_secret *sec, const char *id,
                       const unsigned char *data, apr_size_t len,
                       pal_revoked_entry *out)
{
    pal_reader r;
    pal_revoked_entry e;

    (void)p;
    if (!entry_open(sec, id, PAL_KEY_REVOKED, data, len, &r))
        return 0;
    e.revoked = rd_time(&r);
    if (!rd_done(&r))
        return 0;
    *out = e;
    return 1;
}

/* ---- session windows ------------------------------------------------------- */

int pal_pos_usable(const pal_pos_entry *e, const pal_windows *w,
                   apr_time_t now, apr_time_t revoked)
{
    /* a window of 0 means no sessions, whatever the stored times say */
    if (w->idle <= 0 || w->max <= 0 || e->validated > now)
        return 0;
    if (elapsed(now, e->validated) >= secs(w->max)
        || elapsed(now, e->last_used) >= secs(w->idle))
        return 0;
    return revoked == 0 || e->validated >= revoked;
}

int pal_pos_needs_touch(const pal_pos_entry *e, const pal_windows *w,
                        apr_time_t now)
{
    apr_time_t every = secs(w->idle) / 10;

    if (every < secs(1))
        every = secs(1);
    return elapsed(now, e->last_used) >= every;
}

apr_time_t pal_pos_expiry(const pal_pos_entry *e, const pal_windows *w)
{
    return earlier(plus(e->last_used, secs(w->idle)),
                   plus(e->validated, secs(w->max)));
}

int pal_neg_usable(const pal_neg_entry *e, const pal_windows *w,
                   apr_time_t now)
{
    if (w->negative <= 0 || e->last_failure > now)
        return 0;
    return elapsed(now, e->last_failure) < secs(w->negative)
           && elapsed(now, e->first_failure) < secs(w->max);
}

int pal_neg_needs_touch(const pal_neg_entry *e, apr_time_t now)
{
    return elapsed(now, e->last_failure) >= secs(1);
}

apr_time_t pal_neg_expiry(const pal_neg_entry *e, const pal_windows *w)
{
    return earlier(plus(e->last_failure, secs(w->negative)),
                   plus(e->first_failure, secs(w->max)));
}

/* ---- comparison ------------------------------------------------------------ */

int pal_memeq(const void *a, const void *b, apr_size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}
