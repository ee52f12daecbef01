/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_bind_gate.h
 * @brief What is decided between the search and the user bind, once the
 *        entry's DN is known (bind_gate.c): a password already known to be
 *        wrong for that account, and the soft lock
 *        (ProxyAuthMaxBadPasswords), counted per DN whatever spelling of
 *        the name found it.
 */
#ifndef PAL_BIND_GATE_H
#define PAL_BIND_GATE_H

#include "httpd.h"
#include "pal_cache.h"

/* Lifecycle: the soft-lock table and its mutex, once per full start. */
int pal_gate_post_config(server_rec *s);
void pal_gate_child_init(apr_pool_t *pchild, server_rec *s);

/** The gate of one authentication, for pal_ldap_authenticate(). */
typedef struct {
    pal_ldap_gate gate;
    request_rec *r;
    pal_lookup *lk;
    int reserved;
    unsigned char key[32];
    unsigned char tag[32];
} pal_bind_gate;

void pal_gate_init(pal_bind_gate *g, request_rec *r, pal_lookup *lk);

/** Before any LDAP operation: non-zero when lk's account is a DN that the
 *  soft lock holds (lk->reason set). */
int pal_gate_locked(request_rec *r, pal_lookup *lk);

#endif /* PAL_BIND_GATE_H */
