/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * The soft lock's table (contract: include/pal_softlock.h). Accounts are
 * kept in buckets of WAYS slots picked by their digest; a slot holds the
 * account's run of wrong passwords and the tries in progress. A slot is
 * reused once it holds no try in progress and its run is over, so the
 * table needs no sweeping. The whole table is guarded by the global mutex
 * of the handle: every function here takes it for a short scan of one
 * bucket and nothing else.
 */
#include <string.h>

#include "pal_softlock.h"

#define WAYS 8

typedef struct {
    unsigned char tag[PAL_SOFTLOCK_TAG_LEN];
    apr_time_t since;              /* 0: free */
} sl_try;

typedef struct {
    unsigned char key[PAL_SOFTLOCK_KEY_LEN];
    apr_uint32_t used;
    apr_uint32_t bad;              /* distinct wrong passwords of the run */
    apr_time_t last_bad;           /* the run ends a window after it */
    apr_time_t keep_until;         /* no reuse before (longest window seen) */
    sl_try tries[PAL_SOFTLOCK_TRIES];
    /* The latest wrong passwords of the run (a ring): a repeat is known to
     * be wrong without a bind, and is not counted twice. */
    unsigned char bad_tags[PAL_SOFTLOCK_TRIES][PAL_SOFTLOCK_TAG_LEN];
    apr_uint32_t bad_next;
} sl_slot;

struct pal_softlock_table {
    apr_uint32_t nbuckets;
    apr_uint32_t pad;
    sl_slot slot[1];               /* nbuckets * WAYS */
};

static apr_uint32_t buckets_for(apr_uint32_t accounts)
{
    apr_uint32_t n = (accounts + WAYS - 1) / WAYS;
    return n ? n : 1;
}

apr_size_t pal_softlock_size(apr_uint32_t accounts)
{
    return sizeof(pal_softlock_table)
           + sizeof(sl_slot) * ((apr_size_t)buckets_for(accounts) * WAYS - 1);
}

pal_softlock_table *pal_softlock_init(void *mem, apr_uint32_t accounts)
{
    pal_softlock_table *t = mem;

    memset(mem, 0, pal_softlock_size(accounts));
    t->nbuckets = buckets_for(accounts);
    return t;
}

static sl_slot *bucket_of(pal_softlock_table *t, const unsigned char *key)
{
    apr_uint32_t h = ((apr_uint32_t)key[0] << 24) | ((apr_uint32_t)key[1] << 16)
                     | ((apr_uint32_t)key[2] << 8) | key[3];
    return &t->slot[(apr_size_t)(h % t->nbuckets) * WAYS];
}

static sl_slot *find(pal_softlock_table *t, const unsigned char *key)
{
    sl_slot *b = bucket_of(t, key);
    int i;

    for (i = 0; i < WAYS; i++)
        if (b[i].used && !memcmp(b[i].key, key, PAL_SOFTLOCK_KEY_LEN))
            return &b[i];
    return NULL;
}

static int live_tries(const sl_slot *s)
{
    int i, n = 0;

    for (i = 0; i < PAL_SOFTLOCK_TRIES; i++)
        n += s->tries[i].since != 0;
    return n;
}

/* A slot is free when nothing in it can matter any more. */
static int reusable(const sl_slot *s, apr_time_t now)
{
    return !s->used || (live_tries(s) == 0 && now >= s->keep_until);
}

static sl_slot *claim(pal_softlock_table *t, const unsigned char *key,
                      apr_time_t now)
{
    sl_slot *b = bucket_of(t, key);
    int i;

    for (i = 0; i < WAYS; i++) {
        if (reusable(&b[i], now)) {
            memset(&b[i], 0, sizeof(b[i]));
            memcpy(b[i].key, key, PAL_SOFTLOCK_KEY_LEN);
            b[i].used = 1;
            return &b[i];
        }
    }
    return NULL;
}

/* Drops abandoned tries and ends a run that is over. Callers read the
 * clock before they wait for the mutex, so last_bad may be a little later
 * than now: that is not a clock going back, and must not end the run
 * (the count would restart, and n racing wrong passwords could all bind).
 * Only a clock set back by more than the window ends it. */
static void refresh(sl_slot *s, const pal_softlock_rules *r, apr_time_t now)
{
    int i;

    for (i = 0; i < PAL_SOFTLOCK_TRIES; i++)
        if (s->tries[i].since && now - s->tries[i].since >= r->stale)
            s->tries[i].since = 0;
    if (s->bad && (s->last_bad - now > r->window
                   || now - s->last_bad >= r->window)) {
        s->bad = 0;
        s->bad_next = 0;
        memset(s->bad_tags, 0, sizeof(s->bad_tags));
    }
}

static int known_bad(const sl_slot *s, const unsigned char *tag)
{
    apr_uint32_t i, n = s->bad < PAL_SOFTLOCK_TRIES ? s->bad
                                                   : PAL_SOFTLOCK_TRIES;

    for (i = 0; i < n; i++)
        if (!memcmp(s->bad_tags[i], tag, PAL_SOFTLOCK_TAG_LEN))
            return 1;
    return 0;
}

static void count_bad(sl_slot *s, const unsigned char *tag, apr_time_t now)
{
    if (now > s->last_bad)   /* an older reading never shortens the run */
        s->last_bad = now;
    if (known_bad(s, tag))
        return;
    memcpy(s->bad_tags[s->bad_next], tag, PAL_SOFTLOCK_TAG_LEN);
    s->bad_next = (s->bad_next + 1) % PAL_SOFTLOCK_TRIES;
    s->bad++;
}

static void keep(sl_slot *s, apr_time_t until)
{
    if (until > s->keep_until)
        s->keep_until = until;
}

static sl_try *try_of(sl_slot *s, const unsigned char *tag)
{
    int i;

    for (i = 0; i < PAL_SOFTLOCK_TRIES; i++)
        if (s->tries[i].since
            && !memcmp(s->tries[i].tag, tag, PAL_SOFTLOCK_TAG_LEN))
            return &s->tries[i];
    return NULL;
}

static sl_try *free_try(sl_slot *s)
{
    int i;

    for (i = 0; i < PAL_SOFTLOCK_TRIES; i++)
        if (!s->tries[i].since)
            return &s->tries[i];
    return NULL;
}

static pal_softlock_answer reserve(pal_softlock_table *t,
                                   const unsigned char *key,
                                   const unsigned char *tag,
                                   const pal_softlock_rules *r,
                                   apr_time_t now)
{
    sl_slot *s = find(t, key);
    sl_try *tr;

    if (!s && !(s = claim(t, key, now)))
        return PAL_SOFTLOCK_FULL;
    refresh(s, r, now);
    if (known_bad(s, tag))
        return PAL_SOFTLOCK_KNOWN_BAD;
    if (s->bad >= (apr_uint32_t)r->max_bad)
        return PAL_SOFTLOCK_LOCKED;
    if (try_of(s, tag))
        return PAL_SOFTLOCK_SAME;
    if (s->bad + (apr_uint32_t)live_tries(s) >= (apr_uint32_t)r->max_bad
        || !(tr = free_try(s)))
        return PAL_SOFTLOCK_BUSY;
    memcpy(tr->tag, tag, PAL_SOFTLOCK_TAG_LEN);
    tr->since = now > 0 ? now : 1;
    keep(s, now + r->stale);
    return PAL_SOFTLOCK_GO;
}

pal_softlock_answer pal_softlock_try(const pal_softlock *sl,
                                     const unsigned char *key,
                                     const unsigned char *tag,
                                     const pal_softlock_rules *rules,
                                     apr_time_t now)
{
    pal_softlock_answer a;

    if (apr_global_mutex_lock(sl->mutex) != APR_SUCCESS)
        return PAL_SOFTLOCK_ERROR;
    a = reserve(sl->table, key, tag, rules, now);
    apr_global_mutex_unlock(sl->mutex);
    return a;
}

void pal_softlock_done(const pal_softlock *sl, const unsigned char *key,
                       const unsigned char *tag, int bad,
                       const pal_softlock_rules *rules, apr_time_t now)
{
    sl_slot *s;
    sl_try *tr;

    if (apr_global_mutex_lock(sl->mutex) != APR_SUCCESS)
        return;
    s = find(sl->table, key);
    if (!s && bad)
        s = claim(sl->table, key, now);
    if (s) {
        if ((tr = try_of(s, tag)) != NULL)
            tr->since = 0;
        refresh(s, rules, now);
        if (bad) {
            count_bad(s, tag, now);
            keep(s, now + rules->window);
        }
    }
    apr_global_mutex_unlock(sl->mutex);
}

int pal_softlock_locked(const pal_softlock *sl, const unsigned char *key,
                        const pal_softlock_rules *rules, apr_time_t now)
{
    sl_slot *s;
    int locked = 0;

    if (apr_global_mutex_lock(sl->mutex) != APR_SUCCESS)
        return 0;
    s = find(sl->table, key);
    if (s) {
        refresh(s, rules, now);
        locked = s->bad >= (apr_uint32_t)rules->max_bad;
    }
    apr_global_mutex_unlock(sl->mutex);
    return locked;
}
