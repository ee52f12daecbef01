/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/*
 * A base64 encoder (RFC 4648, with padding) for the tests and fuzzers of
 * the strict decoder in basic.c: written apart from it, so that each checks
 * the other. Include after <apr_pools.h>.
 */
#ifndef PAL_UNIT_B64_ENCODE_H
#define PAL_UNIT_B64_ENCODE_H

static char *b64_encode(apr_pool_t *p, const unsigned char *u, apr_size_t len)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = apr_palloc(p, (len + 2) / 3 * 4 + 1);
    apr_size_t i, o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        out[o++] = tab[u[i] >> 2];
        out[o++] = tab[((u[i] & 3) << 4) | (u[i + 1] >> 4)];
        out[o++] = tab[((u[i + 1] & 15) << 2) | (u[i + 2] >> 6)];
        out[o++] = tab[u[i + 2] & 63];
    }
    if (len - i == 1) {
        out[o++] = tab[u[i] >> 2];
        out[o++] = tab[(u[i] & 3) << 4];
        out[o++] = '=';
        out[o++] = '=';
    }
    else if (len - i == 2) {
        out[o++] = tab[u[i] >> 2];
        out[o++] = tab[((u[i] & 3) << 4) | (u[i + 1] >> 4)];
        out[o++] = tab[(u[i + 1] & 15) << 2];
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

#endif /* PAL_UNIT_B64_ENCODE_H */
