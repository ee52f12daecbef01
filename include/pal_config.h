/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_config.h
 * @brief The module's configuration (config.c): per-scope settings and
 *        their defaults, the main server's cache settings, the directive
 *        table and the start-up checks. Every default is written here once;
 *        the accessors below apply them, so what LDAP is asked and what
 *        the cache context says can never drift apart.
 */
#ifndef PAL_CONFIG_H
#define PAL_CONFIG_H

#include "httpd.h"
#include "http_config.h"
#include "apr_tables.h"

#include "pal_entry.h"
#include "pal_ldap.h"

extern module AP_MODULE_DECLARE_DATA proxyauth_ldap_module;

#define PAL_DEFAULT_REALM        "Proxy"   /* ProxyAuthRealm */
#define PAL_DEFAULT_TIMEOUT      5         /* ProxyAuthLDAPTimeout, s */
#define PAL_DEFAULT_POOL_SIZE    8         /* ProxyAuthLDAPPoolSize */
#define PAL_DEFAULT_SESSION_IDLE 300       /* ProxyAuthSessionIdle, s */
#define PAL_DEFAULT_SESSION_MAX  3600      /* ProxyAuthSessionMax, s */
#define PAL_DEFAULT_NEGATIVE_TTL 30        /* ProxyAuthNegativeTTL, s */
#define PAL_DEFAULT_MAX_BAD      3         /* ProxyAuthMaxBadPasswords */
/* ProxyAuthCache: shmcb of this size (100,000 sessions and their entries
 * fit, see README "Sizing"); ProxyAuthLDAPGroupAttribute: config.c. */
#define PAL_DEFAULT_SHMCB_BYTES  (64 * 1024 * 1024)
/* An exec: password program that runs longer is a start-up error. */
#define PAL_EXEC_SECONDS         10

#define PAL_UNSET (-1)

/** A condition of a `Require proxy-ldap-group`, `-attribute` or `-filter`
 *  line: what LDAP is asked, and the key of its result in cache entries
 *  (the group's normalised DN; "(attribute) type=value"; "(filter) F"). */
typedef struct {
    pal_ldap_cond q;
    const char *norm;
} pal_cond;

/** One scope's settings as configured: PAL_UNSET / NULL inherit. */
typedef struct {
    int enabled;                 /* ProxyAuthLDAP, default Off */
    const char *realm;           /* ProxyAuthRealm */
    pal_ldap_url *url;           /* ProxyAuthLDAPURL, required when On */
    const char *bind_dn;         /* ProxyAuthLDAPBindDN, default anonymous */
    const char *bind_pw;         /* ProxyAuthLDAPBindPassword (wiped with
                                    the configuration pool) */
    apr_size_t bind_pw_len;
    int starttls;                /* ProxyAuthLDAPStartTLS, default Off */
    const char *ca_file;         /* ProxyAuthLDAPCACertificate, default
                                    system CAs */
    int verify;                  /* ProxyAuthLDAPVerifyServerCert, On */
    int timeout;                 /* ProxyAuthLDAPTimeout */
    apr_array_header_t *group_attrs; /* ProxyAuthLDAPGroupAttribute */
    int nested;                  /* ProxyAuthLDAPNestedGroups, default Off */
    int strip_domain;            /* ProxyAuthLDAPStripDomain, default Off */
    int referrals;               /* ProxyAuthLDAPReferrals, default Off */
    int pool_size;               /* ProxyAuthLDAPPoolSize */
    const char *forward_user;    /* ProxyAuthForwardUser, default none */
    int session_idle;            /* ProxyAuthSessionIdle */
    int session_max;             /* ProxyAuthSessionMax */
    int negative_ttl;            /* ProxyAuthNegativeTTL */
    int max_bad;                 /* ProxyAuthMaxBadPasswords */
    int connection_auth;         /* ProxyAuthConnectionAuth, default Off */
    int negotiate;               /* ProxyAuthNegotiate, default Off */
    int basic;                   /* ProxyAuthBasic, default On */
    const char *keytab;          /* ProxyAuthKeytab, required with
                                    Negotiate On */
    const char *negotiate_principal; /* ProxyAuthNegotiatePrincipal,
                                    default any key of the keytab */
    apr_array_header_t *conds;   /* pal_cond from Require lines (union) */
    const char *on_where;        /* "file:line" of ProxyAuthLDAP On */
} pal_dir_conf;

/** The main server's cache settings. */
typedef struct {
    const char *cache_provider;  /* ProxyAuthCache name, default "shmcb" */
    const char *cache_args;      /* its arguments, default: see cache.c */
    const char *secret_file;     /* ProxyAuthCacheSecret, default: random
                                    per full start */
    pal_secret secret;
} pal_server_conf;

/** Per-scope values with their defaults applied. */
static APR_INLINE int pal_conf_int(int v, int dflt)
{
    return v == PAL_UNSET ? dflt : v;
}

static APR_INLINE const char *pal_conf_realm(const pal_dir_conf *c)
{
    return c->realm ? c->realm : PAL_DEFAULT_REALM;
}

/** Non-zero when ProxyAuthLDAP On applies and the scope has a URL. */
static APR_INLINE int pal_conf_enabled(const pal_dir_conf *c)
{
    return c->enabled == 1 && c->url != NULL;
}

/** Negotiate and Basic as they apply to the scope (defaults applied). */
static APR_INLINE int pal_conf_negotiate(const pal_dir_conf *c)
{
    return c->negotiate == 1;
}

static APR_INLINE int pal_conf_basic(const pal_dir_conf *c)
{
    return c->basic != 0;
}

/** What the LDAP client is asked with (defaults applied). */
void pal_conf_ldap_settings(const pal_dir_conf *c, pal_ldap_settings *s);
/** The session windows and soft-lock numbers (defaults applied). */
void pal_conf_windows(const pal_dir_conf *c, pal_windows *w);

pal_server_conf *pal_conf_server(server_rec *s);

/* The module record's parts. */
void *pal_conf_create_dir(apr_pool_t *p, char *dir);
void *pal_conf_merge_dir(apr_pool_t *p, void *basev, void *addv);
void *pal_conf_create_server(apr_pool_t *p, server_rec *s);
extern const command_rec pal_conf_cmds[];

/** A scope's config for a Require line's section, made when the section
 *  has none of our directives yet (the conditions would be lost). */
pal_dir_conf *pal_conf_of_section(cmd_parms *cmd);

/** check_config: start-up errors (`apache2 -t` shows them) and
 *  warnings; OK or HTTP_INTERNAL_SERVER_ERROR. */
int pal_conf_check(apr_pool_t *ptemp, server_rec *s);
/** post_config: the warnings again, now that the error log is open. */
void pal_conf_warn(apr_pool_t *ptemp, server_rec *s);

#endif /* PAL_CONFIG_H */
