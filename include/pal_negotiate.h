/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_negotiate.h
 * @brief The Negotiate scheme (RFC 4559): the Proxy-Authorization value
 *        and what its token holds (negotiate_token.c), and the Kerberos
 *        acceptor behind a small interface (gss_acceptor.c).
 *
 * No httpd headers: APR, and MIT krb5's GSSAPI for the acceptor only, so
 * unit tests and fuzzers link the token parser alone (t/unit/).
 */
#ifndef PAL_NEGOTIATE_H
#define PAL_NEGOTIATE_H

#include <apr_pools.h>
#include <apr_time.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The largest token accepted, decoded. Windows' MaxTokenSize is 48000;
 *  a ticket with a large PAC (many groups) is a few tens of kilobytes. */
#define PAL_MAX_TOKEN_BYTES 65536

/** The scheme of a Proxy-Authorization value. */
typedef enum {
    PAL_SCHEME_NONE = 0,     /**< no value, or only white space */
    PAL_SCHEME_BASIC,
    PAL_SCHEME_NEGOTIATE,
    PAL_SCHEME_OTHER         /**< NTLM, Digest, Bearer, ... */
} pal_scheme;

pal_scheme pal_scheme_of(const char *value);

typedef enum {
    PAL_NEG_OK = 0,
    PAL_NEG_NOT_NEGOTIATE,   /**< another scheme */
    PAL_NEG_NO_TOKEN,        /**< "Negotiate" alone (or white space) */
    PAL_NEG_BAD_BASE64,      /**< not one strict base64 token */
    PAL_NEG_TOO_LONG         /**< more than PAL_MAX_TOKEN_BYTES decoded */
} pal_neg_status;

/** "Negotiate" (any case), 1*SP, one strict base64 token (as for Basic),
 *  optional trailing white space, nothing else. *tok is a pool copy. */
pal_neg_status pal_parse_negotiate(apr_pool_t *p, const char *value,
                                   const unsigned char **tok,
                                   apr_size_t *len);
const char *pal_neg_reason(pal_neg_status st);

/** What a decoded token is, read from its DER framing alone. */
typedef enum {
    PAL_TOKEN_UNKNOWN = 0,   /**< malformed, or another mechanism */
    PAL_TOKEN_KRB5,          /**< a raw Kerberos 5 AP-REQ (RFC 4121) */
    PAL_TOKEN_SPNEGO_KRB5,   /**< SPNEGO with Kerberos 5 first and its
                                  token (RFC 4178): one leg */
    PAL_TOKEN_SPNEGO_INIT,   /**< SPNEGO offering Kerberos 5 further down
                                  (or without a token): a multi-leg
                                  exchange */
    PAL_TOKEN_SPNEGO_NEXT,   /**< a later SPNEGO leg (negTokenResp) */
    PAL_TOKEN_NTLM           /**< NTLMSSP, raw or the mechanism SPNEGO
                                  offers first without Kerberos */
} pal_token_kind;

pal_token_kind pal_token_classify(const unsigned char *tok, apr_size_t len);
const char *pal_token_kind_name(pal_token_kind k);

/* ------------------------------------------------------------------ */
/* The acceptor (gss_acceptor.c)                                        */
/* ------------------------------------------------------------------ */

typedef enum {
    PAL_GSS_OK = 0,          /**< the client is authenticated */
    PAL_GSS_CONTINUE,        /**< another leg: send out_token with 407 */
    PAL_GSS_FAILED           /**< refused (bad, expired, replayed ticket,
                                  no key, clock skew, ...): 407 */
} pal_gss_status;

typedef struct {
    pal_gss_status status;
    const char *client;      /**< "name@REALM" as Kerberos spells it */
    const char *client_name; /**< the part before the realm */
    const char *client_realm;
    const char *acceptor;    /**< "HTTP/host@REALM" that accepted */
    const char *acceptor_realm;
    apr_time_t ends;         /**< the ticket's end time; 0: not known */
    const unsigned char *out_token;
    apr_size_t out_len;
    const char *reason;      /**< GSSAPI's words, for the error log */
    int server_side;         /**< the failure is the acceptor's own (the
                                  keytab), not the client's */
} pal_gss_result;

/** A context in the middle of a multi-leg exchange, kept with the client
 *  connection (its pool's cleanup deletes it). */
typedef struct pal_gss_pending pal_gss_pending;

/**
 * Accepts one token against the keytab (no KDC). `principal` NULL: any
 * key in the keytab. *pending: the connection's unfinished exchange (NULL
 * for none); it is continued, and replaced or cleared, here. Allocates in
 * rp, and a pending context in cp.
 */
void pal_gss_accept(apr_pool_t *rp, apr_pool_t *cp, const char *keytab,
                    const char *principal, pal_gss_pending **pending,
                    const unsigned char *tok, apr_size_t len,
                    pal_gss_result *res);

/** Start-up: the keytab opens and holds a key for `principal` (or any key
 *  when NULL). Returns an error message or NULL. */
const char *pal_gss_check_keytab(apr_pool_t *p, const char *keytab,
                                 const char *principal);

#ifdef __cplusplus
}
#endif
#endif /* PAL_NEGOTIATE_H */
