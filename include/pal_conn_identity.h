/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_conn_identity.h
 * @brief ProxyAuthConnectionAuth (conn_identity.c): the identity a client
 *        connection authenticated as, reused for later requests on it
 *        that carry no Proxy-Authorization.
 */
#ifndef PAL_CONN_IDENTITY_H
#define PAL_CONN_IDENTITY_H

#include "httpd.h"
#include "pal_cache.h"

/**
 * Fills lk->login, dn, member, validated (and principal, ticket_end for a
 * Negotiate identity) from the connection's identity when it belongs to
 * lk's directory context, is within SessionMax of its LDAP validation and
 * within its ticket's lifetime, has the scope's group results, and its
 * DN's sessions were not ended since (an identity found revoked is ended).
 * A Negotiate identity is used when `negotiate` (the scope accepts
 * Negotiate: browsers expect a Negotiate proxy to be connection-based), a
 * Basic one when `basic` (ProxyAuthConnectionAuth On). Returns 1 when it
 * may be used.
 */
int pal_conn_identity_get(request_rec *r, pal_lookup *lk, int negotiate,
                          int basic);
/** Remembers the request's authenticated identity for its connection. */
void pal_conn_identity_set(request_rec *r, const pal_lookup *lk);
/** A failed authentication on the connection ends its identity. */
void pal_conn_identity_end(request_rec *r);

#endif /* PAL_CONN_IDENTITY_H */
