/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * The secret and socache id that fuzz_cache.c decodes with, shared with
 * gen_cache_seeds.c so that its seed entries pass the MAC and reach the
 * field decoders.
 */
#ifndef PAL_FUZZ_CACHE_KEY_H
#define PAL_FUZZ_CACHE_KEY_H

#define FUZZ_CACHE_ID \
    "P00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
/* every byte of the secret */
#define FUZZ_CACHE_SECRET_BYTE 0x42
/* the head of an input: the clock and the windows of the rules, six 8-byte
 * big-endian values (now, revoked, idle, max, negative, max_bad) */
#define FUZZ_CACHE_RULE_BYTES 48

#endif /* PAL_FUZZ_CACHE_KEY_H */
