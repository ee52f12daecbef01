/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Between the search and the user bind (contract: include/pal_bind_gate.h).
 * The LDAP client calls the gate once it knows the entry's DN, so every
 * spelling of a name that reaches one account ("alice", "ALICE",
 * "CORP\alice") meets the same negative entries and the same soft lock,
 * and each try is reserved in the soft-lock table before its bind: n
 * distinct wrong passwords sent at once still cause at most n binds.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "apr_strings.h"

#include "pal_bind_gate.h"
#include "pal_ad.h"
#include "pal_process.h"
#include "pal_softlock.h"
#include "pal_status.h"

APLOG_USE_MODULE(proxyauth_ldap);

#define KEY_TABLE "mod_proxyauth_ldap.softlock"
#define KEY_MUTEX "mod_proxyauth_ldap.softlock-mutex"
/* How often a request that waits for another check of the same account
 * looks again. */
#define WAIT_STEP apr_time_from_msec(10)

/* The table is shared memory (made once per full start); the handle's
 * mutex is attached in child_init. Both are set before any request thread
 * runs and only read afterwards; the table itself is guarded by the
 * mutex (softlock.c). */
static pal_softlock softlock;

int pal_gate_post_config(server_rec *s)
{
    apr_size_t size = pal_softlock_size(PAL_SOFTLOCK_ACCOUNTS);
    int fresh;
    void *mem = pal_process_shm(s, KEY_TABLE, size, &fresh);
    apr_status_t rv;

    if (!mem)
        return HTTP_INTERNAL_SERVER_ERROR;
    softlock.table = fresh ? pal_softlock_init(mem, PAL_SOFTLOCK_ACCOUNTS)
                           : mem;
    rv = pal_process_mutex(s, KEY_MUTEX, PAL_MUTEX_SOFTLOCK, NULL,
                           &softlock.mutex);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "PAL0017: cannot create "
                     "the soft-lock mutex");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

void pal_gate_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;

    if (!softlock.mutex)
        return;
    rv = pal_process_mutex_child(&softlock.mutex, pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "PAL0018: cannot attach "
                     "the soft-lock mutex; tries are refused with 503");
        softlock.mutex = NULL;
    }
}

static int softlock_applies(const pal_lookup *lk)
{
    return lk->w.max_bad > 0 && lk->w.negative > 0;
}

static void rules_of(const pal_lookup *lk, pal_softlock_rules *rules)
{
    rules->max_bad = lk->w.max_bad;
    rules->window = apr_time_from_sec(lk->w.negative);
    /* A try ends within one server's timeout; twice that, and it was
     * abandoned by a process that died. */
    rules->stale = 2 * lk->s.timeout + apr_time_from_sec(1);
}

/* The account is the DN on one directory (the URL's servers, whatever its
 * base, filter or realm): the directory's own lockout counts the same. */
static int account_digest(request_rec *r, const pal_lookup *lk,
                          const char *dn, unsigned char key[32])
{
    const pal_secret *sec = pal_cache_secret();
    const apr_array_header_t *srv = lk->s.url->servers;
    const char *dir = lk->s.url->ldaps ? "ldaps" : "ldap";
    unsigned char ctx[PAL_HASH_LEN];
    int i;

    if (!sec)
        return 0;
    for (i = 0; i < srv->nelts; i++)
        dir = apr_pstrcat(r->pool, dir, " ",
                          APR_ARRAY_IDX(srv, i, pal_ldap_server).hostport,
                          NULL);
    pal_cache_context(sec, &dir, 1, ctx);
    return pal_cache_digest(sec, PAL_KEY_LOCK, ctx, dn, strlen(dn), NULL, 0,
                            key);
}

static int try_digest(const pal_lookup *lk, const char *dn,
                      unsigned char tag[32])
{
    static const unsigned char none[PAL_HASH_LEN];
    const pal_secret *sec = pal_cache_secret();

    return sec && pal_cache_digest(sec, PAL_KEY_TRY, none, dn, strlen(dn),
                                   lk->password, lk->password_len, tag);
}

int pal_gate_locked(request_rec *r, pal_lookup *lk)
{
    pal_softlock_rules rules;
    unsigned char key[32];

    if (!softlock_applies(lk) || !lk->account_is_dn || !softlock.mutex
        || !account_digest(r, lk, lk->account, key))
        return 0;
    rules_of(lk, &rules);
    if (!pal_softlock_locked(&softlock, key, &rules, apr_time_now()))
        return 0;
    lk->reason = "too many wrong passwords (ProxyAuthMaxBadPasswords)";
    pal_stat_inc(PAL_STAT_LOCKED);
    return 1;
}

/* A spelling of the name that met the account for the first time: the
 * password may already be known to be wrong for it. */
static int known_bad(pal_bind_gate *g, const char *dn)
{
    if (g->lk->account_is_dn && !strcmp(g->lk->account, dn))
        return 0;   /* the cache lookup asked this already */
    if (!pal_cache_known_bad(g->r, g->lk, dn))
        return 0;
    pal_stat_inc(PAL_STAT_NEGATIVE_HIT);
    return 1;
}

static pal_gate_verdict refuse_known_bad(pal_bind_gate *g, const char **why)
{
    *why = apr_pstrcat(g->r->pool, g->lk->reason ? g->lk->reason
                       : "rejected recently", " (cached for this account)",
                       NULL);
    return PAL_GATE_KNOWN_BAD;
}

/* Waits one step for another check of the account, within the deadline. */
static int wait_step(apr_time_t deadline)
{
    if (apr_time_now() + WAIT_STEP >= deadline)
        return 0;
    apr_sleep(WAIT_STEP);
    return 1;
}

static pal_gate_verdict before_bind(void *baton, const char *dn,
                                    apr_time_t deadline, const char **why)
{
    pal_bind_gate *g = baton;
    pal_softlock_rules rules;

    g->reserved = 0;
    if (known_bad(g, dn))
        return refuse_known_bad(g, why);
    if (!softlock_applies(g->lk))
        return PAL_GATE_BIND;
    if (!softlock.mutex || !account_digest(g->r, g->lk, dn, g->key)
        || !try_digest(g->lk, dn, g->tag)) {
        *why = "the soft lock is not available in this process";
        return PAL_GATE_UNAVAILABLE;
    }
    rules_of(g->lk, &rules);
    for (;;) {
        switch (pal_softlock_try(&softlock, g->key, g->tag, &rules,
                                 apr_time_now())) {
        case PAL_SOFTLOCK_GO:
            g->reserved = 1;
            return PAL_GATE_BIND;
        case PAL_SOFTLOCK_KNOWN_BAD:
            pal_stat_inc(PAL_STAT_NEGATIVE_HIT);
            *why = "a password already wrong for this account (counted once "
                   "for ProxyAuthMaxBadPasswords)";
            return PAL_GATE_KNOWN_BAD;
        case PAL_SOFTLOCK_LOCKED:
            pal_stat_inc(PAL_STAT_LOCKED);
            *why = "too many wrong passwords (ProxyAuthMaxBadPasswords)";
            return PAL_GATE_LOCKED;
        case PAL_SOFTLOCK_FULL:
            *why = "the soft-lock table is full (too many accounts with "
                   "wrong passwords at once)";
            return PAL_GATE_UNAVAILABLE;
        case PAL_SOFTLOCK_ERROR:
            *why = "the soft-lock mutex failed";
            return PAL_GATE_UNAVAILABLE;
        case PAL_SOFTLOCK_SAME:
            if (!wait_step(deadline))
                break;
            if (known_bad(g, dn))
                return refuse_known_bad(g, why);
            continue;
        case PAL_SOFTLOCK_BUSY:
            if (!wait_step(deadline))
                break;
            continue;
        }
        *why = "timed out waiting for another check of the same account";
        return PAL_GATE_UNAVAILABLE;
    }
}

static void after_bind(void *baton, const char *dn,
                       const pal_auth_result *res)
{
    pal_bind_gate *g = baton;
    pal_softlock_rules rules;
    int bad;
    (void)dn;

    if (!g->reserved)
        return;
    g->reserved = 0;
    bad = res->status == PAL_AUTH_BAD_PASSWORD
          || (res->status == PAL_AUTH_ACCOUNT
              && pal_ad_subcode_counts_as_bad_password(res->ad_code));
    rules_of(g->lk, &rules);
    pal_softlock_done(&softlock, g->key, g->tag, bad, &rules,
                      apr_time_now());
}

void pal_gate_init(pal_bind_gate *g, request_rec *r, pal_lookup *lk)
{
    memset(g, 0, sizeof(*g));
    g->r = r;
    g->lk = lk;
    g->gate.before_bind = before_bind;
    g->gate.after_bind = after_bind;
    g->gate.baton = g;
}
