/* The five <string.h> functions the core calls, for cross-compiling it with a
 * compiler that comes without a C library (Debian's gcc-xtensa-lx106). */
#ifndef GW_FREESTANDING_STRING_H
#define GW_FREESTANDING_STRING_H

#include <stddef.h>

int memcmp(const void *a, const void *b, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
size_t strlen(const char *s);

#endif
