/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_status.h
 * @brief The module's counters (shared by every child, 64-bit) and its
 *        section of mod_status (status.c).
 */
#ifndef PAL_STATUS_H
#define PAL_STATUS_H

#include "httpd.h"
#include "pal_ldap.h"

typedef enum {
    PAL_STAT_HIT = 0,
    PAL_STAT_MISS,
    PAL_STAT_NEGATIVE_HIT,
    PAL_STAT_LOCKED,
    PAL_STAT_CONNECTION,
    PAL_STAT_STORE_FAIL,
    PAL_STAT_NEGOTIATE_OK,       /**< Kerberos tickets accepted */
    PAL_STAT_NEGOTIATE_REFUSED,  /**< Negotiate tokens refused (407) */
    PAL_STAT_COUNT
} pal_stat;

/** post_config: the counters' shared memory (once per full start). */
int pal_status_post_config(server_rec *s);
void pal_stat_inc(pal_stat which);

/** The mod_status hook (ExtendedStatus On): counters, LDAP counters and
 *  every LDAP server's state, summed over all children. */
int pal_status_hook(request_rec *r, int flags, pal_ldap_downtable *down);

#endif /* PAL_STATUS_H */
