/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * The `Require proxy-ldap-*` providers (contract: include/pal_require.h):
 * what mod_authnz_ldap's ldap-group, ldap-attribute, ldap-filter, ldap-user
 * and ldap-dn do, for the forward proxy. Parsing records the directory
 * conditions in the scope's configuration; checking only reads what
 * authentication resolved, or compares r->user and the DN.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_request.h"
#include "ap_provider.h"
#include "mod_auth.h"

#include "apr_strings.h"

#include "pal_conf_values.h"
#include "pal_ldap_strings.h"
#include "pal_require.h"

APLOG_USE_MODULE(proxyauth_ldap);

#define NOTE_RESULT "proxyauth-result"

/* ------------------------------------------------------------------ */
/* Parsing                                                              */
/* ------------------------------------------------------------------ */

/* The conditions of a line join the scope's list, so check_authn resolves
 * them in the same LDAP session as the authentication. */
static void record(cmd_parms *cmd, const apr_array_header_t *want)
{
    pal_dir_conf *c = pal_conf_of_section(cmd);

    if (!c)
        return;
    if (!c->conds)
        c->conds = apr_array_make(cmd->pool, 2, sizeof(pal_cond));
    apr_array_cat(c->conds, want);
}

static const char *group_parse(cmd_parms *cmd, const char *line,
                               const void **parsed)
{
    apr_array_header_t *want = apr_array_make(cmd->pool, 2, sizeof(pal_cond));
    const char *w;

    while (*(w = ap_getword_conf(cmd->pool, &line))) {
        pal_cond *g = apr_array_push(want);
        g->q.kind = PAL_COND_GROUP;
        g->q.a = w;
        g->norm = pal_dn_normalize(cmd->pool, w);
        if (!g->norm)
            return apr_psprintf(cmd->pool, "Require proxy-ldap-group: \"%s\" "
                                "is not a DN", w);
    }
    if (!want->nelts)
        return "Require proxy-ldap-group needs at least one group DN";
    record(cmd, want);
    *parsed = want;
    return NULL;
}

/* attr=value [attr=value ...]; the value is compared by the server, so
 * it is kept as written (escaped for the filter when it is used). */
static const char *attribute_parse(cmd_parms *cmd, const char *line,
                                   const void **parsed)
{
    apr_array_header_t *want = apr_array_make(cmd->pool, 2, sizeof(pal_cond));
    const char *w, *err;

    while (*(w = ap_getword_conf(cmd->pool, &line))) {
        const char *eq = strchr(w, '=');
        pal_cond *q = apr_array_push(want);
        char *type;

        if (!eq || eq == w || !eq[1])
            return apr_psprintf(cmd->pool, "Require proxy-ldap-attribute: "
                                "\"%s\" is not attribute=value", w);
        type = apr_pstrmemdup(cmd->pool, w, (apr_size_t)(eq - w));
        if ((err = pal_value_attr_name(cmd->pool, type)) != NULL)
            return apr_psprintf(cmd->pool, "Require proxy-ldap-attribute: "
                                "%s", err);
        q->q.kind = PAL_COND_ATTRIBUTE;
        q->q.a = type;
        q->q.b = eq + 1;
        ap_str_tolower(type);
        q->norm = apr_pstrcat(cmd->pool, "(attribute) ", type, "=", eq + 1,
                              NULL);
    }
    if (!want->nelts)
        return "Require proxy-ldap-attribute needs at least one "
               "attribute=value";
    record(cmd, want);
    *parsed = want;
    return NULL;
}

/* One filter, checked against RFC 4515 here: a typo is a startup error
 * naming the line, not a 503 on every request. */
static const char *filter_parse(cmd_parms *cmd, const char *line,
                                const void **parsed)
{
    apr_array_header_t *want = apr_array_make(cmd->pool, 1, sizeof(pal_cond));
    const char *f = ap_getword_conf(cmd->pool, &line);
    const char *why;
    pal_cond *q;

    if (!*f)
        return "Require proxy-ldap-filter needs a filter, e.g. "
               "\"(employeeType=staff)\"";
    if (*ap_getword_conf(cmd->pool, &line))
        return "Require proxy-ldap-filter takes one filter: quote it, and "
               "combine several with (&...) or (|...)";
    if ((why = pal_ldap_filter_problem(cmd->pool, f)) != NULL)
        return apr_psprintf(cmd->pool, "Require proxy-ldap-filter \"%s\": "
                            "not an RFC 4515 filter: %s", f, why);
    q = apr_array_push(want);
    q->q.kind = PAL_COND_FILTER;
    q->q.a = f;
    q->norm = apr_pstrcat(cmd->pool, "(filter) ", f, NULL);
    record(cmd, want);
    *parsed = want;
    return NULL;
}

static const char *names_parse(cmd_parms *cmd, const char *line,
                               const void **parsed)
{
    apr_array_header_t *names = apr_array_make(cmd->pool, 2,
                                               sizeof(const char *));
    const char *w;

    while (*(w = ap_getword_conf(cmd->pool, &line)))
        APR_ARRAY_PUSH(names, const char *) = w;
    if (!names->nelts)
        return "Require proxy-ldap-user needs at least one user name";
    *parsed = names;
    return NULL;
}

static const char *dn_parse(cmd_parms *cmd, const char *line,
                            const void **parsed)
{
    const char *w = ap_getword_conf(cmd->pool, &line);
    const char *norm = pal_dn_normalize(cmd->pool, w);

    if (!*w || !norm)
        return apr_psprintf(cmd->pool, "Require proxy-ldap-dn: \"%s\" is "
                            "not a DN", w);
    if (*ap_getword_conf(cmd->pool, &line))
        return "Require proxy-ldap-dn takes one DN (quote it)";
    *parsed = norm;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Checking                                                             */
/* ------------------------------------------------------------------ */

static const pal_req *req_of(request_rec *r)
{
    return ap_get_module_config(r->request_config, &proxyauth_ldap_module);
}

static int result_of(const pal_req *rq, const char *norm, int *met)
{
    int i;

    for (i = 0; rq && rq->conds && i < rq->conds->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(rq->conds, i, pal_cond).norm, norm)) {
            *met = rq->member[i];
            return 1;
        }
    }
    return 0;
}

static authz_status denied(request_rec *r, const char *what)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "PAL0302: user \"%s\" does "
                  "not meet Require proxy-ldap-%s",
                  ap_escape_logitem(r->pool, r->user), what);
    apr_table_setn(r->notes, NOTE_RESULT, "denied");
    return AUTHZ_DENIED;
}

/* Any condition of the line met grants, as mod_authnz_ldap does. */
static authz_status conds_check(request_rec *r, const void *parsed,
                                const char *what)
{
    const apr_array_header_t *want = parsed;
    const pal_req *rq = req_of(r);
    int i, met;

    if (!r->user)
        return AUTHZ_DENIED_NO_USER;
    for (i = 0; i < want->nelts; i++) {
        const pal_cond *q = &APR_ARRAY_IDX(want, i, pal_cond);
        if (!result_of(rq, q->norm, &met)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PAL0301: Require "
                          "proxy-ldap-%s \"%s\" was not resolved: is "
                          "ProxyAuthLDAP On in this scope?", what, q->q.a);
            continue;
        }
        if (met)
            return AUTHZ_GRANTED;
    }
    return denied(r, what);
}

static authz_status group_check(request_rec *r, const char *line,
                                const void *parsed)
{
    (void)line;
    return conds_check(r, parsed, "group");
}

static authz_status attribute_check(request_rec *r, const char *line,
                                    const void *parsed)
{
    (void)line;
    return conds_check(r, parsed, "attribute");
}

static authz_status filter_check(request_rec *r, const char *line,
                                 const void *parsed)
{
    (void)line;
    return conds_check(r, parsed, "filter");
}

/* r->user is the entry's login value; uid and sAMAccountName compare
 * without regard to case, in ASCII as the directories do for them. */
static authz_status user_check(request_rec *r, const char *line,
                               const void *parsed)
{
    const apr_array_header_t *names = parsed;
    int i;
    (void)line;

    if (!r->user || !req_of(r))
        return AUTHZ_DENIED_NO_USER;
    for (i = 0; i < names->nelts; i++)
        if (!strcasecmp(APR_ARRAY_IDX(names, i, const char *), r->user))
            return AUTHZ_GRANTED;
    return denied(r, "user");
}

static authz_status dn_check(request_rec *r, const char *line,
                             const void *parsed)
{
    const pal_req *rq = req_of(r);
    const char *have;
    (void)line;

    if (!r->user || !rq)
        return AUTHZ_DENIED_NO_USER;
    have = rq->dn && *rq->dn ? pal_dn_normalize(r->pool, rq->dn) : NULL;
    if (have && !strcmp(have, (const char *)parsed))
        return AUTHZ_GRANTED;
    return denied(r, "dn");
}

static const authz_provider group_provider = { &group_check, &group_parse };
static const authz_provider attribute_provider = { &attribute_check,
                                                   &attribute_parse };
static const authz_provider filter_provider = { &filter_check,
                                                &filter_parse };
static const authz_provider user_provider = { &user_check, &names_parse };
static const authz_provider dn_provider = { &dn_check, &dn_parse };

void pal_require_register(apr_pool_t *p)
{
    static const struct {
        const char *name;
        const authz_provider *prov;
    } all[] = {
        { "proxy-ldap-group", &group_provider },
        { "proxy-ldap-attribute", &attribute_provider },
        { "proxy-ldap-filter", &filter_provider },
        { "proxy-ldap-user", &user_provider },
        { "proxy-ldap-dn", &dn_provider },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, all[i].name,
                                  AUTHZ_PROVIDER_VERSION, all[i].prov,
                                  AP_AUTH_INTERNAL_PER_CONF);
}

apr_array_header_t *pal_require_ldap_conds(apr_pool_t *p,
                                           const pal_dir_conf *c)
{
    apr_array_header_t *out;
    int i;

    if (!c->conds || !c->conds->nelts)
        return NULL;
    out = apr_array_make(p, c->conds->nelts, sizeof(pal_ldap_cond));
    for (i = 0; i < c->conds->nelts; i++)
        APR_ARRAY_PUSH(out, pal_ldap_cond) =
            APR_ARRAY_IDX(c->conds, i, pal_cond).q;
    return out;
}
