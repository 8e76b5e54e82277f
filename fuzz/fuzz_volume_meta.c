/* Volume metadata JSON (lib/volume.c): the .meta files of a file domain, on
 * shared (NFS) storage any host may have written. Parsed as lib/domain_file.c
 * does (json-c, then volume_meta_from_json).
 *
 * Property: accepted metadata survives a round trip through its JSON form. */
#include "fuzz/fuzz.h"
#include "fuzz/meta_same.h"

#include "lib/volume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	json_object *o = json_tokener_parse(text);
	struct volume_meta m, again;

	fuzz_quiet();
	if (o && volume_meta_from_json(o, &m) == 0) {
		json_object *out = volume_meta_to_json(&m);
		/* through text, as the file is written and read again */
		json_object *back = json_tokener_parse(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
		FUZZ_ASSERT(back && volume_meta_from_json(back, &again) == 0);
		fuzz_meta_same(&m, &again);
		json_object_put(back);
		json_object_put(out);
	}
	json_object_put(o);
	free(text);
	return 0;
}
