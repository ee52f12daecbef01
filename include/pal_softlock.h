/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_softlock.h
 * @brief ProxyAuthMaxBadPasswords: per account, at most n distinct wrong
 *        passwords reach the directory (softlock.c).
 *
 * The table lives in shared memory of one server (every child of every
 * generation) and every operation runs under one global mutex, so an
 * attempt is counted before its bind: n distinct wrong passwords sent at
 * the same instant by any number of children still cause at most n binds.
 * No httpd headers: APR only, so unit tests fork processes around it.
 */
#ifndef PAL_SOFTLOCK_H
#define PAL_SOFTLOCK_H

#include <apr_pools.h>
#include <apr_time.h>
#include <apr_global_mutex.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PAL_SOFTLOCK_KEY_LEN 16  /**< bytes of an account's digest */
#define PAL_SOFTLOCK_TAG_LEN 8   /**< bytes of a password's digest */
/** Distinct passwords of one account being checked at one time. */
#define PAL_SOFTLOCK_TRIES 8
/** Accounts the table follows at once (default size). */
#define PAL_SOFTLOCK_ACCOUNTS 16384

typedef struct pal_softlock_table pal_softlock_table;

/** Bytes of shared memory for a table of `accounts` accounts. */
apr_size_t pal_softlock_size(apr_uint32_t accounts);
/** Initialise fresh memory (once per full start). */
pal_softlock_table *pal_softlock_init(void *mem, apr_uint32_t accounts);

/** A process's handle: the shared table and its global mutex (attached
 *  with apr_global_mutex_child_init in each child). */
typedef struct {
    pal_softlock_table *table;
    apr_global_mutex_t *mutex;
} pal_softlock;

/** The rules of one scope. */
typedef struct {
    int max_bad;                    /**< ProxyAuthMaxBadPasswords (> 0) */
    apr_interval_time_t window;     /**< ProxyAuthNegativeTTL (> 0) */
    /** A try older than this was abandoned (its process died): dropped. */
    apr_interval_time_t stale;
} pal_softlock_rules;

typedef enum {
    PAL_SOFTLOCK_GO = 0,   /**< reserved: bind, then pal_softlock_done() */
    PAL_SOFTLOCK_KNOWN_BAD, /**< this password was wrong for the account in
                                 this run (from any scope): no bind needed */
    PAL_SOFTLOCK_LOCKED,   /**< max_bad wrong passwords within the window */
    PAL_SOFTLOCK_SAME,     /**< this password is being checked right now */
    PAL_SOFTLOCK_BUSY,     /**< every remaining try is being checked */
    PAL_SOFTLOCK_FULL,     /**< no room for this account */
    PAL_SOFTLOCK_ERROR     /**< the mutex failed */
} pal_softlock_answer;

/**
 * Reserve one try of password `tag` for account `key`: GO when the
 * account's distinct wrong passwords of this run plus the tries in
 * progress stay below max_bad. SAME and BUSY are answers to wait on: ask again a little
 * later (a try ends within `stale` at the latest).
 */
pal_softlock_answer pal_softlock_try(const pal_softlock *sl,
                                     const unsigned char *key,
                                     const unsigned char *tag,
                                     const pal_softlock_rules *rules,
                                     apr_time_t now);

/** Ends a try that got GO; bad != 0 counts the password as wrong (once:
 *  a password counted in this run is not counted again). */
void pal_softlock_done(const pal_softlock *sl, const unsigned char *key,
                       const unsigned char *tag, int bad,
                       const pal_softlock_rules *rules, apr_time_t now);

/** Non-zero when the account is locked (no reservation is made). */
int pal_softlock_locked(const pal_softlock *sl, const unsigned char *key,
                        const pal_softlock_rules *rules, apr_time_t now);

#ifdef __cplusplus
}
#endif
#endif /* PAL_SOFTLOCK_H */
