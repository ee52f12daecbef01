/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Counters and the mod_status section (contract: include/pal_status.h).
 * The counters live in shared memory made once per full start and are
 * only touched with 64-bit atomics: no lock.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "mod_status.h"
#include "scoreboard.h"

#include "apr_atomic.h"
#include "apr_strings.h"

#include "pal_status.h"
#include "pal_cache.h"
#include "pal_process.h"

#define KEY_STATS "mod_proxyauth_ldap.stats"

static volatile apr_uint64_t *stats;   /* PAL_STAT_COUNT of them */

int pal_status_post_config(server_rec *s)
{
    int fresh;

    stats = pal_process_shm(s, KEY_STATS, sizeof(*stats) * PAL_STAT_COUNT,
                            &fresh);
    return stats ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

void pal_stat_inc(pal_stat which)
{
    if (stats)
        apr_atomic_inc64(&stats[which]);
}

typedef struct {
    request_rec *r;
    int plain;
} status_ctx;

static void print_row(const status_ctx *sc, const char *name,
                      apr_uint64_t v)
{
    if (sc->plain)
        ap_rprintf(sc->r, "ProxyAuth%s: %" APR_UINT64_T_FMT "\n", name, v);
    else
        ap_rprintf(sc->r, "<tr><td>%s</td><td>%" APR_UINT64_T_FMT
                   "</td></tr>\n", name, v);
}

static void print_server(void *baton, const char *hostport, int down,
                         apr_time_t since)
{
    status_ctx *sc = baton;
    char when[APR_RFC822_DATE_LEN] = "";

    if (down)
        apr_rfc822_date(when, since);
    if (sc->plain)
        ap_rprintf(sc->r, "ProxyAuthLDAPServer: %s %s%s%s\n", hostport,
                   down ? "down" : "up", down ? " since " : "", when);
    else
        ap_rprintf(sc->r, "<tr><td>%s</td><td>%s%s%s</td></tr>\n",
                   ap_escape_html(sc->r->pool, hostport),
                   down ? "down" : "up", down ? " since " : "", when);
}

int pal_status_hook(request_rec *r, int flags, pal_ldap_downtable *down)
{
    static const char *const names[PAL_STAT_COUNT] = {
        "CacheHits", "CacheMisses", "CacheNegativeHits", "SoftLocks",
        "ConnectionReuses", "CacheStoreFailures", "NegotiateAccepted",
        "NegotiateRefused"
    };
    status_ctx sc;
    pal_ldap_stats ls;
    int i;

    if (!stats || !down || !ap_extended_status)
        return OK;
    sc.r = r;
    sc.plain = (flags & AP_STATUS_SHORT) != 0;
    pal_ldap_downtable_stats(down, &ls);
    if (!sc.plain)
        ap_rputs("<hr />\n<h2>mod_proxyauth_ldap</h2>\n<table>\n", r);
    for (i = 0; i < PAL_STAT_COUNT; i++)
        print_row(&sc, names[i], apr_atomic_read64(&stats[i]));
    print_row(&sc, "LDAPSearches", ls.searches);
    print_row(&sc, "LDAPBinds", ls.binds);
    print_row(&sc, "LDAPFailures", ls.failures);
    print_row(&sc, "LDAPTimeouts", ls.timeouts);
    print_row(&sc, "LDAPConnects", ls.connects);
    if (!sc.plain)
        ap_rputs("</table>\n<table>\n<tr><th>LDAP server</th><th>state"
                 "</th></tr>\n", r);
    pal_ldap_downtable_each(down, print_server, &sc);
    if (!sc.plain) {
        ap_rputs("</table>\n", r);
        pal_cache_status(r, flags);
    }
    return OK;
}
