/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Unit tests for conf_values.c (include/pal_conf_values.h). Prints TAP;
 * exits non-zero when any test fails. The error texts are compared whole:
 * they are what `apache2 -t` prints, and t/70config.t and
 * t/75config_cache.t look for them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "pal_conf_values.h"
#include "tap.h"

static apr_pool_t *pool;

#define MIB (1024 * 1024)

/* ---- numbers ------------------------------------------------------------ */

static void number_ok(const char *directive, const char *arg, int want)
{
    int v = -12345;
    const char *err = pal_value_number(pool, directive, arg, &v);

    ok(err == NULL && v == want, "%s \"%s\" is %d", directive, arg, want);
    if (err != NULL)
        diag_str("error", err);
}

static void number_bad(const char *directive, const char *arg, long min,
                       long max)
{
    int v = -12345;
    const char *err = pal_value_number(pool, directive, arg, &v);
    const char *want = apr_psprintf(pool, "%s: \"%s\" is not a number from "
                                    "%ld to %ld", directive, arg, min, max);

    is_str(err, want, apr_psprintf(pool, "%s \"%s\" refused", directive,
                                   arg));
    ok(v == -12345, "%s \"%s\": nothing stored", directive, arg);
}

static void test_bounds(void)
{
    static const struct {
        const char *name;
        long min, max;
    } want[] = {
        { "ProxyAuthLDAPTimeout", 1, 300 },
        { "ProxyAuthLDAPPoolSize", 1, 1024 },
        { "ProxyAuthSessionIdle", 1, 86400 },
        { "ProxyAuthSessionMax", 1, 604800 },
        { "ProxyAuthNegativeTTL", 0, 86400 },
        { "ProxyAuthMaxBadPasswords", 0, 1000 },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const pal_number_bounds *b = pal_value_number_bounds(want[i].name);

        ok(b != NULL && b->min == want[i].min && b->max == want[i].max,
           "bounds of %s: %ld to %ld", want[i].name, want[i].min,
           want[i].max);
        number_ok(want[i].name, apr_ltoa(pool, want[i].min),
                  (int)want[i].min);
        number_ok(want[i].name, apr_ltoa(pool, want[i].max),
                  (int)want[i].max);
        number_bad(want[i].name, apr_ltoa(pool, want[i].min - 1),
                   want[i].min, want[i].max);
        number_bad(want[i].name, apr_ltoa(pool, want[i].max + 1),
                   want[i].min, want[i].max);
    }
    ok(pal_value_number_bounds("ProxyAuthRealm") == NULL,
       "bounds: none for a directive that takes no number");
    ok(pal_value_number_bounds("proxyauthldaptimeout") == NULL,
       "bounds: the name is matched exactly (httpd passes its own spelling)");
}

static void test_numbers(void)
{
    number_bad("ProxyAuthLDAPTimeout", "abc", 1, 300);
    number_bad("ProxyAuthLDAPTimeout", "", 1, 300);
    number_bad("ProxyAuthLDAPTimeout", "-3", 1, 300);
    number_bad("ProxyAuthLDAPPoolSize", "8x", 1, 1024);
    number_bad("ProxyAuthLDAPPoolSize", "0x10", 1, 1024);
    number_bad("ProxyAuthLDAPPoolSize", "8 ", 1, 1024);
    number_bad("ProxyAuthSessionMax", "99999999999999999999999", 1, 604800);
    number_bad("ProxyAuthSessionMax", "-99999999999999999999999", 1, 604800);
    number_bad("ProxyAuthSessionMax", "4294967297", 1, 604800);
    number_bad("ProxyAuthRealm", "5", 0, 0);
    number_ok("ProxyAuthLDAPTimeout", "007", 7);
    number_ok("ProxyAuthLDAPTimeout", "+7", 7);
    /* strtol skips leading white space; httpd only passes it when quoted */
    number_ok("ProxyAuthLDAPTimeout", " 7", 7);
    number_ok("ProxyAuthNegativeTTL", "0", 0);
    number_ok("ProxyAuthNegativeTTL", "-0", 0);
}

/* ---- names -------------------------------------------------------------- */

static void test_realm(void)
{
    const char *err = "ProxyAuthRealm: the realm must be 1 to 256 characters";
    char buf[PAL_MAX_REALM_BYTES + 2];

    memset(buf, 'r', sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    is_str(pal_value_realm(buf), err, "realm: 257 bytes refused");
    buf[sizeof(buf) - 2] = '\0';
    is_str(pal_value_realm(buf), NULL, "realm: 256 bytes accepted");
    is_str(pal_value_realm(""), err, "realm: empty refused");
    is_str(pal_value_realm("P"), NULL, "realm: one byte accepted");
    is_str(pal_value_realm("Corp \"proxy\" \xc3\xa9"), NULL,
           "realm: any bytes (the challenge quotes them)");
}

/* label: arg as the TAP line shows it (NULL: arg itself) */
static void header_is(const char *arg, const char *label, int good)
{
    const char *want = good ? NULL
        : apr_psprintf(pool, "ProxyAuthForwardUser: \"%s\" is not a header "
                       "name", arg);

    is_str(pal_value_header_name(pool, arg), want,
           apr_psprintf(pool, "ProxyAuthForwardUser \"%s\" %s",
                        label ? label : arg, good ? "accepted" : "refused"));
}

static void test_header_names(void)
{
    header_is("X-Remote-User", NULL, 1);
    header_is("X_User_2", NULL, 1);
    header_is("-", NULL, 1);
    header_is("bad header", NULL, 0);
    header_is("X-User:", NULL, 0);
    header_is("", NULL, 0);
    header_is("X-User\r\nX-Admin", "X-User CR LF X-Admin", 0);
    header_is("X-\xc3\xa9", "X-e-acute", 0);
    header_is("X.User", NULL, 0);
}

static void attr_is(const char *arg, int good)
{
    const char *want = good ? NULL
        : apr_psprintf(pool, "ProxyAuthLDAPGroupAttribute: \"%s\" is not an "
                       "attribute name", arg);

    is_str(pal_value_attr_name(pool, arg), want,
           apr_psprintf(pool, "ProxyAuthLDAPGroupAttribute \"%s\" %s", arg,
                        good ? "accepted" : "refused"));
}

static void test_attr_names(void)
{
    attr_is("member", 1);
    attr_is("uniqueMember", 1);
    attr_is("memberUid", 1);
    attr_is("2.5.4.31", 1);
    attr_is("a(b", 0);
    attr_is("a)b", 0);
    attr_is("x=y", 0);
    attr_is("a*", 0);
    attr_is("a\\2a", 0);
    attr_is("a,b", 0);
    attr_is("a b", 0);
    attr_is("", 0);
}

/* ---- the cache ---------------------------------------------------------- */

static void spec_is(const char *arg, const char *provider, const char *args)
{
    const char *pv = "unset", *ar = "unset";

    pal_value_cache_spec(pool, arg, &pv, &ar);
    is_str(pv, provider, apr_psprintf(pool, "ProxyAuthCache \"%s\": "
                                      "provider", arg));
    is_str(ar, args, apr_psprintf(pool, "ProxyAuthCache \"%s\": arguments",
                                  arg));
}

static void test_cache_spec(void)
{
    spec_is("shmcb", "shmcb", NULL);
    spec_is("shmcb:", "shmcb", "");
    spec_is("shmcb:/var/cache/pal(1048576)", "shmcb",
            "/var/cache/pal(1048576)");
    spec_is("redis:127.0.0.1:6379", "redis", "127.0.0.1:6379");
    spec_is("memcache:a:11211,b:11211", "memcache", "a:11211,b:11211");
    spec_is(":x", "", "x");
    spec_is("", "", NULL);
}

static void shard_is(const char *args, const char *tag, int i, int n,
                     int divisor, const char *want)
{
    is_str(pal_value_shard_args(pool, args, tag, i, n, divisor, 4 * MIB),
           want, apr_psprintf(pool, "shard %d of %d, 1/%d of \"%s\"%s%s", i,
                              n, divisor, args ? args : "NULL",
                              want ? " is " : ": not split",
                              want ? want : ""));
}

static void test_shards(void)
{
    shard_is("(67108864)", "", 0, 8, 1, "(8388608)");
    shard_is("/var/cache/pal(67108864)", "", 3, 8, 1,
             "/var/cache/pal-3(8388608)");
    shard_is("/var/cache/pal(67108864)", "aside", 1, 4, 4,
             "/var/cache/pal-aside1(4194304)");
    shard_is("/var/cache/pal(67108864)", "aside", 0, 8, 4, NULL);
    shard_is("(33554431)", "", 0, 8, 1, NULL);
    shard_is("(33554432)", "", 7, 8, 1, "(4194304)");
    shard_is("/d(1)/pal(67108864)", "", 0, 2, 1, "/d(1)/pal-0(33554432)");
    shard_is("/var/cache/pal", "", 0, 1, 1, NULL);
    shard_is("/var/cache/pal(67108864", "", 0, 1, 1, NULL);
    shard_is("(abc)", "", 0, 1, 1, NULL);
    shard_is("(-67108864)", "", 0, 1, 1, NULL);
    shard_is("(9223372036854775807)", "", 0, 1, 1, "(9223372036854775807)");
    shard_is("", "", 0, 1, 1, NULL);
    shard_is(")", "", 0, 1, 1, NULL);
    shard_is(NULL, "", 0, 1, 1, NULL);
    shard_is("(67108864)", "", 0, 0, 1, NULL);
    shard_is("(67108864)", "", 0, 1, 0, NULL);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);

    test_bounds();
    test_numbers();
    test_realm();
    test_header_names();
    test_attr_names();
    test_cache_spec();
    test_shards();

    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
