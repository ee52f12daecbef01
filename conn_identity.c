/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * ProxyAuthConnectionAuth (contract: include/pal_conn_identity.h). The
 * identity lives in the connection's pool, which only the thread serving
 * the connection's current request touches: no lock.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"

#include "apr_strings.h"

#include "pal_conn_identity.h"

typedef struct {
    int valid;
    const char *principal;       /* Negotiate: the ticket's client */
    apr_time_t ends;             /* Negotiate: the ticket's end time */
    unsigned char ctx[PAL_HASH_LEN];
    apr_time_t validated;
    const char *login;
    const char *dn;
    int ngroups;
    pal_group_result *groups;
} pal_conn_identity;

static const char *const CONN_NOTE = "proxyauth-ldap-identity";

static pal_conn_identity *identity_of(conn_rec *c)
{
    pal_conn_identity *id = NULL;
    apr_pool_userdata_get((void **)&id, CONN_NOTE, c->pool);
    return id;
}

int pal_conn_identity_get(request_rec *r, pal_lookup *lk, int negotiate,
                          int basic)
{
    pal_conn_identity *id = identity_of(r->connection);
    apr_time_t now = apr_time_now();

    if (!id || !id->valid || !(id->principal ? negotiate : basic)
        || (id->ends && now >= id->ends)
        || !pal_memeq(id->ctx, lk->ctx, PAL_HASH_LEN)
        || id->validated > now
        || now - id->validated >= apr_time_from_sec(lk->w.max)
        || !pal_cache_pick_groups(r, lk, id->ngroups, id->groups))
        return 0;
    if (pal_cache_revoked(r, lk, id->dn, id->validated) > id->validated) {
        id->valid = 0;
        return 0;
    }
    lk->login = id->login;
    lk->dn = id->dn;
    lk->validated = id->validated;
    lk->principal = id->principal;
    lk->ticket_end = id->ends;
    return 1;
}

void pal_conn_identity_set(request_rec *r, const pal_lookup *lk)
{
    apr_pool_t *cp = r->connection->pool;
    pal_conn_identity *id = identity_of(r->connection);
    apr_time_t validated;

    if (!id) {
        id = apr_pcalloc(cp, sizeof(*id));
        apr_pool_userdata_setn(id, CONN_NOTE, apr_pool_cleanup_null, cp);
    }
    validated = lk->validated ? lk->validated : apr_time_now();
    if (id->valid && pal_memeq(id->ctx, lk->ctx, PAL_HASH_LEN) && id->login
        && !strcmp(id->login, lk->login)
        && !id->principal == !lk->principal
        && (!id->principal || !strcmp(id->principal, lk->principal))) {
        /* Same identity: no new copies, only a later validation (and a
         * later ticket) counts. */
        if (validated > id->validated)
            id->validated = validated;
        if (lk->principal)
            id->ends = lk->ticket_end;
        return;
    }
    memcpy(id->ctx, lk->ctx, PAL_HASH_LEN);
    id->valid = 1;
    id->validated = validated;
    /* Connection-lifetime copies; one set per identity change. */
    id->login = apr_pstrdup(cp, lk->login);
    id->principal = lk->principal ? apr_pstrdup(cp, lk->principal) : NULL;
    id->ends = lk->principal ? lk->ticket_end : 0;
    id->dn = apr_pstrdup(cp, lk->dn ? lk->dn : "");
    id->groups = pal_cache_group_results(cp, lk->conf->conds, lk->member,
                                         &id->ngroups);
}

void pal_conn_identity_end(request_rec *r)
{
    pal_conn_identity *id = identity_of(r->connection);

    if (id)
        id->valid = 0;
}
