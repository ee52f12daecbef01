/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_ad.h
 * @brief Active Directory bind diagnostics: the sub-code of a failed bind
 *        and what it means for the account.
 *
 * No httpd headers: APR only, so unit tests and fuzzers link it alone.
 */
#ifndef PAL_AD_H
#define PAL_AD_H

#include <apr_pools.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Active Directory bind diagnostics: find "data XXX" (XXX hex digits, 1 to
 * 8 of them) in a server's diagnostic message, e.g.
 * "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error,
 * data 52e, v1db1". Returns the lower-case hex code ("52e") in the pool, or
 * NULL when there is none.
 */
const char *pal_ad_subcode(apr_pool_t *p, const char *diagnostic);

/** Name of an AD sub-code ("52e" -> "bad password or unknown user",
 *  "775" -> "account locked out", ...); "unknown AD sub-code" otherwise.
 *  Known: 525 52e 530 531 532 533 568 701 773 775. */
const char *pal_ad_subcode_name(const char *code);

/** Non-zero for the AD sub-codes that describe the account's state rather
 *  than the password: 530 531 532 533 701 773 775. */
int pal_ad_subcode_is_account_state(const char *code);

/** Non-zero for the sub-codes that end the DN's cached sessions and
 *  connection identities: 532 533 701 773 775 (530 and 531 are about the
 *  hour or the workstation, not the account). */
int pal_ad_subcode_ends_sessions(const char *code);

/** Non-zero for the sub-codes that count toward ProxyAuthMaxBadPasswords
 *  like a wrong password: 775 (AD answers it to any password of a locked
 *  account). */
int pal_ad_subcode_counts_as_bad_password(const char *code);


#ifdef __cplusplus
}
#endif
#endif /* PAL_AD_H */
