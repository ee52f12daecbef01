/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Shared by the libFuzzer entry points: apr_palloc/apr_pcalloc are replaced,
 * for the pool of one run (run_pool), by exact-size malloc'd blocks freed
 * after the run, so AddressSanitizer sees reads past the end of a pool
 * string. Include once, after <dlfcn.h> with _GNU_SOURCE.
 */
#ifndef PAL_FUZZ_POOL_H
#define PAL_FUZZ_POOL_H

/* ---- exact-size pool allocations for the pool of one run ---------------- */

typedef void *(*palloc_fn)(apr_pool_t *, apr_size_t);

static apr_pool_t *run_pool;
static void **blocks;
static size_t nblocks, cap_blocks;

static void *real_palloc(apr_pool_t *p, apr_size_t size)
{
    static palloc_fn next;

    if (next == NULL) {
        void *sym = dlsym(RTLD_NEXT, "apr_palloc");

        if (sym == NULL)
            abort();
        memcpy(&next, &sym, sizeof(next));
    }
    return next(p, size);
}

#undef apr_pcalloc
void *apr_palloc(apr_pool_t *p, apr_size_t size);
void *apr_pcalloc(apr_pool_t *p, apr_size_t size);

void *apr_palloc(apr_pool_t *p, apr_size_t size)
{
    void *b;

    if (p != run_pool || run_pool == NULL)
        return real_palloc(p, size);
    if (nblocks == cap_blocks) {
        cap_blocks = cap_blocks ? cap_blocks * 2 : 256;
        blocks = realloc(blocks, cap_blocks * sizeof(*blocks));
        if (blocks == NULL)
            abort();
    }
    b = malloc(size ? size : 1);
    if (b == NULL)
        abort();
    blocks[nblocks++] = b;
    return b;
}

void *apr_pcalloc(apr_pool_t *p, apr_size_t size)
{
    return memset(apr_palloc(p, size), 0, size);
}

static void free_blocks(void)
{
    while (nblocks > 0)
        free(blocks[--nblocks]);
}

/* ---- one run --------------------------------------------------------------- */

/* APR is initialised by the first run (libFuzzer has no other hook); each
 * run gets a pool of its own whose allocations are the exact-size blocks. */
static apr_pool_t *run_begin(void)
{
    static int initialised;
    apr_pool_t *p;

    if (!initialised) {
        if (apr_initialize() != APR_SUCCESS)
            abort();
        initialised = 1;
    }
    if (apr_pool_create(&p, NULL) != APR_SUCCESS)
        abort();
    run_pool = p;
    return p;
}

static void run_end(apr_pool_t *p)
{
    run_pool = NULL;
    apr_pool_destroy(p);
    free_blocks();
}

/* ---- helpers -------------------------------------------------------------- */

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

#endif /* PAL_FUZZ_POOL_H */
