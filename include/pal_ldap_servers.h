/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_ldap_servers.h
 * @brief LDAP servers marked down, shared by every child (ldap_servers.c),
 *        and the LDAP operation counters of the status page.
 *
 * No httpd headers: APR only.
 */
#ifndef PAL_LDAP_SERVERS_H
#define PAL_LDAP_SERVERS_H

#include <apr_pools.h>
#include <apr_time.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The table lives in shared memory made once per full start;
 * pal_ldap_downtable_size() bytes.
 */
typedef struct pal_ldap_downtable pal_ldap_downtable;
apr_size_t pal_ldap_downtable_size(void);
/** Initialise fresh memory (once per full start). */
pal_ldap_downtable *pal_ldap_downtable_init(void *mem);
/** Attach memory initialised before (graceful restarts, children). */
pal_ldap_downtable *pal_ldap_downtable_attach(void *mem);

/** A server marked down is tried again by at most one request per this
 *  interval, across all children. */
#define PAL_LDAP_PROBE_INTERVAL APR_USEC_PER_SEC

/** Records a server for the status page (as up). */
void pal_ldap_server_seen(pal_ldap_downtable *t, const char *hostport);
/** The server failed to connect, to negotiate TLS or to answer in time.
 *  Returns non-zero when this call marked it down (it was up). */
int pal_ldap_server_down(pal_ldap_downtable *t, const char *hostport,
                         apr_time_t now);
/** The server answered. Returns non-zero when it was marked down. */
int pal_ldap_server_up(pal_ldap_downtable *t, const char *hostport);
/**
 * Non-zero when this request may use the server: it is up, or it is down
 * and this call won its retry for the current interval.
 */
int pal_ldap_server_usable(pal_ldap_downtable *t, const char *hostport,
                           apr_time_t now);

/** Calls fn for every server seen since the full start: down != 0 with
 *  the time it was marked down. */
typedef void pal_server_state_fn(void *baton, const char *hostport, int down,
                                 apr_time_t since);
void pal_ldap_downtable_each(pal_ldap_downtable *t, pal_server_state_fn *fn,
                             void *baton);

typedef enum {
    PAL_LDAP_SEARCHES = 0,
    PAL_LDAP_BINDS,
    PAL_LDAP_FAILURES,
    PAL_LDAP_TIMEOUTS,
    PAL_LDAP_CONNECTS,
    PAL_LDAP_COUNTERS
} pal_ldap_counter;
void pal_ldap_count(pal_ldap_downtable *t, pal_ldap_counter which);

/** Counters of every child since the full start. */
typedef struct {
    apr_uint64_t searches, binds, failures, timeouts, connects;
} pal_ldap_stats;
void pal_ldap_downtable_stats(pal_ldap_downtable *t, pal_ldap_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* PAL_LDAP_SERVERS_H */
