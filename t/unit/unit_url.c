/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Unit tests for ldap_url.c (pal_ldap_url_parse, ProxyAuthLDAPURL). Prints
 * TAP; exits non-zero when any test fails. Every accepted server's uri is
 * also handed to libldap's ldap_initialize, as the connection pool does,
 * which must take it as that one host and port.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>

#define LDAP_DEPRECATED 0
#include <ldap.h>

#include "pal_ldap.h"
#include "tap.h"

static apr_pool_t *pool;

static const char *repeat(char c, apr_size_t n)
{
    char *s = apr_palloc(pool, n + 1);

    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static const pal_ldap_server *server(const pal_ldap_url *u, int i)
{
    return &APR_ARRAY_IDX(u->servers, i, pal_ldap_server);
}

/* What ldap_initialize makes of the uri, as libldap writes it back. */
static const char *libldap_uri(const char *uri)
{
    LDAP *ld = NULL;
    char *got = NULL;
    const char *copy = NULL;

    if (ldap_initialize(&ld, uri) != LDAP_SUCCESS)
        return NULL;
    if (ldap_get_option(ld, LDAP_OPT_URI, &got) == LDAP_OPT_SUCCESS
        && got != NULL)
        copy = apr_pstrdup(pool, got);
    ldap_memfree(got);
    ldap_unbind_ext(ld, NULL, NULL);
    return copy;
}

/* label: the URL as the TAP line shows it (NULL: the URL itself) */
static const pal_ldap_url *good(const char *text, const char *label)
{
    pal_ldap_url *u = NULL;
    const char *err = pal_ldap_url_parse(pool, text, &u);

    ok(err == NULL && u != NULL, "%s: accepted", label ? label : text);
    if (err != NULL) {
        diag_str("error", err);
        return NULL;
    }
    return u;
}

static void bad(const char *text, const char *label, const char *want)
{
    pal_ldap_url *u = NULL;
    const char *err = pal_ldap_url_parse(pool, text, &u);

    if (want != NULL)
        is_str(err, want, apr_psprintf(pool, "%s: refused", label ? label
                                                                   : text));
    else
        ok(err != NULL, "%s: refused", label ? label : text);
}

static void server_is(const pal_ldap_url *u, int i, const char *host,
                      int port, const char *uri, const char *libldap)
{
    const pal_ldap_server *s;

    if (u == NULL || i >= u->servers->nelts) {
        ok(0, "server %d of %s exists", i, u ? u->text : "NULL");
        return;
    }
    s = server(u, i);
    is_str(s->host, host, apr_psprintf(pool, "%s: host %d", u->text, i));
    ok(s->port == port, "%s: port %d is %d", u->text, i, port);
    is_str(s->uri, uri, apr_psprintf(pool, "%s: uri %d", u->text, i));
    is_str(libldap_uri(s->uri), libldap ? libldap : uri,
           apr_psprintf(pool, "%s: ldap_initialize takes uri %d as it is",
                        u->text, i));
}

static void test_hosts(void)
{
    const pal_ldap_url *u;

    u = good("ldap://a:389 b:1389/dc=x?uid?sub?(objectClass=*)", NULL);
    ok(u && u->servers->nelts == 2, "two hosts");
    server_is(u, 0, "a", 389, "ldap://a:389", NULL);
    server_is(u, 1, "b", 1389, "ldap://b:1389", NULL);
    u = good("ldaps://ldap1.example.com\tldap2.example.com:1636/dc=x", NULL);
    server_is(u, 0, "ldap1.example.com", 636, "ldaps://ldap1.example.com:636",
              NULL);
    server_is(u, 1, "ldap2.example.com", 1636,
              "ldaps://ldap2.example.com:1636", NULL);
    u = good("ldap://dc_1.corp-x.example.com/dc=x", NULL);
    server_is(u, 0, "dc_1.corp-x.example.com", 389,
              "ldap://dc_1.corp-x.example.com:389", NULL);
    u = good("ldap://[::1]:389/dc=x", NULL);
    server_is(u, 0, "::1", 389, "ldap://[::1]:389", NULL);
    u = good("ldaps://[2001:db8::10]/dc=x?uid", NULL);
    server_is(u, 0, "2001:db8::10", 636, "ldaps://[2001:db8::10]:636", NULL);
    u = good("ldap://[::ffff:192.0.2.1]/dc=x", NULL);
    server_is(u, 0, "::ffff:192.0.2.1", 389, "ldap://[::ffff:192.0.2.1]:389",
              NULL);
    u = good("ldap://[fe80::1%25eth0]/dc=x", NULL);
    server_is(u, 0, "fe80::1%25eth0", 389, "ldap://[fe80::1%25eth0]:389",
              "ldap://[fe80::1%eth0]:389");
    good(apr_pstrcat(pool, "ldap://", repeat('h', 255), "/dc=x", NULL),
         "a host of 255 bytes");
    bad(apr_pstrcat(pool, "ldap://", repeat('h', 256), "/dc=x", NULL),
        "a host of 256 bytes", NULL);
}

/* Hosts that libldap would not take as one host of that name: before they
 * were refused, they passed the start-up checks and failed (or went to
 * another server) on every request. */
static void test_bad_hosts(void)
{
    bad("ldap://ldap1,ldap2/dc=x", NULL,
        "bad host 'ldap1,ldap2' (hosts are separated by spaces)");
    bad("ldap://ldap1.example.com,ldap2.example.com:1389/dc=x", NULL,
        "bad host 'ldap1.example.com,ldap2.example.com:1389' (hosts are "
        "separated by spaces)");
    bad("ldap://h%41/dc=x", NULL, "bad host 'h%41'");
    bad("ldap://h%/dc=x", NULL, "bad host 'h%'");
    bad("ldap://h\x0b/dc=x", "a host with a vertical tab",
        "bad host 'h\x0b'");
    bad("ldap://h\n/dc=x", "a host with a newline", "bad host 'h\n'");
    bad("ldap://h\x01/dc=x", "a host with a control character",
        "bad host 'h\x01'");
    bad("ldap://h\xc3\xa9/dc=x", "a host with UTF-8", "bad host 'h\xc3\xa9'");
    bad("ldap://a=b/dc=x", NULL, "bad host 'a=b'");
    bad("ldap://[*:1]/dc=x", NULL, "bad host '[*:1]'");
    bad("ldap://[:21]:389/dc=x", NULL, "bad host '[:21]:389'");
    bad("ldap://[abc]/dc=x", NULL, "bad host '[abc]'");
    bad("ldap://[192.0.2.1]/dc=x", NULL, "bad host '[192.0.2.1]'");
    bad("ldap://[fe80::1%eth0]/dc=x", NULL, "bad host '[fe80::1%eth0]'");
    bad("ldap://[fe80::1%25]/dc=x", NULL, "bad host '[fe80::1%25]'");
    bad("ldap://[::1/dc=x", NULL, NULL);
    bad("ldap://[]/dc=x", NULL, NULL);
    bad("ldap://[::1]x/dc=x", NULL, "bad host '[::1]x'");
    bad("ldap://a:b/dc=x", NULL, "bad port in 'a:b'");
    bad("ldap://host:99999/dc=x", NULL, "bad port in 'host:99999'");
    bad("ldap://host:0/dc=x", NULL, "bad port in 'host:0'");
    bad("ldap://host:/dc=x", NULL, "bad port in 'host:'");
    bad("ldap:///dc=x", NULL, "no LDAP server host in the URL");
}

static void test_tail(void)
{
    const pal_ldap_url *u;

    u = good("ldaps://h/dc=x", NULL);
    ok(u && u->ldaps && u->scope == LDAP_SCOPE_SUBTREE
       && !strcmp(u->attr, "uid") && !strcmp(u->filter, "(objectClass=*)")
       && !strcmp(u->basedn, "dc=x"), "ldaps://h/dc=x: the defaults");
    u = good("ldap://h/dc=x?uid?\?(objectClass=*)", NULL);
    ok(u && u->scope == LDAP_SCOPE_SUBTREE, "an empty scope is sub");
    u = good("ldap://h/dc=x?sAMAccountName?one?(&(objectClass=user)(!(userA"
             "ccountControl:1.2.840.113556.1.4.803:=2)))", "scope one, AD "
             "filter");
    ok(u && u->scope == LDAP_SCOPE_ONELEVEL
       && !strcmp(u->attr, "sAMAccountName"), "scope one, sAMAccountName");
    u = good("ldap://h/ou=a%20b,dc=x?uid?sub?(cn=a%20b)", NULL);
    ok(u && !strcmp(u->basedn, "ou=a b,dc=x")
       && !strcmp(u->filter, "(cn=a b)"),
       "%%-decoding of the base DN and the filter");
    bad("http://x/", NULL, "URL must start with ldap:// or ldaps://");
    bad("ldap://h/dc=x?uid?base", NULL,
        "scope 'base' cannot find users: use 'one' or 'sub'");
    bad("ldap://h/dc=x?uid?bogus", NULL, NULL);
    bad("ldap://h/dc=x?u(id", NULL, "bad login attribute");
    bad("ldap://h/dc=x?uid?sub?objectClass=*", NULL, NULL);
    bad("ldap://h/dc=x?uid?sub?(&(objectClass=*)", NULL, NULL);
    bad("ldap://h/dc=x?uid?sub?()", NULL, NULL);
    bad("ldap://h/notadn?uid?sub", NULL, "base DN 'notadn' is not a DN");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);

    test_hosts();
    test_bad_hosts();
    test_tail();

    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
