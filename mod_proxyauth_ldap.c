/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * mod_proxyauth_ldap: LDAP / Active Directory authentication for httpd's
 * forward proxy (mod_proxy with ProxyRequests On, CONNECT included).
 *
 * The request flow, in the order httpd runs it:
 *   force_authn   "ProxyAuthLDAP On" alone demands a user (no Require line)
 *   check_authn   Proxy-Authorization -> 407 / 503 / r->user, and the group
 *                 results that `Require proxy-ldap-group` will read
 *   authz         the "proxy-ldap-group" provider only reads those results
 *   fixups        Proxy-Authorization is stripped before forwarding, and
 *                 ProxyAuthForwardUser is applied
 *
 * Parsing of network input lives in basic_auth.c, the LDAP client in
 * ldap_client.c; this file is configuration and httpd glue.
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
#include "apr_shm.h"
#include "apr_optional.h"
#include "apr_thread_proc.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pal_basic.h"
#include "pal_ldap.h"
#include "mod_proxyauth_ldap.h"
#include "pal_session.h"

#define PAL_DEFAULT_REALM "Proxy"
#define PAL_DEFAULT_TIMEOUT 5
#define PAL_DEFAULT_POOL_SIZE 8
#define RETRY_AFTER "5"
#define NOTE_RESULT "proxyauth-result"
#define NOTE_DN "proxyauth-dn"
#define SHM_KEY "mod_proxyauth_ldap.downtable"

/* Set once in child_init, before any request thread runs. */
static pal_ldap_registry *pal_registry;
/* Set once in post_config of the parent, inherited by every child. */
static pal_ldap_downtable *pal_downtable;
static APR_OPTIONAL_FN_TYPE(authz_some_auth_required) *pal_some_auth_required;

/* ------------------------------------------------------------------ */
/* Configuration                                                        */
/* ------------------------------------------------------------------ */

static void *create_dir_conf(apr_pool_t *p, char *dir)
{
    pal_dir_conf *c = apr_pcalloc(p, sizeof(*c));
    (void)dir;
    c->enabled = UNSET;
    c->starttls = UNSET;
    c->verify = UNSET;
    c->timeout = UNSET;
    c->nested = UNSET;
    c->strip_domain = UNSET;
    c->referrals = UNSET;
    c->pool_size = UNSET;
    c->session_idle = UNSET;
    c->session_max = UNSET;
    c->negative_ttl = UNSET;
    c->max_bad = UNSET;
    c->connection_auth = UNSET;
    return c;
}

#define MERGE_INT(f) n->f = (add->f != UNSET) ? add->f : base->f
#define MERGE_PTR(f) n->f = add->f ? add->f : base->f

static apr_array_header_t *merge_groups(apr_pool_t *p,
                                        const apr_array_header_t *a,
                                        const apr_array_header_t *b)
{
    if (!a || !a->nelts)
        return (apr_array_header_t *)b;
    if (!b || !b->nelts)
        return (apr_array_header_t *)a;
    /* A union is always safe: an extra group costs one search, a missing
     * one would make the provider deny. */
    return apr_array_append(p, a, b);
}

static void *merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    pal_dir_conf *base = basev, *add = addv;
    pal_dir_conf *n = apr_pcalloc(p, sizeof(*n));

    MERGE_INT(enabled);
    MERGE_PTR(realm);
    MERGE_PTR(url);
    n->bind_dn_set = add->bind_dn_set || base->bind_dn_set;
    if (add->bind_dn_set)
        n->bind_dn = add->bind_dn;
    else
        n->bind_dn = base->bind_dn;
    if (add->bind_pw) {
        n->bind_pw = add->bind_pw;
        n->bind_pw_len = add->bind_pw_len;
    }
    else {
        n->bind_pw = base->bind_pw;
        n->bind_pw_len = base->bind_pw_len;
    }
    MERGE_INT(starttls);
    MERGE_PTR(ca_file);
    MERGE_INT(verify);
    MERGE_INT(timeout);
    MERGE_PTR(group_attrs);
    MERGE_INT(nested);
    MERGE_INT(strip_domain);
    MERGE_INT(referrals);
    MERGE_INT(pool_size);
    MERGE_PTR(forward_user);
    MERGE_INT(session_idle);
    MERGE_INT(session_max);
    MERGE_INT(negative_ttl);
    MERGE_INT(max_bad);
    MERGE_INT(connection_auth);
    MERGE_PTR(on_where);
    n->groups = merge_groups(p, base->groups, add->groups);
    return n;
}

static const char *directive_at(cmd_parms *cmd)
{
    return apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                        cmd->directive->line_num);
}

/* Our directives belong to proxy scopes: <Proxy>, <ProxyMatch>, the server
 * and virtual hosts; <Location>, <Directory> and <Files> are refused. */
static const char *check_scope(cmd_parms *cmd)
{
    /* All three flags together mean "no section with a path at all", which
     * would refuse <Proxy> too: check <Files> on its own. */
    const char *err = ap_check_cmd_context(cmd, NOT_IN_LOCATION
                                           | NOT_IN_DIRECTORY
                                           | NOT_IN_HTACCESS);
    return err ? err : ap_check_cmd_context(cmd, NOT_IN_FILES);
}

static const char *set_enabled(cmd_parms *cmd, void *cfg, int on)
{
    pal_dir_conf *c = cfg;
    const char *err = check_scope(cmd);
    if (err)
        return err;
    c->enabled = on;
    if (on)
        c->on_where = directive_at(cmd);
    return NULL;
}

static const char *set_flag(cmd_parms *cmd, void *cfg, int on)
{
    const char *err = check_scope(cmd);
    if (err)
        return err;
    *(int *)((char *)cfg + (apr_size_t)cmd->info) = on;
    return NULL;
}

static const char *set_realm(cmd_parms *cmd, void *cfg, const char *arg)
{
    pal_dir_conf *c = cfg;
    const char *err = check_scope(cmd);
    if (err)
        return err;
    if (!*arg || strlen(arg) > 256)
        return "ProxyAuthRealm: the realm must be 1 to 256 characters";
    c->realm = arg;
    return NULL;
}

static const char *set_url(cmd_parms *cmd, void *cfg, const char *arg)
{
    pal_dir_conf *c = cfg;
    const char *err = check_scope(cmd);
    if (err)
        return err;
    err = pal_ldap_url_parse(cmd->pool, arg, &c->url);
    if (err)
        return apr_psprintf(cmd->pool, "ProxyAuthLDAPURL \"%s\": %s", arg,
                            err);
    return NULL;
}

static const char *set_bind_dn(cmd_parms *cmd, void *cfg, const char *arg)
{
    pal_dir_conf *c = cfg;
    const char *err = check_scope(cmd);
    if (err)
        return err;
    if (!pal_dn_normalize(cmd->temp_pool, arg))
        return apr_psprintf(cmd->pool, "ProxyAuthLDAPBindDN: \"%s\" is not "
                            "a DN", arg);
    c->bind_dn = arg;
    c->bind_dn_set = 1;
    return NULL;
}

static const char *first_line(apr_pool_t *p, const char *buf, apr_size_t len,
                              apr_size_t *out_len)
{
    apr_size_t n = 0;
    while (n < len && buf[n] != '\n' && buf[n] != '\r' && buf[n] != '\0')
        n++;
    *out_len = n;
    return apr_pstrmemdup(p, buf, n);
}

static const char *read_pw_file(cmd_parms *cmd, const char *path,
                                const char **pw, apr_size_t *len)
{
    apr_file_t *f;
    char buf[4096];
    apr_size_t n = sizeof(buf);
    apr_status_t rv;

    path = ap_server_root_relative(cmd->temp_pool, path);
    rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, cmd->temp_pool);
    if (rv != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "ProxyAuthLDAPBindPassword: cannot "
                            "read file:%s: %pm", path, &rv);
    rv = apr_file_read(f, buf, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF)
        return apr_psprintf(cmd->pool, "ProxyAuthLDAPBindPassword: cannot "
                            "read file:%s: %pm", path, &rv);
    *pw = first_line(cmd->pool, buf, n, len);
    return NULL;
}

static const char *run_pw_program(cmd_parms *cmd, const char *prog,
                                  const char **pw, apr_size_t *len)
{
    apr_pool_t *p = cmd->temp_pool;
    const char *const *argv;
    apr_procattr_t *attr;
    apr_proc_t proc;
    char buf[4096];
    apr_size_t n = 0, got;
    int code = 0;
    apr_exit_why_e why;
    apr_status_t rv;

    rv = apr_tokenize_to_argv(prog, (char ***)&argv, p);
    if (rv != APR_SUCCESS || !argv[0])
        return "ProxyAuthLDAPBindPassword: exec: needs a program";
    if ((rv = apr_procattr_create(&attr, p))
        || (rv = apr_procattr_io_set(attr, APR_NO_PIPE, APR_FULL_BLOCK,
                                     APR_NO_PIPE))
        || (rv = apr_procattr_cmdtype_set(attr, APR_PROGRAM_ENV))
        || (rv = apr_proc_create(&proc, argv[0], argv, NULL, attr, p)))
        return apr_psprintf(cmd->pool, "ProxyAuthLDAPBindPassword: cannot "
                            "run exec:%s: %pm", argv[0], &rv);
    do {
        got = sizeof(buf) - n;
        rv = apr_file_read(proc.out, buf + n, &got);
        n += (rv == APR_SUCCESS) ? got : 0;
    } while (rv == APR_SUCCESS && n < sizeof(buf));
    apr_file_close(proc.out);
    apr_proc_wait(&proc, &code, &why, APR_WAIT);
    if (why != APR_PROC_EXIT || code != 0)
        return apr_psprintf(cmd->pool, "ProxyAuthLDAPBindPassword: exec:%s "
                            "failed (exit %d)", argv[0], code);
    *pw = first_line(cmd->pool, buf, n, len);
    return NULL;
}

static const char *set_bind_pw(cmd_parms *cmd, void *cfg, const char *arg)
{
    pal_dir_conf *c = cfg;
    const char *err = check_scope(cmd);
    const char *pw = arg;
    apr_size_t len = strlen(arg);

    if (err)
        return err;
    if (!strncmp(arg, "file:", 5))
        err = read_pw_file(cmd, arg + 5, &pw, &len);
    else if (!strncmp(arg, "exec:", 5))
        err = run_pw_program(cmd, arg + 5, &pw, &len);
    if (err)
        return err;
    if (len == 0)
        return "ProxyAuthLDAPBindPassword: the password is empty (an empty "
               "password is an anonymous bind)";
    c->bind_pw = pw;
    c->bind_pw_len = len;
    return NULL;
}

/* libldap accepts a CA file without any certificate and then fails every
 * handshake: refuse it at startup instead. */
static int has_pem_certificate(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *x;
    int ok;

    if (!bio)
        return 0;
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    ok = x != NULL;
    X509_free(x);
    BIO_free(bio);
    ERR_clear_error();
    return ok;
}

static const char *set_ca_file(cmd_parms *cmd, void *cfg, const char *arg)
{
    pal_dir_conf *c = cfg;
    const char *err = check_scope(cmd);
    apr_finfo_t fi;
    const char *path;

    if (err)
        return err;
    path = ap_server_root_relative(cmd->pool, arg);
    if (!path || apr_stat(&fi, path, APR_FINFO_TYPE, cmd->temp_pool)
        || fi.filetype != APR_REG)
        return apr_psprintf(cmd->pool, "ProxyAuthLDAPCACertificate: \"%s\" "
                            "is not a readable file", arg);
    if (!has_pem_certificate(path))
        return apr_psprintf(cmd->pool, "ProxyAuthLDAPCACertificate: \"%s\" "
                            "holds no PEM certificate", arg);
    c->ca_file = path;
    return NULL;
}

/* Bounds of the numeric directives: a typo must not become a zero
 * timeout or a cache that keeps sessions for years. */
typedef struct {
    const char *name;
    long min, max;
} pal_bounds;

static const pal_bounds number_bounds[] = {
    { "ProxyAuthLDAPTimeout", 1, 300 },
    { "ProxyAuthLDAPPoolSize", 1, 1024 },
    { "ProxyAuthSessionIdle", 1, 86400 },
    { "ProxyAuthSessionMax", 1, 604800 },
    { "ProxyAuthNegativeTTL", 0, 86400 },
    { "ProxyAuthMaxBadPasswords", 0, 1000 },
    { NULL, 0, 0 }
};

static const char *set_number(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *err = check_scope(cmd);
    const pal_bounds *b = number_bounds;
    char *end;
    long v;

    if (err)
        return err;
    while (b->name && strcmp(b->name, cmd->cmd->name))
        b++;
    v = strtol(arg, &end, 10);
    if (!b->name || !*arg || *end || v < b->min || v > b->max)
        return apr_psprintf(cmd->pool, "%s: \"%s\" is not a number from %ld "
                            "to %ld", cmd->cmd->name, arg, b->min, b->max);
    *(int *)((char *)cfg + (apr_size_t)cmd->info) = (int)v;
    return NULL;
}

static const char *add_group_attr(cmd_parms *cmd, void *cfg, const char *arg)
{
    pal_dir_conf *c = cfg;
    const char *err = check_scope(cmd);
    if (err)
        return err;
    if (!*arg || strpbrk(arg, "()*\\=, "))
        return apr_psprintf(cmd->pool, "ProxyAuthLDAPGroupAttribute: \"%s\" "
                            "is not an attribute name", arg);
    /* Each scope has its own list: a scope that names attributes replaces
     * the inherited list instead of extending it. */
    if (!c->group_attrs)
        c->group_attrs = apr_array_make(cmd->pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(c->group_attrs, const char *) = arg;
    return NULL;
}

static const char *set_forward_user(cmd_parms *cmd, void *cfg,
                                    const char *arg)
{
    pal_dir_conf *c = cfg;
    const char *err = check_scope(cmd);
    const char *s;

    if (err)
        return err;
    for (s = arg; *s; s++)
        if (!apr_isalnum(*s) && *s != '-' && *s != '_')
            break;
    if (!*arg || *s)
        return apr_psprintf(cmd->pool, "ProxyAuthForwardUser: \"%s\" is not "
                            "a header name", arg);
    c->forward_user = arg;
    return NULL;
}

#define DIR_FLAG(name, field, help) \
    AP_INIT_FLAG(name, set_flag, (void *)APR_OFFSETOF(pal_dir_conf, field), \
                 RSRC_CONF | ACCESS_CONF, help)
#define DIR_NUMBER(name, field, help) \
    AP_INIT_TAKE1(name, set_number, (void *)APR_OFFSETOF(pal_dir_conf, field), \
                  RSRC_CONF | ACCESS_CONF, help)
#define DIR_TAKE1(name, fn, help) \
    AP_INIT_TAKE1(name, fn, NULL, RSRC_CONF | ACCESS_CONF, help)

static const command_rec pal_cmds[] = {
    AP_INIT_FLAG("ProxyAuthLDAP", set_enabled, NULL, RSRC_CONF | ACCESS_CONF,
                 "On: authenticate forward-proxy requests in this scope"),
    DIR_TAKE1("ProxyAuthRealm", set_realm, "realm sent in Proxy-Authenticate"),
    DIR_TAKE1("ProxyAuthLDAPURL", set_url,
              "ldap[s]://host[:port][ host2...]/basedn?attr?scope?filter"),
    DIR_TAKE1("ProxyAuthLDAPBindDN", set_bind_dn,
              "DN of the service account used to search"),
    DIR_TAKE1("ProxyAuthLDAPBindPassword", set_bind_pw,
              "service account password: secret, file:PATH or exec:PROGRAM"),
    DIR_FLAG("ProxyAuthLDAPStartTLS", starttls, "StartTLS on ldap:// URLs"),
    DIR_TAKE1("ProxyAuthLDAPCACertificate", set_ca_file,
              "CA bundle the LDAP server certificate must chain to"),
    DIR_FLAG("ProxyAuthLDAPVerifyServerCert", verify,
             "verify the LDAP server certificate (Off only for labs)"),
    AP_INIT_TAKE1("ProxyAuthLDAPTimeout", set_number,
                  (void *)APR_OFFSETOF(pal_dir_conf, timeout),
                  RSRC_CONF | ACCESS_CONF,
                  "seconds for connect and every operation on one server"),
    AP_INIT_ITERATE("ProxyAuthLDAPGroupAttribute", add_group_attr, NULL,
                    RSRC_CONF | ACCESS_CONF,
                    "attributes of group entries that list members by DN"),
    DIR_FLAG("ProxyAuthLDAPNestedGroups", nested,
             "follow nested AD groups (in-chain matching rule)"),
    DIR_FLAG("ProxyAuthLDAPStripDomain", strip_domain,
             "accept DOMAIN\\user and user@domain"),
    DIR_FLAG("ProxyAuthLDAPReferrals", referrals, "chase LDAP referrals"),
    AP_INIT_TAKE1("ProxyAuthLDAPPoolSize", set_number,
                  (void *)APR_OFFSETOF(pal_dir_conf, pool_size),
                  RSRC_CONF | ACCESS_CONF,
                  "most pooled LDAP connections per child process and URL"),
    DIR_TAKE1("ProxyAuthForwardUser", set_forward_user,
              "request header that carries the user name upstream"),
    DIR_NUMBER("ProxyAuthSessionIdle", session_idle,
               "seconds a validated pair stays valid without use"),
    DIR_NUMBER("ProxyAuthSessionMax", session_max,
               "seconds from the LDAP validation until LDAP is asked again"),
    DIR_NUMBER("ProxyAuthNegativeTTL", negative_ttl,
               "seconds a rejected pair is answered 407 from the cache; 0 off"),
    DIR_NUMBER("ProxyAuthMaxBadPasswords", max_bad,
               "distinct wrong passwords per account that reach LDAP"),
    DIR_FLAG("ProxyAuthConnectionAuth", connection_auth,
             "reuse a connection's identity for requests without credentials"),
    AP_INIT_TAKE1("ProxyAuthCache", pal_session_set_cache, NULL, RSRC_CONF,
                  "socache provider[:args] for the credential cache"),
    AP_INIT_TAKE1("ProxyAuthCacheSecret", pal_session_set_secret, NULL,
                  RSRC_CONF, "file:PATH with the secret of the keyed hashes"),
    { NULL }
};

/* ------------------------------------------------------------------ */
/* Require proxy-ldap-group                                             */
/* ------------------------------------------------------------------ */

/* The DNs are recorded in the scope's config when the line is parsed, so
 * check_authn can resolve them in the same LDAP session and the provider
 * (which cannot answer 503) only reads the result. */
static const char *group_parse(cmd_parms *cmd, const char *line,
                               const void **parsed)
{
    apr_array_header_t *want = apr_array_make(cmd->pool, 2, sizeof(pal_group));
    pal_dir_conf *c = NULL;
    const char *w;

    if (cmd->context) {
        /* A section without any of our directives has no config of ours
         * yet: make it, or the DNs would be lost. */
        c = ap_get_module_config(cmd->context, &proxyauth_ldap_module);
        if (!c) {
            c = create_dir_conf(cmd->pool, NULL);
            ap_set_module_config(cmd->context, &proxyauth_ldap_module, c);
        }
    }
    while (*(w = ap_getword_conf(cmd->pool, &line))) {
        pal_group *g = apr_array_push(want);
        g->dn = w;
        g->norm = pal_dn_normalize(cmd->pool, w);
        if (!g->norm)
            return apr_psprintf(cmd->pool, "Require proxy-ldap-group: \"%s\" "
                                "is not a DN", w);
    }
    if (!want->nelts)
        return "Require proxy-ldap-group needs at least one group DN";
    if (c) {
        if (!c->groups)
            c->groups = apr_array_make(cmd->pool, 2, sizeof(pal_group));
        apr_array_cat(c->groups, want);
    }
    *parsed = want;
    return NULL;
}

static int group_known(const pal_req *rq, const char *norm, int *member)
{
    int i;
    for (i = 0; rq && rq->groups && i < rq->groups->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(rq->groups, i, pal_group).norm, norm)) {
            *member = rq->member[i];
            return 1;
        }
    }
    return 0;
}

static authz_status group_check(request_rec *r, const char *line,
                                const void *parsed)
{
    const apr_array_header_t *want = parsed;
    pal_req *rq = ap_get_module_config(r->request_config,
                                       &proxyauth_ldap_module);
    int i, member;
    (void)line;

    if (!r->user)
        return AUTHZ_DENIED_NO_USER;
    for (i = 0; i < want->nelts; i++) {
        const pal_group *g = &APR_ARRAY_IDX(want, i, pal_group);
        if (!group_known(rq, g->norm, &member)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PAL0301: group \"%s\" "
                          "was not resolved: is ProxyAuthLDAP On in this "
                          "scope?", g->dn);
            continue;
        }
        if (member)
            return AUTHZ_GRANTED;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "PAL0302: user \"%s\" is in "
                  "none of the groups of Require proxy-ldap-group",
                  ap_escape_logitem(r->pool, r->user));
    apr_table_setn(r->notes, NOTE_RESULT, "denied");
    return AUTHZ_DENIED;
}

static const authz_provider group_provider = {
    &group_check,
    &group_parse,
};

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
    return c->enabled == 1 && c->url != NULL;
}

static int challenge(request_rec *r, const pal_dir_conf *c)
{
    const char *realm = c->realm ? c->realm : PAL_DEFAULT_REALM;
    apr_table_setn(r->err_headers_out, "Proxy-Authenticate",
                   apr_pstrcat(r->pool, "Basic realm=",
                               pal_quote_string(r->pool, realm),
                               ", charset=\"UTF-8\"", NULL));
    apr_table_setn(r->notes, NOTE_RESULT, "denied");
    return HTTP_PROXY_AUTHENTICATION_REQUIRED;
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

static void fill_settings(const pal_dir_conf *c, pal_ldap_settings *s)
{
    static const char *const dflt_attrs[] = { "member", "uniqueMember" };
    static const apr_array_header_t dflt = {
        NULL, sizeof(const char *), 2, 2, (char *)dflt_attrs
    };
    memset(s, 0, sizeof(*s));
    s->url = c->url;
    s->bind_dn = c->bind_dn;
    s->bind_pw = c->bind_pw;
    s->bind_pw_len = c->bind_pw_len;
    s->starttls = pal_or_default(c->starttls, 0);
    s->ca_file = c->ca_file;
    s->verify = pal_or_default(c->verify, 1);
    s->referrals = pal_or_default(c->referrals, 0);
    s->timeout = apr_time_from_sec(pal_or_default(c->timeout, PAL_DEFAULT_TIMEOUT));
    s->pool_size = pal_or_default(c->pool_size, PAL_DEFAULT_POOL_SIZE);
    s->group_attrs = c->group_attrs ? c->group_attrs : &dflt;
    s->nested = pal_or_default(c->nested, 0);
}

static apr_array_header_t *group_dns(apr_pool_t *p, const pal_dir_conf *c)
{
    apr_array_header_t *dns;
    int i;

    if (!c->groups || !c->groups->nelts)
        return NULL;
    dns = apr_array_make(p, c->groups->nelts, sizeof(const char *));
    for (i = 0; i < c->groups->nelts; i++)
        APR_ARRAY_PUSH(dns, const char *) =
            APR_ARRAY_IDX(c->groups, i, pal_group).dn;
    return dns;
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
 * proxyauth-result note: ldap, cache or connection. */
static int accept_user(request_rec *r, const pal_dir_conf *c,
                       pal_lookup *lk, const char *how)
{
    pal_req *rq = apr_pcalloc(r->pool, sizeof(*rq));
    /* The login value goes into logs and ProxyAuthForwardUser: a directory
     * value with control characters falls back to the validated input. */
    const char *login = (lk->login && *lk->login && !pal_has_control(lk->login))
                        ? lk->login : lk->user;

    rq->result = how;
    rq->groups = c->groups;
    rq->member = lk->member;
    ap_set_module_config(r->request_config, &proxyauth_ldap_module, rq);
    r->user = (char *)login;
    r->ap_auth_type = "Basic";
    apr_table_setn(r->notes, NOTE_RESULT, how);
    if (lk->dn && *lk->dn)
        apr_table_setn(r->notes, NOTE_DN, lk->dn);
    if (pal_or_default(c->connection_auth, 0) && strcmp(how, "connection"))
        pal_session_connection_remember(r, lk);
    return OK;
}

/* The leader's group results are aligned with its scope's group list, so
 * only requests asking for the same groups may share its answer. */
static const char *flight_key(request_rec *r, const pal_dir_conf *c,
                              const pal_lookup *lk)
{
    const char *k = lk->pkey;
    int i;

    if (!k)
        return NULL;
    for (i = 0; c->groups && i < c->groups->nelts; i++)
        k = apr_pstrcat(r->pool, k, "\n",
                        APR_ARRAY_IDX(c->groups, i, pal_group).norm, NULL);
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
 * new leader looks in the cache once more first: the previous leader may
 * have stored the answer just before it finished. Returns the cache's
 * answer when that second look decided, else PAL_CACHE_MISS with *res
 * filled. */
static pal_cache_answer validate(request_rec *r, const pal_dir_conf *c,
                                 pal_lookup *lk, pal_auth_result *res)
{
    pal_ldap_settings s;
    pal_flight *f = NULL;
    pal_cache_answer a;
    int ngroups = c->groups ? c->groups->nelts : 0;

    fill_settings(c, &s);
    if (!pal_flight_begin(r, flight_key(r, c, lk), &f)) {
        if (pal_flight_wait(r, f, s.timeout + apr_time_from_sec(1), res))
            return PAL_CACHE_MISS;
        f = NULL;   /* the leader took too long: on our own */
    }
    a = pal_session_recheck(r, lk);
    if (a != PAL_CACHE_MISS) {
        result_from_cache(lk, a, res);
        pal_flight_finish(f, res, ngroups);
        return a;
    }
    pal_ldap_authenticate(pal_registry, &s, r->pool, lk->user, lk->password,
                          lk->password_len, group_dns(r->pool, c), res);
    pal_session_store(r, lk, res);
    pal_flight_finish(f, res, ngroups);
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
    default:
        log_failure(r, lk->user, res);
        return challenge(r, c);
    }
}

static int from_cache(request_rec *r, const pal_dir_conf *c, pal_lookup *lk,
                      pal_cache_answer a)
{
    if (a == PAL_CACHE_HIT)
        return accept_user(r, c, lk, "cache");
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "PAL0202: authentication "
                  "of user \"%s\" refused from the cache: %s",
                  ap_escape_logitem(r->pool, lk->user),
                  lk->reason ? lk->reason : "rejected recently");
    challenge(r, c);
    apr_table_setn(r->notes, NOTE_RESULT, "negative");
    return HTTP_PROXY_AUTHENTICATION_REQUIRED;
}

/* ProxyAuthConnectionAuth: a request without credentials on a connection
 * that authenticated before, in the same directory context. */
static int from_connection(request_rec *r, const pal_dir_conf *c)
{
    pal_lookup lk;

    pal_session_prepare(r, c, "", "", 0, &lk);
    if (!pal_session_connection_identity(r, &lk))
        return DECLINED;
    pal_stat_inc(PAL_STAT_CONNECTION);
    lk.user = lk.login;
    return accept_user(r, c, &lk, "connection");
}

static int check_authn(request_rec *r)
{
    pal_dir_conf *c;
    pal_credentials cred;
    pal_cred_status st;
    pal_auth_result res;
    pal_lookup lk;
    pal_cache_answer a;
    const char *hdr, *user;
    int several;

    if (!is_enabled_proxy_request(r, &c))
        return DECLINED;
    hdr = single_header(r, &several);
    st = several ? PAL_CRED_BAD_BASE64 : pal_parse_basic(r->pool, hdr, &cred);
    if (st == PAL_CRED_MISSING && pal_or_default(c->connection_auth, 0)
        && from_connection(r, c) == OK)
        return OK;
    if (st != PAL_CRED_OK) {
        ap_log_rerror(APLOG_MARK, st == PAL_CRED_MISSING ? APLOG_DEBUG
                      : APLOG_WARNING, 0, r, "PAL0101: rejected "
                      "Proxy-Authorization: %s", several
                      ? "several Proxy-Authorization headers"
                      : pal_cred_reason(st));
        return challenge(r, c);
    }
    user = pal_or_default(c->strip_domain, 0)
        ? pal_strip_domain(r->pool, cred.user,
                           !strcasecmp(c->url->attr, "userPrincipalName"))
        : cred.user;
    pal_session_prepare(r, c, user, cred.password, cred.password_len, &lk);
    a = pal_session_lookup(r, &lk);
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
/* Start-up checks                                                      */
/* ------------------------------------------------------------------ */

static const char *section_name(ap_conf_vector_t *sec, module *proxy_mod)
{
    proxy_dir_conf *pd = ap_get_module_config(sec, proxy_mod);
    return (pd && pd->p) ? pd->p : "?";
}

/* Warnings go to stderr at check_config (so `apache2 -t` shows them) and
 * again to the error log from post_config, where `startup` is 0. A scope
 * that turns verification off is named even when it inherits On from
 * another <Proxy> section, which only request time merges. */
static void warn_one(server_rec *s, const pal_dir_conf *c, const char *where,
                     int startup)
{
    int flags = startup ? APLOG_STARTUP : 0;

    if (c->verify == 0)
        ap_log_error(APLOG_MARK, flags | APLOG_WARNING, 0, s,
                     "PAL0004: ProxyAuthLDAPVerifyServerCert Off in %s: the "
                     "LDAP server's certificate is not checked; use this "
                     "only in a lab", where);
    if (c->enabled == 1 && c->url && !c->url->ldaps
        && !pal_or_default(c->starttls, 0)
        && strcmp(APR_ARRAY_IDX(c->url->servers, 0, pal_ldap_server).host,
                  "127.0.0.1"))
        ap_log_error(APLOG_MARK, flags | APLOG_INFO, 0, s, "PAL0005: "
                     "passwords go to %s in clear text (neither ldaps:// nor "
                     "StartTLS)", c->url->text);
}

static int check_one(apr_pool_t *p, server_rec *s, const pal_dir_conf *c,
                     const char *where, int startup)
{
    pal_ldap_settings set;
    const char *err;

    warn_one(s, c, where, startup);
    if (c->enabled != 1 || !startup)
        return OK;
    if (!c->url) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     "PAL0001: ProxyAuthLDAP On (%s) in %s has no "
                     "ProxyAuthLDAPURL", c->on_where ? c->on_where : "?",
                     where);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (c->bind_dn && !c->bind_pw) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     "PAL0002: ProxyAuthLDAPBindDN without "
                     "ProxyAuthLDAPBindPassword in %s", where);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    fill_settings(c, &set);
    if ((err = pal_ldap_check_tls(p, &set)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     "PAL0003: ProxyAuthLDAPCACertificate / TLS settings in "
                     "%s: %s", where, err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static int check_server(apr_pool_t *p, server_rec *s, pal_dir_conf *base,
                        module *proxy_mod, int startup)
{
    pal_dir_conf *own = ap_get_module_config(s->lookup_defaults,
                                             &proxyauth_ldap_module);
    pal_dir_conf *srv = base ? merge_dir_conf(p, base, own) : own;
    proxy_server_conf *pc;
    int i, rv;

    rv = check_one(p, s, srv, apr_psprintf(p, "server %s", s->server_hostname
                                           ? s->server_hostname : "main"),
                   startup);
    if (rv != OK || !proxy_mod)
        return rv;
    pc = ap_get_module_config(s->module_config, proxy_mod);
    for (i = 0; pc && pc->sec_proxy && i < pc->sec_proxy->nelts; i++) {
        ap_conf_vector_t *sec = APR_ARRAY_IDX(pc->sec_proxy, i,
                                              ap_conf_vector_t *);
        pal_dir_conf *d = ap_get_module_config(sec, &proxyauth_ldap_module);
        if (!d)
            continue;
        rv = check_one(p, s, merge_dir_conf(p, srv, d),
                       apr_psprintf(p, "<Proxy %s>",
                                    section_name(sec, proxy_mod)), startup);
        if (rv != OK)
            return rv;
    }
    return OK;
}

/* Walks the parsed tree for AuthType inside an enabled scope: with it,
 * mod_auth_basic would answer group failures with 407 instead of 403. */
static void warn_authtype(server_rec *s, ap_directive_t *d, int on,
                          int startup)
{
    ap_directive_t *x;

    for (x = d; x; x = x->next)
        if (!strcasecmp(x->directive, "ProxyAuthLDAP") && x->args)
            on = !strcasecmp(x->args, "on");
    for (x = d; x; x = x->next) {
        if (on && !strcasecmp(x->directive, "AuthType"))
            ap_log_error(APLOG_MARK, (startup ? APLOG_STARTUP : 0)
                         | APLOG_WARNING, 0, s, "PAL0006: AuthType (%s:%d) in a scope with "
                         "ProxyAuthLDAP On: mod_auth_basic would answer "
                         "group failures with 407 instead of 403; remove it",
                         x->filename, x->line_num);
        if (x->first_child)
            warn_authtype(s, x->first_child, on, startup);
    }
}

static int check_all(apr_pool_t *p, server_rec *s, int startup)
{
    module *proxy_mod = ap_find_linked_module("mod_proxy.c");
    pal_dir_conf *main_conf = ap_get_module_config(s->lookup_defaults,
                                                   &proxyauth_ldap_module);
    server_rec *v;

    if (check_server(p, s, NULL, proxy_mod, startup) != OK)
        return HTTP_INTERNAL_SERVER_ERROR;
    for (v = s->next; v; v = v->next)
        if (check_server(p, v, main_conf, proxy_mod, startup) != OK)
            return HTTP_INTERNAL_SERVER_ERROR;
    warn_authtype(s, ap_conftree, 0, startup);
    return OK;
}

static int check_config(apr_pool_t *pconf, apr_pool_t *plog,
                        apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf;
    (void)plog;
    if (check_all(ptemp, s, 1) != OK)
        return HTTP_INTERNAL_SERVER_ERROR;
    return pal_session_check_config(s);
}

/* The down-server table is made once per full start in the process pool,
 * so graceful restarts keep it and old children keep a valid mapping. */
static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                       server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    apr_shm_t *shm = NULL;
    apr_status_t rv;
    (void)plog;

    pal_some_auth_required = APR_RETRIEVE_OPTIONAL_FN(authz_some_auth_required);
    /* The warnings again, now that the error log is open (not during the
     * dry run of the first start). */
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG)
        check_all(ptemp, s, 0);
    apr_pool_userdata_get((void **)&shm, SHM_KEY, pp);
    if (shm) {
        pal_downtable = pal_ldap_downtable_attach(apr_shm_baseaddr_get(shm));
        return pal_session_post_config(pconf, ptemp, s);
    }
    rv = apr_shm_create(&shm, pal_ldap_downtable_size(), NULL, pp);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "PAL0007: cannot create "
                     "shared memory for the LDAP server states");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_userdata_set(shm, SHM_KEY, apr_pool_cleanup_null, pp);
    pal_downtable = pal_ldap_downtable_init(apr_shm_baseaddr_get(shm));
    return pal_session_post_config(pconf, ptemp, s);
}

static void log_from_client(void *baton, int level, const char *msg)
{
    ap_log_error(APLOG_MARK, level, 0, (server_rec *)baton, "PAL0401: %s",
                 msg);
}

static apr_status_t close_registry(void *data)
{
    pal_ldap_registry_close(data);
    return APR_SUCCESS;
}

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    return pal_session_pre_config(pconf);
}

static int status_hook(request_rec *r, int flags)
{
    return pal_session_status(r, flags, pal_downtable);
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
        return;
    }
    apr_pool_cleanup_register(pchild, pal_registry, close_registry,
                              apr_pool_cleanup_null);
    pal_session_child_init(pchild, s);
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
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "proxy-ldap-group",
                              AUTHZ_PROVIDER_VERSION, &group_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
}

AP_DECLARE_MODULE(proxyauth_ldap) = {
    STANDARD20_MODULE_STUFF,
    create_dir_conf,
    merge_dir_conf,
    pal_session_create_server_conf,
    NULL,
    pal_cmds,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
