/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * The credential cache on httpd's socache (contract: include/pal_cache.h):
 * shmcb by default (one cache for every child), memcache or redis for a
 * farm of proxies.
 *
 * Two stores: sessions (positive entries), and apart from them the
 * negative, name and revocation entries, so that no number of bad
 * credentials can scroll a live session out of shmcb's cyclic buffer.
 * With memcache or redis both are the same instance: their entries have
 * keys of their own and no cyclic buffer (the README says how to give
 * them room).
 *
 * Lifetime: the instances, their mutexes, the random secret and the shared
 * revocation time are made once per full start and kept as user data of
 * the process pool, so a graceful restart keeps every session. The
 * provider stays with its instances: a ProxyAuthCache changed at a
 * graceful restart applies at the next full start.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "util_mutex.h"

#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "apr_atomic.h"
#include "apr_global_mutex.h"

#include "pal_cache.h"
#include "pal_ad.h"
#include "pal_conf_values.h"
#include "pal_process.h"
#include "pal_status.h"

APLOG_USE_MODULE(proxyauth_ldap);

#define KEY_STATE "mod_proxyauth_ldap.cache"
#define KEY_REVOKED "mod_proxyauth_ldap.revoked"
#define CACHE_NAMESPACE "proxyauth-ldap"

/* shmcb needs a global mutex around every access; with one mutex for
 * every thread of every child, the hit path queues on it. The memory is
 * split into shards, each with its own mutex. */
#define MAX_SHARDS 8
#define MIN_SHARD_BYTES (4 * 1024 * 1024)
/* The negative, name and revocation entries of shmcb get this share of
 * the configured size, on top of it. */
#define ASIDE_DIVISOR 4

typedef struct {
    const ap_socache_provider_t *provider;
    int nshards;
    ap_socache_instance_t *instance[MAX_SHARDS];
    apr_global_mutex_t *mutex[MAX_SHARDS]; /* NULL: multi-process safe */
    /* This child's own mutex in front of each global one (set in
     * child_init): its threads queue there, so at most one thread per
     * process waits on the global mutex. APR's process-shared pthread
     * mutex is robust and priority-inheriting, so every contended lock
     * and unlock of it is a system call; with 64 threads on it a hit took
     * ten times as long as with one. */
    apr_thread_mutex_t *local[MAX_SHARDS];
} pal_store;

/* What lives as long as the process: kept across graceful restarts. */
typedef struct {
    const char *spec;            /* "name:args" it was made from */
    int local;                   /* shmcb: this host sees every store */
    pal_store sessions;
    pal_store aside_own;         /* shmcb only */
    pal_store *aside;            /* negative, name, revocation entries */
    pal_secret random_secret;
} pal_cache_state;

/* Set in post_config (parent) and child_init, read-only afterwards. The
 * instances are guarded by their shard's local, then global mutex (or are
 * MT-safe). */
static pal_cache_state *state;
static const pal_secret *secret;
/* The latest revocation stored by any child (shared memory, atomics): a
 * session validated after it needs no look at its revocation entry
 * (shmcb only; a farm's other proxies revoke without telling us). */
static volatile apr_uint64_t *last_revoked;

const pal_secret *pal_cache_secret(void)
{
    return secret;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                            */
/* ------------------------------------------------------------------ */

/* shmcb's own default (512 kB) holds about a thousand sessions: a bare
 * "shmcb" gets the module's default size. */
static const char *default_args(apr_pool_t *p, const pal_server_conf *c)
{
    if (c->cache_provider && (strcmp(c->cache_provider, "shmcb")
                              || (c->cache_args && *c->cache_args)))
        return c->cache_args;
    return apr_psprintf(p, "(%d)", PAL_DEFAULT_SHMCB_BYTES);
}

/* "path-TAGi(bytes)" of shard i of n of a store that gets 1/divisor of the
 * configured size, or NULL when the size is not given or too small. */
static const char *shard_args(apr_pool_t *p, const char *args,
                              const char *tag, int i, int n, int divisor)
{
    return pal_value_shard_args(p, args, tag, i, n, divisor, MIN_SHARD_BYTES);
}

static apr_status_t make_shard(apr_pool_t *pp, apr_pool_t *ptemp,
                               server_rec *s, pal_store *st, int i,
                               const char *args, const char *name)
{
    const ap_socache_provider_t *provider = st->provider;
    struct ap_socache_hints hints;
    const char *err;
    apr_status_t rv;

    err = provider->create(&st->instance[i], args, ptemp, pp);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "PAL0011: ProxyAuthCache: "
                     "%s", err);
        return APR_EGENERAL;
    }
    if (provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) {
        rv = ap_global_mutex_create(&st->mutex[i], NULL, PAL_MUTEX_CACHE,
                                    name, s, pp, 0);
        if (rv != APR_SUCCESS)
            return rv;
    }
    memset(&hints, 0, sizeof(hints));
    hints.avg_id_len = 66;
    hints.avg_obj_size = 150;
    hints.expiry_interval = apr_time_from_sec(30);
    rv = provider->init(st->instance[i], name, &hints, s, pp);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "PAL0012: cannot "
                     "initialise the cache %s", name);
    return rv;
}

/* One store: shards when the provider needs a global mutex and the size
 * allows it, else one instance with the arguments as given. */
static apr_status_t make_store(apr_pool_t *pp, apr_pool_t *ptemp,
                               server_rec *s, pal_store *st,
                               const ap_socache_provider_t *provider,
                               const char *args, const char *tag,
                               int divisor)
{
    int notmpsafe = (provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) != 0;
    apr_status_t rv;
    int i, n = MAX_SHARDS;

    st->provider = provider;
    while (notmpsafe && n > 1 && !shard_args(ptemp, args, tag, 0, n, divisor))
        n /= 2;
    st->nshards = notmpsafe && shard_args(ptemp, args, tag, 0, n, divisor)
                  ? n : 1;
    for (i = 0; i < st->nshards; i++) {
        const char *a = shard_args(pp, args, tag, i, st->nshards, divisor);
        rv = make_shard(pp, ptemp, s, st, i, a ? a : args,
                        apr_psprintf(ptemp, "%s%s%d", CACHE_NAMESPACE, tag,
                                     i));
        if (rv != APR_SUCCESS)
            return rv;
    }
    return APR_SUCCESS;
}

static apr_status_t make_state(apr_pool_t *pp, apr_pool_t *ptemp,
                               server_rec *s, const pal_server_conf *c,
                               const ap_socache_provider_t *provider,
                               const char *spec, pal_cache_state **out)
{
    pal_cache_state *st = apr_pcalloc(pp, sizeof(*st));
    const char *args = default_args(pp, c);
    apr_status_t rv;

    pal_process_pin_code((const void *)provider->create, s);
    st->spec = apr_pstrdup(pp, spec);
    st->local = !strcmp(provider->name, "shmcb");
    rv = make_store(pp, ptemp, s, &st->sessions, provider, args, "", 1);
    if (rv != APR_SUCCESS)
        return rv;
    st->aside = &st->sessions;
    if (provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) {
        rv = make_store(pp, ptemp, s, &st->aside_own, provider, args,
                        "aside", ASIDE_DIVISOR);
        if (rv != APR_SUCCESS)
            return rv;
        st->aside = &st->aside_own;
    }
    if (!pal_secret_random(&st->random_secret))
        return APR_EGENERAL;
    pal_secret_prepare(&st->random_secret);
    *out = st;
    return APR_SUCCESS;
}

/* The random secret lives as long as the process, but its keyed HMAC
 * context is freed when httpd exits; a cleanup of the process pool could not
 * do it, since it would run after mod_so unloaded this module. */
static apr_status_t release_at_exit(void *data)
{
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING)
        pal_secret_release(data);
    return APR_SUCCESS;
}

int pal_cache_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                          server_rec *s)
{
    pal_server_conf *c = pal_conf_server(s);
    apr_pool_t *pp = s->process->pool;
    const char *name = c->cache_provider ? c->cache_provider : "shmcb";
    const char *spec = apr_pstrcat(ptemp, name, ":",
                                   c->cache_args ? c->cache_args : "", NULL);
    const ap_socache_provider_t *provider;
    pal_cache_state *old = NULL;
    int fresh;

    provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name,
                                  AP_SOCACHE_PROVIDER_VERSION);
    if (!provider) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "PAL0013: ProxyAuthCache "
                     "%s: socache provider not found; load mod_socache_%s",
                     name, name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_userdata_get((void **)&old, KEY_STATE, pp);
    if (old && strcmp(old->spec, spec))
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "PAL0014: ProxyAuthCache "
                     "changed from %s to %s; the cache in use stays %s until "
                     "the next full restart", old->spec, spec, old->spec);
    if (!old) {
        if (make_state(pp, ptemp, s, c, provider, spec, &old)
            != APR_SUCCESS)
            return HTTP_INTERNAL_SERVER_ERROR;
        apr_pool_userdata_set(old, KEY_STATE, apr_pool_cleanup_null, pp);
    }
    state = old;
    apr_pool_cleanup_register(pconf, &state->random_secret, release_at_exit,
                              apr_pool_cleanup_null);
    last_revoked = pal_process_shm(s, KEY_REVOKED, sizeof(*last_revoked),
                                   &fresh);
    if (!last_revoked)
        return HTTP_INTERNAL_SERVER_ERROR;
    if (c->secret_file)
        pal_secret_prepare(&c->secret);
    secret = c->secret_file ? &c->secret : &state->random_secret;
    return OK;
}

static void attach_store(pal_store *st, apr_pool_t *pchild, server_rec *s)
{
    int i;

    for (i = 0; i < st->nshards; i++) {
        apr_status_t rv;
        if (!st->mutex[i])
            continue;
        rv = pal_process_mutex_child(&st->mutex[i], pchild);
        if (rv == APR_SUCCESS)
            rv = apr_thread_mutex_create(&st->local[i],
                                         APR_THREAD_MUTEX_DEFAULT, pchild);
        if (rv != APR_SUCCESS)
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "PAL0015: cannot "
                         "attach the cache mutex");
    }
}

void pal_cache_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (!state)
        return;
    attach_store(&state->sessions, pchild, s);
    if (state->aside != &state->sessions)
        attach_store(state->aside, pchild, s);
}

/* ------------------------------------------------------------------ */
/* socache access                                                       */
/* ------------------------------------------------------------------ */

/* The shard comes from the id's third byte, a hex digit of the HMAC:
 * independent of the first byte, which picks shmcb's subcache inside the
 * shard. */
static int shard_of(const pal_store *st, const char *id)
{
    int h = id[1] ? id[2] : 0;
    int v = (h >= 'a') ? h - 'a' + 10 : h - '0';
    return (v & 15) % st->nshards;
}

static int store_lock(request_rec *r, pal_store *st, int shard)
{
    apr_status_t rv;
    if (!st->mutex[shard])
        return 1;
    rv = st->local[shard] ? apr_thread_mutex_lock(st->local[shard])
                          : APR_SUCCESS;
    if (rv == APR_SUCCESS) {
        rv = apr_global_mutex_lock(st->mutex[shard]);
        if (rv != APR_SUCCESS && st->local[shard])
            apr_thread_mutex_unlock(st->local[shard]);
    }
    if (rv != APR_SUCCESS)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, "PAL0501: cache lock "
                      "failed");
    return rv == APR_SUCCESS;
}

static void store_unlock(pal_store *st, int shard)
{
    if (!st->mutex[shard])
        return;
    apr_global_mutex_unlock(st->mutex[shard]);
    if (st->local[shard])
        apr_thread_mutex_unlock(st->local[shard]);
}

#define MAX_VALUE 8192

/* A failed or unreachable cache is a miss: the caller then asks LDAP.
 * The value is read into the stack and only its own length is copied to
 * the pool: a pool block of MAX_VALUE per get made every request grow its
 * pool by a block or two. */
static int cache_get(request_rec *r, pal_store *st, const char *id,
                     unsigned char **data, unsigned int *len)
{
    unsigned char buf[MAX_VALUE];
    unsigned int n = MAX_VALUE;
    apr_status_t rv;
    int sh;

    if (!id)
        return 0;
    sh = shard_of(st, id);
    if (!store_lock(r, st, sh))
        return 0;
    rv = st->provider->retrieve(st->instance[sh], r->server,
                                (const unsigned char *)id,
                                (unsigned int)strlen(id), buf, &n, r->pool);
    store_unlock(st, sh);
    if (rv != APR_SUCCESS || n > MAX_VALUE)
        return 0;
    *data = apr_pmemdup(r->pool, buf, n ? n : 1);
    *len = n;
    return 1;
}

/* Once per process and reason: a value that cannot be cached is only
 * validated again next time, which is safe, but should not go unseen. */
static volatile apr_uint32_t told_too_large;

static void log_not_cached(request_rec *r, const char *why)
{
    if (apr_atomic_cas32(&told_too_large, 1, 0) == 0)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "PAL0504: a cache "
                      "entry was not stored: %s; such users are validated "
                      "against LDAP on every request (logged once per "
                      "process)", why);
}

static void cache_put(request_rec *r, pal_store *st, const char *id,
                      apr_time_t expiry, const unsigned char *data,
                      apr_size_t len)
{
    apr_status_t rv;
    int sh;

    /* A NULL id or an empty encoding means the encoder refused the entry
     * (told by the caller) or OpenSSL failed: not caching is always safe. */
    if (!id || len == 0)
        return;
    if (len > MAX_VALUE) {
        log_not_cached(r, apr_psprintf(r->pool, "%" APR_SIZE_T_FMT " bytes, "
                                       "more than %d", len, MAX_VALUE));
        return;
    }
    sh = shard_of(st, id);
    if (!store_lock(r, st, sh))
        return;
    rv = st->provider->store(st->instance[sh], r->server,
                             (const unsigned char *)id,
                             (unsigned int)strlen(id), expiry,
                             (unsigned char *)data, (unsigned int)len,
                             r->pool);
    store_unlock(st, sh);
    if (rv != APR_SUCCESS) {
        pal_stat_inc(PAL_STAT_STORE_FAIL);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, "PAL0502: cache store "
                      "failed");
    }
}

static void cache_remove(request_rec *r, pal_store *st, const char *id)
{
    int sh;

    if (!id)
        return;
    sh = shard_of(st, id);
    if (!store_lock(r, st, sh))
        return;
    st->provider->remove(st->instance[sh], r->server,
                         (const unsigned char *)id, (unsigned int)strlen(id),
                         r->pool);
    store_unlock(st, sh);
}

void pal_cache_status(request_rec *r, int flags)
{
    int i;

    if (!state || !state->sessions.provider->status)
        return;
    for (i = 0; i < state->sessions.nshards; i++)
        state->sessions.provider->status(state->sessions.instance[i], r,
                                         flags);
    for (i = 0; state->aside != &state->sessions && i < state->aside->nshards;
         i++)
        state->aside->provider->status(state->aside->instance[i], r, flags);
}

/* ------------------------------------------------------------------ */
/* Keys                                                                 */
/* ------------------------------------------------------------------ */

/* An entry that fails its MAC (tampering, another secret, a torn write)
 * is dropped and logged; it never counts as a hit. */
static int checked(request_rec *r, pal_store *st, const char *id,
                   int decoded)
{
    if (decoded)
        return 1;
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "PAL0503: dropped a cache "
                  "entry that failed its integrity check");
    cache_remove(r, st, id);
    return 0;
}

/* The directory context: every setting that changes who a user is, or
 * how far the directory's answer can be trusted, as LDAP is asked. */
static void context_of(apr_pool_t *p, const pal_lookup *lk,
                       unsigned char ctx[PAL_HASH_LEN])
{
    const pal_ldap_settings *s = &lk->s;
    const char *f[9];
    const char *attrs = "";
    int i;

    for (i = 0; i < s->group_attrs->nelts; i++)
        attrs = apr_pstrcat(p, attrs, i ? " " : "",
                            APR_ARRAY_IDX(s->group_attrs, i, const char *),
                            NULL);
    f[0] = pal_conf_realm(lk->conf);
    f[1] = s->url->text;
    f[2] = s->bind_dn;
    f[3] = pal_conf_int(lk->conf->strip_domain, 0) ? "strip" : "nostrip";
    f[4] = attrs;
    f[5] = s->nested ? "nested" : "direct";
    f[6] = s->starttls ? "starttls" : "plain";
    f[7] = s->verify ? "verify" : "noverify";
    f[8] = s->ca_file;
    pal_cache_context(secret, f, 9, ctx);
}

static int prepare(request_rec *r, const pal_dir_conf *c, const char *user,
                   pal_lookup *lk)
{
    memset(lk, 0, sizeof(*lk));
    lk->conf = c;
    lk->user = user;
    lk->looked = apr_time_now();
    pal_conf_ldap_settings(c, &lk->s);
    pal_conf_windows(c, &lk->w);
    if (!secret)
        return 0;
    context_of(r->pool, lk, lk->ctx);
    return 1;
}

void pal_cache_prepare(request_rec *r, const pal_dir_conf *c,
                       const char *user, const char *password,
                       apr_size_t password_len, pal_lookup *lk)
{
    int keyed = prepare(r, c, user, lk);

    lk->password = password;
    lk->password_len = password_len;
    if (keyed)
        lk->pkey = pal_cache_key(r->pool, secret, PAL_KEY_POSITIVE, lk->ctx,
                                 user, strlen(user), password, password_len);
}

void pal_cache_prepare_context(request_rec *r, const pal_dir_conf *c,
                               pal_lookup *lk)
{
    prepare(r, c, "", lk);
}

/* The mapping has a key space of its own: no Basic pair can name it. */
void pal_cache_prepare_principal(request_rec *r, const pal_dir_conf *c,
                                 const char *principal, const char *name,
                                 pal_lookup *lk)
{
    int keyed = prepare(r, c, name, lk);

    lk->principal = principal;
    if (keyed)
        lk->pkey = pal_cache_key(r->pool, secret, PAL_KEY_PRINCIPAL, lk->ctx,
                                 principal, strlen(principal), NULL, 0);
}

static const char *account_key(request_rec *r, const pal_lookup *lk,
                               pal_key_kind kind, const char *account,
                               int with_password)
{
    return pal_cache_key(r->pool, secret, kind, lk->ctx, account,
                         strlen(account),
                         with_password ? lk->password : NULL,
                         with_password ? lk->password_len : 0);
}

/* ------------------------------------------------------------------ */
/* Lookups                                                              */
/* ------------------------------------------------------------------ */

int pal_cache_pick_groups(request_rec *r, pal_lookup *lk, int ngroups,
                          const pal_group_result *have)
{
    const apr_array_header_t *g = lk->conf->conds;
    int i, j;

    lk->member = apr_pcalloc(r->pool, sizeof(int) * (apr_size_t)
                             ((g ? g->nelts : 0) + 1));
    for (i = 0; g && i < g->nelts; i++) {
        const char *norm = APR_ARRAY_IDX(g, i, pal_cond).norm;
        for (j = 0; j < ngroups; j++)
            if (!strcmp(have[j].norm, norm))
                break;
        if (j == ngroups)
            return 0;
        lk->member[i] = have[j].member;
    }
    return 1;
}

apr_time_t pal_cache_revoked(request_rec *r, const pal_lookup *lk,
                             const char *dn, apr_time_t validated)
{
    const char *id;
    pal_revoked_entry e;
    unsigned char *d;
    unsigned int n;

    if (!secret || !dn || !*dn)
        return 0;
    if (state->local && last_revoked
        && validated > (apr_time_t)apr_atomic_read64(last_revoked))
        return 0;
    id = account_key(r, lk, PAL_KEY_REVOKED, dn, 0);
    if (cache_get(r, state->aside, id, &d, &n)
        && checked(r, state->aside, id,
                   pal_revoked_decode(r->pool, secret, id, d, n, &e)))
        return e.revoked;
    return 0;
}

static void touch_positive(request_rec *r, pal_lookup *lk, pal_pos_entry *e,
                           apr_time_t now)
{
    unsigned char *d;
    apr_size_t n;

    e->last_used = now;
    n = pal_pos_encode(r->pool, secret, lk->pkey, e, &d);
    cache_put(r, &state->sessions, lk->pkey, pal_pos_expiry(e, &lk->w), d,
              n);
}

/* The clock is read after the get: an entry that another process stored
 * while the get waited is older than that reading, whereas a reading taken
 * before the get would see it "from the future", refuse it, and send one
 * more bind to LDAP for a pair it has just validated. */
static int lookup_positive(request_rec *r, pal_lookup *lk)
{
    pal_pos_entry e;
    unsigned char *d;
    unsigned int n;
    apr_time_t now;

    if (!cache_get(r, &state->sessions, lk->pkey, &d, &n))
        return 0;
    now = apr_time_now();
    if (!checked(r, &state->sessions, lk->pkey,
                    pal_pos_decode(r->pool, secret, lk->pkey, d, n, &e)))
        return 0;
    if (!pal_pos_usable(&e, &lk->w, now,
                        pal_cache_revoked(r, lk, e.dn, e.validated))
        || !pal_cache_pick_groups(r, lk, e.ngroups, e.groups))
        return 0;
    lk->login = e.login;
    lk->dn = e.dn;
    lk->validated = e.validated;
    if (pal_pos_needs_touch(&e, &lk->w, now))
        touch_positive(r, lk, &e, now);
    return 1;
}

static const char *name_key(request_rec *r, const pal_lookup *lk)
{
    return pal_cache_key(r->pool, secret, PAL_KEY_NAME, lk->ctx, lk->user,
                         strlen(lk->user), NULL, 0);
}

/* The account a name maps to: the entry's DN when LDAP told us, else the
 * normalised name, so negative entries of one account meet. */
static void resolve_account(request_rec *r, pal_lookup *lk)
{
    const char *id = name_key(r, lk);
    pal_name_entry ne;
    unsigned char *d;
    unsigned int n;

    if (cache_get(r, state->aside, id, &d, &n)
        && checked(r, state->aside, id,
                   pal_name_decode(r->pool, secret, id, d, n, &ne))
        && *ne.dn) {
        lk->account = ne.dn;
        lk->account_is_dn = 1;
        return;
    }
    lk->account = apr_pstrcat(r->pool, "name:", lk->user, NULL);
    ap_str_tolower((char *)lk->account);
    lk->account_is_dn = 0;
}

/* The negative entry of (account, password), renewed when it answers.
 * The clock is read after the get, as for positive entries: a renewal by
 * another process must not make a known wrong password look unknown. */
static int lookup_negative(request_rec *r, pal_lookup *lk,
                           const char *account)
{
    const char *id = account_key(r, lk, PAL_KEY_NEGATIVE, account, 1);
    pal_neg_entry e;
    unsigned char *d;
    unsigned int n;
    apr_time_t now;

    if (!lk->w.negative || !cache_get(r, state->aside, id, &d, &n))
        return 0;
    now = apr_time_now();
    if (!checked(r, state->aside, id,
                    pal_neg_decode(r->pool, secret, id, d, n, &e))
        || !pal_neg_usable(&e, &lk->w, now))
        return 0;
    lk->reason = e.reason;
    if (pal_neg_needs_touch(&e, now)) {
        apr_size_t len;
        e.last_failure = now;
        len = pal_neg_encode(r->pool, secret, id, &e, &d);
        cache_put(r, state->aside, id, pal_neg_expiry(&e, &lk->w), d, len);
    }
    return 1;
}

static pal_cache_answer lookup(request_rec *r, pal_lookup *lk, int count)
{
    if (!secret || !lk->pkey)
        return PAL_CACHE_MISS;
    if (lookup_positive(r, lk)) {
        if (count)
            pal_stat_inc(PAL_STAT_HIT);
        return PAL_CACHE_HIT;
    }
    if (lk->principal) {
        /* A mapping has no password, so nothing negative to look up. */
        if (count)
            pal_stat_inc(PAL_STAT_MISS);
        return PAL_CACHE_MISS;
    }
    resolve_account(r, lk);
    if (lookup_negative(r, lk, lk->account)) {
        if (count)
            pal_stat_inc(PAL_STAT_NEGATIVE_HIT);
        return PAL_CACHE_NEGATIVE;
    }
    if (count)
        pal_stat_inc(PAL_STAT_MISS);
    return PAL_CACHE_MISS;
}

pal_cache_answer pal_cache_lookup(request_rec *r, pal_lookup *lk)
{
    return lookup(r, lk, 1);
}

pal_cache_answer pal_cache_recheck(request_rec *r, pal_lookup *lk)
{
    return lookup(r, lk, 0);
}

int pal_cache_known_bad(request_rec *r, pal_lookup *lk, const char *dn)
{
    if (!secret || !lk->pkey || lk->principal)
        return 0;
    return lookup_negative(r, lk, dn);
}

/* ------------------------------------------------------------------ */
/* Stores                                                               */
/* ------------------------------------------------------------------ */

pal_group_result *pal_cache_group_results(apr_pool_t *p,
                                          const apr_array_header_t *g,
                                          const int *member, int *ngroups)
{
    pal_group_result *out;
    int i;

    *ngroups = g ? g->nelts : 0;
    out = apr_pcalloc(p, sizeof(*out) * (apr_size_t)(*ngroups + 1));
    for (i = 0; i < *ngroups; i++) {
        out[i].norm = apr_pstrdup(p, APR_ARRAY_IDX(g, i, pal_cond).norm);
        out[i].member = member ? member[i] : 0;
    }
    return out;
}

static void store_positive(request_rec *r, pal_lookup *lk,
                           const pal_auth_result *res, apr_time_t now)
{
    pal_pos_entry e;
    unsigned char *d;
    apr_size_t n;

    memset(&e, 0, sizeof(e));
    e.validated = now;
    e.last_used = now;
    e.login = res->login ? res->login : lk->user;
    e.dn = res->dn ? res->dn : "";
    e.groups = pal_cache_group_results(r->pool, lk->conf->conds,
                                       res->group_member, &e.ngroups);
    n = pal_pos_encode(r->pool, secret, lk->pkey, &e, &d);
    if (n == 0 && e.ngroups > PAL_ENTRY_MAX_GROUPS)
        log_not_cached(r, apr_psprintf(r->pool, "a scope asks for %d groups, "
                                       "more than %d", e.ngroups,
                                       PAL_ENTRY_MAX_GROUPS));
    else if (n == 0)
        log_not_cached(r, apr_psprintf(r->pool, "a value is longer than %d "
                                       "bytes", PAL_ENTRY_MAX_STRING));
    cache_put(r, &state->sessions, lk->pkey, pal_pos_expiry(&e, &lk->w), d,
              n);
}

static void store_name(request_rec *r, pal_lookup *lk, const char *dn,
                       apr_time_t now)
{
    const char *id = name_key(r, lk);
    pal_name_entry ne;
    unsigned char *d;
    apr_size_t n;

    ne.stored = now;
    ne.dn = dn ? dn : "";
    n = pal_name_encode(r->pool, secret, id, &ne, &d);
    cache_put(r, state->aside, id, now + apr_time_from_sec(lk->w.max), d, n);
}

static void store_negative(request_rec *r, pal_lookup *lk,
                           const pal_auth_result *res, apr_time_t now)
{
    const char *id = account_key(r, lk, PAL_KEY_NEGATIVE, lk->account, 1);
    pal_neg_entry e;
    unsigned char *d;
    apr_size_t n;

    e.first_failure = now;
    e.last_failure = now;
    e.reason = res->reason ? res->reason : "rejected";
    n = pal_neg_encode(r->pool, secret, id, &e, &d);
    cache_put(r, state->aside, id, pal_neg_expiry(&e, &lk->w), d, n);
}

/* An account-state code ends every cached session of the DN. */
static void store_revocation(request_rec *r, pal_lookup *lk, apr_time_t now)
{
    const char *id = account_key(r, lk, PAL_KEY_REVOKED, lk->account, 0);
    pal_revoked_entry e;
    unsigned char *d;
    apr_size_t n;

    e.revoked = now;
    n = pal_revoked_encode(r->pool, secret, id, &e, &d);
    cache_put(r, state->aside, id, now + apr_time_from_sec(lk->w.max), d, n);
    /* After the entry: a reader that skips it must find nothing there. */
    if (last_revoked)
        apr_atomic_set64(last_revoked, (apr_uint64_t)now);
}

void pal_cache_store(request_rec *r, pal_lookup *lk,
                     const pal_auth_result *res)
{
    apr_time_t now = apr_time_now();

    if (!secret || !lk->pkey || res->status == PAL_AUTH_UNAVAILABLE)
        return;
    if (res->status == PAL_AUTH_OK) {
        /* No name entry for a success: it is only needed to key failures
         * on the account, and the first failure writes it. Sessions stay
         * at one entry each. */
        store_positive(r, lk, res, now);
        return;
    }
    /* A principal without an entry costs a search each time, as an
     * unknown user name does once its negative entry expires; nothing
     * about a password was learnt. */
    if (lk->principal)
        return;
    if (res->dn && *res->dn) {
        lk->account = res->dn;
        lk->account_is_dn = 1;
    }
    else if (!lk->account) {
        resolve_account(r, lk);
    }
    store_name(r, lk, res->dn, now);
    /* The soft lock refused without a bind: the password may be the right
     * one, so nothing is learnt about it. */
    if (res->status == PAL_AUTH_LOCKED)
        return;
    if (lk->w.negative > 0)
        store_negative(r, lk, res, now);
    if (res->status == PAL_AUTH_ACCOUNT && lk->account_is_dn
        && pal_ad_subcode_ends_sessions(res->ad_code))
        store_revocation(r, lk, now);
}
