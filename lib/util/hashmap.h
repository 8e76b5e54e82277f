/* A string-keyed hash map (open addressing); keys are copied, values are owned
 * by the caller unless a free function is given. Not thread-safe. */
#pragma once
#include <stddef.h>

struct hashmap;
typedef void (*hashmap_free_fn)(void *value);

struct hashmap *hashmap_new(hashmap_free_fn free_value);
void hashmap_free(struct hashmap *m);
/* Inserts or replaces (freeing the old value); returns 0. */
int hashmap_put(struct hashmap *m, const char *key, void *value);
void *hashmap_get(const struct hashmap *m, const char *key);
/* Removes key (freeing its value); returns 0, or -ENOENT. */
int hashmap_remove(struct hashmap *m, const char *key);
size_t hashmap_size(const struct hashmap *m);
/* Iteration: *pos starts at 0; returns 0 and sets key/value, or -ENOENT at the end.
 * The map must not change during iteration. */
int hashmap_next(const struct hashmap *m, size_t *pos, const char **ret_key, void **ret_value);
