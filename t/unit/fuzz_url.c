/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * libFuzzer entry point for pal_ldap_url_parse (ldap_url.c, make fuzz):
 * ProxyAuthLDAPURL, parsed by our host list and libldap's ldap_url_parse.
 *
 * Whatever it accepts must be usable as it stands: at least one server;
 * every host 1 to 255 bytes without '/', '?', '#', '@', brackets or white
 * space, a ':' only in a bracketed IPv6 address (which hostport brackets
 * again); every port 1 to 65535; hostport and uri written from them; a uri
 * that libldap's ldap_initialize takes as that one host and port; scope
 * one or sub; a login attribute that cannot change a filter; a filter of
 * one balanced parenthesised item; a base DN that normalises. Parsing the
 * same text again gives the same result; a refusal says why. Aborts when a
 * property does not hold. Pool strings are exact-size blocks
 * (fuzz_pool.h), so reads past their end are seen.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>

#define LDAP_DEPRECATED 0
#include <ldap.h>

#include "pal_ldap.h"
#include "pal_ldap_strings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_pool.h"

static int streq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The host as libldap passes it to the resolver: it %-decodes a URL's
 * host, which only an IPv6 zone ("%25" RFC 6874) may use. */
static const char *decoded_host(apr_pool_t *p, const char *host)
{
    const char *zone = strstr(host, "%25");

    if (zone == NULL)
        return host;
    return apr_pstrcat(p, apr_pstrmemdup(p, host, (apr_size_t)(zone - host)),
                       "%", zone + 3, NULL);
}

/* ldap_initialize is what the pool calls with srv->uri: it must take it
 * as one URL (it splits a list at ',' and ' ') of the same host (after
 * its %-decoding) and port, so the logs name the server it talks to. */
static void check_libldap(apr_pool_t *p, const pal_ldap_server *srv)
{
    LDAP *ld = NULL;
    LDAPURLDesc *d = NULL;

    CHECK(strpbrk(srv->uri, ", ") == NULL);
    CHECK(ldap_initialize(&ld, srv->uri) == LDAP_SUCCESS);
    ldap_unbind_ext(ld, NULL, NULL);
    CHECK(ldap_url_parse(srv->uri, &d) == LDAP_URL_SUCCESS);
    CHECK(streq(d->lud_host, decoded_host(p, srv->host)));
    CHECK(d->lud_port == srv->port);
    ldap_free_urldesc(d);
}

/* Brackets hold an IPv6 address and nothing else (RFC 3986 3.2.2). */
static int ipv6_address(apr_pool_t *p, const char *host)
{
    const char *zone = strstr(host, "%25");
    struct in6_addr a;

    if (zone != NULL)
        host = apr_pstrmemdup(p, host, (apr_size_t)(zone - host));
    return inet_pton(AF_INET6, host, &a) == 1;
}

static void check_server(apr_pool_t *p, const pal_ldap_url *u,
                         const pal_ldap_server *srv)
{
    size_t n = srv->host ? strlen(srv->host) : 0;
    int v6 = srv->host && strchr(srv->host, ':') != NULL;
    const char *hostport;

    CHECK(n >= 1 && n <= 255);
    CHECK(strpbrk(srv->host, "/?#@[] \t\n\v\f\r") == NULL);
    CHECK(srv->port >= 1);  /* apr_port_t: at most 65535 by its type */
    hostport = apr_psprintf(p, v6 ? "[%s]:%u" : "%s:%u", srv->host,
                            (unsigned)srv->port);
    CHECK(streq(srv->hostport, hostport));
    CHECK(streq(srv->uri, apr_pstrcat(p, u->ldaps ? "ldaps://" : "ldap://",
                                      hostport, NULL)));
    /* a ':' in a host comes only from a bracketed IPv6 address */
    CHECK(!v6 || strstr(u->text, apr_pstrcat(p, "[", srv->host, "]", NULL)));
    CHECK(!v6 || ipv6_address(p, srv->host));
    check_libldap(p, srv);
}

/* One parenthesised item, balanced, '\\' escaping the next byte, no
 * empty "()". */
static int balanced(const char *f)
{
    size_t i, n = strlen(f);
    int depth = 0;

    if (n < 2 || f[0] != '(' || f[n - 1] != ')')
        return 0;
    for (i = 0; i < n; i++) {
        if (f[i] == '\\') {
            if (++i >= n)
                return 0;
        }
        else if (f[i] == '(') {
            if (f[i + 1] == ')')
                return 0;
            depth++;
        }
        else if (f[i] == ')' && (--depth < 0 || (depth == 0 && i != n - 1)))
            return 0;
    }
    return depth == 0;
}

static void check_url(apr_pool_t *p, const char *text, const pal_ldap_url *u)
{
    int i;

    CHECK(streq(u->text, text));
    CHECK(u->ldaps == !strncasecmp(text, "ldaps://", 8));
    CHECK(u->servers != NULL && u->servers->nelts >= 1);
    for (i = 0; i < u->servers->nelts; i++)
        check_server(p, u, &APR_ARRAY_IDX(u->servers, i, pal_ldap_server));
    CHECK(u->scope == LDAP_SCOPE_ONELEVEL || u->scope == LDAP_SCOPE_SUBTREE);
    CHECK(u->attr != NULL && u->attr[0] != '\0');
    CHECK(strpbrk(u->attr, "()*\\=, ") == NULL);
    CHECK(u->filter != NULL && balanced(u->filter));
    CHECK(u->basedn != NULL && pal_dn_normalize(p, u->basedn) != NULL);
}

static void check_same(const pal_ldap_url *a, const pal_ldap_url *b)
{
    int i;

    CHECK(streq(a->text, b->text) && a->ldaps == b->ldaps);
    CHECK(streq(a->basedn, b->basedn) && streq(a->attr, b->attr));
    CHECK(a->scope == b->scope && streq(a->filter, b->filter));
    CHECK(a->servers->nelts == b->servers->nelts);
    for (i = 0; i < a->servers->nelts; i++) {
        const pal_ldap_server *x = &APR_ARRAY_IDX(a->servers, i,
                                                  pal_ldap_server);
        const pal_ldap_server *y = &APR_ARRAY_IDX(b->servers, i,
                                                  pal_ldap_server);

        CHECK(streq(x->host, y->host) && x->port == y->port);
        CHECK(streq(x->hostport, y->hostport) && streq(x->uri, y->uri));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    pal_ldap_url *u = NULL, *again = NULL;
    const char *err, *err2;
    char *s;

    p = run_begin();

    s = apr_palloc(p, size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    err = pal_ldap_url_parse(p, s, &u);
    /* a copy: the result must not depend on where the text lives */
    err2 = pal_ldap_url_parse(p, apr_pstrdup(p, s), &again);
    if (err != NULL) {
        CHECK(err[0] != '\0' && streq(err, err2));
    }
    else {
        CHECK(err2 == NULL && u != NULL && again != NULL);
        check_url(p, s, u);
        check_same(u, again);
    }

    run_end(p);
    return 0;
}
