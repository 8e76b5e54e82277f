/* UUIDs as canonical lowercase strings (36 chars + NUL). */
#pragma once
#include <stdbool.h>

#define UUID_STR_LEN 37

/* Fills buf with a new random (version 4) UUID. */
void uuid_generate_str(char buf[UUID_STR_LEN]);
/* True when s is exactly a canonical lowercase UUID: 8-4-4-4-12 hex digits. */
bool uuid_is_valid(const char *s);
