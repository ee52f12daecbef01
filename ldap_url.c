/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * ProxyAuthLDAPURL (contract: include/pal_ldap.h): RFC 4516 with a list of
 * hosts for failover. libldap parses the base DN, attribute, scope and
 * filter (with %-decoding); the host list is ours, because RFC 4516 allows
 * one host only.
 */
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <apr_strings.h>
#include <apr_tables.h>

#define LDAP_DEPRECATED 0
#include <ldap.h>

#include "pal_ldap.h"
#include "pal_ldap_strings.h"

/* ------------------------------------------------------------------ */
/* URL parsing                                                          */
/* ------------------------------------------------------------------ */

static int ascii_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
           || (c >= 'A' && c <= 'Z');
}

/* A name character that every layer passes on unchanged: libldap splits
 * a URI at ',' (one host "a,b" would fail every bind), %-decodes a host
 * (the logs would name another one), and the resolver knows no more. */
static int name_char(char c)
{
    return ascii_alnum(c) || c == '-' || c == '.' || c == '_';
}

/* An IPv6 address (brackets hold nothing else, RFC 3986 3.2.2), with an
 * RFC 6874 zone ("%25" and unreserved characters) that libldap decodes to
 * the "%zone" getaddrinfo reads. */
static int ipv6_ok(apr_pool_t *p, const char *s)
{
    const char *zone = strchr(s, '%');
    const char *addr = zone ? apr_pstrmemdup(p, s, (apr_size_t)(zone - s))
                            : s;
    struct in6_addr a;

    if (inet_pton(AF_INET6, addr, &a) != 1)
        return 0;
    if (zone == NULL)
        return 1;
    if (strncmp(zone, "%25", 3) != 0 || zone[3] == '\0')
        return 0;
    for (s = zone + 3; *s != '\0'; s++)
        if (!name_char(*s) && *s != '~')
            return 0;
    return 1;
}

static int host_ok(apr_pool_t *p, const char *host, int bracketed)
{
    apr_size_t n = strlen(host);

    if (n == 0 || n > 255)
        return 0;
    if (bracketed)
        return ipv6_ok(p, host);
    for (; *host != '\0'; host++)
        if (!name_char(*host))
            return 0;
    return 1;
}

static const char *parse_hostport(apr_pool_t *p, const char *hp, int ldaps,
                                  pal_ldap_server *srv)
{
    const char *host = hp, *port = NULL;
    long n = ldaps ? 636 : 389;

    if (*hp == '[') {
        const char *close = strchr(hp, ']');
        if (!close || close == hp + 1)
            return apr_psprintf(p, "bad IPv6 host '%s'", hp);
        host = apr_pstrmemdup(p, hp + 1, (apr_size_t)(close - hp - 1));
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return apr_psprintf(p, "bad host '%s'", hp);
    }
    else {
        const char *colon = strchr(hp, ':');
        if (colon) {
            host = apr_pstrmemdup(p, hp, (apr_size_t)(colon - hp));
            port = colon + 1;
        }
    }
    if (!host_ok(p, host, *hp == '['))
        return apr_psprintf(p, "bad host '%s'%s", hp, strchr(hp, ',')
                            ? " (hosts are separated by spaces)" : "");
    if (port) {
        char *end;
        n = strtol(port, &end, 10);
        if (*port == '\0' || *end != '\0' || n < 1 || n > 65535)
            return apr_psprintf(p, "bad port in '%s'", hp);
    }
    srv->host = host;
    srv->port = (apr_port_t)n;
    srv->hostport = strchr(host, ':')
        ? apr_psprintf(p, "[%s]:%ld", host, n)
        : apr_psprintf(p, "%s:%ld", host, n);
    srv->uri = apr_pstrcat(p, ldaps ? "ldaps://" : "ldap://", srv->hostport,
                           NULL);
    return NULL;
}

static const char *parse_hostlist(apr_pool_t *p, const char *list, int ldaps,
                                  apr_array_header_t *servers)
{
    char *copy = apr_pstrdup(p, list), *last, *tok;

    for (tok = apr_strtok(copy, " \t", &last); tok;
         tok = apr_strtok(NULL, " \t", &last)) {
        pal_ldap_server *srv = apr_array_push(servers);
        const char *err = parse_hostport(p, tok, ldaps, srv);
        if (err)
            return err;
    }
    if (servers->nelts == 0)
        return "no LDAP server host in the URL";
    return NULL;
}

/* Non-zero when the URL's third '?' field (the scope) is not empty. */
static int scope_written(const char *tail)
{
    const char *q = strchr(tail, '?');
    if (!q || !(q = strchr(q + 1, '?')))
        return 0;
    return q[1] != '\0' && q[1] != '?';
}

/* libldap parses dn?attr?scope?filter (with %-decoding); the host list is
 * ours because RFC 4516 allows only one host and we accept several. */
static const char *parse_url_tail(apr_pool_t *p, const char *tail,
                                  pal_ldap_url *u)
{
    LDAPURLDesc *d = NULL;
    const char *probe = apr_pstrcat(p, "ldap://h", tail, NULL);
    const char *why;
    int rc = ldap_url_parse(probe, &d);

    if (rc != LDAP_URL_SUCCESS)
        return apr_psprintf(p, "cannot parse base DN / attribute / scope / "
                            "filter (libldap URL error %d)", rc);
    u->basedn = apr_pstrdup(p, d->lud_dn ? d->lud_dn : "");
    u->attr = apr_pstrdup(p, d->lud_attrs && d->lud_attrs[0]
                          ? d->lud_attrs[0] : "uid");
    u->filter = apr_pstrdup(p, d->lud_filter ? d->lud_filter
                                             : "(objectClass=*)");
    u->scope = d->lud_scope == LDAP_SCOPE_ONELEVEL ? LDAP_SCOPE_ONELEVEL
                                                   : LDAP_SCOPE_SUBTREE;
    rc = d->lud_scope;
    ldap_free_urldesc(d);
    /* libldap reads an empty scope as "base"; the contract says "sub". */
    if (rc == LDAP_SCOPE_BASE && !scope_written(tail))
        u->scope = LDAP_SCOPE_SUBTREE;
    else if (rc == LDAP_SCOPE_BASE)
        return "scope 'base' cannot find users: use 'one' or 'sub'";
    if (u->attr[0] == '\0' || strpbrk(u->attr, "()*\\=, "))
        return "bad login attribute";
    if ((why = pal_ldap_filter_problem(p, u->filter)) != NULL)
        return apr_psprintf(p, "filter '%s' is not an RFC 4515 filter: %s",
                            u->filter, why);
    if (!pal_dn_normalize(p, u->basedn))
        return apr_psprintf(p, "base DN '%s' is not a DN", u->basedn);
    return NULL;
}

const char *pal_ldap_url_parse(apr_pool_t *p, const char *text,
                               pal_ldap_url **out)
{
    pal_ldap_url *u = apr_pcalloc(p, sizeof(*u));
    const char *rest, *slash, *err;

    if (!strncasecmp(text, "ldaps://", 8)) {
        u->ldaps = 1;
        rest = text + 8;
    }
    else if (!strncasecmp(text, "ldap://", 7)) {
        rest = text + 7;
    }
    else {
        return "URL must start with ldap:// or ldaps://";
    }
    slash = strchr(rest, '/');
    if (!slash)
        return "URL has no base DN part (ldap://host/basedn?attr?scope?filter)";
    u->servers = apr_array_make(p, 2, sizeof(pal_ldap_server));
    err = parse_hostlist(p, apr_pstrmemdup(p, rest, (apr_size_t)(slash - rest)),
                         u->ldaps, u->servers);
    if (!err)
        err = parse_url_tail(p, slash, u);
    if (err)
        return err;
    u->text = apr_pstrdup(p, text);
    *out = u;
    return NULL;
}
