/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_cache.h
 * @brief The credential cache on httpd's socache (cache.c): lifecycle
 *        across graceful restarts, the two stores (sessions; negative,
 *        name and revocation entries apart), lookups and stores.
 */
#ifndef PAL_CACHE_H
#define PAL_CACHE_H

#include "httpd.h"
#include "http_config.h"

#include "pal_config.h"
#include "pal_entry.h"
#include "pal_ldap.h"

/* Lifecycle, from the module's hooks. */
int pal_cache_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                          server_rec *s);
void pal_cache_child_init(apr_pool_t *pchild, server_rec *s);

/** The secret of every keyed hash in this generation (NULL before
 *  post_config). */
const pal_secret *pal_cache_secret(void);

/** One authentication's view of the cache. */
typedef struct {
    const pal_dir_conf *conf;
    pal_ldap_settings s;         /**< what LDAP is asked (defaults applied) */
    pal_windows w;
    const char *user;            /**< looked-up name (after StripDomain) */
    const char *principal;       /**< Negotiate: the Kerberos client; the
                                      entry is its mapping (no password) */
    apr_time_t ticket_end;       /**< Negotiate: the ticket's end time */
    const char *password;
    apr_size_t password_len;
    unsigned char ctx[PAL_HASH_LEN];
    const char *pkey;            /**< positive entry id */
    const char *account;         /**< DN, or "name:" + the lower-cased name */
    int account_is_dn;
    apr_time_t looked;           /**< when the lookup started */
    /* Filled on a hit: */
    apr_time_t validated;        /**< when LDAP accepted the pair */
    const char *login;
    const char *dn;
    int *member;                 /**< aligned with conf->conds */
    const char *reason;          /**< on a negative answer */
} pal_lookup;

typedef enum {
    PAL_CACHE_MISS = 0,
    PAL_CACHE_HIT,               /**< accepted without LDAP */
    PAL_CACHE_NEGATIVE           /**< this pair was rejected recently */
} pal_cache_answer;

void pal_cache_prepare(request_rec *r, const pal_dir_conf *c,
                       const char *user, const char *password,
                       apr_size_t password_len, pal_lookup *lk);
/** The directory context alone (lk->ctx, settings, windows), no entry
 *  key: what a connection's identity is compared with. */
void pal_cache_prepare_context(request_rec *r, const pal_dir_conf *c,
                               pal_lookup *lk);
/** Negotiate: the mapping of `principal` (found by searching `name`). */
void pal_cache_prepare_principal(request_rec *r, const pal_dir_conf *c,
                                 const char *principal, const char *name,
                                 pal_lookup *lk);
/** Positive entry, then the name's account and its negative entry. */
pal_cache_answer pal_cache_lookup(request_rec *r, pal_lookup *lk);
/** The same look again, without counting it on the status page (a new
 *  single-flight leader checks what a finished flight stored). */
pal_cache_answer pal_cache_recheck(request_rec *r, pal_lookup *lk);
/** Non-zero when (dn, password) was rejected recently (renews it): the
 *  gate asks this for a spelling of the name not seen before. */
int pal_cache_known_bad(request_rec *r, pal_lookup *lk, const char *dn);
/** Stores what LDAP decided (positive, name, negative, revocation). */
void pal_cache_store(request_rec *r, pal_lookup *lk,
                     const pal_auth_result *res);

/** When the DN's sessions were ended (0: never), for entries validated
 *  at `validated`. */
apr_time_t pal_cache_revoked(request_rec *r, const pal_lookup *lk,
                             const char *dn, apr_time_t validated);

/** The scope's condition results picked from a stored list
 *  (lk->member); 0 when one is missing. */
int pal_cache_pick_groups(request_rec *r, pal_lookup *lk, int ngroups,
                          const pal_group_result *have);
/** The scope's conditions with their results, for storing. */
pal_group_result *pal_cache_group_results(apr_pool_t *p,
                                          const apr_array_header_t *groups,
                                          const int *member, int *ngroups);

/** mod_status: the socache providers' own sections. */
void pal_cache_status(request_rec *r, int flags);

#endif /* PAL_CACHE_H */
