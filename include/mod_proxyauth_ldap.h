/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file mod_proxyauth_ldap.h
 * @brief Declarations shared by the httpd-side files of the module
 *        (mod_proxyauth_ldap.c: config and request flow; session.c: the
 *        credential cache on socache).
 */
#ifndef MOD_PROXYAUTH_LDAP_H
#define MOD_PROXYAUTH_LDAP_H

#include "httpd.h"
#include "http_config.h"
#include "apr_tables.h"
#include "pal_ldap.h"

extern module AP_MODULE_DECLARE_DATA proxyauth_ldap_module;

#define UNSET (-1)

/* A per-directory number or flag that no scope set takes its default. */
static APR_INLINE int pal_or_default(int v, int dflt)
{
    return v == UNSET ? dflt : v;
}

/* A group named on a `Require proxy-ldap-group` line. */
typedef struct {
    const char *dn;    /* as configured: the base of the group search */
    const char *norm;  /* pal_dn_normalize(dn), for comparisons */
} pal_group;

typedef struct {
    int enabled;                 /* ProxyAuthLDAP, default Off */
    const char *realm;           /* ProxyAuthRealm, default "Proxy" */
    pal_ldap_url *url;           /* ProxyAuthLDAPURL, required when On */
    const char *bind_dn;         /* ProxyAuthLDAPBindDN, default anonymous */
    int bind_dn_set;
    const char *bind_pw;         /* ProxyAuthLDAPBindPassword */
    apr_size_t bind_pw_len;
    int starttls;                /* ProxyAuthLDAPStartTLS, default Off */
    const char *ca_file;         /* ProxyAuthLDAPCACertificate, default system */
    int verify;                  /* ProxyAuthLDAPVerifyServerCert, default On */
    int timeout;                 /* ProxyAuthLDAPTimeout, default 5 s */
    apr_array_header_t *group_attrs; /* default member uniqueMember */
    int nested;                  /* ProxyAuthLDAPNestedGroups, default Off */
    int strip_domain;            /* ProxyAuthLDAPStripDomain, default Off */
    int referrals;               /* ProxyAuthLDAPReferrals, default Off */
    int pool_size;               /* ProxyAuthLDAPPoolSize, default 8 */
    const char *forward_user;    /* ProxyAuthForwardUser, default none */
    int session_idle;            /* ProxyAuthSessionIdle, default 300 s */
    int session_max;             /* ProxyAuthSessionMax, default 3600 s */
    int negative_ttl;            /* ProxyAuthNegativeTTL, default 30 s */
    int max_bad;                 /* ProxyAuthMaxBadPasswords, default 3 */
    int connection_auth;         /* ProxyAuthConnectionAuth, default Off */
    apr_array_header_t *groups;  /* pal_group from Require lines (union) */
    const char *on_where;        /* "file:line" of ProxyAuthLDAP On */
} pal_dir_conf;

/* What check_authn leaves for the authz provider and fixups. */
typedef struct {
    const char *result;          /* value of the proxyauth-result note */
    const apr_array_header_t *groups; /* pal_group asked for */
    const int *member;           /* one flag per group */
} pal_req;


#endif /* MOD_PROXYAUTH_LDAP_H */
