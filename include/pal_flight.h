/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_flight.h
 * @brief Single flight (flight.c): concurrent first requests for the same
 *        credentials in one process wait for one LDAP validation.
 *
 * No httpd headers: APR only.
 */
#ifndef PAL_FLIGHT_H
#define PAL_FLIGHT_H

#include <apr_pools.h>
#include <apr_time.h>

#include "pal_ldap.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pal_flight pal_flight;

/** Once per process, before any thread asks (child_init); p lives as long
 *  as the process, and the table makes a subpool of its own. */
apr_status_t pal_flight_init(apr_pool_t *p);

/**
 * Joins the flight of `key`, or starts it. Returns 1 for the leader, which
 * must call pal_flight_finish(); 0 for a follower, which must call
 * pal_flight_wait(). *recheck is set for a leader when a flight of the
 * same key finished at or after `looked` (when the caller's cache lookup
 * started): that flight's answer may be in the cache already.
 * A NULL key, or no pal_flight_init(), makes every caller a leader of no
 * flight (*out NULL).
 */
int pal_flight_begin(const char *key, apr_time_t looked, pal_flight **out,
                     int *recheck);
/** Waits up to `wait` for the leader; 1 with a copy of its result in p,
 *  0 on timeout (then the caller validates on its own). */
int pal_flight_wait(apr_pool_t *p, pal_flight *f, apr_interval_time_t wait,
                    pal_auth_result *res);
/** Publishes the leader's result (`ngroups` flags in res->group_member). */
void pal_flight_finish(pal_flight *f, const pal_auth_result *res,
                       int ngroups);

#ifdef __cplusplus
}
#endif
#endif /* PAL_FLIGHT_H */
