/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * The credential cache on httpd's socache: shmcb by default (one cache for
 * every child), memcache or redis for a farm of proxies.
 *
 * Lifetime: the socache instance, its global mutex, the random secret and
 * the shared counters are made once per full start in the process pool and
 * kept as its user data, so a graceful restart keeps every session. The
 * provider is looked up again after each restart because mod_so reloads
 * the socache modules.
 */
#include <string.h>
#include <dlfcn.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "util_mutex.h"
#include "mod_status.h"
#include "scoreboard.h"

#include "apr_strings.h"
#include "apr_atomic.h"
#include "apr_shm.h"
#include "apr_hash.h"
#include "apr_global_mutex.h"
#include "apr_thread_mutex.h"
#include "apr_thread_cond.h"

#include "pal_basic.h"
#include "pal_cache.h"
#include "pal_session.h"

APLOG_USE_MODULE(proxyauth_ldap);

#define MUTEX_TYPE "proxyauth-ldap-cache"
#define KEY_STATE "mod_proxyauth_ldap.cache"
#define CACHE_NAMESPACE "proxyauth-ldap"

/* ProxyAuthCache and ProxyAuthCacheSecret, main server only. */
typedef struct {
    const char *provider_name;   /* default "shmcb" */
    const char *provider_args;   /* default sized for 100,000 sessions */
    const char *secret_file;     /* default: random per full start */
    pal_secret secret;
} pal_session_conf;

/* shmcb needs a global mutex around every access; with one mutex for
 * every thread of every child, the hit path queues on it. The memory is
 * split into shards, each with its own mutex. */
#define MAX_SHARDS 8
#define MIN_SHARD_BYTES (4 * 1024 * 1024)

/* What lives as long as the process: kept across graceful restarts. */
typedef struct {
    const char *spec;            /* "name:args" it was made from */
    /* The provider that made the instances: only its functions may touch
     * them, even when a graceful restart names another provider. */
    const ap_socache_provider_t *provider;
    int nshards;
    ap_socache_instance_t *instance[MAX_SHARDS];
    apr_global_mutex_t *mutex[MAX_SHARDS]; /* NULL: multi-process safe */
    apr_shm_t *stats_shm;
    pal_secret random_secret;
} pal_cache_state;

typedef struct {
    volatile apr_uint32_t n[PAL_STAT_COUNT];
    /* The latest revocation stored by any child: a session validated after
     * it needs no look at its account entry (shmcb only; a farm's other
     * proxies revoke without telling us). */
    volatile apr_uint64_t last_revoked;
} pal_stats;

/* Set in post_config (parent) and child_init, read-only afterwards. */
static pal_cache_state *state;
static const pal_secret *secret;
static pal_stats *stats;
static server_rec *main_server;
static int cache_is_local;       /* shmcb: one host sees every revocation */

/* Single flight: one table per child. */
static apr_thread_mutex_t *flight_mutex;
static apr_hash_t *flights;
static apr_pool_t *flight_pool;

/* ------------------------------------------------------------------ */
/* Configuration                                                        */
/* ------------------------------------------------------------------ */

void *pal_session_create_server_conf(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(pal_session_conf));
}

static pal_session_conf *sconf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &proxyauth_ldap_module);
}

const char *pal_session_set_cache(cmd_parms *cmd, void *cfg, const char *arg)
{
    pal_session_conf *c = sconf(cmd->server);
    const ap_socache_provider_t *prov;
    ap_socache_instance_t *probe = NULL;
    const char *colon = strchr(arg, ':'), *err;
    (void)cfg;

    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY)) != NULL)
        return err;
    c->provider_name = colon ? apr_pstrmemdup(cmd->pool, arg,
                                              (apr_size_t)(colon - arg))
                             : arg;
    c->provider_args = colon ? colon + 1 : NULL;
    prov = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, c->provider_name,
                              AP_SOCACHE_PROVIDER_VERSION);
    if (!prov)
        return apr_psprintf(cmd->pool, "ProxyAuthCache: unknown socache "
                            "provider \"%s\" (is mod_socache_%s loaded before "
                            "this line?)", c->provider_name,
                            c->provider_name);
    /* Parse the arguments now so that `apache2 -t` names a mistake. */
    err = prov->create(&probe, c->provider_args, cmd->temp_pool,
                       cmd->temp_pool);
    if (err)
        return apr_psprintf(cmd->pool, "ProxyAuthCache \"%s\": %s", arg, err);
    return NULL;
}

const char *pal_session_set_secret(cmd_parms *cmd, void *cfg,
                                   const char *arg)
{
    pal_session_conf *c = sconf(cmd->server);
    const char *err;
    (void)cfg;

    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY)) != NULL)
        return err;
    if (strncmp(arg, "file:", 5))
        return "ProxyAuthCacheSecret: use file:PATH (a secret does not "
               "belong in the configuration)";
    c->secret_file = ap_server_root_relative(cmd->pool, arg + 5);
    err = pal_secret_from_file(cmd->temp_pool, c->secret_file, &c->secret);
    if (err)
        return apr_psprintf(cmd->pool, "ProxyAuthCacheSecret: %s", err);
    return NULL;
}

int pal_session_check_config(server_rec *s)
{
    pal_session_conf *c = sconf(s);

    if (!c->provider_name
        && !ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, "shmcb",
                               AP_SOCACHE_PROVIDER_VERSION)) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     "PAL0009: ProxyAuthCache defaults to shmcb, but "
                     "mod_socache_shmcb is not loaded: load it, or name "
                     "another provider with ProxyAuthCache");
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    if (c->provider_name && strcmp(c->provider_name, "shmcb")
        && !c->secret_file) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     "PAL0010: ProxyAuthCache %s needs ProxyAuthCacheSecret "
                     "file:PATH (the same file on every proxy sharing the "
                     "cache)", c->provider_name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

int pal_session_pre_config(apr_pool_t *pconf)
{
    return ap_mutex_register(pconf, MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0)
           == APR_SUCCESS ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                            */
/* ------------------------------------------------------------------ */

/* shmcb's own default (512 kB) holds about a thousand sessions: a bare
 * "shmcb" gets the module's default size. */
static const char *default_args(apr_pool_t *p, const pal_session_conf *c)
{
    if (c->provider_name && (strcmp(c->provider_name, "shmcb")
                             || (c->provider_args && *c->provider_args)))
        return c->provider_args;
    return apr_psprintf(p, "(%d)", PAL_DEFAULT_SHMCB_BYTES);
}

/* "path(bytes)" of shard i of n, or NULL when the size is too small to
 * split. */
static const char *shard_args(apr_pool_t *p, const char *args, int i, int n)
{
    const char *open = args ? strrchr(args, '(') : NULL;
    apr_int64_t size;

    if (!open || args[strlen(args) - 1] != ')')
        return NULL;
    size = apr_atoi64(open + 1) / n;
    if (size < MIN_SHARD_BYTES)
        return NULL;
    return apr_psprintf(p, "%s%s%s(%" APR_INT64_T_FMT ")",
                        apr_pstrmemdup(p, args, (apr_size_t)(open - args)),
                        open == args ? "" : "-", open == args ? ""
                        : apr_itoa(p, i), size);
}

static apr_status_t make_shard(apr_pool_t *pp, apr_pool_t *ptemp,
                               server_rec *s, pal_cache_state *st, int i,
                               const char *args)
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
        rv = ap_global_mutex_create(&st->mutex[i], NULL, MUTEX_TYPE,
                                    apr_itoa(ptemp, i), s, pp, 0);
        if (rv != APR_SUCCESS)
            return rv;
    }
    memset(&hints, 0, sizeof(hints));
    hints.avg_id_len = 66;
    hints.avg_obj_size = 150;
    hints.expiry_interval = apr_time_from_sec(30);
    rv = provider->init(st->instance[i], apr_psprintf(ptemp, "%s%d",
                        CACHE_NAMESPACE, i), &hints, s, pp);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "PAL0012: cannot "
                     "initialise the %s cache", st->spec);
    return rv;
}

/* The instances live in the process pool, across restarts, and a provider
 * may register cleanups there (mod_socache_shmcb does: it destroys its
 * shared memory). mod_so unloads every module at each restart and at exit,
 * before the process pool's cleanups run, so the provider's code must stay
 * mapped as long as its instances: keep its shared object loaded for the
 * life of the process. */
static void pin_provider_code(const ap_socache_provider_t *prov,
                              server_rec *s)
{
    Dl_info info;

    if (!dladdr((void *)prov->create, &info) || !info.dli_fname)
        return;
    if (dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE))
        return;
    /* Only the main program itself cannot be opened by name; it is never
     * unloaded anyway. */
    ap_log_error(APLOG_MARK, strstr(info.dli_fname, ".so") ? APLOG_WARNING
                 : APLOG_DEBUG, 0, s, "PAL0016: cannot keep %s loaded for "
                 "the cache's lifetime: %s", info.dli_fname, dlerror());
}

static apr_status_t make_state(apr_pool_t *pp, apr_pool_t *ptemp,
                               server_rec *s, const pal_session_conf *c,
                               const ap_socache_provider_t *provider,
                               const char *spec, pal_cache_state **out)
{
    pal_cache_state *st = apr_pcalloc(pp, sizeof(*st));
    const char *args = default_args(pp, c);
    apr_status_t rv;
    int i;

    pin_provider_code(provider, s);
    st->provider = provider;
    st->spec = apr_pstrdup(pp, spec);
    st->nshards = 1;
    if ((provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE)
        && shard_args(ptemp, args, 0, MAX_SHARDS))
        st->nshards = MAX_SHARDS;
    for (i = 0; i < st->nshards; i++) {
        rv = make_shard(pp, ptemp, s, st, i, st->nshards > 1
                        ? shard_args(pp, args, i, st->nshards) : args);
        if (rv != APR_SUCCESS)
            return rv;
    }
    rv = apr_shm_create(&st->stats_shm, sizeof(pal_stats), NULL, pp);
    if (rv != APR_SUCCESS)
        return rv;
    memset(apr_shm_baseaddr_get(st->stats_shm), 0, sizeof(pal_stats));
    if (!pal_secret_random(&st->random_secret))
        return APR_EGENERAL;
    pal_secret_prepare(&st->random_secret);
    *out = st;
    return APR_SUCCESS;
}

static apr_status_t release_secret(void *data)
{
    pal_secret_release(data);
    return APR_SUCCESS;
}

int pal_session_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                            server_rec *s)
{
    pal_session_conf *c = sconf(s);
    apr_pool_t *pp = s->process->pool;
    const char *name = c->provider_name ? c->provider_name : "shmcb";
    const char *spec = apr_pstrcat(ptemp, name, ":",
                                   c->provider_args ? c->provider_args : "",
                                   NULL);
    const ap_socache_provider_t *provider;
    pal_cache_state *old = NULL;
    (void)pconf;

    main_server = s;
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
                     "changed; the new cache applies at the next full "
                     "restart");
    if (!old) {
        if (make_state(pp, ptemp, s, c, provider, spec, &old)
            != APR_SUCCESS)
            return HTTP_INTERNAL_SERVER_ERROR;
        apr_pool_userdata_set(old, KEY_STATE, apr_pool_cleanup_null, pp);
    }
    state = old;
    stats = apr_shm_baseaddr_get(state->stats_shm);
    cache_is_local = !strcmp(name, "shmcb");
    if (c->secret_file) {
        pal_secret_prepare(&c->secret);
        apr_pool_cleanup_register(pconf, &c->secret, release_secret,
                                  apr_pool_cleanup_null);
    }
    secret = c->secret_file ? &c->secret : &state->random_secret;
    return OK;
}

void pal_session_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;
    int i;

    for (i = 0; state && i < state->nshards; i++) {
        if (!state->mutex[i])
            continue;
        rv = apr_global_mutex_child_init(&state->mutex[i],
                                         apr_global_mutex_lockfile(
                                             state->mutex[i]), pchild);
        if (rv != APR_SUCCESS)
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "PAL0015: cannot "
                         "attach the cache mutex");
    }
    flight_pool = pchild;
    flights = apr_hash_make(pchild);
    apr_thread_mutex_create(&flight_mutex, APR_THREAD_MUTEX_DEFAULT, pchild);
}

void pal_stat_inc(pal_stat which)
{
    if (stats)
        apr_atomic_inc32(&stats->n[which]);
}

/* ------------------------------------------------------------------ */
/* socache access                                                       */
/* ------------------------------------------------------------------ */

/* The shard comes from the id's third byte, a hex digit of the HMAC:
 * independent of the first byte, which picks shmcb's subcache inside the
 * shard. */
static int shard_of(const char *id)
{
    int h = id[1] ? id[2] : 0;
    int v = (h >= 'a') ? h - 'a' + 10 : h - '0';
    return (v & 15) % state->nshards;
}

static int cache_lock(request_rec *r, int shard)
{
    apr_status_t rv;
    if (!state->mutex[shard])
        return 1;
    rv = apr_global_mutex_lock(state->mutex[shard]);
    if (rv != APR_SUCCESS)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, "PAL0501: cache lock "
                      "failed");
    return rv == APR_SUCCESS;
}

static void cache_unlock(int shard)
{
    if (state->mutex[shard])
        apr_global_mutex_unlock(state->mutex[shard]);
}

#define MAX_VALUE 8192

/* A failed or unreachable cache is a miss: the caller then asks LDAP. */
static int cache_get(request_rec *r, const char *id, unsigned char **data,
                     unsigned int *len)
{
    unsigned char *buf;
    unsigned int n = MAX_VALUE;
    apr_status_t rv;
    int sh;

    if (!state || !id)
        return 0;
    sh = shard_of(id);
    buf = apr_palloc(r->pool, MAX_VALUE);
    if (!cache_lock(r, sh))
        return 0;
    rv = state->provider->retrieve(state->instance[sh], r->server,
                            (const unsigned char *)id,
                            (unsigned int)strlen(id), buf, &n, r->pool);
    cache_unlock(sh);
    if (rv != APR_SUCCESS)
        return 0;
    *data = buf;
    *len = n;
    return 1;
}

static void cache_put(request_rec *r, const char *id, apr_time_t expiry,
                      const unsigned char *data, apr_size_t len)
{
    apr_status_t rv = APR_EGENERAL;
    int sh;

    /* A NULL id or an empty encoding means the encoder refused the entry
     * (too large, OpenSSL failure): not caching is always safe. */
    if (!state || !id || len == 0 || len > MAX_VALUE)
        return;
    sh = shard_of(id);
    if (!cache_lock(r, sh))
        return;
    rv = state->provider->store(state->instance[sh], r->server,
                         (const unsigned char *)id, (unsigned int)strlen(id),
                         expiry, (unsigned char *)data, (unsigned int)len,
                         r->pool);
    cache_unlock(sh);
    if (rv != APR_SUCCESS) {
        pal_stat_inc(PAL_STAT_STORE_FAIL);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, "PAL0502: cache store "
                      "failed");
    }
}

static void cache_remove(request_rec *r, const char *id)
{
    int sh;

    if (!state || !id)
        return;
    sh = shard_of(id);
    if (!cache_lock(r, sh))
        return;
    state->provider->remove(state->instance[sh], r->server,
                     (const unsigned char *)id, (unsigned int)strlen(id),
                     r->pool);
    cache_unlock(sh);
}

/* ------------------------------------------------------------------ */
/* Lookups and stores                                                   */
/* ------------------------------------------------------------------ */

/* An entry that fails its MAC (tampering, another secret, a torn write)
 * is dropped and logged; it never counts as a hit. */
static int checked(request_rec *r, const char *id, int decoded)
{
    if (decoded)
        return 1;
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "PAL0503: dropped a cache "
                  "entry that failed its integrity check");
    cache_remove(r, id);
    return 0;
}

/* The directory context: every setting that changes who a user is. */
static void context_of(const pal_dir_conf *c, unsigned char ctx[PAL_HASH_LEN],
                       apr_pool_t *p)
{
    const char *f[6];
    const char *attrs = "member uniqueMember";
    int i;

    if (c->group_attrs) {
        attrs = "";
        for (i = 0; i < c->group_attrs->nelts; i++)
            attrs = apr_pstrcat(p, attrs, i ? " " : "",
                                APR_ARRAY_IDX(c->group_attrs, i,
                                              const char *), NULL);
    }
    f[0] = c->realm ? c->realm : "Proxy";
    f[1] = c->url ? c->url->text : "";
    f[2] = c->bind_dn;
    f[3] = pal_or_default(c->strip_domain, 0) ? "strip" : "nostrip";
    f[4] = attrs;
    f[5] = pal_or_default(c->nested, 0) ? "nested" : "direct";
    pal_cache_context(secret, f, 6, ctx);
}

void pal_session_prepare(request_rec *r, const pal_dir_conf *c,
                         const char *user, const char *password,
                         apr_size_t password_len, pal_lookup *lk)
{
    memset(lk, 0, sizeof(*lk));
    lk->conf = c;
    lk->user = user;
    lk->password = password;
    lk->password_len = password_len;
    lk->w.idle = pal_or_default(c->session_idle, PAL_DEFAULT_SESSION_IDLE);
    lk->w.max = pal_or_default(c->session_max, PAL_DEFAULT_SESSION_MAX);
    lk->w.negative = pal_or_default(c->negative_ttl, PAL_DEFAULT_NEGATIVE_TTL);
    lk->w.max_bad = pal_or_default(c->max_bad, PAL_DEFAULT_MAX_BAD);
    if (!secret)
        return;
    context_of(c, lk->ctx, r->pool);
    lk->pkey = pal_cache_key(r->pool, secret, PAL_KEY_POSITIVE, lk->ctx,
                             user, strlen(user), password, password_len);
}

static const char *account_key(request_rec *r, const pal_lookup *lk,
                               pal_key_kind kind, int with_password)
{
    return pal_cache_key(r->pool, secret, kind, lk->ctx, lk->account,
                         strlen(lk->account),
                         with_password ? lk->password : NULL,
                         with_password ? lk->password_len : 0);
}

static int load_account(request_rec *r, const pal_lookup *lk,
                        pal_account_entry *a)
{
    const char *id = account_key(r, lk, PAL_KEY_ACCOUNT, 0);
    unsigned char *d;
    unsigned int n;

    memset(a, 0, sizeof(*a));
    return cache_get(r, id, &d, &n)
        && checked(r, id, pal_account_decode(r->pool, secret, id, d, n, a));
}

static void save_account(request_rec *r, const pal_lookup *lk,
                         const pal_account_entry *a, apr_time_t expiry)
{
    const char *id = account_key(r, lk, PAL_KEY_ACCOUNT, 0);
    unsigned char *d;
    apr_size_t n = pal_account_encode(r->pool, secret, id, a, &d);
    cache_put(r, id, expiry, d, n);
}

/* The group results a scope needs, all present in the entry. */
static int groups_from_list(request_rec *r, pal_lookup *lk, int ngroups,
                            const pal_group_result *have)
{
    const apr_array_header_t *g = lk->conf->groups;
    int i, j;

    lk->member = apr_pcalloc(r->pool, sizeof(int) * (apr_size_t)
                             ((g ? g->nelts : 0) + 1));
    for (i = 0; g && i < g->nelts; i++) {
        const char *norm = APR_ARRAY_IDX(g, i, pal_group).norm;
        for (j = 0; j < ngroups; j++)
            if (!strcmp(have[j].norm, norm))
                break;
        if (j == ngroups)
            return 0;
        lk->member[i] = have[j].member;
    }
    return 1;
}

static apr_time_t revoked_time(request_rec *r, pal_lookup *lk,
                               apr_time_t validated)
{
    pal_account_entry a;

    if (cache_is_local && stats
        && validated > (apr_time_t)apr_atomic_read64(&stats->last_revoked))
        return 0;
    return load_account(r, lk, &a) ? a.revoked : 0;
}

static void touch_positive(request_rec *r, pal_lookup *lk, pal_pos_entry *e,
                           apr_time_t now)
{
    unsigned char *d;
    apr_size_t n;

    e->last_used = now;
    n = pal_pos_encode(r->pool, secret, lk->pkey, e, &d);
    cache_put(r, lk->pkey, pal_pos_expiry(e, &lk->w), d, n);
}

static int lookup_positive(request_rec *r, pal_lookup *lk, apr_time_t now)
{
    pal_pos_entry e;
    unsigned char *d;
    unsigned int n;

    if (!cache_get(r, lk->pkey, &d, &n))
        return 0;
    if (!checked(r, lk->pkey, pal_pos_decode(r->pool, secret, lk->pkey, d,
                                             n, &e)))
        return 0;
    lk->account = e.dn;
    if (!pal_pos_usable(&e, &lk->w, now, revoked_time(r, lk, e.validated))
        || !groups_from_list(r, lk, e.ngroups, e.groups))
        return 0;
    lk->login = e.login;
    lk->dn = e.dn;
    lk->validated = e.validated;
    if (pal_pos_needs_touch(&e, &lk->w, now))
        touch_positive(r, lk, &e, now);
    return 1;
}

/* The account a name maps to: the entry's DN when LDAP told us, else the
 * normalised name, so negative entries of one account meet. */
static void resolve_account(request_rec *r, pal_lookup *lk)
{
    const char *id = pal_cache_key(r->pool, secret, PAL_KEY_NAME, lk->ctx,
                                   lk->user, strlen(lk->user), NULL, 0);
    pal_name_entry ne;
    unsigned char *d;
    unsigned int n;

    if (cache_get(r, id, &d, &n) && checked(r, id, pal_name_decode(
            r->pool, secret, id, d, n, &ne)) && *ne.dn) {
        lk->account = ne.dn;
        return;
    }
    lk->account = apr_pstrcat(r->pool, "name:", lk->user, NULL);
    ap_str_tolower((char *)lk->account);
}

static int lookup_negative(request_rec *r, pal_lookup *lk, apr_time_t now)
{
    const char *id = account_key(r, lk, PAL_KEY_NEGATIVE, 1);
    pal_neg_entry e;
    unsigned char *d;
    unsigned int n;

    if (!lk->w.negative || !cache_get(r, id, &d, &n)
        || !checked(r, id, pal_neg_decode(r->pool, secret, id, d, n, &e))
        || !pal_neg_usable(&e, &lk->w, now))
        return 0;
    lk->reason = e.reason;
    if (pal_neg_needs_touch(&e, now)) {
        e.last_failure = now;
        n = (unsigned int)pal_neg_encode(r->pool, secret, id, &e, &d);
        cache_put(r, id, pal_neg_expiry(&e, &lk->w), d, n);
    }
    return 1;
}

static pal_cache_answer lookup(request_rec *r, pal_lookup *lk, int count)
{
    apr_time_t now = apr_time_now();
    pal_account_entry a;

    if (!secret || !lk->pkey)
        return PAL_CACHE_MISS;
    if (lookup_positive(r, lk, now)) {
        if (count)
            pal_stat_inc(PAL_STAT_HIT);
        return PAL_CACHE_HIT;
    }
    resolve_account(r, lk);
    if (lookup_negative(r, lk, now)) {
        if (count)
            pal_stat_inc(PAL_STAT_NEGATIVE_HIT);
        return PAL_CACHE_NEGATIVE;
    }
    if (lk->w.max_bad > 0 && load_account(r, lk, &a)
        && pal_account_locked(&a, &lk->w, now)) {
        if (count)
            pal_stat_inc(PAL_STAT_LOCKED);
        lk->reason = "too many wrong passwords (ProxyAuthMaxBadPasswords)";
        return PAL_CACHE_LOCKED;
    }
    if (count)
        pal_stat_inc(PAL_STAT_MISS);
    return PAL_CACHE_MISS;
}

pal_cache_answer pal_session_lookup(request_rec *r, pal_lookup *lk)
{
    return lookup(r, lk, 1);
}

pal_cache_answer pal_session_recheck(request_rec *r, pal_lookup *lk)
{
    return lookup(r, lk, 0);
}

static pal_group_result *group_results(apr_pool_t *p,
                                       const apr_array_header_t *g,
                                       const int *member, int *ngroups)
{
    pal_group_result *out;
    int i;

    *ngroups = g ? g->nelts : 0;
    out = apr_pcalloc(p, sizeof(*out) * (apr_size_t)(*ngroups + 1));
    for (i = 0; i < *ngroups; i++) {
        out[i].norm = apr_pstrdup(p, APR_ARRAY_IDX(g, i, pal_group).norm);
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
    e.groups = group_results(r->pool, lk->conf->groups, res->group_member,
                             &e.ngroups);
    n = pal_pos_encode(r->pool, secret, lk->pkey, &e, &d);
    cache_put(r, lk->pkey, pal_pos_expiry(&e, &lk->w), d, n);
}

static void store_name(request_rec *r, pal_lookup *lk, const char *dn,
                       apr_time_t now)
{
    const char *id = pal_cache_key(r->pool, secret, PAL_KEY_NAME, lk->ctx,
                                   lk->user, strlen(lk->user), NULL, 0);
    pal_name_entry ne;
    unsigned char *d;
    apr_size_t n;

    ne.stored = now;
    ne.dn = dn ? dn : "";
    n = pal_name_encode(r->pool, secret, id, &ne, &d);
    cache_put(r, id, now + apr_time_from_sec(lk->w.max), d, n);
}

static void store_negative(request_rec *r, pal_lookup *lk,
                           const pal_auth_result *res, apr_time_t now)
{
    const char *id = account_key(r, lk, PAL_KEY_NEGATIVE, 1);
    pal_neg_entry e;
    unsigned char *d;
    apr_size_t n;

    e.first_failure = now;
    e.last_failure = now;
    e.reason = res->reason ? res->reason : "rejected";
    n = pal_neg_encode(r->pool, secret, id, &e, &d);
    cache_put(r, id, pal_neg_expiry(&e, &lk->w), d, n);
}

/* 530 (logon hours) and 531 (workstation) pass; the others describe the
 * account itself. */
static int ends_sessions(const pal_auth_result *res)
{
    static const char *const codes[] = { "532", "533", "701", "773", "775" };
    apr_size_t i;

    for (i = 0; res->ad_code && i < sizeof(codes) / sizeof(codes[0]); i++)
        if (!strcmp(res->ad_code, codes[i]))
            return 1;
    return 0;
}

/* Wrong passwords count toward the soft lock; an account-state code ends
 * the DN's cached sessions. */
static void store_account_state(request_rec *r, pal_lookup *lk,
                                const pal_auth_result *res, apr_time_t now)
{
    pal_account_entry a;
    /* AD answers 775 to any password of a locked account: counting it
     * keeps the proxy from adding binds to a lockout. */
    int bad = res->status == PAL_AUTH_BAD_PASSWORD
              || (res->ad_code && !strcmp(res->ad_code, "775"));
    int state_code = res->status == PAL_AUTH_ACCOUNT && ends_sessions(res);
    apr_time_t keep = apr_time_from_sec(lk->w.max > lk->w.negative
                                        ? lk->w.max : lk->w.negative);

    if (!bad && !state_code)
        return;
    load_account(r, lk, &a);
    if (bad && lk->w.max_bad > 0)
        pal_account_note_bad(&a, &lk->w, now);
    if (state_code)
        a.revoked = now;
    save_account(r, lk, &a, now + keep);
    /* After the entry: a reader that skips it must find nothing there. */
    if (state_code && stats)
        apr_atomic_set64(&stats->last_revoked, (apr_uint64_t)now);
}

void pal_session_store(request_rec *r, pal_lookup *lk,
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
    if (res->dn && *res->dn)
        lk->account = res->dn;
    else if (!lk->account)
        resolve_account(r, lk);
    store_name(r, lk, res->dn, now);
    if (lk->w.negative > 0)
        store_negative(r, lk, res, now);
    store_account_state(r, lk, res, now);
}

/* ------------------------------------------------------------------ */
/* ProxyAuthConnectionAuth                                              */
/* ------------------------------------------------------------------ */

typedef struct {
    unsigned char ctx[PAL_HASH_LEN];
    apr_time_t validated;
    const char *login;
    const char *dn;
    int ngroups;
    pal_group_result *groups;
} pal_conn_identity;

static const char *CONN_NOTE = "proxyauth-ldap-identity";

int pal_session_connection_identity(request_rec *r, pal_lookup *lk)
{
    pal_conn_identity *id = NULL;
    apr_time_t now = apr_time_now();

    apr_pool_userdata_get((void **)&id, CONN_NOTE, r->connection->pool);
    if (!id || !pal_memeq(id->ctx, lk->ctx, PAL_HASH_LEN)
        || id->validated > now
        || now - id->validated >= apr_time_from_sec(lk->w.max)
        || !groups_from_list(r, lk, id->ngroups, id->groups))
        return 0;
    lk->login = id->login;
    lk->dn = id->dn;
    return 1;
}

void pal_session_connection_remember(request_rec *r, const pal_lookup *lk)
{
    apr_pool_t *cp = r->connection->pool;
    pal_conn_identity *id = NULL;

    apr_pool_userdata_get((void **)&id, CONN_NOTE, cp);
    if (!id) {
        id = apr_pcalloc(cp, sizeof(*id));
        apr_pool_userdata_setn(id, CONN_NOTE, apr_pool_cleanup_null, cp);
    }
    else if (pal_memeq(id->ctx, lk->ctx, PAL_HASH_LEN) && id->login
             && !strcmp(id->login, lk->login)) {
        return;   /* same identity: keep its first validation time */
    }
    memcpy(id->ctx, lk->ctx, PAL_HASH_LEN);
    id->validated = lk->validated ? lk->validated : apr_time_now();
    /* Connection-lifetime copies; one set per identity change. */
    id->login = apr_pstrdup(cp, lk->login);
    id->dn = apr_pstrdup(cp, lk->dn ? lk->dn : "");
    id->groups = group_results(cp, lk->conf->groups, lk->member,
                               &id->ngroups);
}

/* ------------------------------------------------------------------ */
/* Single flight                                                        */
/* ------------------------------------------------------------------ */

struct pal_flight {
    const char *key;
    int waiters;
    int done;
    apr_thread_cond_t *cond;
    apr_pool_t *pool;            /* holds the published result */
    pal_auth_result res;
    int ngroups;                 /* entries of res.group_member */
};

int pal_flight_begin(request_rec *r, const char *pkey, pal_flight **out)
{
    pal_flight *f;
    apr_pool_t *fp;
    (void)r;

    *out = NULL;
    if (!flight_mutex || !pkey)
        return 1;
    apr_thread_mutex_lock(flight_mutex);
    f = apr_hash_get(flights, pkey, APR_HASH_KEY_STRING);
    if (f) {
        f->waiters++;
        apr_thread_mutex_unlock(flight_mutex);
        *out = f;
        return 0;
    }
    if (apr_pool_create(&fp, flight_pool) != APR_SUCCESS) {
        apr_thread_mutex_unlock(flight_mutex);
        return 1;
    }
    f = apr_pcalloc(fp, sizeof(*f));
    f->pool = fp;
    f->key = apr_pstrdup(fp, pkey);
    apr_thread_cond_create(&f->cond, fp);
    apr_hash_set(flights, f->key, APR_HASH_KEY_STRING, f);
    apr_thread_mutex_unlock(flight_mutex);
    *out = f;
    return 1;
}

static void flight_release(pal_flight *f)
{
    /* Called with flight_mutex held; the last one out frees it. */
    if (f->done && f->waiters == 0)
        apr_pool_destroy(f->pool);
}

static const char *dup_or_null(apr_pool_t *p, const char *s)
{
    return s ? apr_pstrdup(p, s) : NULL;
}

static void copy_result(apr_pool_t *p, pal_auth_result *to,
                        const pal_auth_result *from, int ngroups)
{
    *to = *from;
    to->dn = dup_or_null(p, from->dn);
    to->login = dup_or_null(p, from->login);
    to->ad_code = dup_or_null(p, from->ad_code);
    to->reason = dup_or_null(p, from->reason);
    to->server = dup_or_null(p, from->server);
    to->group_member = NULL;
    if (from->group_member && ngroups > 0)
        to->group_member = apr_pmemdup(p, from->group_member,
                                       sizeof(int) * (apr_size_t)ngroups);
}

int pal_flight_wait(request_rec *r, pal_flight *f, apr_interval_time_t wait,
                    pal_auth_result *res)
{
    apr_time_t deadline = apr_time_now() + wait;
    int got = 0;

    apr_thread_mutex_lock(flight_mutex);
    while (!f->done) {
        apr_interval_time_t left = deadline - apr_time_now();
        if (left <= 0
            || apr_thread_cond_timedwait(f->cond, flight_mutex, left)
               == APR_TIMEUP)
            break;
    }
    if (f->done) {
        copy_result(r->pool, res, &f->res, f->ngroups);
        got = 1;
    }
    f->waiters--;
    flight_release(f);
    apr_thread_mutex_unlock(flight_mutex);
    return got;
}

void pal_flight_finish(pal_flight *f, const pal_auth_result *res,
                       int ngroups)
{
    if (!f)
        return;
    apr_thread_mutex_lock(flight_mutex);
    f->ngroups = ngroups;
    copy_result(f->pool, &f->res, res, ngroups);
    f->done = 1;
    apr_hash_set(flights, f->key, APR_HASH_KEY_STRING, NULL);
    apr_thread_cond_broadcast(f->cond);
    flight_release(f);
    apr_thread_mutex_unlock(flight_mutex);
}

/* ------------------------------------------------------------------ */
/* mod_status                                                           */
/* ------------------------------------------------------------------ */

typedef struct {
    request_rec *r;
    int plain;
} status_ctx;

static void print_server(void *baton, const char *hostport, int down,
                         apr_time_t since)
{
    status_ctx *sc = baton;
    char when[APR_RFC822_DATE_LEN] = "";

    if (down)
        apr_rfc822_date(when, since);
    if (sc->plain)
        ap_rprintf(sc->r, "ProxyAuthLDAPServer: %s %s%s%s\n", hostport,
                   down ? "down" : "up", down ? " since " : "", when);
    else
        ap_rprintf(sc->r, "<tr><td>%s</td><td>%s%s%s</td></tr>\n",
                   ap_escape_html(sc->r->pool, hostport),
                   down ? "down" : "up", down ? " since " : "", when);
}

int pal_session_status(request_rec *r, int flags, pal_ldap_downtable *down)
{
    static const char *const names[PAL_STAT_COUNT] = {
        "CacheHits", "CacheMisses", "CacheNegativeHits", "SoftLocks",
        "ConnectionReuses", "CacheStoreFailures"
    };
    status_ctx sc;
    pal_ldap_stats ls;
    int i;

    if (!stats || !down || !ap_extended_status)
        return OK;
    sc.r = r;
    sc.plain = (flags & AP_STATUS_SHORT) != 0;
    pal_ldap_downtable_stats(down, &ls);
    if (!sc.plain)
        ap_rputs("<hr />\n<h2>mod_proxyauth_ldap</h2>\n<table>\n", r);
    for (i = 0; i < PAL_STAT_COUNT; i++) {
        apr_uint32_t v = apr_atomic_read32(&stats->n[i]);
        if (sc.plain)
            ap_rprintf(r, "ProxyAuth%s: %u\n", names[i], v);
        else
            ap_rprintf(r, "<tr><td>%s</td><td>%u</td></tr>\n", names[i], v);
    }
    {
        const char *ln[5] = { "LDAPSearches", "LDAPBinds", "LDAPFailures",
                              "LDAPTimeouts", "LDAPConnects" };
        apr_uint64_t lv[5];
        lv[0] = ls.searches;
        lv[1] = ls.binds;
        lv[2] = ls.failures;
        lv[3] = ls.timeouts;
        lv[4] = ls.connects;
        for (i = 0; i < 5; i++) {
            if (sc.plain)
                ap_rprintf(r, "ProxyAuth%s: %" APR_UINT64_T_FMT "\n", ln[i],
                           lv[i]);
            else
                ap_rprintf(r, "<tr><td>%s</td><td>%" APR_UINT64_T_FMT
                           "</td></tr>\n", ln[i], lv[i]);
        }
    }
    if (!sc.plain)
        ap_rputs("</table>\n<table>\n<tr><th>LDAP server</th><th>state"
                 "</th></tr>\n", r);
    pal_ldap_downtable_each(down, print_server, &sc);
    if (!sc.plain)
        ap_rputs("</table>\n", r);
    for (i = 0; state && state->provider->status && !sc.plain
                && i < state->nshards; i++)
        state->provider->status(state->instance[i], r, flags);
    return OK;
}
