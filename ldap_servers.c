/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * What every child knows about the LDAP servers (contract:
 * include/pal_ldap_servers.h): which ones are down, when the next request
 * may try one again, and the operation counters of the status page. It
 * lives in shared memory made once per full start, so every child of every
 * generation sees the same marks.
 *
 * Every field is read and written with APR atomics only, no lock: a slot
 * is claimed by a compare-and-swap of its key, and readers compare the key
 * before they trust the rest, so a lost race loses a mark but never
 * invents one.
 */
#include <string.h>

#include <apr_atomic.h>
#include <apr_strings.h>

#include "pal_ldap_servers.h"

#define DOWN_SLOTS 256

struct pal_ldap_downtable {
    /* Counters of every child since the full start (atomics). */
    volatile apr_uint64_t count[PAL_LDAP_COUNTERS];
    struct {
        volatile apr_uint32_t key;      /* FNV-1a of host:port, 0 = free */
        volatile apr_uint32_t down;     /* 1 while marked down */
        volatile apr_uint64_t since;    /* apr_time_t it went down */
        volatile apr_uint64_t probe_at; /* apr_time_t of the next retry */
        char name[64];                  /* host:port, for the status page */
    } e[DOWN_SLOTS];
};

apr_size_t pal_ldap_downtable_size(void)
{
    return sizeof(pal_ldap_downtable);
}

pal_ldap_downtable *pal_ldap_downtable_init(void *mem)
{
    memset(mem, 0, sizeof(pal_ldap_downtable));
    return mem;
}

pal_ldap_downtable *pal_ldap_downtable_attach(void *mem)
{
    return mem;
}

static apr_uint32_t server_key(const char *hostport)
{
    apr_uint32_t h = 2166136261u;          /* FNV-1a */
    for (; *hostport; hostport++)
        h = (h ^ (unsigned char)*hostport) * 16777619u;
    return h ? h : 1;
}

/* Two servers whose keys collide keep slots of their own: a name not
 * written yet (just claimed) counts as the same. */
static int same_name(const char *slot_name, const char *hostport)
{
    return slot_name[0] == '\0'
           || strncmp(slot_name, hostport, 63) == 0;
}

/* The slot of hostport, claimed for it when needed (linear probing from
 * its hash; slots are never freed, and a full start empties the table); -1
 * when it has none and none is left, or claim is 0. */
static int slot_of(pal_ldap_downtable *t, const char *hostport, int claim)
{
    apr_uint32_t k = server_key(hostport);
    int n;

    for (n = 0; n < DOWN_SLOTS; n++) {
        int i = (int)((k + (apr_uint32_t)n) % DOWN_SLOTS);
        apr_uint32_t have = apr_atomic_read32(&t->e[i].key);

        if (have == k && same_name(t->e[i].name, hostport))
            return i;
        if (have != 0)
            continue;
        if (!claim)
            return -1;
        have = apr_atomic_cas32(&t->e[i].key, k, 0);
        if (have == 0) {
            /* A reader that catches the name half-written may take another
             * slot for the same server once: a lost mark, never an invented
             * one. */
            apr_cpystrn(t->e[i].name, hostport, sizeof(t->e[0].name));
            return i;
        }
        if (have == k)
            return i;
    }
    return -1;
}

void pal_ldap_server_seen(pal_ldap_downtable *t, const char *hostport)
{
    slot_of(t, hostport, 1);
}

int pal_ldap_server_down(pal_ldap_downtable *t, const char *hostport,
                         apr_time_t now)
{
    int i = slot_of(t, hostport, 1);

    if (i < 0)
        return 1;
    apr_atomic_set64(&t->e[i].probe_at,
                     (apr_uint64_t)(now + PAL_LDAP_PROBE_INTERVAL));
    if (apr_atomic_read32(&t->e[i].down))
        return 0;
    apr_atomic_set64(&t->e[i].since, (apr_uint64_t)now);
    return apr_atomic_cas32(&t->e[i].down, 1, 0) == 0;
}

int pal_ldap_server_up(pal_ldap_downtable *t, const char *hostport)
{
    int i = slot_of(t, hostport, 1);

    return i >= 0 && apr_atomic_read32(&t->e[i].down)
           && apr_atomic_cas32(&t->e[i].down, 0, 1) == 1;
}

/* A down server gets one request at most per interval, whichever child
 * wins the compare-and-swap of the next retry time: the server is back in
 * use within about one interval of being back, and a dead one costs one
 * connect attempt per interval instead of one per request. */
int pal_ldap_server_usable(pal_ldap_downtable *t, const char *hostport,
                           apr_time_t now)
{
    int i = slot_of(t, hostport, 0);
    apr_uint64_t at;

    if (i < 0 || !apr_atomic_read32(&t->e[i].down))
        return 1;
    at = apr_atomic_read64(&t->e[i].probe_at);
    if ((apr_uint64_t)now < at)
        return 0;
    return apr_atomic_cas64(&t->e[i].probe_at,
                            (apr_uint64_t)(now + PAL_LDAP_PROBE_INTERVAL),
                            at) == at;
}

void pal_ldap_downtable_each(pal_ldap_downtable *t, pal_server_state_fn *fn,
                             void *baton)
{
    int i;

    for (i = 0; i < DOWN_SLOTS; i++) {
        char name[sizeof(t->e[0].name)];
        int down;

        if (!apr_atomic_read32(&t->e[i].key))
            continue;
        memcpy(name, t->e[i].name, sizeof(name));
        name[sizeof(name) - 1] = '\0';
        down = apr_atomic_read32(&t->e[i].down) != 0;
        fn(baton, name, down,
           down ? (apr_time_t)apr_atomic_read64(&t->e[i].since) : 0);
    }
}

void pal_ldap_count(pal_ldap_downtable *t, pal_ldap_counter which)
{
    apr_atomic_inc64(&t->count[which]);
}

void pal_ldap_downtable_stats(pal_ldap_downtable *t, pal_ldap_stats *out)
{
    out->searches = apr_atomic_read64(&t->count[PAL_LDAP_SEARCHES]);
    out->binds = apr_atomic_read64(&t->count[PAL_LDAP_BINDS]);
    out->failures = apr_atomic_read64(&t->count[PAL_LDAP_FAILURES]);
    out->timeouts = apr_atomic_read64(&t->count[PAL_LDAP_TIMEOUTS]);
    out->connects = apr_atomic_read64(&t->count[PAL_LDAP_CONNECTS]);
}
