/* Licensed under the Apache License, Version 2.0 (see NOTICE). */
/**
 * @file pal_ascii.h
 * @brief Byte classification for protocol text: ASCII only, never the
 *        locale, so a server's LANG cannot change what a header or a DN
 *        means. Internal to the module's parsers.
 */
#ifndef PAL_ASCII_H
#define PAL_ASCII_H

static const char pal_hex_digits[] = "0123456789abcdef";

static APR_INLINE int pal_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static APR_INLINE char pal_ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static APR_INLINE int pal_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/** C0 controls and DEL. */
static APR_INLINE int pal_is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static APR_INLINE int pal_ascii_caseeq(const char *a, const char *b,
                                       apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++)
        if (pal_ascii_lower(a[i]) != pal_ascii_lower(b[i]))
            return 0;
    return 1;
}

#endif /* PAL_ASCII_H */
