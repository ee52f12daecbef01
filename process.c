/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Process-lifetime objects (contract: include/pal_process.h). They are kept
 * as user data of the process pool, so a graceful restart, which clears
 * the configuration pool, finds them again; a full start makes new ones.
 */
#include <string.h>
#include <dlfcn.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "util_mutex.h"

#include "apr_shm.h"
#include "apr_strings.h"

#include "pal_process.h"

APLOG_USE_MODULE(proxyauth_ldap);

int pal_process_pre_config(apr_pool_t *pconf)
{
    if (ap_mutex_register(pconf, PAL_MUTEX_CACHE, NULL, APR_LOCK_DEFAULT, 0)
        || ap_mutex_register(pconf, PAL_MUTEX_SOFTLOCK, NULL,
                             APR_LOCK_DEFAULT, 0))
        return HTTP_INTERNAL_SERVER_ERROR;
    return OK;
}

void *pal_process_shm(server_rec *s, const char *key, apr_size_t size,
                      int *fresh)
{
    apr_pool_t *pp = s->process->pool;
    apr_shm_t *shm = NULL;
    apr_status_t rv;

    *fresh = 0;
    apr_pool_userdata_get((void **)&shm, key, pp);
    if (shm)
        return apr_shm_baseaddr_get(shm);
    rv = apr_shm_create(&shm, size, NULL, pp);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "PAL0007: cannot create "
                     "%" APR_SIZE_T_FMT " bytes of shared memory (%s)", size,
                     key);
        return NULL;
    }
    apr_pool_userdata_set(shm, key, apr_pool_cleanup_null, pp);
    memset(apr_shm_baseaddr_get(shm), 0, size);
    *fresh = 1;
    return apr_shm_baseaddr_get(shm);
}

apr_status_t pal_process_mutex(server_rec *s, const char *key,
                               const char *type, const char *instance,
                               apr_global_mutex_t **out)
{
    apr_pool_t *pp = s->process->pool;
    apr_status_t rv;

    *out = NULL;
    apr_pool_userdata_get((void **)out, key, pp);
    if (*out)
        return APR_SUCCESS;
    rv = ap_global_mutex_create(out, NULL, type, instance, s, pp, 0);
    if (rv == APR_SUCCESS)
        apr_pool_userdata_set(*out, key, apr_pool_cleanup_null, pp);
    return rv;
}

apr_status_t pal_process_mutex_child(apr_global_mutex_t **m,
                                     apr_pool_t *pchild)
{
    return apr_global_mutex_child_init(m, apr_global_mutex_lockfile(*m),
                                       pchild);
}

void pal_process_pin_code(const void *code, server_rec *s)
{
    Dl_info info;

    if (!dladdr(code, &info) || !info.dli_fname)
        return;
    if (dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE))
        return;
    /* Only the main program itself cannot be opened by name; it is never
     * unloaded anyway. */
    ap_log_error(APLOG_MARK, strstr(info.dli_fname, ".so") ? APLOG_WARNING
                 : APLOG_DEBUG, 0, s, "PAL0016: cannot keep %s loaded as "
                 "long as the process: %s", info.dli_fname, dlerror());
}
