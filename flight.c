/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Single flight (contract: include/pal_flight.h). One table per process;
 * flight_mutex guards the table, the ring of recently finished keys, every
 * flight's fields, and flight_pool, the only pool this file allocates
 * from (APR pools are not thread-safe, so it is a subpool of its own).
 */
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>

#include "pal_flight.h"

/* Keys of flights finished lately, so that a new leader knows when a cache
 * lookup that missed may have raced with the store of a finished flight. */
#define RECENT 64

struct pal_flight {
    const char *key;
    int waiters;
    int done;
    apr_thread_cond_t *cond;
    apr_pool_t *pool;            /* holds the published result */
    pal_auth_result res;
    int ngroups;                 /* entries of res.group_member */
};

static apr_thread_mutex_t *flight_mutex;
static apr_pool_t *flight_pool;
static apr_hash_t *flights;
static struct {
    unsigned int hash;
    apr_time_t at;
} recent[RECENT];
static int recent_next;

apr_status_t pal_flight_init(apr_pool_t *p)
{
    apr_status_t rv = apr_pool_create(&flight_pool, p);

    if (rv != APR_SUCCESS)
        return rv;
    flights = apr_hash_make(flight_pool);
    return apr_thread_mutex_create(&flight_mutex, APR_THREAD_MUTEX_DEFAULT,
                                   flight_pool);
}

static unsigned int key_hash(const char *key)
{
    apr_ssize_t len = APR_HASH_KEY_STRING;
    return apr_hashfunc_default(key, &len);
}

/* Called with flight_mutex held. A hash collision only costs a recheck. */
static int finished_since(const char *key, apr_time_t looked)
{
    unsigned int h = key_hash(key);
    int i;

    for (i = 0; i < RECENT; i++)
        if (recent[i].at && recent[i].hash == h && recent[i].at >= looked)
            return 1;
    return 0;
}

static pal_flight *flight_new(const char *key)
{
    pal_flight *f;
    apr_pool_t *fp;

    if (apr_pool_create(&fp, flight_pool) != APR_SUCCESS)
        return NULL;
    f = apr_pcalloc(fp, sizeof(*f));
    f->pool = fp;
    f->key = apr_pstrdup(fp, key);
    if (apr_thread_cond_create(&f->cond, fp) != APR_SUCCESS) {
        apr_pool_destroy(fp);
        return NULL;
    }
    apr_hash_set(flights, f->key, APR_HASH_KEY_STRING, f);
    return f;
}

int pal_flight_begin(const char *key, apr_time_t looked, pal_flight **out,
                     int *recheck)
{
    pal_flight *f;

    *out = NULL;
    *recheck = 0;
    if (!flight_mutex || !key)
        return 1;
    apr_thread_mutex_lock(flight_mutex);
    f = apr_hash_get(flights, key, APR_HASH_KEY_STRING);
    if (f) {
        f->waiters++;
        apr_thread_mutex_unlock(flight_mutex);
        *out = f;
        return 0;
    }
    *recheck = finished_since(key, looked);
    *out = flight_new(key);
    apr_thread_mutex_unlock(flight_mutex);
    return 1;
}

/* Called with flight_mutex held; the last one out frees it. */
static void flight_release(pal_flight *f)
{
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

int pal_flight_wait(apr_pool_t *p, pal_flight *f, apr_interval_time_t wait,
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
        copy_result(p, res, &f->res, f->ngroups);
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
    recent[recent_next].hash = key_hash(f->key);
    recent[recent_next].at = apr_time_now();
    recent_next = (recent_next + 1) % RECENT;
    apr_thread_cond_broadcast(f->cond);
    flight_release(f);
    apr_thread_mutex_unlock(flight_mutex);
}
