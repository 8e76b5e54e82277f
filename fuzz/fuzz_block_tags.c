/* LV tags -> volume metadata (lib/block_tags.c): what a host believes about a
 * volume on shared storage, from tags any host (or an operator's lvchange)
 * may have written. Input: the LV name on the first line, then one tag a
 * line, as `lvs -o lv_name,lv_tags` would give them.
 *
 * Properties: metadata accepted from tags survives a round trip through the
 * tags the agent writes (block_tags_from_meta), and through the JSON form the
 * API serves and file domains store (volume_meta_to_json). */
#include "fuzz/fuzz.h"
#include "fuzz/meta_same.h"

#include "lib/block_tags.h"

#define DOMAIN "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	char *tags[64];
	size_t n = 0;
	struct volume_meta m, again;

	fuzz_quiet();
	char *lv = text, *p = strchr(text, '\n');
	if (p)
		*p++ = '\0';
	while (p && *p && n < sizeof(tags) / sizeof(tags[0]) - 1) {
		tags[n++] = p;
		p = strchr(p, '\n');
		if (p)
			*p++ = '\0';
	}
	tags[n] = NULL;

	if (block_tags_to_meta(DOMAIN, lv, tags, &m) == 0) {
		struct block_tags t;
		char *out[BLOCK_TAGS_MAX + 1];

		block_tags_from_meta(&m, &t);
		for (size_t i = 0; i < t.n; i++) {
			/* a tag cut short by its fixed buffer would silently change the volume */
			FUZZ_ASSERT(strlen(t.v[i]) < BLOCK_TAG_LEN - 1);
			out[i] = t.v[i];
		}
		out[t.n] = NULL;
		FUZZ_ASSERT(block_tags_to_meta(DOMAIN, lv, out, &again) == 0);
		fuzz_meta_same(&m, &again);

		json_object *o = volume_meta_to_json(&m);
		FUZZ_ASSERT(volume_meta_from_json(o, &again) == 0);
		fuzz_meta_same(&m, &again);
		json_object_put(o);
	}
	free(text);
	return 0;
}
