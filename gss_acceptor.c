/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * The Kerberos acceptor (contract: include/pal_negotiate.h): MIT krb5's
 * GSSAPI against a keytab, no KDC round trip. MIT's library is
 * thread-safe. Shared between requests: the acceptor credentials of this
 * process (below, under cred_lock); a pending context belongs to one
 * client connection (only the thread serving that connection's request
 * touches it).
 *
 * Replays are caught by MIT's replay cache, which the acceptor credential
 * uses by default: one file per effective user (KRB5RCACHEDIR, else
 * /var/tmp), locked, so every child process sees the others' tokens.
 */
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include <apr_strings.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>

#include "pal_negotiate.h"

static const char *krb5_text(apr_pool_t *p, krb5_context k,
                             krb5_error_code code);

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

/* ------------------------------------------------------------------ */
/* Acceptor credentials, one per keytab and principal and process       */
/* ------------------------------------------------------------------ */

/* Acquiring a credential from a keytab file for every request cost two
 * thirds of an accept (measured: 212 us per accept against 67 us with one
 * credential per process over an in-memory copy of the keytab). MIT's
 * credentials are thread-safe, so each process keeps one per keytab and
 * principal, over a MEMORY: copy of the keytab, and makes a new one when
 * the file changes (a new key version after a password change): a stat()
 * per accept. Guarded by cred_lock: accepts hold it shared while they use
 * a credential; loading one holds it exclusive, so the credential it
 * replaces is released only when no accept uses it any more. */
#define PAL_GSS_SLOTS 16

typedef struct {
    char *keytab;            /* malloc'd: lives as long as the process */
    char *principal;
    struct stat seen;        /* the file when it was copied */
    krb5_context kctx;       /* of the copy's handle */
    krb5_keytab mem;         /* the copy: MIT frees a memory keytab when
                                its last handle is closed */
    gss_cred_id_t cred;
} cred_slot;

static pthread_rwlock_t cred_lock = PTHREAD_RWLOCK_INITIALIZER;
static cred_slot cred_slots[PAL_GSS_SLOTS];
static int cred_generation;

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev
           && a->st_size == b->st_size
           && a->st_mtim.tv_sec == b->st_mtim.tv_sec
           && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The keytab's entries into the MEMORY: keytab *dst. */
static krb5_error_code copy_keytab(krb5_context k, const char *file,
                                   const char *mem, krb5_keytab *dst)
{
    krb5_keytab src;
    krb5_kt_cursor cur;
    krb5_keytab_entry ent;
    krb5_error_code rc;

    if ((rc = krb5_kt_resolve(k, file, &src)) != 0)
        return rc;
    if ((rc = krb5_kt_resolve(k, mem, dst)) == 0
        && (rc = krb5_kt_start_seq_get(k, src, &cur)) == 0) {
        while (!(rc = krb5_kt_next_entry(k, src, &ent, &cur))) {
            rc = krb5_kt_add_entry(k, *dst, &ent);
            krb5_free_keytab_entry_contents(k, &ent);
            if (rc)
                break;
        }
        krb5_kt_end_seq_get(k, src, &cur);
        if (rc == KRB5_KT_END)
            rc = 0;
    }
    krb5_kt_close(k, src);
    return rc;
}

static OM_uint32 acquire_from(apr_pool_t *p, const char *ktname,
                              const char *principal, gss_cred_id_t *cred,
                              pal_gss_result *res)
{
    gss_key_value_element_desc el;
    gss_key_value_set_desc store;
    gss_name_t want = GSS_C_NO_NAME;
    OM_uint32 major, minor, ignored;

    el.key = "keytab";
    el.value = ktname;
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
        gss_release_name(&ignored, &want);
    return major;
}

static void slot_clear(cred_slot *slot)
{
    OM_uint32 ignored;

    if (slot->cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&ignored, &slot->cred);
    if (slot->mem)
        krb5_kt_close(slot->kctx, slot->mem);
    if (slot->kctx)
        krb5_free_context(slot->kctx);
    slot->cred = GSS_C_NO_CREDENTIAL;
    slot->mem = NULL;
    slot->kctx = NULL;
}

/* A fresh credential over a fresh in-memory copy of the keytab, in place
 * of the slot's old ones. Under cred_lock, exclusive. */
static OM_uint32 load_slot(apr_pool_t *p, cred_slot *slot,
                           const struct stat *st, pal_gss_result *res)
{
    krb5_context k;
    krb5_keytab mem = NULL;
    krb5_error_code rc;
    char name[64];
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    OM_uint32 major = GSS_S_FAILURE;

    apr_snprintf(name, sizeof(name), "MEMORY:mod_proxyauth_ldap_%d",
                 ++cred_generation);
    if ((rc = krb5_init_context(&k)) != 0) {
        res->reason = "cannot initialise Kerberos";
        return GSS_S_FAILURE;
    }
    rc = copy_keytab(k, apr_pstrcat(p, "FILE:", slot->keytab, NULL), name,
                     &mem);
    if (rc)
        res->reason = apr_psprintf(p, "the keytab %s: %s", slot->keytab,
                                   krb5_text(p, k, rc));
    else
        major = acquire_from(p, name, slot->principal, &cred, res);
    if (GSS_ERROR(major)) {
        if (mem)
            krb5_kt_close(k, mem);
        krb5_free_context(k);
        return major;
    }
    slot_clear(slot);
    slot->kctx = k;
    slot->mem = mem;
    slot->cred = cred;
    slot->seen = *st;
    return GSS_S_COMPLETE;
}

static cred_slot *find_slot(const char *keytab, const char *principal,
                            int create)
{
    int i;

    for (i = 0; i < PAL_GSS_SLOTS; i++) {
        cred_slot *s = &cred_slots[i];
        if (!s->keytab) {
            if (!create)
                return NULL;
            s->keytab = strdup(keytab);
            s->principal = principal ? strdup(principal) : NULL;
            if (!s->keytab || (principal && !s->principal))
                return NULL;
            return s;
        }
        if (!strcmp(s->keytab, keytab)
            && !s->principal == !principal
            && (!principal || !strcmp(s->principal, principal)))
            return s;
    }
    return NULL;
}

/* Returns with cred_lock held shared and *cred usable (release it with
 * pthread_rwlock_unlock), or an error with the lock not held. */
static OM_uint32 acquire(apr_pool_t *p, const char *keytab,
                         const char *principal, gss_cred_id_t *cred,
                         pal_gss_result *res)
{
    struct stat st;
    cred_slot *slot;
    OM_uint32 major = GSS_S_COMPLETE;
    int round;

    if (stat(keytab, &st)) {
        res->reason = apr_psprintf(p, "the keytab %s cannot be read",
                                   keytab);
        return GSS_S_FAILURE;
    }
    for (round = 0; round < 2; round++) {
        pthread_rwlock_rdlock(&cred_lock);
        slot = find_slot(keytab, principal, 0);
        if (slot && slot->cred != GSS_C_NO_CREDENTIAL
            && same_file(&slot->seen, &st)) {
            *cred = slot->cred;
            return GSS_S_COMPLETE;
        }
        pthread_rwlock_unlock(&cred_lock);
        if (round)
            break;
        /* Another thread may have loaded it meanwhile: look again. */
        pthread_rwlock_wrlock(&cred_lock);
        slot = find_slot(keytab, principal, 1);
        if (!slot) {
            res->reason = "too many distinct ProxyAuthKeytab and "
                          "ProxyAuthNegotiatePrincipal pairs (16 at most)";
            major = GSS_S_FAILURE;
        }
        else if (slot->cred == GSS_C_NO_CREDENTIAL
                 || !same_file(&slot->seen, &st))
            major = load_slot(p, slot, &st, res);
        pthread_rwlock_unlock(&cred_lock);
        if (GSS_ERROR(major))
            return major;
    }
    /* The file changed again between the load and the look: use what was
     * loaded the next time. */
    res->reason = apr_psprintf(p, "the keytab %s changed while it was read",
                               keytab);
    return GSS_S_FAILURE;
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
    /* cred_lock is held shared from here to the end of the accept. */
    in.value = (void *)tok;
    in.length = len;
    major = gss_accept_sec_context(&minor, &ctx, cred, &in,
                                   GSS_C_NO_CHANNEL_BINDINGS, &client, NULL,
                                   &out, &flags, &time_rec, NULL);
    pthread_rwlock_unlock(&cred_lock);
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
