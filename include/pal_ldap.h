/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_ldap.h
 * @brief The LDAP client: URL parsing, per-process connection pools,
 *        failover, one deadline per authentication, TLS, search-then-bind
 *        and group checks.
 *
 * No httpd headers: it depends on APR and libldap only and logs through a
 * callback, so it can be linked into tests and tools without a server.
 */
#ifndef PAL_LDAP_H
#define PAL_LDAP_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <apr_network_io.h>

#include "pal_ldap_servers.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One host of ProxyAuthLDAPURL. */
typedef struct {
    const char *host;      /**< name or address; IPv6 without brackets */
    apr_port_t port;
    const char *hostport;  /**< "host:port" / "[v6]:port", for logs and keys */
    const char *uri;       /**< "ldap[s]://hostport" for ldap_initialize */
} pal_ldap_server;

/** A parsed ProxyAuthLDAPURL. */
typedef struct {
    const char *text;          /**< as configured */
    int ldaps;
    apr_array_header_t *servers; /**< of pal_ldap_server, in failover order */
    const char *basedn;
    const char *attr;          /**< login attribute, default "uid" */
    int scope;                 /**< LDAP_SCOPE_ONELEVEL or LDAP_SCOPE_SUBTREE */
    const char *filter;        /**< default "(objectClass=*)" */
} pal_ldap_url;

/** Parse "ldap[s]://host[:port][ host2[:port] ...]/basedn?attr?scope?filter".
 *  Returns NULL and sets *out, or an error message naming the problem. */
const char *pal_ldap_url_parse(apr_pool_t *p, const char *text,
                               pal_ldap_url **out);

/** Everything that selects a pool: two scopes with equal settings share one. */
typedef struct {
    const pal_ldap_url *url;
    const char *bind_dn;       /**< NULL: anonymous search */
    const char *bind_pw;
    apr_size_t bind_pw_len;
    int starttls;
    const char *ca_file;       /**< NULL: system CAs */
    int verify;                /**< verify the server certificate */
    int referrals;
    apr_interval_time_t timeout; /**< one deadline per authentication */
    int pool_size;
    const apr_array_header_t *group_attrs; /**< of const char * */
    int nested;                /**< AD in-chain group matching */
} pal_ldap_settings;

/** A condition of a `Require proxy-ldap-*` line that the directory
 *  answers, with one base search. */
typedef enum {
    PAL_COND_GROUP = 0,      /**< a: the group's DN */
    PAL_COND_ATTRIBUTE,      /**< a: attribute type, b: value */
    PAL_COND_FILTER          /**< a: an RFC 4515 filter on the entry */
} pal_cond_kind;

typedef struct {
    pal_cond_kind kind;
    const char *a;
    const char *b;
} pal_ldap_cond;

/** Outcome of one authentication. Everything but OK and UNAVAILABLE
 *  means bad credentials (407). */
typedef enum {
    PAL_AUTH_OK = 0,
    PAL_AUTH_UNKNOWN_USER,   /**< the search found no entry */
    PAL_AUTH_AMBIGUOUS,      /**< the search found several entries */
    PAL_AUTH_BAD_PASSWORD,   /**< rc 49 on the user bind (AD: 52e or none) */
    PAL_AUTH_ACCOUNT,        /**< rc 49 with an AD account-state sub-code */
    PAL_AUTH_KNOWN_BAD,      /**< the gate knows the password is wrong for
                                  the account: no bind */
    PAL_AUTH_LOCKED,         /**< the gate refused the bind (soft lock): no
                                  bind, nothing learnt about the password */
    PAL_AUTH_UNAVAILABLE     /**< the directory cannot answer: 503 */
} pal_auth_status;

typedef struct {
    pal_auth_status status;
    const char *dn;          /**< entry DN when found */
    const char *login;       /**< the login attribute's value in the entry */
    const char *ad_code;     /**< AD sub-code from the bind ("775"), or NULL */
    const char *reason;      /**< one line for the error log; no password */
    const char *server;      /**< host:port that answered, or NULL */
    int ldap_rc;             /**< last LDAP result code */
    /** One flag per condition asked, in the order given: 1 = met. */
    int *group_member;
} pal_auth_result;

/** Log callback; level is an APLOG_* value (3 err, 4 warning, 6 info,
 *  7 debug). */
typedef void pal_log_fn(void *baton, int level, const char *msg);

/** Idle pooled connections older than this are closed instead of reused. */
#define PAL_LDAP_IDLE_SECONDS 60

/** A process-wide set of pools, one per distinct pal_ldap_settings. */
typedef struct pal_ldap_registry pal_ldap_registry;

/** Made in child_init; the registry makes a subpool of p for itself (p
 *  must live as long as the child and must not be used by other threads
 *  while this runs), and closes every pooled connection when p goes. */
apr_status_t pal_ldap_registry_create(apr_pool_t *p, pal_ldap_downtable *down,
                                      pal_log_fn *log, void *log_baton,
                                      pal_ldap_registry **out);

/** What the gate says before a user bind. */
typedef enum {
    PAL_GATE_BIND = 0,       /**< bind */
    PAL_GATE_KNOWN_BAD,      /**< 407 without a bind (PAL_AUTH_KNOWN_BAD) */
    PAL_GATE_LOCKED,         /**< 407 without a bind (PAL_AUTH_LOCKED) */
    PAL_GATE_UNAVAILABLE     /**< 503 without a bind; no server is marked */
} pal_gate_verdict;

/**
 * Called between the search and the user bind, once the entry's DN is
 * known, so rules about the account (the soft lock) hold whatever
 * spelling of the name found it. after_bind is called exactly once for
 * every before_bind that answered PAL_GATE_BIND, with the outcome (status
 * PAL_AUTH_UNAVAILABLE when the bind did not get an answer).
 */
typedef struct {
    pal_gate_verdict (*before_bind)(void *baton, const char *dn,
                                    apr_time_t deadline,
                                    const char **reason);
    void (*after_bind)(void *baton, const char *dn,
                       const pal_auth_result *res);
    void *baton;
} pal_ldap_gate;

/**
 * Search-then-bind `user` (already stripped, not yet escaped) with
 * `password` of exactly `password_len` bytes (> 0; the caller refuses empty
 * passwords), then check every condition in `conds` (pal_ldap_cond, may be
 * NULL or empty). `gate` may be NULL. Results are allocated in rp.
 *
 * One deadline of settings->timeout covers the wait for a pooled
 * connection, DNS, connect, TLS and every operation on the first server;
 * each further server gets a fresh one. A server is marked down only when
 * it had the whole timeout of its own and failed to connect, to negotiate
 * TLS or to answer: time lost waiting for a pooled connection or at the
 * gate never marks one. Servers marked down are skipped, but for one
 * request per PAL_LDAP_PROBE_INTERVAL across all children.
 */
apr_status_t pal_ldap_authenticate(pal_ldap_registry *reg,
                                   const pal_ldap_settings *settings,
                                   apr_pool_t *rp,
                                   const char *user,
                                   const char *password,
                                   apr_size_t password_len,
                                   const apr_array_header_t *conds,
                                   const pal_ldap_gate *gate,
                                   pal_auth_result *res);

/**
 * Negotiate: the entry of a name that Kerberos authenticated, found with
 * the same search as pal_ldap_authenticate (service account, the URL's
 * base, scope and filter), and its conditions; no bind, no gate. res->status
 * is PAL_AUTH_OK, PAL_AUTH_UNKNOWN_USER, PAL_AUTH_AMBIGUOUS or
 * PAL_AUTH_UNAVAILABLE; deadlines and failover as above.
 */
apr_status_t pal_ldap_map(pal_ldap_registry *reg,
                          const pal_ldap_settings *settings, apr_pool_t *rp,
                          const char *user, const apr_array_header_t *conds,
                          pal_auth_result *res);

/** Check at startup that libldap can apply the TLS options (CA file
 *  readable, libldap built with TLS). Returns an error message or NULL. */
const char *pal_ldap_check_tls(apr_pool_t *p, const pal_ldap_settings *s);

#ifdef __cplusplus
}
#endif
#endif /* PAL_LDAP_H */
