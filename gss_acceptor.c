/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * The Kerberos acceptor (contract: include/pal_negotiate.h): MIT krb5's
 * GSSAPI against a keytab, no KDC round trip. MIT's library is
 * thread-safe; nothing here is shared between requests but a pending
 * context, which belongs to one client connection (only the thread serving
 * that connection's request touches it).
 *
 * Replays are caught by MIT's replay cache, which the acceptor credential
 * uses by default: one file per effective user (KRB5RCACHEDIR, else
 * /var/tmp), locked, so every child process sees the others' tokens.
 */
#include <string.h>

#include <apr_strings.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>

#include "pal_negotiate.h"

struct pal_gss_pending {
    gss_ctx_id_t ctx;
};

static apr_status_t pending_delete(void *data)
{
    pal_gss_pending *pg = data;
    OM_uint32 minor;

    if (pg->ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&minor, &pg->ctx, GSS_C_NO_BUFFER);
    pg->ctx = GSS_C_NO_CONTEXT;
    return APR_SUCCESS;
}

/* GSSAPI's text for one kind of status code, messages joined by "; ". */
static const char *status_text(apr_pool_t *p, OM_uint32 code, int type,
                               gss_OID mech)
{
    OM_uint32 more = 0, minor;
    const char *out = NULL;
    int guard = 0;

    do {
        gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
        if (GSS_ERROR(gss_display_status(&minor, code, type, mech, &more,
                                         &b)))
            break;
        out = out ? apr_pstrcat(p, out, "; ", apr_pstrmemdup(p, b.value,
                                                              b.length), NULL)
                  : apr_pstrmemdup(p, b.value, b.length);
        gss_release_buffer(&minor, &b);
    } while (more && ++guard < 8);
    return out;
}

/* The minor code says what went wrong (a replay, no key, clock skew).
 * MIT's mechanism glue maps every mechanism's minor codes into one space
 * and finds the mechanism back itself when none is named. */
static const char *gss_reason(apr_pool_t *p, const char *what,
                              OM_uint32 major, OM_uint32 minor)
{
    const char *maj = status_text(p, major, GSS_C_GSS_CODE, GSS_C_NO_OID);
    const char *min = minor ? status_text(p, minor, GSS_C_MECH_CODE,
                                          GSS_C_NO_OID)
                            : NULL;

    return apr_psprintf(p, "%s: %s%s%s%s", what, maj ? maj : "GSSAPI error",
                        min ? " (" : "", min ? min : "", min ? ")" : "");
}

static const char *name_text(apr_pool_t *p, gss_name_t name)
{
    gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
    OM_uint32 minor;
    const char *out;

    if (name == GSS_C_NO_NAME
        || GSS_ERROR(gss_display_name(&minor, name, &b, NULL)))
        return NULL;
    out = apr_pstrmemdup(p, b.value, b.length);
    gss_release_buffer(&minor, &b);
    return out;
}

/* "name@REALM": the realm follows the last '@' that is not escaped. */
static void split_principal(apr_pool_t *p, const char *full,
                            const char **name, const char **realm)
{
    const char *at = NULL, *s;

    for (s = full; s && *s; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            continue;
        }
        if (*s == '@')
            at = s;
    }
    if (!at) {
        *name = full;
        *realm = "";
        return;
    }
    *name = apr_pstrmemdup(p, full, (apr_size_t)(at - full));
    *realm = at + 1;
}

static OM_uint32 acquire(apr_pool_t *p, const char *keytab,
                         const char *principal, gss_cred_id_t *cred,
                         pal_gss_result *res)
{
    gss_key_value_element_desc el;
    gss_key_value_set_desc store;
    gss_name_t want = GSS_C_NO_NAME;
    OM_uint32 major, minor;

    el.key = "keytab";
    el.value = keytab;
    store.count = 1;
    store.elements = &el;
    if (principal) {
        gss_buffer_desc b;
        b.value = (void *)principal;
        b.length = strlen(principal);
        major = gss_import_name(&minor, &b, GSS_KRB5_NT_PRINCIPAL_NAME,
                                &want);
        if (GSS_ERROR(major)) {
            res->reason = gss_reason(p, "ProxyAuthNegotiatePrincipal",
                                     major, minor);
            return major;
        }
    }
    major = gss_acquire_cred_from(&minor, want, GSS_C_INDEFINITE,
                                  GSS_C_NO_OID_SET, GSS_C_ACCEPT, &store,
                                  cred, NULL, NULL);
    if (GSS_ERROR(major))
        res->reason = gss_reason(p, "the keytab's credentials", major,
                                 minor);
    if (want != GSS_C_NO_NAME)
        gss_release_name(&minor, &want);
    return major;
}

static void describe_success(apr_pool_t *p, gss_ctx_id_t ctx,
                             gss_name_t client, OM_uint32 time_rec,
                             pal_gss_result *res)
{
    gss_name_t target = GSS_C_NO_NAME;
    OM_uint32 minor;

    res->client = name_text(p, client);
    if (!res->client) {
        res->status = PAL_GSS_FAILED;
        res->reason = "GSSAPI gave no client name";
        return;
    }
    split_principal(p, res->client, &res->client_name, &res->client_realm);
    if (!GSS_ERROR(gss_inquire_context(&minor, ctx, NULL, &target, NULL,
                                       NULL, NULL, NULL, NULL))) {
        res->acceptor = name_text(p, target);
        gss_release_name(&minor, &target);
    }
    if (res->acceptor) {
        const char *ignored;
        split_principal(p, res->acceptor, &ignored, &res->acceptor_realm);
    }
    if (time_rec != GSS_C_INDEFINITE)
        res->ends = apr_time_now() + apr_time_from_sec(time_rec);
    res->status = PAL_GSS_OK;
}

static void keep_pending(apr_pool_t *cp, pal_gss_pending **pending,
                         gss_ctx_id_t ctx)
{
    if (!*pending) {
        *pending = apr_pcalloc(cp, sizeof(**pending));
        apr_pool_cleanup_register(cp, *pending, pending_delete,
                                  apr_pool_cleanup_null);
    }
    (*pending)->ctx = ctx;
}

void pal_gss_accept(apr_pool_t *rp, apr_pool_t *cp, const char *keytab,
                    const char *principal, pal_gss_pending **pending,
                    const unsigned char *tok, apr_size_t len,
                    pal_gss_result *res)
{
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
    gss_buffer_desc in, out = GSS_C_EMPTY_BUFFER;
    gss_name_t client = GSS_C_NO_NAME;
    OM_uint32 major, minor, ignored, flags = 0, time_rec = 0;

    memset(res, 0, sizeof(*res));
    res->status = PAL_GSS_FAILED;
    if (*pending) {
        /* This leg continues the connection's exchange, or nothing. */
        ctx = (*pending)->ctx;
        (*pending)->ctx = GSS_C_NO_CONTEXT;
    }
    if (GSS_ERROR(acquire(rp, keytab, principal, &cred, res))) {
        res->server_side = 1;
        if (ctx != GSS_C_NO_CONTEXT)
            gss_delete_sec_context(&ignored, &ctx, GSS_C_NO_BUFFER);
        return;
    }
    in.value = (void *)tok;
    in.length = len;
    major = gss_accept_sec_context(&minor, &ctx, cred, &in,
                                   GSS_C_NO_CHANNEL_BINDINGS, &client, NULL,
                                   &out, &flags, &time_rec, NULL);
    if (out.length) {
        res->out_token = apr_pmemdup(rp, out.value, out.length);
        res->out_len = out.length;
    }
    gss_release_buffer(&ignored, &out);
    if (major == GSS_S_CONTINUE_NEEDED) {
        res->status = PAL_GSS_CONTINUE;
        keep_pending(cp, pending, ctx);
        ctx = GSS_C_NO_CONTEXT;
    }
    else if (GSS_ERROR(major)) {
        res->reason = gss_reason(rp, "token refused", major, minor);
    }
    else {
        describe_success(rp, ctx, client, time_rec, res);
    }
    if (client != GSS_C_NO_NAME)
        gss_release_name(&ignored, &client);
    if (ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&ignored, &ctx, GSS_C_NO_BUFFER);
    gss_release_cred(&ignored, &cred);
}

/* ------------------------------------------------------------------ */
/* Start-up check                                                       */
/* ------------------------------------------------------------------ */

static const char *krb5_text(apr_pool_t *p, krb5_context k,
                             krb5_error_code code)
{
    const char *m = krb5_get_error_message(k, code);
    const char *out = apr_pstrdup(p, m ? m : "Kerberos error");
    krb5_free_error_message(k, m);
    return out;
}

/* Walks the keytab's entries; *found: an entry for `principal` (any entry
 * when NULL). */
static const char *scan_keytab(apr_pool_t *p, krb5_context k, krb5_keytab kt,
                               const char *principal, int *found, int *n)
{
    krb5_kt_cursor cur;
    krb5_keytab_entry ent;
    krb5_error_code rc;

    rc = krb5_kt_start_seq_get(k, kt, &cur);
    if (rc)
        return krb5_text(p, k, rc);
    while (!(rc = krb5_kt_next_entry(k, kt, &ent, &cur))) {
        char *name = NULL;
        ++*n;
        if (!principal)
            *found = 1;
        else if (!krb5_unparse_name(k, ent.principal, &name)) {
            if (!strcmp(name, principal))
                *found = 1;
            krb5_free_unparsed_name(k, name);
        }
        krb5_free_keytab_entry_contents(k, &ent);
    }
    krb5_kt_end_seq_get(k, kt, &cur);
    return rc == KRB5_KT_END ? NULL : krb5_text(p, k, rc);
}

const char *pal_gss_check_keytab(apr_pool_t *p, const char *keytab,
                                 const char *principal)
{
    krb5_context k;
    krb5_keytab kt;
    krb5_error_code rc;
    const char *err;
    int found = 0, n = 0;

    rc = krb5_init_context(&k);
    if (rc)
        return apr_psprintf(p, "cannot initialise Kerberos (error %d)",
                            (int)rc);
    rc = krb5_kt_resolve(k, apr_pstrcat(p, "FILE:", keytab, NULL), &kt);
    if (rc) {
        err = krb5_text(p, k, rc);
        krb5_free_context(k);
        return err;
    }
    err = scan_keytab(p, k, kt, principal, &found, &n);
    krb5_kt_close(k, kt);
    krb5_free_context(k);
    if (err)
        return err;
    if (n == 0)
        return "the keytab holds no key";
    if (!found)
        return apr_psprintf(p, "the keytab holds no key for %s", principal);
    return NULL;
}
