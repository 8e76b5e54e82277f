#include "lib/util/hashmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/xalloc.h"

struct slot {
	char *key; /* NULL: empty; TOMBSTONE: deleted */
	void *value;
};

struct hashmap {
	struct slot *slots;
	size_t cap, used, live;
	hashmap_free_fn free_value;
};

static char tombstone_mark;
#define TOMBSTONE (&tombstone_mark)

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

struct hashmap *hashmap_new(hashmap_free_fn free_value)
{
	struct hashmap *m = xcalloc(1, sizeof(*m));
	m->cap = 64;
	m->slots = xcalloc(m->cap, sizeof(struct slot));
	m->free_value = free_value;
	return m;
}

void hashmap_free(struct hashmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++) {
		struct slot *s = &m->slots[i];
		if (s->key && s->key != TOMBSTONE) {
			free(s->key);
			if (m->free_value)
				m->free_value(s->value);
		}
	}
	free(m->slots);
	free(m);
}

static struct slot *find(const struct hashmap *m, const char *key)
{
	size_t i = hash_str(key) & (m->cap - 1);
	for (;;) {
		struct slot *s = &m->slots[i];
		if (!s->key)
			return NULL;
		if (s->key != TOMBSTONE && strcmp(s->key, key) == 0)
			return s;
		i = (i + 1) & (m->cap - 1);
	}
}

static void grow(struct hashmap *m)
{
	struct slot *old = m->slots;
	size_t old_cap = m->cap;

	m->cap = m->live * 4 > old_cap ? old_cap * 2 : old_cap;
	m->slots = xcalloc(m->cap, sizeof(struct slot));
	m->used = m->live;
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].key || old[i].key == TOMBSTONE)
			continue;
		size_t j = hash_str(old[i].key) & (m->cap - 1);
		while (m->slots[j].key)
			j = (j + 1) & (m->cap - 1);
		m->slots[j] = old[i];
	}
	free(old);
}

int hashmap_put(struct hashmap *m, const char *key, void *value)
{
	struct slot *s = find(m, key);
	if (s) {
		if (m->free_value && s->value != value)
			m->free_value(s->value);
		s->value = value;
		return 0;
	}
	if ((m->used + 1) * 2 > m->cap)
		grow(m);
	size_t i = hash_str(key) & (m->cap - 1);
	while (m->slots[i].key && m->slots[i].key != TOMBSTONE)
		i = (i + 1) & (m->cap - 1);
	if (!m->slots[i].key)
		m->used++;
	m->slots[i].key = xstrdup(key);
	m->slots[i].value = value;
	m->live++;
	return 0;
}

void *hashmap_get(const struct hashmap *m, const char *key)
{
	struct slot *s = find(m, key);
	return s ? s->value : NULL;
}

int hashmap_remove(struct hashmap *m, const char *key)
{
	struct slot *s = find(m, key);
	if (!s)
		return -ENOENT;
	free(s->key);
	if (m->free_value)
		m->free_value(s->value);
	s->key = TOMBSTONE;
	s->value = NULL;
	m->live--;
	return 0;
}

size_t hashmap_size(const struct hashmap *m) { return m->live; }

int hashmap_next(const struct hashmap *m, size_t *pos, const char **ret_key, void **ret_value)
{
	for (; *pos < m->cap; (*pos)++) {
		struct slot *s = &m->slots[*pos];
		if (s->key && s->key != TOMBSTONE) {
			if (ret_key)
				*ret_key = s->key;
			if (ret_value)
				*ret_value = s->value;
			(*pos)++;
			return 0;
		}
	}
	return -ENOENT;
}
