/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * mod_proxyauth_ldap: LDAP / Active Directory authentication for httpd's
 * forward proxy (mod_proxy with ProxyRequests On, CONNECT included).
 *
 * The request flow, in the order httpd runs it:
 *   force_authn   "ProxyAuthLDAP On" alone demands a user (no Require line)
 *   check_authn   Proxy-Authorization -> 407 / 503 / r->user, and the
 *                 condition results that `Require proxy-ldap-*` will read
 *   authz         the "proxy-ldap-*" providers (require.c) only read those
 *                 results
 *   fixups        Proxy-Authorization is stripped before forwarding, and
 *                 ProxyAuthForwardUser is applied
 *
 * This file is the decision table of SPEC.md and httpd's hooks. The
 * configuration is config.c, the Basic header basic.c, the cache cache.c
 * (entries: entry.c), the LDAP client ldap_client.c, what happens between
 * search and bind bind_gate.c (soft lock: softlock.c), single flight
 * flight.c, ProxyAuthConnectionAuth conn_identity.c, mod_status status.c.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_provider.h"
#include "mod_auth.h"
#include "mod_proxy.h"
#include "mod_status.h"

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_optional.h"
#include "apr_base64.h"

#include <openssl/crypto.h>

#include "pal_basic.h"
#include "pal_bind_gate.h"
#include "pal_cache.h"
#include "pal_config.h"
#include "pal_conn_identity.h"
#include "pal_flight.h"
#include "pal_ldap.h"
#include "pal_ldap_strings.h"
#include "pal_negotiate.h"
#include "pal_process.h"
#include "pal_require.h"
#include "pal_status.h"

#define RETRY_AFTER "5"
#define NOTE_RESULT "proxyauth-result"
#define NOTE_DN "proxyauth-dn"
#define NOTE_SCHEME "proxyauth-scheme"
#define CONN_GSS "proxyauth-ldap-gss"
#define KEY_DOWNTABLE "mod_proxyauth_ldap.downtable"

/* Set once in child_init, before any request thread runs. */
static pal_ldap_registry *pal_registry;
/* Set in post_config of the parent, inherited by every child: shared
 * memory touched with atomics only (ldap_servers.c). */
static pal_ldap_downtable *pal_downtable;
static APR_OPTIONAL_FN_TYPE(authz_some_auth_required) *pal_some_auth_required;

/* ------------------------------------------------------------------ */
/* Authentication                                                       */
/* ------------------------------------------------------------------ */

static int is_enabled_proxy_request(request_rec *r, pal_dir_conf **out)
{
    pal_dir_conf *c;
    if (r->proxyreq != PROXYREQ_PROXY)
        return 0;
    c = ap_get_module_config(r->per_dir_config, &proxyauth_ldap_module);
    *out = c;
    return pal_conf_enabled(c);
}

/* Every 407 is a failed authentication: it also ends the connection's
 * identity. Negotiate comes first (clients take the first scheme they
 * can do), each scheme in a field of its own. */
static int challenge(request_rec *r, const pal_dir_conf *c, const char *note)
{
    apr_table_unset(r->err_headers_out, "Proxy-Authenticate");
    if (pal_conf_negotiate(c))
        apr_table_addn(r->err_headers_out, "Proxy-Authenticate",
                       "Negotiate");
    if (pal_conf_basic(c))
        apr_table_addn(r->err_headers_out, "Proxy-Authenticate",
                       apr_pstrcat(r->pool, "Basic realm=",
                                   pal_quote_string(r->pool,
                                                    pal_conf_realm(c)),
                                   ", charset=\"UTF-8\"", NULL));
    apr_table_setn(r->notes, NOTE_RESULT, note);
    pal_conn_identity_end(r);
    return HTTP_PROXY_AUTHENTICATION_REQUIRED;
}

static const char *base64_of(apr_pool_t *p, const unsigned char *d,
                             apr_size_t n)
{
    char *out = apr_palloc(p, (apr_size_t)apr_base64_encode_len((int)n));
    apr_base64_encode(out, (const char *)d, (int)n);
    return out;
}

/* The next leg of a multi-leg exchange: only Negotiate, with its token. */
static int challenge_continue(request_rec *r, const unsigned char *tok,
                              apr_size_t len)
{
    apr_table_setn(r->err_headers_out, "Proxy-Authenticate",
                   apr_pstrcat(r->pool, "Negotiate ",
                               base64_of(r->pool, tok, len), NULL));
    apr_table_setn(r->notes, NOTE_RESULT, "continue");
    return HTTP_PROXY_AUTHENTICATION_REQUIRED;
}

/* Authenticated, but not someone this proxy knows: 403, as for a group. */
static int forbidden(request_rec *r)
{
    apr_table_setn(r->notes, NOTE_RESULT, "denied");
    pal_conn_identity_end(r);
    return HTTP_FORBIDDEN;
}

static int unavailable(request_rec *r)
{
    apr_table_setn(r->err_headers_out, "Retry-After", RETRY_AFTER);
    apr_table_setn(r->notes, NOTE_RESULT, "unavailable");
    return HTTP_SERVICE_UNAVAILABLE;
}

static int count_header(void *rec, const char *key, const char *value)
{
    (void)key;
    (void)value;
    ++*(int *)rec;
    return 1;
}

/* Several Proxy-Authorization fields arrive merged with ", " (and then fail
 * the strict parse); counting them as well keeps that true for any input
 * path that does not merge. */
static const char *single_header(request_rec *r, int *several)
{
    int n = 0;
    apr_table_do(count_header, &n, r->headers_in, "Proxy-Authorization",
                 NULL);
    *several = n > 1;
    return apr_table_get(r->headers_in, "Proxy-Authorization");
}

/* The decoded password must not linger in pool memory that the next
 * request on this connection may reuse. */
static apr_status_t wipe_credentials(void *data)
{
    pal_credentials *cred = data;
    OPENSSL_cleanse((char *)cred->user,
                    cred->user_len + 1 + cred->password_len);
    return APR_SUCCESS;
}

static void log_failure(request_rec *r, const char *user,
                        const pal_auth_result *res)
{
    int level = res->status == PAL_AUTH_UNAVAILABLE ? APLOG_ERR
                                                    : APLOG_WARNING;
    ap_log_rerror(APLOG_MARK, level, 0, r, "PAL0201: authentication of user "
                  "\"%s\" failed: %s%s%s%s", ap_escape_logitem(r->pool, user),
                  res->reason ? res->reason : "unknown reason",
                  res->server ? " (LDAP server " : "",
                  res->server ? res->server : "", res->server ? ")" : "");
}

/* Sets r->user and what the group provider and fixups read. `how` is the
 * proxyauth-result note: ldap, cache, kerberos or connection. */
static int accept_user(request_rec *r, const pal_dir_conf *c,
                       pal_lookup *lk, const char *how)
{
    pal_req *rq = apr_pcalloc(r->pool, sizeof(*rq));
    /* The login value goes into logs and ProxyAuthForwardUser: a directory
     * value with control characters falls back to the validated input. */
    const char *login = (lk->login && *lk->login && !pal_has_control(lk->login))
                        ? lk->login : lk->user;

    rq->result = how;
    rq->dn = lk->dn ? lk->dn : "";
    rq->conds = c->conds;
    rq->member = lk->member;
    ap_set_module_config(r->request_config, &proxyauth_ldap_module, rq);
    r->user = (char *)login;
    r->ap_auth_type = lk->principal ? "Negotiate" : "Basic";
    apr_table_setn(r->notes, NOTE_RESULT, how);
    apr_table_setn(r->notes, NOTE_SCHEME, r->ap_auth_type);
    if (lk->dn && *lk->dn)
        apr_table_setn(r->notes, NOTE_DN, lk->dn);
    /* A ticket binds the connection whatever ConnectionAuth says. */
    if ((lk->principal || pal_conf_int(c->connection_auth, 0))
        && strcmp(how, "connection"))
        pal_conn_identity_set(r, lk);
    return OK;
}

/* The leader's condition results are aligned with its scope's list, so
 * only requests asking for the same conditions may share its answer. */
static const char *flight_key(request_rec *r, const pal_dir_conf *c,
                              const pal_lookup *lk)
{
    const char *k = lk->pkey;
    int i;

    if (!k)
        return NULL;
    for (i = 0; c->conds && i < c->conds->nelts; i++)
        k = apr_pstrcat(r->pool, k, "\n",
                        APR_ARRAY_IDX(c->conds, i, pal_cond).norm, NULL);
    return k;
}

static void result_from_cache(const pal_lookup *lk, pal_cache_answer a,
                              pal_auth_result *res)
{
    memset(res, 0, sizeof(*res));
    res->status = a == PAL_CACHE_HIT ? PAL_AUTH_OK : PAL_AUTH_BAD_PASSWORD;
    res->login = lk->login;
    res->dn = lk->dn;
    res->group_member = lk->member;
    res->reason = lk->reason;
}

/* Asks LDAP once for every concurrent request of this process with the
 * same pair (single flight); the others wait for the leader's answer. A
 * new leader looks in the cache once more when a flight of the same pair
 * finished since its own lookup began: that answer may be stored already.
 * Returns the cache's answer when that second look decided, else
 * PAL_CACHE_MISS with *res filled. */
static pal_cache_answer validate(request_rec *r, const pal_dir_conf *c,
                                 pal_lookup *lk, pal_auth_result *res)
{
    pal_flight *f = NULL;
    pal_bind_gate gate;
    pal_cache_answer a;
    int nconds = c->conds ? c->conds->nelts : 0, recheck;

    if (!pal_flight_begin(flight_key(r, c, lk), lk->looked, &f, &recheck)) {
        if (pal_flight_wait(r->pool, f, lk->s.timeout + apr_time_from_sec(1),
                            res))
            return PAL_CACHE_MISS;
        f = NULL;   /* the leader took too long: on our own */
        recheck = 1;
    }
    if (recheck && (a = pal_cache_recheck(r, lk)) != PAL_CACHE_MISS) {
        result_from_cache(lk, a, res);
        pal_flight_finish(f, res, nconds);
        return a;
    }
    if (lk->principal) {
        pal_ldap_map(pal_registry, &lk->s, r->pool, lk->user,
                     pal_require_ldap_conds(r->pool, c), res);
    }
    else {
        pal_gate_init(&gate, r, lk);
        pal_ldap_authenticate(pal_registry, &lk->s, r->pool, lk->user,
                              lk->password, lk->password_len,
                              pal_require_ldap_conds(r->pool, c), &gate.gate, res);
    }
    pal_cache_store(r, lk, res);
    pal_flight_finish(f, res, nconds);
    return PAL_CACHE_MISS;
}

static int decide(request_rec *r, const pal_dir_conf *c, pal_lookup *lk,
                  const pal_auth_result *res)
{
    switch (res->status) {
    case PAL_AUTH_OK:
        lk->login = res->login;
        lk->dn = res->dn;
        lk->member = res->group_member;
        return accept_user(r, c, lk, "ldap");
    case PAL_AUTH_UNAVAILABLE:
        log_failure(r, lk->user, res);
        return unavailable(r);
    case PAL_AUTH_KNOWN_BAD:
    case PAL_AUTH_LOCKED:
        log_failure(r, lk->user, res);
        return challenge(r, c, "negative");
    default:
        log_failure(r, lk->user, res);
        return challenge(r, c, "denied");
    }
}

/* A cached answer, or the soft lock before any LDAP operation. */
static int from_cache(request_rec *r, const pal_dir_conf *c, pal_lookup *lk,
                      pal_cache_answer a)
{
    if (a == PAL_CACHE_HIT)
        return accept_user(r, c, lk, "cache");
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "PAL0202: authentication "
                  "of user \"%s\" refused from the cache: %s",
                  ap_escape_logitem(r->pool, lk->user),
                  lk->reason ? lk->reason : "rejected recently");
    return challenge(r, c, "negative");
}

/* A request without Proxy-Authorization on a connection that
 * authenticated before, in the same directory context: by a ticket, or
 * by Basic with ProxyAuthConnectionAuth On. */
static int from_connection(request_rec *r, const pal_dir_conf *c)
{
    pal_lookup lk;

    pal_cache_prepare_context(r, c, &lk);
    if (!pal_conn_identity_get(r, &lk, pal_conf_negotiate(c),
                               pal_conf_int(c->connection_auth, 0)))
        return DECLINED;
    pal_stat_inc(PAL_STAT_CONNECTION);
    lk.user = lk.login;
    return accept_user(r, c, &lk, "connection");
}

/* A userPrincipalName is looked up whole: user@domain, the realm too. */
static int login_is_upn(const pal_dir_conf *c)
{
    return !strcasecmp(c->url->attr, "userPrincipalName");
}

static const char *looked_up_name(const pal_dir_conf *c,
                                  request_rec *r, const char *user)
{
    if (!pal_conf_int(c->strip_domain, 0))
        return user;
    return pal_strip_domain(r->pool, user, login_is_upn(c));
}

static int check_basic(request_rec *r, const pal_dir_conf *c,
                       const char *hdr, int several)
{
    pal_credentials cred;
    pal_cred_status st;
    pal_auth_result res;
    pal_lookup lk;
    pal_cache_answer a;

    st = several ? PAL_CRED_BAD_BASE64 : pal_parse_basic(r->pool, hdr, &cred);
    if (st != PAL_CRED_OK) {
        ap_log_rerror(APLOG_MARK, st == PAL_CRED_MISSING ? APLOG_DEBUG
                      : APLOG_WARNING, 0, r, "PAL0101: rejected "
                      "Proxy-Authorization: %s", several
                      ? "several Proxy-Authorization headers"
                      : pal_cred_reason(st));
        return challenge(r, c, "denied");
    }
    apr_pool_cleanup_register(r->pool, apr_pmemdup(r->pool, &cred,
                                                   sizeof(cred)),
                              wipe_credentials, apr_pool_cleanup_null);
    if (!pal_conf_basic(c)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "PAL0103: Basic "
                      "credentials of user \"%s\" refused: ProxyAuthBasic "
                      "Off (Kerberos only)",
                      ap_escape_logitem(r->pool, cred.user));
        return challenge(r, c, "denied");
    }
    pal_cache_prepare(r, c, looked_up_name(c, r, cred.user), cred.password,
                      cred.password_len, &lk);
    a = pal_cache_lookup(r, &lk);
    if (a == PAL_CACHE_MISS && pal_gate_locked(r, &lk))
        a = PAL_CACHE_NEGATIVE;
    if (a != PAL_CACHE_MISS)
        return from_cache(r, c, &lk, a);
    if (!pal_registry) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PAL0102: LDAP client "
                      "not initialised in this process");
        return unavailable(r);
    }
    a = validate(r, c, &lk, &res);
    if (a != PAL_CACHE_MISS)
        return from_cache(r, c, &lk, a);
    return decide(r, c, &lk, &res);
}

/* ------------------------------------------------------------------ */
/* Negotiate                                                            */
/* ------------------------------------------------------------------ */

static int negotiate_refused(request_rec *r, const pal_dir_conf *c,
                             int level, const char *why)
{
    ap_log_rerror(APLOG_MARK, level, 0, r, "PAL0601: Negotiate refused: %s",
                  why);
    pal_stat_inc(PAL_STAT_NEGOTIATE_REFUSED);
    return challenge(r, c, "denied");
}

/* The directory entry of an authenticated principal: the mapping from
 * the cache, else one search (with the conditions) under single flight. */
static int map_principal(request_rec *r, const pal_dir_conf *c,
                         const pal_gss_result *g)
{
    pal_auth_result res;
    pal_lookup lk;
    pal_cache_answer a;
    const char *name = login_is_upn(c) ? g->client : g->client_name;

    pal_cache_prepare_principal(r, c, g->client, name, &lk);
    lk.ticket_end = g->ends;
    a = pal_cache_lookup(r, &lk);
    if (a == PAL_CACHE_HIT)
        return accept_user(r, c, &lk, "kerberos");
    if (!pal_registry) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PAL0102: LDAP client "
                      "not initialised in this process");
        return unavailable(r);
    }
    a = validate(r, c, &lk, &res);
    if (a == PAL_CACHE_HIT)
        return accept_user(r, c, &lk, "kerberos");
    if (res.status == PAL_AUTH_OK) {
        lk.login = res.login;
        lk.dn = res.dn;
        lk.member = res.group_member;
        return accept_user(r, c, &lk, "kerberos");
    }
    log_failure(r, g->client, &res);
    if (res.status == PAL_AUTH_UNAVAILABLE)
        return unavailable(r);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "PAL0605: principal "
                  "\"%s\" authenticated by Kerberos has no directory entry "
                  "under %s", ap_escape_logitem(r->pool, g->client),
                  c->url->text);
    return forbidden(r);
}

/* A ticket from another realm (a trust), or a name the search cannot
 * spell: authenticated, but not a user of this directory. */
static int principal_usable(request_rec *r, const pal_gss_result *g)
{
    const char *why = NULL;

    if (!g->acceptor_realm || !*g->acceptor_realm)
        why = "the proxy's own realm is not known";
    else if (strcmp(g->client_realm, g->acceptor_realm))
        why = apr_psprintf(r->pool, "not of the proxy's realm %s",
                           g->acceptor_realm);
    else if (!*g->client_name || strchr(g->client_name, '\\')
             || pal_has_control(g->client_name))
        why = "a name this module does not look up";
    if (!why)
        return 1;
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "PAL0604: principal "
                  "\"%s\" refused: %s", ap_escape_logitem(r->pool, g->client),
                  why);
    return 0;
}

static pal_gss_pending **pending_of(conn_rec *conn)
{
    pal_gss_pending **pp = NULL;

    apr_pool_userdata_get((void **)&pp, CONN_GSS, conn->pool);
    if (!pp) {
        pp = apr_pcalloc(conn->pool, sizeof(*pp));
        apr_pool_userdata_setn(pp, CONN_GSS, apr_pool_cleanup_null,
                               conn->pool);
    }
    return pp;
}

static int check_negotiate(request_rec *r, const pal_dir_conf *c,
                           const char *hdr)
{
    const unsigned char *tok;
    apr_size_t len;
    pal_neg_status st = pal_parse_negotiate(r->pool, hdr, &tok, &len);
    pal_token_kind kind;
    pal_gss_result g;

    if (st != PAL_NEG_OK)
        return negotiate_refused(r, c, APLOG_WARNING, pal_neg_reason(st));
    kind = pal_token_classify(tok, len);
    if (kind == PAL_TOKEN_NTLM)
        return negotiate_refused(r, c, APLOG_WARNING, "the client offered "
                                 "NTLM, which is not supported (only "
                                 "Kerberos is; a client outside the domain, "
                                 "or one that reached the proxy by an "
                                 "address or a name without an SPN, falls "
                                 "back to NTLM)");
    if (kind == PAL_TOKEN_UNKNOWN)
        return negotiate_refused(r, c, APLOG_WARNING, "the token is "
                                 "neither Kerberos 5 nor SPNEGO");
    pal_gss_accept(r->pool, r->connection->pool, c->keytab,
                   c->negotiate_principal, pending_of(r->connection), tok,
                   len, &g);
    if (g.status == PAL_GSS_CONTINUE)
        return challenge_continue(r, g.out_token, g.out_len);
    if (g.status != PAL_GSS_OK)
        return negotiate_refused(r, c, g.server_side ? APLOG_ERR
                                 : APLOG_WARNING, g.reason);
    pal_stat_inc(PAL_STAT_NEGOTIATE_OK);
    if (!principal_usable(r, &g))
        return forbidden(r);
    return map_principal(r, c, &g);
}

static int check_authn(request_rec *r)
{
    pal_dir_conf *c;
    const char *hdr;
    int several;

    if (!is_enabled_proxy_request(r, &c))
        return DECLINED;
    hdr = single_header(r, &several);
    /* Only a request without the header at all may fall back to the
     * connection's identity: any Proxy-Authorization, even empty, is
     * validated on its own. */
    if (!hdr && (pal_conf_negotiate(c) || pal_conf_int(c->connection_auth, 0))
        && from_connection(r, c) == OK)
        return OK;
    if (!several && pal_conf_negotiate(c)
        && pal_scheme_of(hdr) == PAL_SCHEME_NEGOTIATE)
        return check_negotiate(r, c, hdr);
    return check_basic(r, c, hdr, several);
}

/* "ProxyAuthLDAP On" alone demands a user; with Require lines, httpd's own
 * evaluation decides (so <RequireAny> exemptions work). */
static int force_authn(request_rec *r)
{
    pal_dir_conf *c;
    if (!is_enabled_proxy_request(r, &c))
        return DECLINED;
    if (pal_some_auth_required && pal_some_auth_required(r))
        return DECLINED;
    return OK;
}

/* ------------------------------------------------------------------ */
/* Before forwarding                                                    */
/* ------------------------------------------------------------------ */

static int same_header_name(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (*a == '_') ? '-' : (char)apr_tolower(*a);
        char y = (*b == '_') ? '-' : (char)apr_tolower(*b);
        if (x != y)
            return 0;
    }
    return *a == *b;
}

typedef struct {
    const char *name;
    apr_array_header_t *found;
} header_match;

static int collect_variant(void *rec, const char *key, const char *value)
{
    header_match *m = rec;
    (void)value;
    if (same_header_name(key, m->name))
        APR_ARRAY_PUSH(m->found, const char *) = key;
    return 1;
}

/* A client must not be able to claim an identity: every spelling that a
 * CGI-style upstream would map to the same variable is removed. */
static void remove_header_variants(request_rec *r, const char *name)
{
    header_match m;
    int i;

    m.name = name;
    m.found = apr_array_make(r->pool, 2, sizeof(const char *));
    apr_table_do(collect_variant, &m, r->headers_in, NULL);
    for (i = 0; i < m.found->nelts; i++)
        apr_table_unset(r->headers_in, APR_ARRAY_IDX(m.found, i,
                                                     const char *));
}

/* Runs last among fixups, so a Proxy-Chain-Auth set by SetEnv (itself a
 * fixup) is seen. Applies to every forward-proxy request of a server that
 * loads the module, whatever the scope's ProxyAuthLDAP. */
static int fixups(request_rec *r)
{
    pal_dir_conf *c;
    pal_req *rq;

    if (r->proxyreq != PROXYREQ_PROXY)
        return DECLINED;
    if (!apr_table_get(r->subprocess_env, "Proxy-Chain-Auth"))
        apr_table_unset(r->headers_in, "Proxy-Authorization");
    c = ap_get_module_config(r->per_dir_config, &proxyauth_ldap_module);
    rq = ap_get_module_config(r->request_config, &proxyauth_ldap_module);
    if (c->forward_user) {
        remove_header_variants(r, c->forward_user);
        if (rq && r->user)
            apr_table_setn(r->headers_in, c->forward_user, r->user);
    }
    if (rq)
        apr_table_setn(r->notes, NOTE_RESULT, rq->result);
    else if (c->enabled == 1)
        apr_table_setn(r->notes, NOTE_RESULT, "exempt");
    return DECLINED;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                            */
/* ------------------------------------------------------------------ */

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    return pal_process_pre_config(pconf);
}

static int check_config(apr_pool_t *pconf, apr_pool_t *plog,
                        apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf;
    (void)plog;
    return pal_conf_check(ptemp, s);
}

/* Every piece of shared memory is made once per full start in the process
 * pool, so graceful restarts keep it and old children keep a valid
 * mapping. */
static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                       server_rec *s)
{
    void *mem;
    int fresh, rv;
    (void)plog;

    pal_some_auth_required = APR_RETRIEVE_OPTIONAL_FN(authz_some_auth_required);
    /* The warnings again, now that the error log is open (not during the
     * dry run of the first start). */
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG)
        pal_conf_warn(ptemp, s);
    mem = pal_process_shm(s, KEY_DOWNTABLE, pal_ldap_downtable_size(),
                          &fresh);
    if (!mem)
        return HTTP_INTERNAL_SERVER_ERROR;
    pal_downtable = fresh ? pal_ldap_downtable_init(mem)
                          : pal_ldap_downtable_attach(mem);
    if ((rv = pal_status_post_config(s)) != OK
        || (rv = pal_gate_post_config(s)) != OK)
        return rv;
    return pal_cache_post_config(pconf, ptemp, s);
}

static void log_from_client(void *baton, int level, const char *msg)
{
    ap_log_error(APLOG_MARK, level, 0, (server_rec *)baton, "PAL0401: %s",
                 msg);
}

static int status_hook(request_rec *r, int flags)
{
    return pal_status_hook(r, flags, pal_downtable);
}

static void child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv = pal_ldap_registry_create(pchild, pal_downtable,
                                               log_from_client, s,
                                               &pal_registry);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "PAL0008: cannot create "
                     "the LDAP client; every request will get 503");
        pal_registry = NULL;
    }
    if (pal_flight_init(pchild) != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "PAL0019: no single "
                     "flight in this process (every request asks LDAP)");
    pal_cache_child_init(pchild, s);
    pal_gate_child_init(pchild, s);
}

static void register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(check_config, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_authn(check_authn, NULL, NULL, APR_HOOK_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_force_authn(force_authn, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_fixups(fixups, NULL, NULL, APR_HOOK_REALLY_LAST);
    pal_require_register(p);
}

AP_DECLARE_MODULE(proxyauth_ldap) = {
    STANDARD20_MODULE_STUFF,
    pal_conf_create_dir,
    pal_conf_merge_dir,
    pal_conf_create_server,
    NULL,
    pal_conf_cmds,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
