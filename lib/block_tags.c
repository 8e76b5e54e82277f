#include "lib/block_tags.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/error.h"

static void add(struct block_tags *t, const char *key, const char *value)
{
	snprintf(t->v[t->n++], BLOCK_TAG_LEN, "sp.%s=%s", key, value);
}

static void add_u64(struct block_tags *t, const char *key, uint64_t value)
{
	char s[32];
	snprintf(s, sizeof(s), "%" PRIu64, value);
	add(t, key, s);
}

void block_tags_from_meta(const struct volume_meta *m, struct block_tags *ret)
{
	struct block_tags t = { .n = 0 };

	add(&t, "i", m->image);
	if (m->parent[0]) {
		add(&t, "p", m->parent);
		add(&t, "pi", m->parent_image);
	}
	if (m->image_name[0])
		add(&t, "n", m->image_name);
	add(&t, "f", vol_format_str(m->format));
	add(&t, "a", m->alloc == VOL_ALLOC_SPARSE ? "s" : "p");
	add_u64(&t, "c", m->capacity);
	add(&t, "l", m->legal ? "L" : "I");
	add(&t, "s", m->shared ? "1" : "0");
	add_u64(&t, "g", m->generation);
	add_u64(&t, "t", (uint64_t)m->ctime);
	if (m->spm_generation)
		add_u64(&t, "w", m->spm_generation);
	*ret = t;
}

static const char *find(char *const *tags, const char *key)
{
	char prefix[16];
	int n = snprintf(prefix, sizeof(prefix), "sp.%s=", key);
	for (; tags && *tags; tags++)
		if (strncmp(*tags, prefix, (size_t)n) == 0)
			return *tags + n;
	return NULL;
}

/* A number tag: decimal digits, at most INT64_MAX, as the API and the JSON
 * metadata hold these fields as int64 (a larger capacity would read back
 * negative there). */
static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	/* digits only: strtoull would take "-1" as 2^64-1 */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > INT64_MAX)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int corrupt(const char *lv, const char *key)
{
	return sp_error_set(-SP_E_CORRUPT, "corrupt", key, "LV %s has a missing or invalid tag sp.%s", lv, key);
}

int block_tags_to_meta(const char *domain, const char *lv, char *const *tags, struct volume_meta *ret)
{
	struct volume_meta m = { 0 };
	const char *image = find(tags, "i"), *parent = find(tags, "p"), *pimage = find(tags, "pi");
	const char *name = find(tags, "n"), *fmt = find(tags, "f"), *alloc = find(tags, "a");
	const char *legal = find(tags, "l"), *shared = find(tags, "s");
	uint64_t cap, gen, ctime;

	if (!image)
		return -ENOENT;
	if (!uuid_is_valid(lv))
		return corrupt(lv, "name");
	if (!uuid_is_valid(image))
		return corrupt(lv, "i");
	if (!parent != !pimage || (parent && (!uuid_is_valid(parent) || !uuid_is_valid(pimage))))
		return corrupt(lv, "p");
	if (name && (strlen(name) > NAME_MAX_LEN || !name_is_valid(name)))
		return corrupt(lv, "n");
	if (!fmt || vol_format_parse(fmt, &m.format) < 0)
		return corrupt(lv, "f");
	if (!alloc || (strcmp(alloc, "s") != 0 && strcmp(alloc, "p") != 0))
		return corrupt(lv, "a");
	if (parse_u64(find(tags, "c"), &cap) < 0 || cap == 0)
		return corrupt(lv, "c");
	if (!legal || (strcmp(legal, "L") != 0 && strcmp(legal, "I") != 0))
		return corrupt(lv, "l");
	if (!shared || (strcmp(shared, "0") != 0 && strcmp(shared, "1") != 0))
		return corrupt(lv, "s");
	if (parse_u64(find(tags, "g"), &gen) < 0)
		return corrupt(lv, "g");
	if (parse_u64(find(tags, "t"), &ctime) < 0)
		return corrupt(lv, "t");
	uint64_t writer = 0; /* sp.w: the SPM generation of the last write, absent when none */
	if (find(tags, "w") && parse_u64(find(tags, "w"), &writer) < 0)
		return corrupt(lv, "w");

	snprintf(m.uuid, sizeof(m.uuid), "%s", lv);
	snprintf(m.image, sizeof(m.image), "%s", image);
	snprintf(m.domain, sizeof(m.domain), "%s", domain);
	if (parent) {
		snprintf(m.parent, sizeof(m.parent), "%s", parent);
		snprintf(m.parent_image, sizeof(m.parent_image), "%s", pimage);
	}
	if (name)
		snprintf(m.image_name, sizeof(m.image_name), "%s", name);
	m.alloc = strcmp(alloc, "s") == 0 ? VOL_ALLOC_SPARSE : VOL_ALLOC_PREALLOCATED;
	m.capacity = cap;
	m.legal = strcmp(legal, "L") == 0;
	m.shared = strcmp(shared, "1") == 0;
	m.generation = gen;
	m.ctime = (int64_t)ctime;
	m.spm_generation = writer;
	*ret = m;
	return 0;
}

static bool contains(const struct block_tags *t, const char *tag)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i], tag) == 0)
			return true;
	return false;
}

void block_tags_diff(const struct block_tags *old, const struct block_tags *new, const char *add_out[BLOCK_TAGS_MAX + 1],
		     const char *del_out[BLOCK_TAGS_MAX + 1])
{
	size_t na = 0, nd = 0;
	for (size_t i = 0; i < new->n; i++)
		if (!contains(old, new->v[i]))
			add_out[na++] = new->v[i];
	for (size_t i = 0; i < old->n; i++)
		if (!contains(new, old->v[i]))
			del_out[nd++] = old->v[i];
	add_out[na] = NULL;
	del_out[nd] = NULL;
}
