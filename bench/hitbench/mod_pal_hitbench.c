/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * The hit path of mod_proxyauth_ldap, measured alone: a handler that runs
 * httpd's check_user_id hook (mod_proxyauth_ldap's check_authn: the Basic
 * parse, the keyed hashes, the shared-memory lookup, the window checks,
 * the notes) on copies of its own request made into forward-proxy requests,
 * in a loop, with no network and no wrk in between. bench/run.pl loads it
 * into a dedicated httpd; it is never installed.
 *
 *   GET /hitbench?n=200000&threads=1&auth=BASE64[,BASE64...]
 *
 * Thread i sends the i-th credentials of the list (round robin), so that
 * contended runs spread over several cache entries as real users do.
 *
 * answers one line of key=value pairs:
 *   pid                the child that ran it
 *   hits, errors       iterations that returned OK / anything else
 *   wall_ns            elapsed time of the whole run
 *   ns_per_hit         total time per iteration, including the harness's
 *                      own work (a pool and a request copy per iteration)
 *   harness_ns         that harness work alone per iteration (the same
 *                      loop without the hook)
 *   module_ns          ns_per_hit - harness_ns: the module's share
 *   cpu_ns_per_hit     the threads' CPU time per iteration
 *
 * Each thread has its own allocator and pools: APR pools are not
 * thread-safe, and the request the handler serves is only read.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"

#include "apr_strings.h"
#include "apr_thread_proc.h"

#define MAX_THREADS 256

typedef struct {
    const request_rec *tmpl;
    const char *auth;            /* Proxy-Authorization of this thread */
    long n;
    int with_hook;
    long hits, errors;
    apr_interval_time_t cpu;
} bench_thread;

static apr_interval_time_t thread_cpu(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (apr_interval_time_t)ts.tv_sec * APR_USEC_PER_SEC
           + ts.tv_nsec / 1000;
}

/* A forward-proxy request like the template, in pool p. */
static request_rec *proxy_request(apr_pool_t *p, const request_rec *tmpl,
                                  const char *auth)
{
    request_rec *q = apr_pmemdup(p, tmpl, sizeof(*q));

    q->pool = p;
    q->proxyreq = PROXYREQ_PROXY;
    q->user = NULL;
    q->ap_auth_type = NULL;
    q->headers_in = apr_table_make(p, 4);
    apr_table_setn(q->headers_in, "Proxy-Authorization", auth);
    q->notes = apr_table_make(p, 4);
    q->err_headers_out = apr_table_make(p, 2);
    q->subprocess_env = apr_table_make(p, 2);
    q->request_config = ap_create_request_config(p);
    return q;
}

static void *APR_THREAD_FUNC bench_main(apr_thread_t *t, void *data)
{
    bench_thread *b = data;
    apr_allocator_t *alloc;
    apr_pool_t *tp, *it;
    apr_interval_time_t cpu0 = thread_cpu();
    long i;

    apr_allocator_create(&alloc);
    apr_pool_create_ex(&tp, NULL, NULL, alloc);
    apr_allocator_owner_set(alloc, tp);
    for (i = 0; i < b->n; i++) {
        request_rec *q;

        apr_pool_create(&it, tp);
        q = proxy_request(it, b->tmpl, b->auth);
        if (!b->with_hook || ap_run_check_user_id(q) == OK)
            b->hits++;
        else
            b->errors++;
        apr_pool_destroy(it);
    }
    b->cpu = thread_cpu() - cpu0;
    apr_pool_destroy(tp);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* The i-th of the comma-separated credentials, as a header value. */
static const char *nth_auth(apr_pool_t *p, const char *list, int i)
{
    char *copy = apr_pstrdup(p, list), *last, *tok;
    int k = 0, count = 0;

    for (tok = apr_strtok(copy, ",", &last); tok;
         tok = apr_strtok(NULL, ",", &last))
        count++;
    copy = apr_pstrdup(p, list);
    for (tok = apr_strtok(copy, ",", &last); tok && k < i % count;
         tok = apr_strtok(NULL, ",", &last))
        k++;
    return apr_pstrcat(p, "Basic ", tok, NULL);
}

/* Runs `threads` threads of n iterations; the wall time, and the sums in
 * *sum. */
static apr_interval_time_t run(request_rec *r, int threads, long n,
                               const char *auths, int with_hook,
                               bench_thread *sum)
{
    apr_thread_t *th[MAX_THREADS];
    bench_thread b[MAX_THREADS];
    apr_status_t rv;
    apr_time_t t0 = apr_time_now();
    int i;

    for (i = 0; i < threads; i++) {
        memset(&b[i], 0, sizeof(b[i]));
        b[i].tmpl = r;
        b[i].auth = nth_auth(r->pool, auths, i);
        b[i].n = n;
        b[i].with_hook = with_hook;
        apr_thread_create(&th[i], NULL, bench_main, &b[i], r->pool);
    }
    memset(sum, 0, sizeof(*sum));
    for (i = 0; i < threads; i++) {
        apr_thread_join(&rv, th[i]);
        sum->hits += b[i].hits;
        sum->errors += b[i].errors;
        sum->cpu += b[i].cpu;
    }
    return apr_time_now() - t0;
}

static const char *arg(request_rec *r, const char *name)
{
    const char *q = r->args ? r->args : "";
    const char *at = strstr(q, name);
    apr_size_t len = strlen(name);

    while (at && ((at != q && at[-1] != '&') || at[len] != '='))
        at = strstr(at + 1, name);
    if (!at)
        return NULL;
    return apr_pstrndup(r->pool, at + len + 1, strcspn(at + len + 1, "&"));
}

static int hitbench_handler(request_rec *r)
{
    const char *a, *list;
    long n = 200000;
    int threads = 1;
    bench_thread base, hook;
    apr_interval_time_t wall0, wall;
    double per, harness;

    if (!r->handler || strcmp(r->handler, "pal-hitbench"))
        return DECLINED;
    if ((a = arg(r, "n")) != NULL)
        n = atol(a);
    if ((a = arg(r, "threads")) != NULL)
        threads = atoi(a);
    if (n < 1 || threads < 1 || threads > MAX_THREADS
        || !(list = arg(r, "auth")) || !*list)
        return HTTP_BAD_REQUEST;
    /* One miss for each pair first: they are then cached. */
    run(r, threads, 1, list, 1, &hook);
    wall0 = run(r, threads, n, list, 0, &base);
    wall = run(r, threads, n, list, 1, &hook);
    per = (double)wall * 1000.0 * threads / (double)(threads * n);
    harness = (double)wall0 * 1000.0 * threads / (double)(threads * n);
    ap_set_content_type(r, "text/plain");
    ap_rprintf(r, "pid=%ld hits=%ld errors=%ld threads=%d wall_ns=%.0f "
               "ns_per_hit=%.0f harness_ns=%.0f module_ns=%.0f "
               "cpu_ns_per_hit=%.0f harness_cpu_ns=%.0f\n", (long)getpid(),
               hook.hits, hook.errors, threads,
               (double)wall * 1000.0, per, harness, per - harness,
               (double)hook.cpu * 1000.0 / (double)(threads * n),
               (double)base.cpu * 1000.0 / (double)(threads * n));
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(hitbench_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(pal_hitbench) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
