/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * Unit tests for softlock.c (include/pal_softlock.h): the rules of the
 * table one call at a time, then the property it exists for, with real
 * processes and threads around one shared table: n distinct wrong
 * passwords sent at the same instant get at most n tries. Prints TAP;
 * exits non-zero when any test fails.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <apr_atomic.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include "pal_softlock.h"
#include "tap.h"

#define SEC(n) apr_time_from_sec(n)
#define T0 ((apr_time_t)1700000000 * APR_USEC_PER_SEC)

static apr_pool_t *pool;

/* A table in anonymous shared memory (inherited by fork) and its mutex. */
static pal_softlock make_table(apr_uint32_t accounts)
{
    pal_softlock sl;
    apr_shm_t *shm;
    const char *lock = apr_psprintf(pool, "/tmp/unit_softlock.%ld.lock",
                                    (long)getpid());

    if (apr_shm_create(&shm, pal_softlock_size(accounts), NULL, pool)
        || apr_global_mutex_create(&sl.mutex, lock, APR_LOCK_DEFAULT, pool)) {
        printf("Bail out! cannot make shared memory or a global mutex\n");
        exit(2);
    }
    sl.table = pal_softlock_init(apr_shm_baseaddr_get(shm), accounts);
    return sl;
}

static void key_of(unsigned char *key, int account)
{
    memset(key, 0, PAL_SOFTLOCK_KEY_LEN);
    memcpy(key, &account, sizeof(account));
    key[PAL_SOFTLOCK_KEY_LEN - 1] = 0x5a;
}

static void tag_of(unsigned char *tag, int password)
{
    memset(tag, 0xee, PAL_SOFTLOCK_TAG_LEN);
    memcpy(tag, &password, sizeof(password));
}

static const pal_softlock_rules rules3 = { 3, SEC(30), SEC(5) };

static pal_softlock_answer try_(pal_softlock *sl, int account, int pw,
                                apr_time_t now)
{
    unsigned char key[PAL_SOFTLOCK_KEY_LEN], tag[PAL_SOFTLOCK_TAG_LEN];
    key_of(key, account);
    tag_of(tag, pw);
    return pal_softlock_try(sl, key, tag, &rules3, now);
}

static void done_(pal_softlock *sl, int account, int pw, int bad,
                  apr_time_t now)
{
    unsigned char key[PAL_SOFTLOCK_KEY_LEN], tag[PAL_SOFTLOCK_TAG_LEN];
    key_of(key, account);
    tag_of(tag, pw);
    pal_softlock_done(sl, key, tag, bad, &rules3, now);
}

static int locked_(pal_softlock *sl, int account, apr_time_t now)
{
    unsigned char key[PAL_SOFTLOCK_KEY_LEN];
    key_of(key, account);
    return pal_softlock_locked(sl, key, &rules3, now);
}

static void test_rules(void)
{
    pal_softlock sl = make_table(64);
    apr_time_t t = T0;

    ok(!locked_(&sl, 1, t), "rules: a new account is open");
    ok(try_(&sl, 1, 1, t) == PAL_SOFTLOCK_GO, "rules: first try: go");
    ok(try_(&sl, 1, 1, t) == PAL_SOFTLOCK_SAME,
       "rules: the same password while it is checked: same");
    ok(try_(&sl, 1, 2, t) == PAL_SOFTLOCK_GO
           && try_(&sl, 1, 3, t) == PAL_SOFTLOCK_GO,
       "rules: second and third distinct passwords: go");
    ok(try_(&sl, 1, 4, t) == PAL_SOFTLOCK_BUSY,
       "rules: a fourth while three are checked: busy");
    done_(&sl, 1, 1, 0, t);
    ok(try_(&sl, 1, 4, t) == PAL_SOFTLOCK_GO,
       "rules: a right password frees its try");
    done_(&sl, 1, 2, 1, t);
    done_(&sl, 1, 3, 1, t + SEC(1));
    done_(&sl, 1, 4, 1, t + SEC(2));
    ok(try_(&sl, 1, 5, t + SEC(2)) == PAL_SOFTLOCK_LOCKED,
       "rules: three wrong passwords: locked");
    ok(try_(&sl, 1, 3, t + SEC(2)) == PAL_SOFTLOCK_KNOWN_BAD,
       "rules: a password already wrong in this run: known, no bind");
    ok(locked_(&sl, 1, t + SEC(2)), "rules: locked() says so too");
    ok(try_(&sl, 1, 5, t + SEC(32) - 1) == PAL_SOFTLOCK_LOCKED,
       "rules: still locked just before the window after the last one");
    ok(try_(&sl, 1, 5, t + SEC(32)) == PAL_SOFTLOCK_GO
           && !locked_(&sl, 1, t + SEC(32)),
       "rules: the window after the last wrong password ends the run");
    ok(try_(&sl, 2, 1, t) == PAL_SOFTLOCK_GO,
       "rules: another account is counted apart");
    done_(&sl, 2, 1, 1, t);
    ok(try_(&sl, 2, 1, t + SEC(1)) == PAL_SOFTLOCK_KNOWN_BAD
           && try_(&sl, 2, 2, t + SEC(1)) == PAL_SOFTLOCK_GO,
       "rules: a repeat is known, another password still goes");
    done_(&sl, 2, 2, 1, t + SEC(1));
    done_(&sl, 2, 2, 1, t + SEC(1));
    ok(try_(&sl, 2, 3, t + SEC(1)) == PAL_SOFTLOCK_GO,
       "rules: a wrong password reported twice counts once (2 of 3)");
    ok(try_(&sl, 2, 1, t + SEC(32)) == PAL_SOFTLOCK_GO,
       "rules: a new run forgets the known wrong passwords");

    ok(try_(&sl, 3, 1, t) == PAL_SOFTLOCK_GO
           && try_(&sl, 3, 2, t + SEC(5)) == PAL_SOFTLOCK_GO
           && try_(&sl, 3, 1, t + SEC(5)) == PAL_SOFTLOCK_GO,
       "rules: a try older than `stale` was abandoned: dropped");
}

/* A caller reads the clock, then waits for the mutex: meanwhile another
 * process may count a wrong password at a later reading. The older
 * reading must not end the run (that reset the count: one more bind for
 * every such race, past ProxyAuthMaxBadPasswords). Only a clock that went
 * back by more than the window ends it. */
static void test_clock_readings(void)
{
    pal_softlock sl = make_table(64);
    apr_time_t t = T0;
    int i;

    for (i = 1; i <= 3; i++) {
        try_(&sl, 1, i, t + SEC(i));
        done_(&sl, 1, i, 1, t + SEC(i));
    }
    ok(try_(&sl, 1, 4, t + SEC(3) - 1000) == PAL_SOFTLOCK_LOCKED,
       "clock: a reading 1 ms older than the last wrong password: locked");
    ok(locked_(&sl, 1, t + SEC(3) - 1000),
       "clock: locked() with that reading: locked");
    ok(try_(&sl, 1, 4, t + SEC(3)) == PAL_SOFTLOCK_LOCKED,
       "clock: the count survived the older reading");
    ok(try_(&sl, 1, 4, t + SEC(3) - SEC(31)) == PAL_SOFTLOCK_GO,
       "clock: a clock set back by more than the window ends the run");
}

static void test_full(void)
{
    /* One bucket of eight slots: the ninth live account has no room. */
    pal_softlock sl = make_table(8);
    apr_time_t t = T0;
    int i, gone = 1;

    for (i = 0; i < 8; i++)
        gone &= try_(&sl, 100 + i, 1, t) == PAL_SOFTLOCK_GO;
    ok(gone, "full: eight accounts with a try each");
    ok(try_(&sl, 200, 1, t) == PAL_SOFTLOCK_FULL,
       "full: a ninth live account: full (refused, never forgotten)");
    for (i = 0; i < 8; i++)
        done_(&sl, 100 + i, 1, 1, t);
    ok(try_(&sl, 200, 1, t + SEC(10)) == PAL_SOFTLOCK_FULL,
       "full: accounts within their window keep their slots");
    ok(try_(&sl, 200, 1, t + SEC(31)) == PAL_SOFTLOCK_GO,
       "full: a slot whose run is over is reused");
}

/* ---- concurrency ------------------------------------------------------ */

#define PROCS 8
#define THREADS 4

typedef struct {
    volatile apr_uint32_t start;     /* set to 1 to release everyone */
    volatile apr_uint32_t tries;     /* GO answers: binds that happened */
    volatile apr_uint32_t locked;    /* requests answered "locked" */
} shared_counts;

typedef struct {
    pal_softlock sl;
    shared_counts *counts;
    int password;
} worker_arg;

/* One request: waits for its try like the gate does, "binds" (a short
 * sleep) with a wrong password, and reports it. */
static void one_request(pal_softlock *sl, shared_counts *counts, int pw)
{
    for (;;) {
        switch (try_(sl, 7, pw, apr_time_now())) {
        case PAL_SOFTLOCK_GO:
            apr_atomic_inc32(&counts->tries);
            apr_sleep(apr_time_from_msec(20));
            done_(sl, 7, pw, 1, apr_time_now());
            return;
        case PAL_SOFTLOCK_LOCKED:
            apr_atomic_inc32(&counts->locked);
            return;
        case PAL_SOFTLOCK_SAME:
        case PAL_SOFTLOCK_BUSY:
            apr_sleep(apr_time_from_msec(1));
            continue;
        default:
            return;
        }
    }
}

static void *APR_THREAD_FUNC thread_main(apr_thread_t *t, void *data)
{
    worker_arg *a = data;

    while (!apr_atomic_read32(&a->counts->start))
        ;
    one_request(&a->sl, a->counts, a->password);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* A child process: its own mutex handle, THREADS threads with distinct
 * passwords. */
static void child_main(pal_softlock sl, shared_counts *counts, int proc)
{
    apr_thread_t *th[THREADS];
    worker_arg args[THREADS];
    apr_status_t rv;
    int i;

    if (apr_global_mutex_child_init(&sl.mutex, apr_global_mutex_lockfile(
                                        sl.mutex), pool))
        _exit(3);
    for (i = 0; i < THREADS; i++) {
        args[i].sl = sl;
        args[i].counts = counts;
        args[i].password = 1000 + proc * THREADS + i;
        if (apr_thread_create(&th[i], NULL, thread_main, &args[i], pool))
            _exit(4);
    }
    for (i = 0; i < THREADS; i++)
        apr_thread_join(&rv, th[i]);
    _exit(0);
}

static void test_concurrent(void)
{
    pal_softlock sl = make_table(1024);
    apr_shm_t *shm;
    shared_counts *counts;
    pid_t pids[PROCS];
    int i, clean = 1;

    apr_shm_create(&shm, sizeof(*counts), NULL, pool);
    counts = apr_shm_baseaddr_get(shm);
    memset(counts, 0, sizeof(*counts));
    for (i = 0; i < PROCS; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            child_main(sl, counts, i);
    }
    apr_sleep(apr_time_from_msec(200));
    apr_atomic_set32(&counts->start, 1);
    for (i = 0; i < PROCS; i++) {
        int status = 0;
        waitpid(pids[i], &status, 0);
        clean &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    ok(clean, "concurrent: %d processes x %d threads ran", PROCS, THREADS);
    ok(apr_atomic_read32(&counts->tries) == 3,
       "concurrent: %d distinct wrong passwords at once: %u tries (at most "
       "3)", PROCS * THREADS, apr_atomic_read32(&counts->tries));
    ok(apr_atomic_read32(&counts->locked) == PROCS * THREADS - 3,
       "concurrent: every other request answered locked (%u)",
       apr_atomic_read32(&counts->locked));
    ok(locked_(&sl, 7, apr_time_now()), "concurrent: the account is locked");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);

    test_rules();
    test_clock_readings();
    test_full();
    test_concurrent();

    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
