/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_require.h
 * @brief The `Require proxy-ldap-*` providers (require.c): group,
 *        attribute, filter, user and dn.
 *
 * A provider cannot answer 503 (its errors become 500), so the conditions
 * that need the directory are recorded in the scope's configuration when
 * their line is parsed, resolved during authentication (one base search
 * each, cached with the session), and the providers only read the results
 * that check_authn left in the request.
 */
#ifndef PAL_REQUIRE_H
#define PAL_REQUIRE_H

#include "httpd.h"
#include "apr_tables.h"

#include "pal_config.h"

/** What check_authn leaves for the providers and fixups. */
typedef struct {
    const char *result;          /**< value of the proxyauth-result note */
    const char *dn;              /**< the entry's DN ("" when unknown) */
    const apr_array_header_t *conds; /**< pal_cond resolved */
    const int *member;           /**< one flag per condition: 1 = met */
} pal_req;

/** Registers the providers (register_hooks). */
void pal_require_register(apr_pool_t *p);

/** The scope's conditions as the LDAP client takes them (NULL: none). */
apr_array_header_t *pal_require_ldap_conds(apr_pool_t *p,
                                           const pal_dir_conf *c);

#endif /* PAL_REQUIRE_H */
