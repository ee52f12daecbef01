/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * The LDAP client of mod_proxyauth_ldap: per-process pools of connections,
 * failover across the servers of one URL, one deadline per server attempt,
 * TLS with verification, search-then-bind with a gate between the two, and
 * group checks by server-side filters.
 *
 * A pool slot holds two handles to the same server: the search handle binds
 * once as the service account and keeps that identity; user binds go to the
 * bind handle, so the search handle never needs a rebind.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/time.h>

#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_atomic.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>

#define LDAP_DEPRECATED 0
#include <ldap.h>

#include "pal_ldap.h"
#include "pal_ldap_strings.h"
#include "pal_ad.h"

/* ------------------------------------------------------------------ */
/* Registry and pools                                                   */
/* ------------------------------------------------------------------ */

typedef struct pal_conn {
    struct pal_conn *next;
    LDAP *search_ld;       /* bound as the service account, never rebound */
    LDAP *bind_ld;         /* user binds only */
    int search_bound;
    int server;            /* index into the URL's servers */
    apr_time_t last_used;
} pal_conn;

typedef struct pal_pool {
    /* Settings of this pool; strings copied into the registry's pool but
     * the service password, which stays where the configuration keeps it
     * (one copy to wipe). */
    pal_ldap_settings s;
    struct pal_pool *same_key;  /* other service passwords, same key */
    apr_thread_mutex_t *mutex;  /* guards idle, slots and the pal_conns */
    apr_thread_cond_t *cond;
    pal_conn *idle;
    int slots;             /* pal_conn objects made so far, <= pool_size */
} pal_pool;

struct pal_ldap_registry {
    apr_pool_t *pool;          /* guarded by mutex, like pools */
    apr_thread_mutex_t *mutex;
    apr_hash_t *pools;         /* settings key -> pal_pool chain */
    pal_ldap_downtable *down;  /* shared memory, atomics only */
    pal_log_fn *log;
    void *log_baton;
};

static apr_status_t registry_close(void *data);

apr_status_t pal_ldap_registry_create(apr_pool_t *p, pal_ldap_downtable *down,
                                      pal_log_fn *log, void *log_baton,
                                      pal_ldap_registry **out)
{
    pal_ldap_registry *reg;
    apr_pool_t *own;
    apr_status_t rv;
    int version;

    /* libldap sets up its global options at its first use, and two
     * threads that both get there first race on them (ThreadSanitizer
     * saw ldap_create lock a mutex that ldap_int_initialize was still
     * initialising). Reading an option here, while the child has one
     * thread, does that set-up once. */
    ldap_get_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &version);
    /* Pools are not thread-safe: the registry allocates only from a
     * subpool of its own, and only under its mutex. */
    rv = apr_pool_create(&own, p);
    if (rv != APR_SUCCESS)
        return rv;
    reg = apr_pcalloc(own, sizeof(*reg));
    reg->pool = own;
    reg->pools = apr_hash_make(own);
    reg->log = log;
    reg->log_baton = log_baton;
    if (!down)
        down = pal_ldap_downtable_init(apr_pcalloc(own,
                                       pal_ldap_downtable_size()));
    reg->down = down;
    rv = apr_thread_mutex_create(&reg->mutex, APR_THREAD_MUTEX_DEFAULT, own);
    if (rv != APR_SUCCESS)
        return rv;
    apr_pool_pre_cleanup_register(p, reg, registry_close);
    *out = reg;
    return APR_SUCCESS;
}

static void logf_(pal_ldap_registry *reg, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void logf_(pal_ldap_registry *reg, int level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (!reg->log)
        return;
    va_start(ap, fmt);
    apr_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    reg->log(reg->log_baton, level, buf);
}

/* Everything that selects a pool but the service password, which is
 * compared where it lies (same_pw) instead of being copied into a key. */
static const char *pool_key(apr_pool_t *p, const pal_ldap_settings *s)
{
    return apr_psprintf(p, "%s\n%s\n%d\n%s\n%d\n%d\n%" APR_TIME_T_FMT
                        "\n%d", s->url->text, s->bind_dn ? s->bind_dn : "",
                        s->starttls, s->ca_file ? s->ca_file : "", s->verify,
                        s->referrals, s->timeout, s->pool_size);
}

static int same_pw(const pal_ldap_settings *a, const pal_ldap_settings *b)
{
    if (!a->bind_pw || !b->bind_pw)
        return a->bind_pw == b->bind_pw;
    return a->bind_pw_len == b->bind_pw_len
           && memcmp(a->bind_pw, b->bind_pw, a->bind_pw_len) == 0;
}

static pal_ldap_url *copy_url(apr_pool_t *p, const pal_ldap_url *u)
{
    pal_ldap_url *c = apr_pmemdup(p, u, sizeof(*u));
    int i;

    c->text = apr_pstrdup(p, u->text);
    c->basedn = apr_pstrdup(p, u->basedn);
    c->attr = apr_pstrdup(p, u->attr);
    c->filter = apr_pstrdup(p, u->filter);
    c->servers = apr_array_copy(p, u->servers);
    for (i = 0; i < c->servers->nelts; i++) {
        pal_ldap_server *srv = &APR_ARRAY_IDX(c->servers, i, pal_ldap_server);
        srv->host = apr_pstrdup(p, srv->host);
        srv->hostport = apr_pstrdup(p, srv->hostport);
        srv->uri = apr_pstrdup(p, srv->uri);
    }
    return c;
}

static pal_pool *pool_create(pal_ldap_registry *reg,
                             const pal_ldap_settings *s)
{
    apr_pool_t *p = reg->pool;
    pal_pool *pp = apr_pcalloc(p, sizeof(*pp));

    pp->s = *s;
    pp->s.url = copy_url(p, s->url);
    pp->s.bind_dn = s->bind_dn ? apr_pstrdup(p, s->bind_dn) : NULL;
    pp->s.ca_file = s->ca_file ? apr_pstrdup(p, s->ca_file) : NULL;
    pp->s.group_attrs = NULL;  /* per call, not per pool */
    if (pp->s.pool_size < 1)
        pp->s.pool_size = 1;
    if (apr_thread_mutex_create(&pp->mutex, APR_THREAD_MUTEX_DEFAULT, p)
        || apr_thread_cond_create(&pp->cond, p))
        return NULL;
    return pp;
}

static pal_pool *pool_lookup(pal_ldap_registry *reg, apr_pool_t *rp,
                             const pal_ldap_settings *s)
{
    const char *key = pool_key(rp, s);
    apr_size_t klen = strlen(key);
    pal_pool *pp, *first;

    apr_thread_mutex_lock(reg->mutex);
    first = apr_hash_get(reg->pools, key, (apr_ssize_t)klen);
    for (pp = first; pp && !same_pw(&pp->s, s); pp = pp->same_key)
        ;
    if (!pp) {
        pp = pool_create(reg, s);
        if (pp) {
            pp->same_key = first;
            apr_hash_set(reg->pools, apr_pstrmemdup(reg->pool, key, klen),
                         (apr_ssize_t)klen, pp);
        }
    }
    apr_thread_mutex_unlock(reg->mutex);
    return pp;
}

static void close_ld(LDAP **ld)
{
    if (*ld) {
        ldap_unbind_ext(*ld, NULL, NULL);
        *ld = NULL;
    }
}

static void conn_close(pal_conn *c)
{
    close_ld(&c->search_ld);
    close_ld(&c->bind_ld);
    c->search_bound = 0;
}

/* Waits for a free slot until the deadline: the pool is bounded. */
static pal_conn *pool_acquire(pal_pool *pp, apr_time_t deadline)
{
    pal_conn *c = NULL;

    apr_thread_mutex_lock(pp->mutex);
    while (!pp->idle && pp->slots >= pp->s.pool_size) {
        apr_interval_time_t left = deadline - apr_time_now();
        if (left <= 0
            || apr_thread_cond_timedwait(pp->cond, pp->mutex, left)
               == APR_TIMEUP) {
            if (!pp->idle && pp->slots >= pp->s.pool_size)
                break;
        }
    }
    if (pp->idle) {
        c = pp->idle;
        pp->idle = c->next;
    }
    else if (pp->slots < pp->s.pool_size) {
        pp->slots++;
        c = calloc(1, sizeof(*c));  /* slots live as long as the child */
        if (!c)
            pp->slots--;
    }
    apr_thread_mutex_unlock(pp->mutex);
    return c;
}

static int conn_stale(pal_conn *c, apr_time_t now)
{
    return c->search_ld
        && now - c->last_used > apr_time_from_sec(PAL_LDAP_IDLE_SECONDS);
}

/* Idle connections are closed when the pool is next touched, so a quiet
 * child keeps no connection open much past the idle limit. */
static void pool_release(pal_pool *pp, pal_conn *c)
{
    pal_conn *x;

    c->last_used = apr_time_now();
    apr_thread_mutex_lock(pp->mutex);
    for (x = pp->idle; x; x = x->next)
        if (conn_stale(x, c->last_used))
            conn_close(x);
    c->next = pp->idle;
    pp->idle = c;
    apr_thread_cond_signal(pp->cond);
    apr_thread_mutex_unlock(pp->mutex);
}

/* A pre-cleanup of the pool the registry was made from: it runs before
 * that pool's subpools are destroyed, the registry's own with its mutexes
 * among them. */
static apr_status_t registry_close(void *data)
{
    pal_ldap_registry *reg = data;
    apr_hash_index_t *hi;

    apr_thread_mutex_lock(reg->mutex);
    for (hi = apr_hash_first(NULL, reg->pools); hi; hi = apr_hash_next(hi)) {
        pal_pool *pp;
        for (pp = apr_hash_this_val(hi); pp; pp = pp->same_key) {
            pal_conn *c;
            apr_thread_mutex_lock(pp->mutex);
            for (c = pp->idle; c; c = c->next)
                conn_close(c);
            apr_thread_mutex_unlock(pp->mutex);
        }
    }
    apr_thread_mutex_unlock(reg->mutex);
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* One attempt against one server                                       */
/* ------------------------------------------------------------------ */

/* How an operation ended, from the point of view of failover. */
typedef enum {
    STEP_OK = 0,
    STEP_DEAD_CONN,    /* a reused connection was dead: reopen once */
    STEP_SERVER_DOWN,  /* connect, TLS or timeout: mark down, next server */
    STEP_NEXT,         /* busy/unavailable answer: next server, no mark */
    STEP_FAIL          /* the directory answered, and it is a 503 */
} step_t;

typedef struct {
    pal_ldap_registry *reg;
    pal_pool *pp;
    const pal_ldap_server *srv;
    const pal_ldap_gate *gate;
    apr_pool_t *rp;
    apr_time_t deadline;
    apr_interval_time_t lost;  /* of this server's time, spent at the gate */
    int map_only;              /* Negotiate: search and groups, no bind */
    pal_auth_result *res;
} attempt_t;

static struct timeval remaining_tv(apr_time_t deadline)
{
    struct timeval tv;
    apr_interval_time_t left = deadline - apr_time_now();

    if (left < 1000)
        left = 1000;   /* libldap treats 0 as "poll": keep a sliver */
    tv.tv_sec = (time_t)apr_time_sec(left);
    tv.tv_usec = (suseconds_t)apr_time_usec(left);
    return tv;
}

static void set_reason(attempt_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_reason(attempt_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    a->res->reason = apr_pvsprintf(a->rp, fmt, ap);
    va_end(ap);
    a->res->server = a->srv->hostport;
}

static int ld_set_timeouts(LDAP *ld, apr_time_t deadline)
{
    struct timeval tv = remaining_tv(deadline);
    return ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv)
        || ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
}

static int ld_set_tls(LDAP *ld, const pal_ldap_settings *s)
{
    int req = s->verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
    int newctx = 0;

    if (ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &req))
        return -1;
    if (s->ca_file && ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE,
                                      s->ca_file))
        return -1;
    /* Per-handle options only take effect in a context made after them. */
    return ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &newctx);
}

/* The server's diagnostic text, escaped for the error log. */
static int ld_diag_rc(LDAP *ld, int rc, const char **diag, apr_pool_t *p)
{
    char *msg = NULL;
    ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg);
    *diag = (msg && *msg) ? pal_log_escape(p, msg) : NULL;
    if (msg)
        ldap_memfree(msg);
    return rc;
}

static step_t start_tls(attempt_t *a, LDAP *ld)
{
    int msgid, rc, err = LDAP_OTHER;
    struct timeval tv = remaining_tv(a->deadline);
    LDAPMessage *res = NULL;

    rc = ldap_start_tls(ld, NULL, NULL, &msgid);
    if (rc == LDAP_SUCCESS) {
        rc = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, &res);
        if (rc == 0) {
            pal_ldap_count(a->reg->down, PAL_LDAP_TIMEOUTS);
            set_reason(a, "StartTLS timed out");
            return STEP_SERVER_DOWN;
        }
        if (rc > 0 && ldap_parse_result(ld, res, &err, NULL, NULL, NULL,
                                        NULL, 1) == LDAP_SUCCESS
            && err == LDAP_SUCCESS)
            rc = ldap_install_tls(ld);
        else
            rc = rc > 0 ? err : LDAP_SERVER_DOWN;
    }
    if (rc != LDAP_SUCCESS) {
        const char *diag;
        ld_diag_rc(ld, rc, &diag, a->rp);
        set_reason(a, "StartTLS failed: %s%s%s", ldap_err2string(rc),
                   diag ? ": " : "", diag ? diag : "");
        return STEP_SERVER_DOWN;
    }
    return STEP_OK;
}

static step_t open_ld(attempt_t *a, LDAP **out)
{
    const pal_ldap_settings *s = &a->pp->s;
    int v3 = LDAP_VERSION3, rc;
    LDAP *ld = NULL;
    const char *diag;

    pal_ldap_count(a->reg->down, PAL_LDAP_CONNECTS);
    rc = ldap_initialize(&ld, a->srv->uri);
    if (rc != LDAP_SUCCESS) {
        set_reason(a, "cannot initialise %s: %s", a->srv->uri,
                   ldap_err2string(rc));
        return STEP_SERVER_DOWN;
    }
    if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3)
        || ldap_set_option(ld, LDAP_OPT_REFERRALS,
                           s->referrals ? LDAP_OPT_ON : LDAP_OPT_OFF)
        || ld_set_timeouts(ld, a->deadline)
        || ((a->pp->s.url->ldaps || s->starttls) && ld_set_tls(ld, s))) {
        set_reason(a, "cannot set LDAP options for %s", a->srv->uri);
        close_ld(&ld);
        return STEP_SERVER_DOWN;
    }
    rc = ldap_connect(ld);
    if (rc != LDAP_SUCCESS) {
        ld_diag_rc(ld, rc, &diag, a->rp);
        set_reason(a, "cannot connect: %s%s%s", ldap_err2string(rc),
                   diag ? ": " : "", diag ? diag : "");
        close_ld(&ld);
        return STEP_SERVER_DOWN;
    }
    if (s->starttls && !a->pp->s.url->ldaps && start_tls(a, ld) != STEP_OK) {
        close_ld(&ld);
        return STEP_SERVER_DOWN;
    }
    *out = ld;
    return STEP_OK;
}

/* Classifies a result code of an operation on a connection. */
static step_t classify(attempt_t *a, int rc, int reused, const char *what,
                       const char *diag)
{
    a->res->ldap_rc = rc;
    if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR) {
        set_reason(a, "%s: %s", what, ldap_err2string(rc));
        return reused ? STEP_DEAD_CONN : STEP_SERVER_DOWN;
    }
    if (rc == LDAP_TIMEOUT) {
        pal_ldap_count(a->reg->down, PAL_LDAP_TIMEOUTS);
        set_reason(a, "%s timed out", what);
        return STEP_SERVER_DOWN;
    }
    set_reason(a, "%s: %s (%d)%s%s", what, ldap_err2string(rc), rc,
               diag ? ": " : "", diag ? pal_log_escape(a->rp, diag) : "");
    if (rc == LDAP_BUSY || rc == LDAP_UNAVAILABLE
        || rc == LDAP_UNWILLING_TO_PERFORM || rc == LDAP_OTHER)
        return STEP_NEXT;
    return STEP_FAIL;
}

/* Waits for one result; returns the LDAP result code of the operation, or
 * a negative API code (LDAP_TIMEOUT, LDAP_SERVER_DOWN). */
static int wait_result(attempt_t *a, LDAP *ld, int msgid, LDAPMessage **res)
{
    struct timeval tv = remaining_tv(a->deadline);
    int rc = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, res);

    if (rc == 0) {
        ldap_abandon_ext(ld, msgid, NULL, NULL);
        return LDAP_TIMEOUT;
    }
    if (rc < 0) {
        int err = LDAP_SERVER_DOWN;
        ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &err);
        return err == LDAP_SUCCESS ? LDAP_SERVER_DOWN : err;
    }
    return LDAP_SUCCESS;
}

static int simple_bind(attempt_t *a, LDAP *ld, const char *dn,
                       const char *pw, apr_size_t pwlen, const char **diag)
{
    struct berval cred;
    LDAPMessage *res = NULL;
    int msgid, rc, err = LDAP_OTHER;
    char *msg = NULL;

    *diag = NULL;
    cred.bv_val = (char *)pw;
    cred.bv_len = (ber_len_t)pwlen;
    ld_set_timeouts(ld, a->deadline);
    pal_ldap_count(a->reg->down, PAL_LDAP_BINDS);
    rc = ldap_sasl_bind(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, &msgid);
    if (rc != LDAP_SUCCESS)
        return rc;
    rc = wait_result(a, ld, msgid, &res);
    if (rc != LDAP_SUCCESS)
        return rc;
    rc = ldap_parse_result(ld, res, &err, NULL, &msg, NULL, NULL, 1);
    if (rc != LDAP_SUCCESS)
        return rc;
    if (msg) {
        *diag = *msg ? apr_pstrdup(a->rp, msg) : NULL;
        ldap_memfree(msg);
    }
    return err;
}

/* Opens the search handle when needed and binds it as the service account
 * once per connection. */
static step_t ensure_search_ld(attempt_t *a, pal_conn *c)
{
    const pal_ldap_settings *s = &a->pp->s;
    const char *diag;
    step_t st;
    int rc;

    if (!c->search_ld) {
        st = open_ld(a, &c->search_ld);
        if (st != STEP_OK)
            return st;
        c->search_bound = 0;
    }
    if (c->search_bound || !s->bind_dn)
        return STEP_OK;
    rc = simple_bind(a, c->search_ld, s->bind_dn, s->bind_pw, s->bind_pw_len,
                     &diag);
    if (rc == LDAP_SUCCESS) {
        c->search_bound = 1;
        return STEP_OK;
    }
    st = classify(a, rc, 0, "service bind", diag);
    if (st == STEP_FAIL || rc == LDAP_INVALID_CREDENTIALS) {
        logf_(a->reg, 3, "service bind as \"%s\" to %s failed: %s (%d): "
              "check ProxyAuthLDAPBindDN / ProxyAuthLDAPBindPassword",
              s->bind_dn, a->srv->hostport, ldap_err2string(rc), rc);
        st = STEP_FAIL;
    }
    close_ld(&c->search_ld);
    return st;
}

static const char *user_filter(attempt_t *a, const char *user)
{
    const pal_ldap_url *u = a->pp->s.url;
    return apr_pstrcat(a->rp, "(&", u->filter, "(", u->attr, "=",
                       pal_ldap_filter_escape(a->rp, user, strlen(user)),
                       "))", NULL);
}

/* Picks the value of the login attribute that matches what the user typed,
 * else the first one: r->user is the directory's spelling. */
static const char *login_value(attempt_t *a, LDAP *ld, LDAPMessage *e,
                               const char *user)
{
    struct berval **vals = ldap_get_values_len(ld, e, a->pp->s.url->attr);
    const char *out = NULL;
    int i;

    for (i = 0; vals && vals[i]; i++) {
        if (vals[i]->bv_len == strlen(user)
            && !strncasecmp(vals[i]->bv_val, user, vals[i]->bv_len)) {
            out = apr_pstrmemdup(a->rp, vals[i]->bv_val, vals[i]->bv_len);
            break;
        }
    }
    if (!out && vals && vals[0])
        out = apr_pstrmemdup(a->rp, vals[0]->bv_val, vals[0]->bv_len);
    if (vals)
        ldap_value_free_len(vals);
    return out ? out : apr_pstrdup(a->rp, user);
}

static int run_search(attempt_t *a, LDAP *ld, const char *base, int scope,
                      const char *filter, char **attrs, int sizelimit,
                      LDAPMessage **res, const char **diag)
{
    struct timeval tv = remaining_tv(a->deadline);
    int msgid, rc, err = LDAP_OTHER;
    char *msg = NULL;

    *diag = NULL;
    pal_ldap_count(a->reg->down, PAL_LDAP_SEARCHES);
    ld_set_timeouts(ld, a->deadline);
    rc = ldap_search_ext(ld, base, scope, filter, attrs, 0, NULL, NULL, &tv,
                         sizelimit, &msgid);
    if (rc != LDAP_SUCCESS)
        return rc;
    rc = wait_result(a, ld, msgid, res);
    if (rc != LDAP_SUCCESS)
        return rc;
    rc = ldap_parse_result(ld, *res, &err, NULL, &msg, NULL, NULL, 0);
    if (rc != LDAP_SUCCESS)
        return rc;
    if (msg) {
        *diag = *msg ? apr_pstrdup(a->rp, msg) : NULL;
        ldap_memfree(msg);
    }
    return err;
}

static step_t find_user(attempt_t *a, pal_conn *c, const char *user,
                        int reused)
{
    const pal_ldap_url *u = a->pp->s.url;
    char *attrs[2];
    LDAPMessage *res = NULL, *e;
    const char *diag;
    int rc, n;

    attrs[0] = (char *)u->attr;
    attrs[1] = NULL;
    rc = run_search(a, c->search_ld, u->basedn, u->scope, user_filter(a, user),
                    attrs, 2, &res, &diag);
    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
        if (res)
            ldap_msgfree(res);
        return classify(a, rc, reused, "user search", diag);
    }
    n = ldap_count_entries(c->search_ld, res);
    e = ldap_first_entry(c->search_ld, res);
    if (n == 1 && e) {
        char *dn = ldap_get_dn(c->search_ld, e);
        a->res->dn = apr_pstrdup(a->rp, dn ? dn : "");
        if (dn)
            ldap_memfree(dn);
        a->res->login = login_value(a, c->search_ld, e, user);
    }
    ldap_msgfree(res);
    if (n == 0) {
        a->res->status = PAL_AUTH_UNKNOWN_USER;
        set_reason(a, "unknown user");
    }
    else if (n > 1 || rc == LDAP_SIZELIMIT_EXCEEDED) {
        a->res->status = PAL_AUTH_AMBIGUOUS;
        set_reason(a, "several directory entries match the user name");
    }
    return STEP_OK;
}

/* rc 49: a wrong password, or an AD sub-code about the account. */
static void bind_refused(attempt_t *a, const char *diag)
{
    const char *code = pal_ad_subcode(a->rp, diag);

    a->res->ad_code = code;
    if (code && pal_ad_subcode_is_account_state(code)) {
        a->res->status = PAL_AUTH_ACCOUNT;
        set_reason(a, "account unusable (AD %s: %s)", code,
                   pal_ad_subcode_name(code));
    }
    else if (code) {
        a->res->status = PAL_AUTH_BAD_PASSWORD;
        set_reason(a, "bad password (AD %s: %s)", code,
                   pal_ad_subcode_name(code));
    }
    else {
        a->res->status = PAL_AUTH_BAD_PASSWORD;
        set_reason(a, "bad password");
    }
}

static step_t do_bind(attempt_t *a, pal_conn *c, const char *password,
                      apr_size_t pwlen, int reused)
{
    const char *diag;
    step_t st;
    int rc;

    if (!c->bind_ld) {
        st = open_ld(a, &c->bind_ld);
        if (st != STEP_OK)
            return st;
        reused = 0;
    }
    rc = simple_bind(a, c->bind_ld, a->res->dn, password, pwlen, &diag);
    a->res->ldap_rc = rc;
    if (rc == LDAP_SUCCESS)
        return STEP_OK;
    if (rc != LDAP_INVALID_CREDENTIALS) {
        st = classify(a, rc, reused, "user bind", diag);
        if (st != STEP_OK)
            close_ld(&c->bind_ld);
        return st;
    }
    bind_refused(a, diag);
    return STEP_OK;
}

/* Asks the gate; time spent there is not the server's (a->lost). */
static step_t ask_gate(attempt_t *a)
{
    const char *why = NULL;
    apr_time_t t0 = apr_time_now();
    pal_gate_verdict v = a->gate->before_bind(a->gate->baton, a->res->dn,
                                              a->deadline, &why);

    a->lost += apr_time_now() - t0;
    if (v == PAL_GATE_BIND)
        return STEP_OK;
    set_reason(a, "%s", why ? why : "refused before the bind");
    if (v == PAL_GATE_KNOWN_BAD || v == PAL_GATE_LOCKED) {
        a->res->status = v == PAL_GATE_LOCKED ? PAL_AUTH_LOCKED
                                              : PAL_AUTH_KNOWN_BAD;
        return STEP_OK;
    }
    return STEP_FAIL;
}

static step_t bind_user(attempt_t *a, pal_conn *c, const char *password,
                        apr_size_t pwlen, int reused)
{
    pal_auth_result none;
    step_t st;

    if (!a->gate)
        return do_bind(a, c, password, pwlen, reused);
    st = ask_gate(a);
    if (st != STEP_OK || a->res->status != PAL_AUTH_OK)
        return st;
    st = do_bind(a, c, password, pwlen, reused);
    none = *a->res;
    if (st != STEP_OK)
        none.status = PAL_AUTH_UNAVAILABLE;
    a->gate->after_bind(a->gate->baton, a->res->dn, &none);
    return st;
}

static const char *group_filter(attempt_t *a, int nested,
                                const apr_array_header_t *attrs,
                                const char *group)
{
    const char *dn = a->res->dn;
    const char *f = "";
    int i;

    if (nested)
        return apr_pstrcat(a->rp, "(memberOf:1.2.840.113556.1.4.1941:=",
                           pal_ldap_filter_escape(a->rp, group,
                                                  strlen(group)), ")", NULL);
    for (i = 0; attrs && i < attrs->nelts; i++)
        f = apr_pstrcat(a->rp, f, "(", APR_ARRAY_IDX(attrs, i, const char *),
                        "=", pal_ldap_filter_escape(a->rp, dn, strlen(dn)),
                        ")", NULL);
    return apr_pstrcat(a->rp, "(|", f, ")", NULL);
}

/* The base and filter of the one search that answers a condition: on the
 * group for direct membership (never reading member lists, which AD
 * truncates at 1500 values), on the user entry for everything else. */
static const char *cond_search(attempt_t *a, const pal_ldap_cond *q,
                               const apr_array_header_t *attrs, int nested,
                               const char **filter)
{
    switch (q->kind) {
    case PAL_COND_ATTRIBUTE:
        *filter = apr_pstrcat(a->rp, "(", q->a, "=",
                              pal_ldap_filter_escape(a->rp, q->b,
                                                     strlen(q->b)),
                              ")", NULL);
        return a->res->dn;
    case PAL_COND_FILTER:
        *filter = q->a;
        return a->res->dn;
    case PAL_COND_GROUP:
        break;
    }
    *filter = group_filter(a, nested, attrs, q->a);
    return nested ? a->res->dn : q->a;
}

/* One base search per condition; a condition is met when it finds the
 * entry. A group that does not exist is not met. */
static step_t check_conds(attempt_t *a, pal_conn *c,
                          const apr_array_header_t *conds,
                          const apr_array_header_t *attrs, int nested)
{
    static char *no_attrs[] = { LDAP_NO_ATTRS, NULL };
    int i;

    a->res->group_member = apr_pcalloc(a->rp, sizeof(int)
                                       * (apr_size_t)(conds->nelts + 1));
    for (i = 0; i < conds->nelts; i++) {
        const pal_ldap_cond *q = &APR_ARRAY_IDX(conds, i, pal_ldap_cond);
        const char *filter, *diag;
        const char *base = cond_search(a, q, attrs, nested, &filter);
        LDAPMessage *res = NULL;
        int rc = run_search(a, c->search_ld, base, LDAP_SCOPE_BASE, filter,
                            no_attrs, 1, &res, &diag);
        if (rc == LDAP_SUCCESS)
            a->res->group_member[i] = ldap_count_entries(c->search_ld, res) > 0;
        if (res)
            ldap_msgfree(res);
        if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT)
            return classify(a, rc, 0, q->kind == PAL_COND_GROUP
                            ? "group search" : "condition search", diag);
    }
    return STEP_OK;
}

/* search -> bind -> conditions on one server; reopens a dead pooled connection
 * once. */
static step_t try_server(attempt_t *a, pal_conn *c, const char *user,
                         const char *password, apr_size_t pwlen,
                         const apr_array_header_t *conds,
                         const apr_array_header_t *attrs, int nested)
{
    int round;
    step_t st = STEP_FAIL;

    for (round = 0; round < 2; round++) {
        int reused = c->search_ld != NULL;
        a->res->status = PAL_AUTH_OK;
        st = ensure_search_ld(a, c);
        if (st == STEP_OK)
            st = find_user(a, c, user, reused);
        if (st == STEP_OK && a->res->status == PAL_AUTH_OK && !a->map_only)
            st = bind_user(a, c, password, pwlen, c->bind_ld != NULL);
        if (st == STEP_OK && a->res->status == PAL_AUTH_OK && conds
            && conds->nelts)
            st = check_conds(a, c, conds, attrs, nested);
        if (st != STEP_DEAD_CONN)
            break;
        conn_close(c);
    }
    if (st == STEP_DEAD_CONN)
        st = STEP_SERVER_DOWN;
    return st;
}

static apr_status_t fail_unavailable(pal_auth_result *res, apr_pool_t *rp,
                                     const char *why)
{
    res->status = PAL_AUTH_UNAVAILABLE;
    if (!res->reason)
        res->reason = apr_pstrdup(rp, why);
    return APR_SUCCESS;
}

/* A server that failed within less than its own timeout because the
 * request's deadline ran out (eaten by the wait for a pooled connection or
 * at the gate) is not known to be down. A twentieth of the timeout (10 ms
 * at least) is the server's anyway: taking a free connection costs a few
 * microseconds. */
static int cut_short(const attempt_t *a, apr_time_t start,
                     apr_interval_time_t per_server)
{
    apr_interval_time_t slack = per_server / 20;

    if (slack < apr_time_from_msec(10))
        slack = apr_time_from_msec(10);
    return a->deadline - start - a->lost < per_server - slack
           && apr_time_now() + apr_time_from_msec(1) >= a->deadline;
}

/* Returns non-zero when no further server may be tried. */
static int server_failed(attempt_t *a, step_t st, apr_time_t start,
                         apr_interval_time_t per_server)
{
    pal_ldap_count(a->reg->down, PAL_LDAP_FAILURES);
    if (st != STEP_SERVER_DOWN)
        return st == STEP_FAIL;
    if (cut_short(a, start, per_server)) {
        set_reason(a, "the request's deadline ran out (after waiting for a "
                   "pooled connection or for another check of the same "
                   "account): %s", a->res->reason);
        return 1;
    }
    /* One line when it goes down and one when it is back: the retries in
     * between (one a second) are logged at info level only. */
    if (pal_ldap_server_down(a->reg->down, a->srv->hostport, apr_time_now()))
        logf_(a->reg, 3, "LDAP server %s marked down (retried by one request "
              "a second): %s", a->srv->hostport, a->res->reason);
    else
        logf_(a->reg, 6, "LDAP server %s still down: %s", a->srv->hostport,
              a->res->reason);
    return 0;
}

/* Tries the servers in order, skipping those marked down unless this
 * request won their retry. */
static void failover(attempt_t *a, pal_conn *c, const char *user,
                     const char *password, apr_size_t pwlen,
                     const apr_array_header_t *conds,
                     const apr_array_header_t *attrs, int nested,
                     apr_time_t first_deadline,
                     apr_interval_time_t per_server)
{
    const apr_array_header_t *servers = a->pp->s.url->servers;
    int i, tried = 0;

    for (i = 0; i < servers->nelts; i++) {
        apr_time_t start = apr_time_now();
        step_t st;

        a->srv = &APR_ARRAY_IDX(servers, i, pal_ldap_server);
        if (!pal_ldap_server_usable(a->reg->down, a->srv->hostport, start))
            continue;
        if (c->server != i)
            conn_close(c);
        c->server = i;
        /* The first server shares the deadline the pool wait started;
         * each further server gets a fresh one. */
        a->deadline = tried ? start + per_server : first_deadline;
        a->lost = 0;
        tried++;
        st = try_server(a, c, user, password, pwlen, conds, attrs, nested);
        if (st == STEP_OK)
            return;
        conn_close(c);
        a->res->status = PAL_AUTH_UNAVAILABLE;
        if (server_failed(a, st, start, per_server))
            return;
    }
    if (!tried) {
        a->res->status = PAL_AUTH_UNAVAILABLE;
        a->res->reason = "every LDAP server of the URL is marked down";
    }
}

/* One authentication or mapping, with its deadline, on a pooled
 * connection. */
static apr_status_t run_attempt(attempt_t *a, const pal_ldap_settings *s,
                                const char *user, const char *password,
                                apr_size_t pwlen,
                                const apr_array_header_t *conds)
{
    pal_conn *c;
    apr_time_t deadline;

    a->pp = pool_lookup(a->reg, a->rp, s);
    if (!a->pp)
        return fail_unavailable(a->res, a->rp, "cannot create LDAP pool");
    deadline = apr_time_now() + s->timeout;
    c = pool_acquire(a->pp, deadline);
    if (!c)
        return fail_unavailable(a->res, a->rp,
                                "LDAP connection pool exhausted within the "
                                "timeout (ProxyAuthLDAPPoolSize)");
    if (conn_stale(c, apr_time_now()))
        conn_close(c);
    failover(a, c, user, password, pwlen, conds, s->group_attrs, s->nested,
             deadline, s->timeout);
    if (a->res->status != PAL_AUTH_UNAVAILABLE && a->srv
        && pal_ldap_server_up(a->reg->down, a->srv->hostport))
        logf_(a->reg, 5, "LDAP server %s is back in use", a->srv->hostport);
    pool_release(a->pp, c);
    return APR_SUCCESS;
}

apr_status_t pal_ldap_authenticate(pal_ldap_registry *reg,
                                   const pal_ldap_settings *settings,
                                   apr_pool_t *rp,
                                   const char *user,
                                   const char *password,
                                   apr_size_t password_len,
                                   const apr_array_header_t *conds,
                                   const pal_ldap_gate *gate,
                                   pal_auth_result *res)
{
    attempt_t a;

    memset(res, 0, sizeof(*res));
    if (!password || password_len == 0) {
        /* An empty password is an anonymous bind to AD: success. */
        res->status = PAL_AUTH_BAD_PASSWORD;
        res->reason = "empty password";
        return APR_SUCCESS;
    }
    memset(&a, 0, sizeof(a));
    a.reg = reg;
    a.rp = rp;
    a.res = res;
    a.gate = gate && gate->before_bind && gate->after_bind ? gate : NULL;
    return run_attempt(&a, settings, user, password, password_len, conds);
}

apr_status_t pal_ldap_map(pal_ldap_registry *reg,
                          const pal_ldap_settings *settings, apr_pool_t *rp,
                          const char *user, const apr_array_header_t *conds,
                          pal_auth_result *res)
{
    attempt_t a;

    memset(res, 0, sizeof(*res));
    memset(&a, 0, sizeof(a));
    a.reg = reg;
    a.rp = rp;
    a.res = res;
    a.map_only = 1;
    return run_attempt(&a, settings, user, NULL, 0, conds);
}

const char *pal_ldap_check_tls(apr_pool_t *p, const pal_ldap_settings *s)
{
    LDAP *ld = NULL;
    const char *err = NULL;
    const pal_ldap_server *srv;

    if (!s->url || !(s->url->ldaps || s->starttls))
        return NULL;
    srv = &APR_ARRAY_IDX(s->url->servers, 0, pal_ldap_server);
    if (ldap_initialize(&ld, srv->uri) != LDAP_SUCCESS)
        return "libldap cannot initialise a handle";
    if (ld_set_tls(ld, s))
        err = apr_psprintf(p, "libldap refused the TLS settings%s%s",
                           s->ca_file ? " (CA file " : "",
                           s->ca_file ? apr_pstrcat(p, s->ca_file, ")", NULL)
                                      : "");
    ldap_unbind_ext(ld, NULL, NULL);
    return err;
}
