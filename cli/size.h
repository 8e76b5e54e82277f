/* Sizes as people write them: "10G", "512M", "1048576". */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Parses bytes, or a number with a K, M, G or T suffix (powers of 1024;
 * "KiB", "Gi" and "GB" read the same). Returns 0 with *ret, or -EINVAL for
 * anything else and -ERANGE past 2^63-1 (the API takes signed 64-bit). */
int size_parse(const char *s, uint64_t *ret);

/* Writes a short human form ("10 GiB", "1.5 MiB", "512 B") into buf. */
void size_format(uint64_t bytes, char *buf, size_t len);
