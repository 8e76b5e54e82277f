/* Field-by-field equality of two volume_meta (memcmp would compare padding). */
#pragma once
#include "fuzz/fuzz.h"
#include "lib/volume.h"

static inline void fuzz_meta_same(const struct volume_meta *a, const struct volume_meta *b)
{
	FUZZ_ASSERT(strcmp(a->uuid, b->uuid) == 0 && strcmp(a->image, b->image) == 0);
	FUZZ_ASSERT(strcmp(a->domain, b->domain) == 0 && strcmp(a->parent, b->parent) == 0);
	FUZZ_ASSERT(strcmp(a->parent_image, b->parent_image) == 0);
	FUZZ_ASSERT(strcmp(a->image_name, b->image_name) == 0);
	FUZZ_ASSERT(a->format == b->format && a->alloc == b->alloc && a->capacity == b->capacity);
	FUZZ_ASSERT(a->legal == b->legal && a->shared == b->shared);
	FUZZ_ASSERT(a->generation == b->generation && a->ctime == b->ctime);
}

