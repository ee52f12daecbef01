/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Active Directory's bind diagnostics (contract: include/pal_ad.h): the
 * sub-code in "... AcceptSecurityContext error, data 775, v1db1" says why
 * a bind failed, and some codes describe the account rather than the
 * password.
 */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "pal_ad.h"
#include "pal_ascii.h"

const char *pal_ad_subcode(apr_pool_t *p, const char *diagnostic)
{
    const char *s;

    if (diagnostic == NULL)
        return NULL;
    for (s = strstr(diagnostic, "data "); s != NULL;
         s = strstr(s + 1, "data ")) {
        const char *code = s + 5;
        apr_size_t n = 0, i;
        char *out;

        /* "metadata 52e" is not AD's "data 52e" */
        if (s > diagnostic && apr_isalnum(s[-1]))
            continue;
        while (n < 9 && apr_isxdigit(code[n]))
            n++;
        if (n == 0 || n > 8)
            continue;
        if (code[n] != '\0' && code[n] != ',' && code[n] != ' ')
            continue;
        out = apr_palloc(p, n + 1);
        for (i = 0; i < n; i++)
            out[i] = pal_ascii_lower(code[i]);
        out[n] = '\0';
        return out;
    }
    return NULL;
}

static const struct {
    const char *code;
    const char *name;
    int account_state;
    /* 530 and 531 pass (another hour, another workstation); these say
     * the account itself cannot be used now. */
    int ends_sessions;
} ad_subcodes[] = {
    { "525", "user not found", 0, 0 },
    { "52e", "bad password or unknown user", 0, 0 },
    { "530", "logon not permitted at this time (logon hours)", 1, 0 },
    { "531", "logon not permitted at this workstation", 1, 0 },
    { "532", "password expired", 1, 1 },
    { "533", "account disabled", 1, 1 },
    { "568", "too many security identifiers (groups) in the token", 0, 0 },
    { "701", "account expired", 1, 1 },
    { "773", "user must change password", 1, 1 },
    { "775", "account locked out", 1, 1 },
};

static int ad_subcode_index(const char *code)
{
    apr_size_t i;

    if (code == NULL)
        return -1;
    for (i = 0; i < sizeof(ad_subcodes) / sizeof(ad_subcodes[0]); i++)
        if (strlen(code) == 3 && pal_ascii_caseeq(code, ad_subcodes[i].code, 3))
            return (int)i;
    return -1;
}

const char *pal_ad_subcode_name(const char *code)
{
    int i = ad_subcode_index(code);

    return i < 0 ? "unknown AD sub-code" : ad_subcodes[i].name;
}

int pal_ad_subcode_is_account_state(const char *code)
{
    int i = ad_subcode_index(code);

    return i < 0 ? 0 : ad_subcodes[i].account_state;
}

int pal_ad_subcode_ends_sessions(const char *code)
{
    int i = ad_subcode_index(code);

    return i < 0 ? 0 : ad_subcodes[i].ends_sessions;
}

int pal_ad_subcode_counts_as_bad_password(const char *code)
{
    /* AD answers 775 to any password of a locked account: counting it keeps
     * the proxy from adding binds to a lockout. */
    return code != NULL && strcmp(code, "775") == 0;
}
