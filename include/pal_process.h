/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_process.h
 * @brief What lives as long as the httpd process (process.c): shared memory
 *        and global mutexes made once per full start and kept across
 *        graceful restarts, and the code that must stay mapped that long.
 */
#ifndef PAL_PROCESS_H
#define PAL_PROCESS_H

#include "httpd.h"
#include "apr_global_mutex.h"

/** Mutex types (the `Mutex` directive can configure them). */
#define PAL_MUTEX_CACHE    "proxyauth-ldap-cache"
#define PAL_MUTEX_SOFTLOCK "proxyauth-ldap-softlock"

/** Registers the mutex types (pre_config). */
int pal_process_pre_config(apr_pool_t *pconf);

/**
 * Shared memory of `size` bytes, made at the first call of a full start
 * and found again after graceful restarts by `key` (in every generation of
 * children the same memory). *fresh is 1 when it was just made, zeroed.
 * NULL on failure (logged).
 */
void *pal_process_shm(server_rec *s, const char *key, apr_size_t size,
                      int *fresh);

/** A global mutex of `type`, made once per full start and kept by `key`. */
apr_status_t pal_process_mutex(server_rec *s, const char *key,
                               const char *type, const char *instance,
                               apr_global_mutex_t **out);
/** Attaches a global mutex in a child (child_init). */
apr_status_t pal_process_mutex_child(apr_global_mutex_t **m,
                                     apr_pool_t *pchild);

/**
 * Keeps the shared object that holds `code` loaded for the life of the
 * process: mod_so unloads every module at each restart and at exit, before
 * the process pool's cleanups run, and an object kept in the process pool
 * may have registered cleanups pointing into its module (a socache
 * provider's instance does).
 */
void pal_process_pin_code(const void *code, server_rec *s);

#endif /* PAL_PROCESS_H */
