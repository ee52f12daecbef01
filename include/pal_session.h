/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_session.h
 * @brief The credential cache on httpd's socache (session.c): lifecycle
 *        across graceful restarts, locking, lookups and stores, the
 *        per-connection identity, single flight and the shared counters.
 */
#ifndef PAL_SESSION_H
#define PAL_SESSION_H

#include "httpd.h"
#include "http_config.h"
#include "pal_cache.h"
#include "pal_ldap.h"
#include "mod_proxyauth_ldap.h"

#define PAL_DEFAULT_SESSION_IDLE 300
#define PAL_DEFAULT_SESSION_MAX 3600
#define PAL_DEFAULT_NEGATIVE_TTL 30
#define PAL_DEFAULT_MAX_BAD 3
/** Default shmcb size: 100,000 sessions with their name and account
 *  entries fit (see README, "Sizing"). */
#define PAL_DEFAULT_SHMCB_BYTES (64 * 1024 * 1024)

/* Directives (main server only). */
const char *pal_session_set_cache(cmd_parms *cmd, void *cfg, const char *arg);
const char *pal_session_set_secret(cmd_parms *cmd, void *cfg,
                                   const char *arg);
void *pal_session_create_server_conf(apr_pool_t *p, server_rec *s);

/* Lifecycle hooks, called from the module's hooks. */
int pal_session_pre_config(apr_pool_t *pconf);
int pal_session_check_config(server_rec *s);
int pal_session_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                            server_rec *s);
void pal_session_child_init(apr_pool_t *pchild, server_rec *s);

/** One authentication's view of the cache. */
typedef struct {
    const pal_dir_conf *conf;
    const char *user;            /**< looked-up name (after StripDomain) */
    const char *password;
    apr_size_t password_len;
    unsigned char ctx[PAL_HASH_LEN];
    pal_windows w;
    const char *pkey;            /**< positive entry id */
    const char *account;         /**< DN, or the normalised name */
    /* Filled on a hit: */
    apr_time_t validated;        /**< when LDAP accepted the pair */
    const char *login;
    const char *dn;
    int *member;                 /**< aligned with conf->groups */
    const char *reason;          /**< on a negative answer */
} pal_lookup;

typedef enum {
    PAL_CACHE_MISS = 0,
    PAL_CACHE_HIT,               /**< accepted without LDAP */
    PAL_CACHE_NEGATIVE,          /**< this pair was rejected recently */
    PAL_CACHE_LOCKED             /**< soft lock: too many wrong passwords */
} pal_cache_answer;

void pal_session_prepare(request_rec *r, const pal_dir_conf *c,
                         const char *user, const char *password,
                         apr_size_t password_len, pal_lookup *lk);
pal_cache_answer pal_session_lookup(request_rec *r, pal_lookup *lk);
/** The same look again, without counting it on the status page (a new
 *  single-flight leader checks what the previous one stored). */
pal_cache_answer pal_session_recheck(request_rec *r, pal_lookup *lk);
/** Stores what LDAP decided (positive, negative, account state). */
void pal_session_store(request_rec *r, pal_lookup *lk,
                       const pal_auth_result *res);

/** ProxyAuthConnectionAuth: the identity of this client connection for
 *  this directory context, if any and still within SessionMax. */
int pal_session_connection_identity(request_rec *r, pal_lookup *lk);
void pal_session_connection_remember(request_rec *r, const pal_lookup *lk);

/**
 * Single flight: concurrent first requests for the same pair in one process
 * wait for one LDAP validation. pal_flight_begin returns 1 for the leader;
 * the others wait and get a copy of the leader's result (0 on timeout:
 * they then validate on their own).
 */
typedef struct pal_flight pal_flight;
int pal_flight_begin(request_rec *r, const char *pkey, pal_flight **out);
int pal_flight_wait(request_rec *r, pal_flight *f, apr_interval_time_t wait,
                    pal_auth_result *res);
void pal_flight_finish(pal_flight *f, const pal_auth_result *res,
                       int ngroups);

/** The mod_status section (ExtendedStatus On): cache counters, LDAP
 *  counters and every LDAP server's state, summed over all children. */
int pal_session_status(request_rec *r, int flags, pal_ldap_downtable *down);

/** Shared counters shown by mod_status. */
typedef enum {
    PAL_STAT_HIT = 0,
    PAL_STAT_MISS,
    PAL_STAT_NEGATIVE_HIT,
    PAL_STAT_LOCKED,
    PAL_STAT_CONNECTION,
    PAL_STAT_STORE_FAIL,
    PAL_STAT_COUNT
} pal_stat;
void pal_stat_inc(pal_stat which);

#endif /* PAL_SESSION_H */
