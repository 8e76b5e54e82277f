/* Names given by users for pools, domains and images. */
#pragma once
#include <stdbool.h>

#define NAME_MAX_LEN 64

/* True for 1..64 chars of [A-Za-z0-9._-], not starting with '.' or '-'
 * (so never "." or "..", never a path, never an option). */
bool name_is_valid(const char *s);
