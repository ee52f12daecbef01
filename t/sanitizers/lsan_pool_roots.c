/* Preloaded after libasan by make test-asan (t/bin/sanitized-suite), with
 * ASAN_OPTIONS=leak_check_at_exit=0: runs LeakSanitizer's check at exit
 * itself, after telling it where APR pools live.
 *
 * Debian's APR allocator takes pool memory from mmap(), not malloc(), and
 * LeakSanitizer scans only globals, stacks, thread data and its own heap for
 * pointers. Every malloc'd object that only pool memory points to (httpd's
 * compiled regular expressions, OpenSSL contexts kept in a config record,
 * anything a pool cleanup would free) would be reported as leaked while its
 * pool is alive. So at exit, before the check, every anonymous private
 * writable mapping is registered as a root region, except the sanitizer's own
 * shadow memory and heap. The price: what only a leaked large (mmap'd)
 * allocation points to is not reported; the large allocation itself still is.
 *
 * It also keeps every shared object loaded (dlclose below), so that each
 * leak has a stack with names.
 *
 * Not part of the module; x86_64 only (elsewhere the check runs as usual).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void __lsan_register_root_region(const void *p, size_t size);
int __lsan_do_recoverable_leak_check(void);

#if defined(__x86_64__)
/* ASan's layout on x86_64 Linux: shadow and shadow gap, and the primary
 * allocator's space (its region metadata follows it). */
#define SHADOW_LO 0x00007fff7000UL
#define SHADOW_HI 0x10007fff8000UL
#define HEAP_LO   0x600000000000UL
#define HEAP_HI   0x680000000000UL

static int overlaps(unsigned long lo, unsigned long hi,
                    unsigned long a, unsigned long b)
{
    return lo < b && a < hi;
}

static void check_leaks(void)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[4096];


    if (maps) {
        while (fgets(line, sizeof(line), maps)) {
            unsigned long lo, hi, off, ino;
            char perms[8], dev[16];
            int name = 0;

            if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &lo, &hi, perms,
                       &off, dev, &ino, &name) < 6 || name == 0)
                continue;
            /* anonymous, private, writable; no [heap], [stack], files */
            if (strcmp(perms, "rw-p") != 0 || ino != 0
                || (line[name] != '\n' && line[name] != '\0'))
                continue;
            if (overlaps(lo, hi, SHADOW_LO, SHADOW_HI)
                || overlaps(lo, hi, HEAP_LO, HEAP_HI))
                continue;
            __lsan_register_root_region((const void *)lo, hi - lo);
        }
        fclose(maps);
    }
    __lsan_do_recoverable_leak_check();
}

/* mod_so unloads every module, and the libraries only they pulled in
 * (libldap, Cyrus SASL, GnuTLS), when the configuration pool goes: in the
 * parent at every stop and restart, in apache2 -t, and in children at exit
 * (before this check runs). Their frames in a leak report would be
 * "<unknown module>": neither attributable nor matched by a suppression,
 * and slow to print. Nothing is ever unloaded here instead; a graceful
 * restart loads the same objects again, which only counts references. */
int dlclose(void *handle)
{
    (void)handle;
    return 0;
}

__attribute__((constructor)) static void install(void)
{
    atexit(check_leaks);
}
#endif
