/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * The module's configuration (contract: include/pal_config.h): per-scope
 * settings and how they merge, the directives, the main server's cache
 * directives, and the start-up checks.
 */
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "mod_proxy.h"

#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "unixd.h"

#include "pal_basic.h"
#include "pal_config.h"
#include "pal_conf_values.h"
#include "pal_negotiate.h"
#include "pal_ldap_strings.h"

APLOG_USE_MODULE(proxyauth_ldap);

/* ------------------------------------------------------------------ */
/* Values with their defaults                                           */
/* ------------------------------------------------------------------ */

static const char *const default_group_attrs[] = { "member", "uniqueMember" };
static const apr_array_header_t default_group_attr_list = {
    NULL, sizeof(const char *), 2, 2, (char *)default_group_attrs
};

void pal_conf_ldap_settings(const pal_dir_conf *c, pal_ldap_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->url = c->url;
    s->bind_dn = c->bind_dn;
    s->bind_pw = c->bind_pw;
    s->bind_pw_len = c->bind_pw_len;
    s->starttls = pal_conf_int(c->starttls, 0);
    s->ca_file = c->ca_file;
    s->verify = pal_conf_int(c->verify, 1);
    s->referrals = pal_conf_int(c->referrals, 0);
    s->timeout = apr_time_from_sec(pal_conf_int(c->timeout,
                                                PAL_DEFAULT_TIMEOUT));
    s->pool_size = pal_conf_int(c->pool_size, PAL_DEFAULT_POOL_SIZE);
    s->group_attrs = c->group_attrs ? c->group_attrs
                                    : &default_group_attr_list;
    s->nested = pal_conf_int(c->nested, 0);
}

void pal_conf_windows(const pal_dir_conf *c, pal_windows *w)
{
    w->idle = pal_conf_int(c->session_idle, PAL_DEFAULT_SESSION_IDLE);
    w->max = pal_conf_int(c->session_max, PAL_DEFAULT_SESSION_MAX);
    w->negative = pal_conf_int(c->negative_ttl, PAL_DEFAULT_NEGATIVE_TTL);
    w->max_bad = pal_conf_int(c->max_bad, PAL_DEFAULT_MAX_BAD);
}

pal_server_conf *pal_conf_server(server_rec *s)
{
    return ap_get_module_config(s->module_config, &proxyauth_ldap_module);
}

void *pal_conf_create_server(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(pal_server_conf));
}

pal_dir_conf *pal_conf_of_section(cmd_parms *cmd)
{
    pal_dir_conf *c;

    if (!cmd->context)
        return NULL;
    c = ap_get_module_config(cmd->context, &proxyauth_ldap_module);
    if (!c) {
        c = pal_conf_create_dir(cmd->pool, NULL);
        ap_set_module_config(cmd->context, &proxyauth_ldap_module, c);
    }
    return c;
}

/* ------------------------------------------------------------------ */
/* Configuration                                                        */
/* ------------------------------------------------------------------ */

void *pal_conf_create_dir(apr_pool_t *p, char *dir)
{
    pal_dir_conf *c = apr_pcalloc(p, sizeof(*c));
    (void)dir;
    c->enabled = PAL_UNSET;
    c->starttls = PAL_UNSET;
    c->verify = PAL_UNSET;
    c->timeout = PAL_UNSET;
    c->nested = PAL_UNSET;
    c->strip_domain = PAL_UNSET;
    c->referrals = PAL_UNSET;
    c->pool_size = PAL_UNSET;
    c->session_idle = PAL_UNSET;
    c->session_max = PAL_UNSET;
    c->negative_ttl = PAL_UNSET;
    c->max_bad = PAL_UNSET;
    c->connection_auth = PAL_UNSET;
    c->negotiate = PAL_UNSET;
    c->basic = PAL_UNSET;
    return c;
}

#define MERGE_INT(f) n->f = (add->f != PAL_UNSET) ? add->f : base->f
#define MERGE_PTR(f) n->f = add->f ? add->f : base->f

static apr_array_header_t *merge_conds(apr_pool_t *p,
                                        const apr_array_header_t *a,
                                        const apr_array_header_t *b)
{
    if (!a || !a->nelts)
        return (apr_array_header_t *)b;
    if (!b || !b->nelts)
        return (apr_array_header_t *)a;
    /* A union is always safe: an extra condition costs one search, a
     * missing one would make the provider deny. */
    return apr_array_append(p, a, b);
}

void *pal_conf_merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    pal_dir_conf *base = basev, *add = addv;
    pal_dir_conf *n = apr_pcalloc(p, sizeof(*n));

    MERGE_INT(enabled);
    MERGE_PTR(realm);
    MERGE_PTR(url);
    MERGE_PTR(bind_dn);
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
    MERGE_INT(negotiate);
    MERGE_INT(basic);
    MERGE_PTR(keytab);
    MERGE_PTR(negotiate_principal);
    MERGE_PTR(on_where);
    n->conds = merge_conds(p, base->conds, add->conds);
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
    if ((err = pal_value_realm(arg)) != NULL)
        return err;
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
    return NULL;
}

/* The service password is kept as long as the configuration, in one copy
 * that is wiped when the configuration pool goes (restart, stop). */
typedef struct {
    char *buf;
    apr_size_t len;
} pal_kept_secret;

static apr_status_t wipe_kept(void *data)
{
    pal_kept_secret *k = data;
    OPENSSL_cleanse(k->buf, k->len);
    return APR_SUCCESS;
}

static const char *keep_first_line(apr_pool_t *p, const char *buf,
                                   apr_size_t len, apr_size_t *out_len)
{
    pal_kept_secret *k = apr_palloc(p, sizeof(*k));
    apr_size_t n = 0;

    while (n < len && buf[n] != '\n' && buf[n] != '\r' && buf[n] != '\0')
        n++;
    k->buf = apr_pstrmemdup(p, buf, n);
    k->len = n;
    apr_pool_cleanup_register(p, k, wipe_kept, apr_pool_cleanup_null);
    *out_len = n;
    return k->buf;
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
    if (rv == APR_SUCCESS || rv == APR_EOF)
        *pw = keep_first_line(cmd->pool, buf, rv == APR_EOF ? 0 : n, len);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (rv != APR_SUCCESS && rv != APR_EOF)
        return apr_psprintf(cmd->pool, "ProxyAuthLDAPBindPassword: cannot "
                            "read file:%s: %pm", path, &rv);
    return NULL;
}

/* Reads the program's output until EOF, a full buffer or the deadline. */
static apr_status_t read_until(apr_file_t *out, char *buf, apr_size_t size,
                               apr_size_t *n, apr_time_t deadline)
{
    apr_status_t rv = APR_SUCCESS;

    *n = 0;
    while (rv == APR_SUCCESS && *n < size) {
        apr_interval_time_t left = deadline - apr_time_now();
        apr_size_t got = size - *n;

        if (left <= 0)
            return APR_TIMEUP;
        apr_file_pipe_timeout_set(out, left);
        rv = apr_file_read(out, buf + *n, &got);
        if (rv == APR_SUCCESS)
            *n += got;
    }
    return APR_STATUS_IS_EOF(rv) || rv == APR_SUCCESS ? APR_SUCCESS : rv;
}

/* Waits for the program to exit until the deadline, then kills it. */
static apr_status_t reap_until(apr_proc_t *proc, int *code,
                               apr_exit_why_e *why, apr_time_t deadline)
{
    while (apr_proc_wait(proc, code, why, APR_NOWAIT) == APR_CHILD_NOTDONE) {
        if (apr_time_now() >= deadline) {
            apr_proc_kill(proc, SIGKILL);
            apr_proc_wait(proc, code, why, APR_WAIT);
            return APR_TIMEUP;
        }
        apr_sleep(apr_time_from_msec(10));
    }
    return APR_SUCCESS;
}

static const char *run_pw_program(cmd_parms *cmd, const char *prog,
                                  const char **pw, apr_size_t *len)
{
    apr_pool_t *p = cmd->temp_pool;
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(PAL_EXEC_SECONDS);
    const char *const *argv;
    apr_procattr_t *attr;
    apr_proc_t proc;
    char buf[4096];
    apr_size_t n = 0;
    int code = 0;
    apr_exit_why_e why = APR_PROC_EXIT;
    apr_status_t rv, rv_read;

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
    rv_read = read_until(proc.out, buf, sizeof(buf), &n, deadline);
    apr_file_close(proc.out);
    rv = reap_until(&proc, &code, &why, rv_read == APR_TIMEUP
                                        ? apr_time_now() : deadline);
    if (rv == APR_SUCCESS && rv_read == APR_SUCCESS && why == APR_PROC_EXIT
        && code == 0)
        *pw = keep_first_line(cmd->pool, buf, n, len);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (rv == APR_TIMEUP || rv_read == APR_TIMEUP)
        return apr_psprintf(cmd->pool, "ProxyAuthLDAPBindPassword: exec:%s "
                            "did not finish within %d s", argv[0],
                            PAL_EXEC_SECONDS);
    if (rv_read != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "ProxyAuthLDAPBindPassword: cannot "
                            "read the output of exec:%s: %pm", argv[0],
                            &rv_read);
    if (why != APR_PROC_EXIT || code != 0)
        return apr_psprintf(cmd->pool, "ProxyAuthLDAPBindPassword: exec:%s "
                            "failed (%s %d)", argv[0],
                            why == APR_PROC_EXIT ? "exit" : "signal", code);
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

static const char *set_number(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *err = check_scope(cmd);
    int v;

    if (err)
        return err;
    if ((err = pal_value_number(cmd->pool, cmd->cmd->name, arg, &v)) != NULL)
        return err;
    *(int *)((char *)cfg + (apr_size_t)cmd->info) = v;
    return NULL;
}

static const char *add_group_attr(cmd_parms *cmd, void *cfg, const char *arg)
{
    pal_dir_conf *c = cfg;
    const char *err = check_scope(cmd);
    if (err)
        return err;
    if ((err = pal_value_attr_name(cmd->pool, arg)) != NULL)
        return err;
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

    if (err)
        return err;
    if ((err = pal_value_header_name(cmd->pool, arg)) != NULL)
        return err;
    c->forward_user = arg;
    return NULL;
}

static const char *set_keytab(cmd_parms *cmd, void *cfg, const char *arg)
{
    pal_dir_conf *c = cfg;
    const char *err = check_scope(cmd);

    if (err)
        return err;
    c->keytab = ap_server_root_relative(cmd->pool, arg);
    if (!c->keytab)
        return apr_psprintf(cmd->pool, "ProxyAuthKeytab: bad path \"%s\"",
                            arg);
    return NULL;
}

static const char *set_negotiate_principal(cmd_parms *cmd, void *cfg,
                                           const char *arg)
{
    pal_dir_conf *c = cfg;
    const char *err = check_scope(cmd);

    if (err)
        return err;
    /* Without a realm, MIT would add the default realm of krb5.conf: a
     * name that depends on a file the administrator did not mean. */
    if (!strchr(arg, '@') || arg[strlen(arg) - 1] == '@' || *arg == '@'
        || pal_has_control(arg))
        return apr_psprintf(cmd->pool, "ProxyAuthNegotiatePrincipal: "
                            "\"%s\" is not a principal with its realm "
                            "(HTTP/proxy.example.com@EXAMPLE.COM)", arg);
    c->negotiate_principal = arg;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Main-server cache directives                                         */
/* ------------------------------------------------------------------ */

static const char *set_cache(cmd_parms *cmd, void *cfg, const char *arg)
{
    pal_server_conf *c = pal_conf_server(cmd->server);
    const ap_socache_provider_t *prov;
    ap_socache_instance_t *probe = NULL;
    const char *err;
    (void)cfg;

    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY)) != NULL)
        return err;
    pal_value_cache_spec(cmd->pool, arg, &c->cache_provider, &c->cache_args);
    prov = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, c->cache_provider,
                              AP_SOCACHE_PROVIDER_VERSION);
    if (!prov)
        return apr_psprintf(cmd->pool, "ProxyAuthCache: unknown socache "
                            "provider \"%s\" (is mod_socache_%s loaded before "
                            "this line?)", c->cache_provider,
                            c->cache_provider);
    /* Parse the arguments now so that `apache2 -t` names a mistake. */
    err = prov->create(&probe, c->cache_args, cmd->temp_pool,
                       cmd->temp_pool);
    if (err)
        return apr_psprintf(cmd->pool, "ProxyAuthCache \"%s\": %s", arg, err);
    return NULL;
}

static apr_status_t release_secret(void *data)
{
    pal_secret_release(data);
    return APR_SUCCESS;
}

static const char *set_secret(cmd_parms *cmd, void *cfg, const char *arg)
{
    pal_server_conf *c = pal_conf_server(cmd->server);
    const char *err;
    (void)cfg;

    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY)) != NULL)
        return err;
    if (strncmp(arg, "file:", 5))
        return "ProxyAuthCacheSecret: use file:PATH (a secret does not "
               "belong in the configuration)";
    c->secret_file = ap_server_root_relative(cmd->pool, arg + 5);
    err = pal_secret_from_file(cmd->temp_pool, c->secret_file, &c->secret);
    if (err)
        return apr_psprintf(cmd->pool, "ProxyAuthCacheSecret: %s", err);
    apr_pool_cleanup_register(cmd->pool, &c->secret, release_secret,
                              apr_pool_cleanup_null);
    return NULL;
}

static int check_cache(server_rec *s)
{
    pal_server_conf *c = pal_conf_server(s);

    if (!c->cache_provider
        && !ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, "shmcb",
                               AP_SOCACHE_PROVIDER_VERSION)) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     "PAL0009: ProxyAuthCache defaults to shmcb, but "
                     "mod_socache_shmcb is not loaded: load it, or name "
                     "another provider with ProxyAuthCache");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (c->cache_provider && strcmp(c->cache_provider, "shmcb")
        && !c->secret_file) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     "PAL0010: ProxyAuthCache %s needs ProxyAuthCacheSecret "
                     "file:PATH (the same file on every proxy sharing the "
                     "cache)", c->cache_provider);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

#define DIR_FLAG(name, field, help) \
    AP_INIT_FLAG(name, set_flag, (void *)APR_OFFSETOF(pal_dir_conf, field), \
                 RSRC_CONF | ACCESS_CONF, help)
#define DIR_NUMBER(name, field, help) \
    AP_INIT_TAKE1(name, set_number, (void *)APR_OFFSETOF(pal_dir_conf, field), \
                  RSRC_CONF | ACCESS_CONF, help)
#define DIR_TAKE1(name, fn, help) \
    AP_INIT_TAKE1(name, fn, NULL, RSRC_CONF | ACCESS_CONF, help)

const command_rec pal_conf_cmds[] = {
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
    DIR_FLAG("ProxyAuthNegotiate", negotiate,
             "offer and accept Negotiate (Kerberos single sign-on)"),
    DIR_FLAG("ProxyAuthBasic", basic, "offer and accept Basic"),
    DIR_TAKE1("ProxyAuthKeytab", set_keytab,
              "keytab with the proxy's HTTP/<fqdn> keys"),
    DIR_TAKE1("ProxyAuthNegotiatePrincipal", set_negotiate_principal,
              "the acceptor principal (default: any key of the keytab)"),
    AP_INIT_TAKE1("ProxyAuthCache", set_cache, NULL, RSRC_CONF,
                  "socache provider[:args] for the credential cache"),
    AP_INIT_TAKE1("ProxyAuthCacheSecret", set_secret, NULL,
                  RSRC_CONF, "file:PATH with the secret of the keyed hashes"),
    { NULL }
};

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
        && !pal_conf_int(c->starttls, 0)
        && strcmp(APR_ARRAY_IDX(c->url->servers, 0, pal_ldap_server).host,
                  "127.0.0.1"))
        ap_log_error(APLOG_MARK, flags | APLOG_INFO, 0, s, "PAL0005: "
                     "passwords go to %s in clear text (neither ldaps:// nor "
                     "StartTLS)", c->url->text);
}

/* May the child processes' user (User, Group) do `want` (R_OK, X_OK)
 * on path by its mode bits? The parent checks as root, where access()
 * would always say yes. */
static int allowed_for(const struct stat *st, uid_t uid, const gid_t *gids,
                       int ngids, int want)
{
    mode_t u = want == R_OK ? S_IRUSR : S_IXUSR;
    mode_t g = want == R_OK ? S_IRGRP : S_IXGRP;
    mode_t o = want == R_OK ? S_IROTH : S_IXOTH;
    int i;

    if (uid == 0)
        return 1;
    if (st->st_uid == uid)
        return (st->st_mode & u) != 0;
    for (i = 0; i < ngids; i++)
        if (st->st_gid == gids[i])
            return (st->st_mode & g) != 0;
    return (st->st_mode & o) != 0;
}

static const char *children_cannot_read(apr_pool_t *p, const char *path)
{
    gid_t gids[64];
    int ngids = 64;
    struct stat st;
    char *dir = apr_pstrdup(p, path), *slash;

    if (stat(path, &st) || !S_ISREG(st.st_mode))
        return "is not a readable file";
    if (geteuid() != 0)
        return access(path, R_OK) ? "cannot be read" : NULL;
    gids[0] = ap_unixd_config.group_id;
    if (!ap_unixd_config.user_name
        || getgrouplist(ap_unixd_config.user_name, ap_unixd_config.group_id,
                        gids, &ngids) < 0)
        ngids = 1;
    if (!allowed_for(&st, ap_unixd_config.user_id, gids, ngids, R_OK))
        return apr_psprintf(p, "cannot be read by the child processes' "
                            "user %s", ap_unixd_config.user_name);
    while ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
        *slash = '\0';
        if (!stat(dir, &st) && !allowed_for(&st, ap_unixd_config.user_id,
                                            gids, ngids, X_OK))
            return apr_psprintf(p, "cannot be reached by the child "
                                "processes' user %s (folder %s)",
                                ap_unixd_config.user_name, dir);
    }
    return NULL;
}

static int check_negotiate(apr_pool_t *p, server_rec *s,
                           const pal_dir_conf *c, const char *where)
{
    const char *err = NULL;

    if (!pal_conf_negotiate(c)) {
        if (pal_conf_basic(c))
            return OK;
        err = "ProxyAuthBasic Off without ProxyAuthNegotiate On leaves no "
              "way to authenticate";
    }
    else if (!c->keytab)
        err = "ProxyAuthNegotiate On needs ProxyAuthKeytab";
    else if ((err = children_cannot_read(p, c->keytab)) != NULL)
        err = apr_psprintf(p, "ProxyAuthKeytab %s %s", c->keytab, err);
    else if ((err = pal_gss_check_keytab(p, c->keytab,
                                         c->negotiate_principal)) != NULL)
        err = apr_psprintf(p, "ProxyAuthKeytab %s: %s", c->keytab, err);
    if (!err)
        return OK;
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                 "PAL0020: %s in %s", err, where);
    return HTTP_INTERNAL_SERVER_ERROR;
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
    pal_conf_ldap_settings(c, &set);
    if ((err = pal_ldap_check_tls(p, &set)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     "PAL0003: ProxyAuthLDAPCACertificate / TLS settings in "
                     "%s: %s", where, err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return check_negotiate(p, s, c, where);
}

static int check_server(apr_pool_t *p, server_rec *s, pal_dir_conf *base,
                        module *proxy_mod, int startup)
{
    pal_dir_conf *own = ap_get_module_config(s->lookup_defaults,
                                             &proxyauth_ldap_module);
    pal_dir_conf *srv = base ? pal_conf_merge_dir(p, base, own) : own;
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
        rv = check_one(p, s, pal_conf_merge_dir(p, srv, d),
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

/* startup: at check_config, to stderr, with the errors; else the
 * warnings again to the error log (post_config). */
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

int pal_conf_check(apr_pool_t *ptemp, server_rec *s)
{
    if (check_all(ptemp, s, 1) != OK)
        return HTTP_INTERNAL_SERVER_ERROR;
    return check_cache(s);
}

void pal_conf_warn(apr_pool_t *ptemp, server_rec *s)
{
    check_all(ptemp, s, 0);
}
