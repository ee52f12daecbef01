/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Unit tests for basic.c, ldap_strings.c and ad_codes.c. Prints TAP; exits
 * non-zero when any test fails. Headers are built from raw bytes with the
 * encoder below, so every case is exactly what a client would send.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "pal_basic.h"
#include "pal_ldap_strings.h"
#include "pal_ad.h"
#include "tap.h"
#include "b64_encode.h"

static apr_pool_t *pool;

static char *b64(const char *in, apr_size_t len)
{
    return b64_encode(pool, (const unsigned char *)in, len);
}

/* "Basic " + base64 of len raw bytes (which may hold NULs) */
static const char *basic_n(const char *raw, apr_size_t len)
{
    return apr_pstrcat(pool, "Basic ", b64(raw, len), NULL);
}

static const char *basic(const char *raw)
{
    return basic_n(raw, strlen(raw));
}

static const char *repeat(char c, apr_size_t n)
{
    char *s = apr_palloc(pool, n + 1);

    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static const char *status_name(pal_cred_status st)
{
    static const char *const names[] = {
        "OK", "MISSING", "NOT_BASIC", "BAD_BASE64", "NO_COLON", "EMPTY_USER",
        "EMPTY_PASSWORD", "USER_TOO_LONG", "PASSWORD_TOO_LONG",
        "USER_BAD_CHARS", "PASSWORD_NUL"
    };

    if ((unsigned)st < sizeof(names) / sizeof(names[0]))
        return names[st];
    return "?";
}

static void parse_is(const char *value, pal_cred_status want,
                     const char *name)
{
    pal_credentials cr;
    pal_cred_status st = pal_parse_basic(pool, value, &cr);

    ok(st == want, "%s -> %s", name, status_name(want));
    if (st != want)
        printf("#   got %s\n", status_name(st));
}

/* Parses and checks the decoded user and password byte for byte. */
static void parse_ok(const char *value, const char *user, apr_size_t user_len,
                     const char *pw, apr_size_t pw_len, const char *name)
{
    pal_credentials cr;
    pal_cred_status st;

    memset(&cr, 0, sizeof(cr));
    st = pal_parse_basic(pool, value, &cr);
    ok(st == PAL_CRED_OK && cr.user_len == user_len
           && cr.password_len == pw_len
           && memcmp(cr.user, user, user_len) == 0
           && cr.user[user_len] == '\0'
           && memcmp(cr.password, pw, pw_len) == 0
           && cr.password[pw_len] == '\0',
       "%s -> OK, exact user and password", name);
    if (st != PAL_CRED_OK)
        printf("#   got %s\n", status_name(st));
}

static void test_parse_header_syntax(void)
{
    parse_is(NULL, PAL_CRED_MISSING, "NULL header");
    parse_is("", PAL_CRED_MISSING, "empty header");
    parse_is("  \t ", PAL_CRED_MISSING, "white space only");
    parse_is("Digest username=\"alice\", realm=\"Proxy\"", PAL_CRED_NOT_BASIC,
             "Digest scheme");
    parse_is("Bearer YWxpY2U6c2VjcmV0", PAL_CRED_NOT_BASIC, "Bearer scheme");
    parse_is("Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEFoQMCAQ6i",
             PAL_CRED_NOT_BASIC, "Negotiate scheme");
    parse_is("Basicx YWxpY2U6c2VjcmV0", PAL_CRED_NOT_BASIC, "scheme Basicx");
    parse_is("Basic,YWxpY2U6c2VjcmV0", PAL_CRED_NOT_BASIC,
             "scheme glued to a comma");
    parse_is("Basic", PAL_CRED_BAD_BASE64, "Basic without a token");
    parse_is("Basic    ", PAL_CRED_BAD_BASE64, "Basic and spaces only");
    parse_is("BasicYWxpY2U6c2VjcmV0", PAL_CRED_NOT_BASIC,
             "no space after Basic");
    parse_is("Basic\tYWxpY2U6c2VjcmV0", PAL_CRED_BAD_BASE64,
             "tab instead of space after Basic");

    parse_ok("Basic YWxpY2U6c2VjcmV0", "alice", 5, "secret", 6,
             "Basic alice:secret");
    parse_ok(basic("alice:secret"), "alice", 5, "secret", 6,
             "encoder agrees with the literal header");
    parse_ok("basic YWxpY2U6c2VjcmV0", "alice", 5, "secret", 6,
             "lower-case basic");
    parse_ok("BASIC YWxpY2U6c2VjcmV0", "alice", 5, "secret", 6,
             "upper-case BASIC");
    parse_ok("bAsIc YWxpY2U6c2VjcmV0", "alice", 5, "secret", 6,
             "mixed-case bAsIc");
    parse_ok("Basic    YWxpY2U6c2VjcmV0", "alice", 5, "secret", 6,
             "several spaces after Basic");
    parse_ok("Basic YWxpY2U6c2VjcmV0 \t  ", "alice", 5, "secret", 6,
             "trailing spaces and tab");
    parse_ok(" \tBasic YWxpY2U6c2VjcmV0", "alice", 5, "secret", 6,
             "leading white space");

    parse_is("Basic YWxpY2U6c2VjcmV0 extra", PAL_CRED_BAD_BASE64,
             "extra token after the credentials");
    parse_is("Basic YWxpY2U6eA==, Basic Ym9iOnk=", PAL_CRED_BAD_BASE64,
             "two merged Proxy-Authorization headers");
    parse_is("Basic YWxpY2U6eA== Ym9iOnk=", PAL_CRED_BAD_BASE64,
             "two tokens");
    parse_is("Basic YWxpY2U6c2VjcmV0,", PAL_CRED_BAD_BASE64,
             "trailing comma");
    parse_is("Basic YWxpY2U6c2VjcmV0\r\n", PAL_CRED_BAD_BASE64,
             "trailing CR LF");
    parse_is("Basic realm=\"x\"", PAL_CRED_BAD_BASE64,
             "auth-param instead of token68");
}

static void test_parse_base64(void)
{
    parse_is("Basic YWxp*2U6c2VjcmV0", PAL_CRED_BAD_BASE64,
             "'*' in base64");
    parse_is("Basic YWxpY2U6c2VjcmV0-_", PAL_CRED_BAD_BASE64,
             "base64url alphabet");
    parse_is("Basic YWxpY2U6c2Vj\xc3\xa9mV0", PAL_CRED_BAD_BASE64,
             "non-ASCII byte in base64");
    parse_is("Basic YWxpY2U6eA=", PAL_CRED_BAD_BASE64,
             "length not a multiple of 4");
    parse_is("Basic YWxpY2U6eA", PAL_CRED_BAD_BASE64, "missing padding");
    parse_is("Basic YWxpY2U6eA===", PAL_CRED_BAD_BASE64, "three '='");
    parse_is("Basic YW=pY2U6eA==", PAL_CRED_BAD_BASE64, "'=' in the middle");
    parse_is("Basic YWxpY2U6eA=A", PAL_CRED_BAD_BASE64,
             "'=' before the last character");
    parse_is("Basic YWE6YQ==YWE6YQ==", PAL_CRED_BAD_BASE64,
             "two padded blocks concatenated");
    parse_is("Basic ====", PAL_CRED_BAD_BASE64, "padding only");
    parse_is("Basic YQ", PAL_CRED_BAD_BASE64, "YQ without padding");
    parse_is("Basic YQ==", PAL_CRED_NO_COLON,
             "YQ== decodes (to \"a\", which has no colon)");
    parse_is("Basic YR==", PAL_CRED_BAD_BASE64,
             "YR== non-canonical (unused bits set)");
    parse_is("Basic YWI=", PAL_CRED_NO_COLON, "YWI= decodes (\"ab\")");
    parse_is("Basic YWJ=", PAL_CRED_BAD_BASE64,
             "YWJ= non-canonical (unused bits set)");
    parse_ok("Basic YTpi", "a", 1, "b", 1, "no padding needed (a:b)");
    parse_ok("Basic YTpiYw==", "a", 1, "bc", 2, "two '=' (a:bc)");
    parse_ok("Basic YTpiY2Q=", "a", 1, "bcd", 3, "one '=' (a:bcd)");
    parse_ok("Basic dX46cPv/vw==", "u~", 2, "p\xfb\xff\xbf", 4,
             "'+' and '/' in the alphabet");
}

static void test_parse_credentials(void)
{
    const char *u256 = repeat('u', 256), *u257 = repeat('u', 257);
    const char *p1024 = repeat('p', 1024), *p1025 = repeat('p', 1025);

    parse_is(basic("alice"), PAL_CRED_NO_COLON, "no colon");
    parse_is(basic(":secret"), PAL_CRED_EMPTY_USER, "empty user");
    parse_is(basic("alice:"), PAL_CRED_EMPTY_PASSWORD, "empty password");
    parse_is(basic(":"), PAL_CRED_EMPTY_USER, "lone colon: user checked first");
    parse_ok(basic("alice:pa:ss:"), "alice", 5, "pa:ss:", 6,
             "password containing ':' (split at the first one)");
    parse_ok(basic("alice::"), "alice", 5, ":", 1, "password is ':'");

    parse_ok(basic(apr_pstrcat(pool, u256, ":pw", NULL)), u256, 256, "pw", 2,
             "256-byte user");
    parse_is(basic(apr_pstrcat(pool, u257, ":pw", NULL)),
             PAL_CRED_USER_TOO_LONG, "257-byte user");
    parse_ok(basic(apr_pstrcat(pool, "alice:", p1024, NULL)), "alice", 5,
             p1024, 1024, "1024-byte password");
    parse_is(basic(apr_pstrcat(pool, "alice:", p1025, NULL)),
             PAL_CRED_PASSWORD_TOO_LONG, "1025-byte password");
    parse_ok(basic(apr_pstrcat(pool, repeat('a', 128), "\xc3\xbc", ":pw",
                               NULL)),
             apr_pstrcat(pool, repeat('a', 128), "\xc3\xbc", NULL), 130,
             "pw", 2, "user length counts bytes, not characters");

    parse_is(basic_n("alice:se\0cret", 13), PAL_CRED_PASSWORD_NUL,
             "NUL in password");
    parse_is(basic_n("alice:\0", 7), PAL_CRED_PASSWORD_NUL,
             "password is a single NUL");
    parse_is(basic_n("al\0ice:secret", 13), PAL_CRED_USER_BAD_CHARS,
             "NUL in user");
    parse_is(basic_n("al\0:ce:secret", 13), PAL_CRED_USER_BAD_CHARS,
             "NUL in user before the first colon");

    /* the documented check order, with two faults at a time */
    parse_is(basic(apr_pstrcat(pool, u257, ":", NULL)),
             PAL_CRED_EMPTY_PASSWORD, "order: empty password before long user");
    parse_is(basic(apr_pstrcat(pool, u257, ":", p1025, NULL)),
             PAL_CRED_USER_TOO_LONG, "order: long user before long password");
    parse_is(basic(apr_pstrcat(pool, " bad:", p1025, NULL)),
             PAL_CRED_PASSWORD_TOO_LONG,
             "order: long password before bad user characters");
    parse_is(basic_n(" bad:x\0y", 8), PAL_CRED_USER_BAD_CHARS,
             "order: bad user characters before NUL in password");
}

static void test_parse_charset(void)
{
    parse_ok(basic("j\xc3\xbcrgen:p\xc3\xa4sswo\xcc\x88rd"), "j\xc3\xbcrgen",
             7, "p\xc3\xa4sswo\xcc\x88rd", 11,
             "UTF-8 user and password (combining diaeresis)");
    parse_ok(basic("j\xc3\xbcrgen:p\xc3\xa4ssw\xc3\xb6rd"), "j\xc3\xbcrgen",
             7, "p\xc3\xa4ssw\xc3\xb6rd", 10, "jürgen / pässwörd");
    parse_ok(basic("\xe7\x94\xb0\xe4\xb8\xad:\xf0\x9f\x94\x91"),
             "\xe7\x94\xb0\xe4\xb8\xad", 6, "\xf0\x9f\x94\x91", 4,
             "CJK user, 4-byte UTF-8 password");
    parse_ok(basic("alice:\xff\xfe\xc0\xaf"), "alice", 5, "\xff\xfe\xc0\xaf",
             4, "invalid UTF-8 in the password is allowed");
    parse_ok(basic("alice:\x01\x7f\t "), "alice", 5, "\x01\x7f\t ", 4,
             "control characters and spaces in the password");
    parse_ok(basic("alice smith:pw"), "alice smith", 11, "pw", 2,
             "inner space in the user");
    parse_ok(basic("EXAMPLE\\alice@example.test:pw"),
             "EXAMPLE\\alice@example.test", 26, "pw", 2,
             "domain parts are kept by the parser");

    parse_is(basic("j\xc0\xbcrgen:pw"), PAL_CRED_USER_BAD_CHARS,
             "overlong 2-byte user");
    parse_is(basic("\xc0\xaf:pw"), PAL_CRED_USER_BAD_CHARS,
             "overlong '/' (C0 AF)");
    parse_is(basic("\xe0\x80\xaf:pw"), PAL_CRED_USER_BAD_CHARS,
             "overlong 3-byte '/'");
    parse_is(basic("\xf0\x80\x80\xaf:pw"), PAL_CRED_USER_BAD_CHARS,
             "overlong 4-byte '/'");
    parse_is(basic("a\xed\xa0\x80:pw"), PAL_CRED_USER_BAD_CHARS,
             "UTF-16 surrogate U+D800");
    parse_is(basic("a\xed\xbf\xbf:pw"), PAL_CRED_USER_BAD_CHARS,
             "UTF-16 surrogate U+DFFF");
    parse_is(basic("j\xc3:pw"), PAL_CRED_USER_BAD_CHARS,
             "truncated sequence before the colon");
    parse_is(basic("j\xe2\x82:pw"), PAL_CRED_USER_BAD_CHARS,
             "truncated 3-byte sequence");
    parse_is(basic("\xf4\x90\x80\x80:pw"), PAL_CRED_USER_BAD_CHARS,
             "above U+10FFFF");
    parse_is(basic("\x80lice:pw"), PAL_CRED_USER_BAD_CHARS,
             "lone continuation byte");
    parse_is(basic("\xfe\xff:pw"), PAL_CRED_USER_BAD_CHARS, "bytes FE FF");

    parse_is(basic(" alice:pw"), PAL_CRED_USER_BAD_CHARS, "leading space");
    parse_is(basic("alice :pw"), PAL_CRED_USER_BAD_CHARS, "trailing space");
    parse_is(basic("\talice:pw"), PAL_CRED_USER_BAD_CHARS, "leading tab");
    parse_is(basic("alice\t:pw"), PAL_CRED_USER_BAD_CHARS, "trailing tab");
    parse_is(basic("al\tice:pw"), PAL_CRED_USER_BAD_CHARS, "inner tab");
    parse_is(basic("alice\r\nX-Evil: 1:pw"), PAL_CRED_USER_BAD_CHARS,
             "CR LF in the user");
    parse_is(basic("al\x1b[31mice:pw"), PAL_CRED_USER_BAD_CHARS,
             "ESC in the user");
    parse_is(basic("alice\x7f:pw"), PAL_CRED_USER_BAD_CHARS, "DEL in the user");
    parse_is(basic("alice\xc2\x85:pw"), PAL_CRED_USER_BAD_CHARS,
             "C1 control U+0085 in the user");
    parse_ok(basic("alice\xc2\xa0x:pw"), "alice\xc2\xa0x", 8, "pw", 2,
             "U+00A0 inside the user is accepted");
}

static void test_reasons(void)
{
    int st, distinct = 1, nonempty = 1;

    for (st = PAL_CRED_OK; st <= PAL_CRED_PASSWORD_NUL; st++) {
        const char *r = pal_cred_reason((pal_cred_status)st);
        int other;

        if (r == NULL || *r == '\0')
            nonempty = 0;
        for (other = PAL_CRED_OK; other < st && r != NULL; other++)
            if (strcmp(r, pal_cred_reason((pal_cred_status)other)) == 0)
                distinct = 0;
    }
    ok(nonempty, "every status has a reason");
    ok(distinct, "reasons are distinct");
    ok(strstr(pal_cred_reason(PAL_CRED_USER_TOO_LONG), "256") != NULL,
       "too-long reason names the limit");
}

static void test_utf8(void)
{
    ok(pal_utf8_valid("", 0), "utf8: empty string");
    ok(pal_utf8_valid(NULL, 0), "utf8: NULL, length 0");
    ok(pal_utf8_valid("\xf4\x8f\xbf\xbf", 4), "utf8: U+10FFFF");
    ok(pal_utf8_valid("\xef\xbf\xbf", 3), "utf8: U+FFFF");
    ok(pal_utf8_valid("\xed\x9f\xbf", 3), "utf8: U+D7FF");
    ok(pal_utf8_valid("\xee\x80\x80", 3), "utf8: U+E000");
    ok(pal_utf8_valid("\xc2\x80", 2), "utf8: U+0080");
    ok(pal_utf8_valid("a\0b", 3), "utf8: NUL is well-formed");
    ok(!pal_utf8_valid("\xc1\xbf", 2), "utf8: overlong C1 BF");
    ok(!pal_utf8_valid("\xe0\x9f\xbf", 3), "utf8: overlong E0 9F BF");
    ok(!pal_utf8_valid("\xf0\x8f\xbf\xbf", 4), "utf8: overlong F0 8F");
    ok(!pal_utf8_valid("\xf5\x80\x80\x80", 4), "utf8: F5 lead byte");
    ok(!pal_utf8_valid("\xe2\x82\xac", 2),
       "utf8: length cuts a valid sequence");
    ok(!pal_utf8_valid("\xe2\x28\xa1", 3), "utf8: bad second byte");
    ok(!pal_utf8_valid("\xf0\x9f\x94", 3), "utf8: truncated 4-byte");
}

static void test_filter_escape(void)
{
    is_str(pal_ldap_filter_escape(pool, "alice", 5), "alice",
           "filter: plain name unchanged");
    is_str(pal_ldap_filter_escape(pool, "*", 1), "\\2a", "filter: '*'");
    is_str(pal_ldap_filter_escape(pool, "a*b(c)d\\e", 9),
           "a\\2ab\\28c\\29d\\5ce", "filter: * ( ) \\");
    is_str(pal_ldap_filter_escape(pool, "*)(uid=*))(|(uid=*", 18),
           "\\2a\\29\\28uid=\\2a\\29\\29\\28|\\28uid=\\2a",
           "filter: injection attempt");
    is_str(pal_ldap_filter_escape(pool, "a\0b", 3), "a\\00b",
           "filter: NUL within the length");
    is_str(pal_ldap_filter_escape(pool, "j\xc3\xbcrgen", 7), "j\\c3\\bcrgen",
           "filter: non-ASCII as lower-case hex");
    is_str(pal_ldap_filter_escape(pool, "\x01\x1f\x20\x7e", 4),
           "\\01\\1f ~", "filter: control bytes");
    is_str(pal_ldap_filter_escape(pool, "alice", 3), "ali",
           "filter: length is honoured");
    is_str(pal_ldap_filter_escape(pool, "", 0), "", "filter: empty");
    is_str(pal_ldap_filter_escape(pool, NULL, 0), "", "filter: NULL");
}

static void test_strip_domain(void)
{
    const char *plain = "alice";

    is_str(pal_strip_domain(pool, "EXAMPLE\\alice", 0), "alice",
           "strip: EXAMPLE\\alice");
    is_str(pal_strip_domain(pool, "EXAMPLE\\alice", 1), "alice",
           "strip: EXAMPLE\\alice, keep_at");
    is_str(pal_strip_domain(pool, "alice@example.test", 0), "alice",
           "strip: alice@example.test");
    is_str(pal_strip_domain(pool, "alice@example.test", 1),
           "alice@example.test", "strip: alice@example.test, keep_at");
    is_str(pal_strip_domain(pool, "EXAMPLE\\alice@example.test", 0), "alice",
           "strip: EXAMPLE\\alice@example.test");
    is_str(pal_strip_domain(pool, "EXAMPLE\\alice@example.test", 1),
           "alice@example.test", "strip: EXAMPLE\\alice@example.test, keep_at");
    is_str(pal_strip_domain(pool, "\\", 0), "\\", "strip: lone backslash");
    is_str(pal_strip_domain(pool, "@x", 0), "@x", "strip: @x");
    is_str(pal_strip_domain(pool, "EXAMPLE\\", 0), "EXAMPLE\\",
           "strip: EXAMPLE\\ (nothing after)");
    is_str(pal_strip_domain(pool, "a\"b@c@example.test", 0), "a\"b@c",
           "strip: last '@' starts the domain");
    is_str(pal_strip_domain(pool, "D\\E\\alice", 0), "E\\alice",
           "strip: first '\\' ends the domain");
    ok(pal_strip_domain(pool, plain, 0) == plain,
       "strip: nothing to strip returns the input");
    ok(pal_strip_domain(pool, NULL, 0) == NULL, "strip: NULL");
}

static void test_ad(void)
{
    is_str(pal_ad_subcode(pool, "80090308: LdapErr: DSID-0C0903A9, comment: "
                                "AcceptSecurityContext error, data 52e, v1db1"),
           "52e", "ad: data 52e");
    is_str(pal_ad_subcode(pool, "80090308: LdapErr: DSID-0C09042A, comment: "
                                "AcceptSecurityContext error, data 775, v4563"),
           "775", "ad: data 775");
    is_str(pal_ad_subcode(pool, "80090308: LdapErr: DSID-0C09044E, comment: "
                                "AcceptSecurityContext error, data 532, v2580"),
           "532", "ad: data 532");
    is_str(pal_ad_subcode(pool, "80090308: LdapErr: DSID-0C0903A9, comment: "
                                "AcceptSecurityContext error, data 52E, v1db1"),
           "52e", "ad: upper-case code is lowered");
    is_str(pal_ad_subcode(pool, "... data 773"), "773", "ad: code at the end");
    is_str(pal_ad_subcode(pool, "data 701 v1db1"), "701",
           "ad: code followed by a space");
    is_str(pal_ad_subcode(pool, "data 8009030C, x"), "8009030c",
           "ad: 8 hex digits");
    ok(pal_ad_subcode(pool, "data 123456789, x") == NULL, "ad: 9 digits");
    ok(pal_ad_subcode(pool, "00002082: LdapErr: DSID-0C090A8A, comment: "
                            "In order to perform this operation a successful "
                            "bind must be completed on the connection., v4563")
           == NULL,
       "ad: no data");
    ok(pal_ad_subcode(pool, "Invalid credentials") == NULL,
       "ad: plain message");
    ok(pal_ad_subcode(pool, "data ") == NULL, "ad: data and nothing");
    ok(pal_ad_subcode(pool, "data 52g, x") == NULL, "ad: non-hex digit");
    ok(pal_ad_subcode(pool, "metadata 52e, x") == NULL,
       "ad: 'data' inside a word");
    is_str(pal_ad_subcode(pool, "data x, data 533, v1"), "533",
           "ad: second occurrence");
    ok(pal_ad_subcode(pool, "") == NULL, "ad: empty");
    ok(pal_ad_subcode(pool, NULL) == NULL, "ad: NULL");

    is_str(pal_ad_subcode_name("52e"), "bad password or unknown user",
           "ad name: 52e");
    is_str(pal_ad_subcode_name("775"), "account locked out", "ad name: 775");
    is_str(pal_ad_subcode_name("533"), "account disabled", "ad name: 533");
    is_str(pal_ad_subcode_name("999"), "unknown AD sub-code",
           "ad name: unknown");
    is_str(pal_ad_subcode_name(NULL), "unknown AD sub-code", "ad name: NULL");
    ok(pal_ad_subcode_is_account_state("775")
           && pal_ad_subcode_is_account_state("530")
           && pal_ad_subcode_is_account_state("531")
           && pal_ad_subcode_is_account_state("532")
           && pal_ad_subcode_is_account_state("533")
           && pal_ad_subcode_is_account_state("701")
           && pal_ad_subcode_is_account_state("773"),
       "ad state: 530 531 532 533 701 773 775");
    ok(!pal_ad_subcode_is_account_state("52e")
           && !pal_ad_subcode_is_account_state("525")
           && !pal_ad_subcode_is_account_state("568")
           && !pal_ad_subcode_is_account_state("999")
           && !pal_ad_subcode_is_account_state(NULL),
       "ad state: not 52e 525 568, unknown, NULL");
    ok(pal_ad_subcode_ends_sessions("532") && pal_ad_subcode_ends_sessions("533")
           && pal_ad_subcode_ends_sessions("701")
           && pal_ad_subcode_ends_sessions("773")
           && pal_ad_subcode_ends_sessions("775"),
       "ad ends sessions: 532 533 701 773 775");
    ok(!pal_ad_subcode_ends_sessions("530") && !pal_ad_subcode_ends_sessions("531")
           && !pal_ad_subcode_ends_sessions("52e")
           && !pal_ad_subcode_ends_sessions(NULL),
       "ad ends sessions: not 530 531 52e NULL");
    ok(pal_ad_subcode_counts_as_bad_password("775")
           && !pal_ad_subcode_counts_as_bad_password("533")
           && !pal_ad_subcode_counts_as_bad_password("52e")
           && !pal_ad_subcode_counts_as_bad_password(NULL),
       "ad counts as a wrong password: 775 only");
}

static void test_log_escape(void)
{
    is_str(pal_log_escape(pool, "00002020: Operation unavailable"),
           "00002020: Operation unavailable", "log escape: plain text kept");
    is_str(pal_log_escape(pool, "a\nb\rc"), "a\\x0ab\\x0dc",
           "log escape: CR LF cannot start a new log line");
    is_str(pal_log_escape(pool, "say \"x\" \\ y"), "say \\\"x\\\" \\\\ y",
           "log escape: quote and backslash");
    is_str(pal_log_escape(pool, "\x1b[31m\x7f\xc3\xa9"),
           "\\x1b[31m\\x7f\\xc3\\xa9",
           "log escape: ESC, DEL and non-ASCII bytes");
    is_str(pal_log_escape(pool, NULL), "", "log escape: NULL");
}

static void test_quote(void)
{
    is_str(pal_quote_string(pool, "Proxy"), "\"Proxy\"", "quote: plain");
    is_str(pal_quote_string(pool, "say \"hi\""), "\"say \\\"hi\\\"\"",
           "quote: '\"'");
    is_str(pal_quote_string(pool, "C:\\proxy"), "\"C:\\\\proxy\"",
           "quote: '\\'");
    is_str(pal_quote_string(pool, "a\r\nSet-Cookie: x\x7f\tb"),
           "\"aSet-Cookie: xb\"", "quote: control characters dropped");
    is_str(pal_quote_string(pool, "Pr\xc3\xb6xy"), "\"Pr\xc3\xb6xy\"",
           "quote: UTF-8 kept");
    is_str(pal_quote_string(pool, ""), "\"\"", "quote: empty");
    is_str(pal_quote_string(pool, NULL), "\"\"", "quote: NULL");
}

static void dn_is(const char *dn, const char *want, const char *name)
{
    is_str(pal_dn_normalize(pool, dn), want, name);
}

static void test_dn(void)
{
    static const char *const samples[] = {
        "CN=Admins , ou=Groups,DC=Example, dc=test",
        "cn=Smith\\, John+UID=js,dc=x", "cn=\" lead, \\\"q\\\" trail \"",
        "cn=#04024869,o=x", "cn=\\#x", "cn=a\\0Db", "cn= ", "cn=\\ \\ ",
        "cn=J\\C3\\BCrgen;o=\\3C\\3E", "cn=a=b", "OID.2.5.4.3=X",
    };
    apr_size_t i;
    int stable = 1;

    dn_is("CN=Admins , ou=Groups,DC=Example, dc=test",
          "cn=admins,ou=groups,dc=example,dc=test", "dn: header example");
    dn_is("  cn = Admins ,  dc = test  ", "cn=admins,dc=test",
          "dn: spaces around '=' and ','");
    dn_is("cn=Domain Users,dc=x", "cn=domain users,dc=x",
          "dn: inner space kept");
    dn_is("cn=Smith\\, John,dc=x", "cn=smith\\, john,dc=x", "dn: \\,");
    dn_is("cn=Smith\\2C John,dc=x", "cn=smith\\, john,dc=x",
          "dn: \\2C equals \\,");
    dn_is("cn=Smith\\2c John,dc=x", "cn=smith\\, john,dc=x",
          "dn: \\2c equals \\,");
    dn_is("cn=\"Smith, John\",dc=x", "cn=smith\\, john,dc=x",
          "dn: quoted value equals \\,");
    dn_is("cn=\"a\\\"b\" , dc=x", "cn=a\\\"b,dc=x", "dn: escape inside quotes");
    dn_is("CN=A + UID=B,dc=x", "cn=a+uid=b,dc=x", "dn: multi-valued RDN");
    dn_is("uid=B+cn=A,dc=x", "cn=a+uid=b,dc=x",
          "dn: multi-valued RDN order does not matter");
    dn_is("cn=a\\+b,dc=x", "cn=a\\+b,dc=x", "dn: escaped '+' stays in value");
    dn_is("cn=\\ lead,dc=x", "cn=\\ lead,dc=x", "dn: escaped leading space");
    dn_is("cn=trail\\ ,dc=x", "cn=trail\\ ,dc=x",
          "dn: escaped trailing space");
    dn_is("cn=trail\\20 ,dc=x", "cn=trail\\ ,dc=x", "dn: \\20 trailing");
    dn_is("cn=\\#1,dc=x", "cn=\\#1,dc=x", "dn: escaped leading '#'");
    dn_is("cn=#04024869,dc=x", "cn=#04024869,dc=x", "dn: BER hexstring");
    dn_is("cn=#0402AB69 ,dc=x", "cn=#0402ab69,dc=x",
          "dn: hexstring lower-cased");
    dn_is("cn=J\\C3\\BCrgen,dc=x", "cn=j\xc3\xbcrgen,dc=x",
          "dn: hex-escaped UTF-8 equals raw UTF-8");
    dn_is("cn=J\xc3\x9crgen,dc=x", "cn=j\xc3\x9crgen,dc=x",
          "dn: non-ASCII is not case-folded");
    dn_is("cn=a;dc=x", "cn=a,dc=x", "dn: ';' separator (RFC 2253)");
    dn_is("cn=a=b,dc=x", "cn=a=b,dc=x", "dn: '=' inside a value");
    dn_is("cn=,dc=x", "cn=,dc=x", "dn: empty value");
    dn_is("2.5.4.3=Admins,DC=x", "2.5.4.3=admins,dc=x", "dn: numeric OID");
    dn_is("", "", "dn: empty DN");
    dn_is("   ", "", "dn: white space only");

    dn_is("cn=\"unbalanced,dc=x", NULL, "dn: unbalanced quote");
    dn_is("cn=a\"b,dc=x", NULL, "dn: quote inside a value");
    dn_is("cn=\"a\" b,dc=x", NULL, "dn: text after a closing quote");
    dn_is("cn=a\\", NULL, "dn: trailing lone backslash");
    dn_is("cn=a\\4", NULL, "dn: half a hex pair at the end");
    dn_is("cn=a\\4x,dc=x", NULL, "dn: half a hex pair");
    dn_is("cn=a,dc", NULL, "dn: component without '='");
    dn_is("admins", NULL, "dn: no '=' at all");
    dn_is("cn=a,,dc=x", NULL, "dn: empty RDN");
    dn_is("cn=a,", NULL, "dn: trailing ','");
    dn_is(",cn=a", NULL, "dn: leading ','");
    dn_is("cn=a+,dc=x", NULL, "dn: empty AVA after '+'");
    dn_is("=a,dc=x", NULL, "dn: empty type");
    dn_is("c n=a", NULL, "dn: space inside the type");
    dn_is("-cn=a", NULL, "dn: type starting with '-'");
    dn_is("c*=a", NULL, "dn: '*' in the type");
    ok(pal_dn_normalize(pool, NULL) == NULL, "dn: NULL");

    for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        const char *once = pal_dn_normalize(pool, samples[i]);
        const char *twice = once ? pal_dn_normalize(pool, once) : NULL;

        if (once == NULL || twice == NULL || strcmp(once, twice) != 0) {
            stable = 0;
            diag_str("not stable", samples[i]);
        }
    }
    ok(stable, "dn: normalising a normalised DN changes nothing");
}

/* RFC 4515 section 4's examples and AD's, then mistakes with where the
 * checker stops. */
static void test_filter_check(void)
{
    static const char *const good[] = {
        "(objectClass=*)", "(&(objectClass=user)(objectCategory=person))",
        "(!(userAccountControl:1.2.840.113556.1.4.803:=2))", "(cn=Babs J*)",
        "(o=univ*of*mich*)", "(seeAlso=)", "(cn:caseExactMatch:=Fred)",
        "(cn:=Betty Rubble)", "(sn:dn:2.4.6.8.10:=Barney Rubble)",
        "(o:dn:=Ace Industry)", "(:1.2.3:=Wilma Flintstone)",
        "(:DN:2.4.6.8.10:=Dino)", "(cn=*\\2a*)",
        "(o=Parens R Us \\28for all your parenthetical needs\\29)",
        "(|(a=1)(b=2)(c=3))", "(memberOf:1.2.840.113556.1.4.1941:=CN=G,DC=x)",
        "(cn;lang-en=x)", "(2.5.4.3=x)", "(employeeType>=a)", "(cn~=x)",
        "(uid=j\xc3\xbcrgen)", NULL
    };
    static const struct { const char *f; apr_size_t at; } bad[] = {
        { "", 0 }, { "cn=a", 0 }, { "(", 1 }, { "()", 1 }, { "(cn)", 3 },
        { "(cn=a", 5 }, { "(cn=a))", 6 }, { "(&)", 2 }, { "(!)", 2 },
        { "(cn=a(b)", 5 }, { "(cn=\\2)", 4 }, { "(cn=\\zz)", 4 },
        { "(cn>=a*)", 6 }, { "(:=x)", 1 }, { "(1.=x)", 3 }, { "(1=x)", 2 },
        { "(cn=a)(cn=b)", 6 }, { "(&(a=1)", 7 }, { "(cn:x=y)", 5 },
        { "((a=1))", 1 }, { NULL, 0 }
    };
    char deep[200];
    apr_size_t at = 99, i;

    for (i = 0; good[i]; i++)
        ok(pal_ldap_filter_check(good[i], &at) == NULL, "filter %s is good",
           good[i]);
    for (i = 0; bad[i].f; i++)
        ok(pal_ldap_filter_check(bad[i].f, &at) != NULL && at == bad[i].at,
           "filter '%s' is refused at %lu (stopped at %lu)", bad[i].f,
           (unsigned long)bad[i].at, (unsigned long)at);
    memset(deep, 0, sizeof(deep));
    for (i = 0; i < 40; i++)
        strcat(deep, "(!");
    strcat(deep, "(a=1)");
    for (i = 0; i < 40; i++)
        strcat(deep, ")");
    ok(pal_ldap_filter_check(deep, NULL) != NULL, "41 levels deep: refused");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);

    test_parse_header_syntax();
    test_parse_base64();
    test_parse_credentials();
    test_parse_charset();
    test_reasons();
    test_utf8();
    test_filter_escape();
    test_strip_domain();
    test_ad();
    test_log_escape();
    test_quote();
    test_dn();
    test_filter_check();

    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
