/* A block volume's metadata as LV tags. Every field is one short tag
 * ("sp.<key>=<value>"), so a change is one lvchange adding the new tags and
 * deleting the old in a single metadata commit, and each LV adds as little
 * text as possible to the VG metadata that every LVM command re-parses. */
#pragma once
#include <stddef.h>

#include "lib/volume.h"

#define BLOCK_TAGS_MAX 12
#define BLOCK_TAG_LEN 128

struct block_tags {
	char v[BLOCK_TAGS_MAX][BLOCK_TAG_LEN];
	size_t n;
};

void block_tags_from_meta(const struct volume_meta *m, struct block_tags *ret);
/* Parses an LV's tags (NULL-terminated) into *ret; lv is the volume uuid and
 * domain the VG's. -ENOENT when the LV is not a volume (no image tag),
 * -SP_E_CORRUPT (recorded) when a tag is missing or invalid. */
int block_tags_to_meta(const char *domain, const char *lv, char *const *tags, struct volume_meta *ret);
/* What to add and delete to go from old to new (each NULL-terminated, pointing into old/new). */
void block_tags_diff(const struct block_tags *old, const struct block_tags *new, const char *add[BLOCK_TAGS_MAX + 1],
		     const char *del[BLOCK_TAGS_MAX + 1]);
