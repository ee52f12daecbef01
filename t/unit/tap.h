/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * TAP for the C unit tests: ok(), is_str(), and tap_done() for the plan
 * and the exit status. Output is flushed after every line, so a test that
 * forks never prints a line twice.
 */
#ifndef PAL_UNIT_TAP_H
#define PAL_UNIT_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tests_run;
static int tests_failed;

static APR_INLINE void ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static APR_INLINE void ok(int cond, const char *fmt, ...)
{
    va_list ap;

    tests_run++;
    if (!cond)
        tests_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tests_run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static APR_INLINE void diag_str(const char *label, const char *got)
{
    printf("#   %s: %s%s%s\n", label, got ? "\"" : "", got ? got : "NULL",
           got ? "\"" : "");
}

static APR_INLINE void is_str(const char *got, const char *want,
                              const char *name)
{
    int same = (got == NULL || want == NULL) ? got == want
                                             : strcmp(got, want) == 0;

    ok(same, "%s", name);
    if (!same) {
        diag_str("got", got);
        diag_str("want", want);
    }
}

/* The plan line; the exit status of main(). */
static APR_INLINE int tap_done(void)
{
    printf("1..%d\n", tests_run);
    return tests_failed == 0 ? 0 : 1;
}

#endif /* PAL_UNIT_TAP_H */
