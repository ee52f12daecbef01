/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_entry.h
 * @brief The credential cache's entries: keyed hashes, encoding with a
 *        MAC, and the session-window rules. Storage is httpd's socache,
 *        behind cache.c.
 *
 * No httpd headers: APR and OpenSSL's libcrypto only, so unit tests link it
 * alone. Nothing here stores or returns a password, nor an unkeyed hash of
 * one: every key and MAC is HMAC-SHA-256 under the secret.
 */
#ifndef PAL_ENTRY_H
#define PAL_ENTRY_H

#include <apr_pools.h>
#include <apr_time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PAL_SECRET_LEN 32
#define PAL_HASH_LEN   32
/** Encoders refuse strings longer than this, and more groups than this. */
#define PAL_ENTRY_MAX_STRING 4096
#define PAL_ENTRY_MAX_GROUPS 64

/** Kinds of entries; each kind has its own key space. */
typedef enum {
    PAL_KEY_POSITIVE = 'P', /**< context + user + password -> pal_pos_entry */
    PAL_KEY_NAME     = 'N', /**< context + typed user -> pal_name_entry */
    PAL_KEY_NEGATIVE = 'X', /**< context + account + password -> pal_neg_entry */
    PAL_KEY_REVOKED  = 'R', /**< context + account -> pal_revoked_entry */
    PAL_KEY_LOCK     = 'L', /**< directory + DN: the soft lock's account */
    PAL_KEY_TRY      = 'T', /**< DN + password: one distinct try */
    PAL_KEY_PRINCIPAL = 'K' /**< context + Kerberos principal ->
                                 pal_pos_entry (Negotiate's mapping) */
} pal_key_kind;

typedef struct {
    unsigned char bytes[PAL_SECRET_LEN];
    void *keyed;   /**< HMAC states keyed with bytes (entry.c), or NULL */
} pal_secret;

/** Make a random secret (apr_generate_random_bytes). */
int pal_secret_random(pal_secret *s);
/**
 * Hash the secret's padded blocks once (HMAC's inner and outer states), so
 * that every later MAC only copies them. Call it after the bytes are final
 * and before threads start; the states are read-only afterwards. Returns 1
 * on success; on failure hashing falls back to the slow path.
 * pal_secret_release() frees it.
 */
int pal_secret_prepare(pal_secret *s);
void pal_secret_release(pal_secret *s);
/** Load a secret from a file: its bytes are hashed (SHA-256) into the
 *  secret, so any file of at least 16 bytes works. Returns an error message
 *  or NULL. */
const char *pal_secret_from_file(apr_pool_t *p, const char *path,
                                 pal_secret *s);

/**
 * The directory context: HMAC over the length-prefixed fields (realm, every
 * part of the LDAP URL, bind DN, StripDomain, group attributes,
 * NestedGroups), in the order given. Two scopes whose fields differ in any
 * way get different contexts.
 */
void pal_cache_context(const pal_secret *sec, const char *const *fields,
                       int nfields, unsigned char ctx[PAL_HASH_LEN]);

/**
 * The raw HMAC(secret, kind || ctx || len(a) || a || (b != NULL) || len(b)
 * || b) behind every key; also the soft lock's account and try digests.
 * Returns 0 on a NULL string with a length or an OpenSSL failure.
 */
int pal_cache_digest(const pal_secret *sec, pal_key_kind kind,
                     const unsigned char ctx[PAL_HASH_LEN],
                     const char *a, apr_size_t alen,
                     const char *b, apr_size_t blen,
                     unsigned char md[PAL_HASH_LEN]);

/**
 * A socache id: one spread byte (the HMAC's last byte, 0 mapped to 0xff, so
 * shmcb uses all of its subcaches), the kind byte, then HMAC(secret, kind ||
 * ctx || len(a) || a || len(b) || b) in lower-case hex (66 bytes, NUL
 * terminated, no NUL inside). b may be NULL (length 0 and distinct from an
 * empty b).
 */
const char *pal_cache_key(apr_pool_t *p, const pal_secret *sec,
                          pal_key_kind kind,
                          const unsigned char ctx[PAL_HASH_LEN],
                          const char *a, apr_size_t alen,
                          const char *b, apr_size_t blen);

/** One group's membership, by normalised DN. */
typedef struct {
    const char *norm;
    int member;
} pal_group_result;

/** What a cached request needs: no LDAP at all on a hit. */
typedef struct {
    apr_time_t validated;     /**< when LDAP accepted the pair */
    apr_time_t last_used;     /**< last time the entry was written on use */
    const char *login;        /**< the directory's login value (r->user) */
    const char *dn;
    int ngroups;
    pal_group_result *groups;
} pal_pos_entry;

/** A rejected account + password. */
typedef struct {
    apr_time_t first_failure;
    apr_time_t last_failure;
    const char *reason;       /**< "bad password", "AD 775 ..." */
} pal_neg_entry;

/** Typed user name -> account. dn == "" records "no such entry". */
typedef struct {
    apr_time_t stored;
    const char *dn;
} pal_name_entry;

/** Per account: when its sessions were ended (AD account-state codes). */
typedef struct {
    apr_time_t revoked;       /**< sessions validated before this are void */
} pal_revoked_entry;

/**
 * Encoding: a version byte, the fields with explicit lengths, then
 * HMAC(secret, "V" || id || payload) over the socache id and the payload.
 * Decoders return 1 and fill *out (strings in p) only when the MAC and every
 * length check pass; anything else (truncated, wrong MAC, other version,
 * another id) returns 0 so the caller drops the entry.
 */
apr_size_t pal_pos_encode(apr_pool_t *p, const pal_secret *sec,
                          const char *id, const pal_pos_entry *e,
                          unsigned char **out);
int pal_pos_decode(apr_pool_t *p, const pal_secret *sec, const char *id,
                   const unsigned char *data, apr_size_t len,
                   pal_pos_entry *out);
apr_size_t pal_neg_encode(apr_pool_t *p, const pal_secret *sec,
                          const char *id, const pal_neg_entry *e,
                          unsigned char **out);
int pal_neg_decode(apr_pool_t *p, const pal_secret *sec, const char *id,
                   const unsigned char *data, apr_size_t len,
                   pal_neg_entry *out);
apr_size_t pal_name_encode(apr_pool_t *p, const pal_secret *sec,
                           const char *id, const pal_name_entry *e,
                           unsigned char **out);
int pal_name_decode(apr_pool_t *p, const pal_secret *sec, const char *id,
                    const unsigned char *data, apr_size_t len,
                    pal_name_entry *out);
apr_size_t pal_revoked_encode(apr_pool_t *p, const pal_secret *sec,
                              const char *id, const pal_revoked_entry *e,
                              unsigned char **out);
int pal_revoked_decode(apr_pool_t *p, const pal_secret *sec, const char *id,
                       const unsigned char *data, apr_size_t len,
                       pal_revoked_entry *out);

/** Session windows (seconds). */
typedef struct {
    int idle;        /**< ProxyAuthSessionIdle */
    int max;         /**< ProxyAuthSessionMax */
    int negative;    /**< ProxyAuthNegativeTTL, 0 = no negative cache */
    int max_bad;     /**< ProxyAuthMaxBadPasswords */
} pal_windows;

/**
 * A positive entry is usable at `now` when validated <= now (a validation
 * time in the future is ignored), now - validated < max, now - last_used <
 * idle, and validated >= revoked (0 = never revoked).
 */
int pal_pos_usable(const pal_pos_entry *e, const pal_windows *w,
                   apr_time_t now, apr_time_t revoked);
/** The last-use time is rewritten at most once per max(1 s, idle/10). */
int pal_pos_needs_touch(const pal_pos_entry *e, const pal_windows *w,
                        apr_time_t now);
/** When socache may drop the entry: min(last_used + idle,
 *  validated + max). */
apr_time_t pal_pos_expiry(const pal_pos_entry *e, const pal_windows *w);

/** A negative entry answers 407 while now - last_failure < negative and
 *  now - first_failure < max; last_failure <= now. */
int pal_neg_usable(const pal_neg_entry *e, const pal_windows *w,
                   apr_time_t now);
/** Renewed at most once per second. */
int pal_neg_needs_touch(const pal_neg_entry *e, apr_time_t now);
apr_time_t pal_neg_expiry(const pal_neg_entry *e, const pal_windows *w);

/** Constant-time comparison. */
int pal_memeq(const void *a, const void *b, apr_size_t len);

#ifdef __cplusplus
}
#endif
#endif /* PAL_ENTRY_H */
