/* `multipathd show maps json` (lib/multipath.c): multipathd's report of every
 * map and path, parsed for GET /v1/devices and the path monitor.
 *
 * Properties: an accepted report gives as many maps as it says, every string
 * field is terminated within its buffer, and a map's usable paths are among
 * its paths. */
#include "fuzz/fuzz.h"

#include "lib/multipath.h"

#define TERMINATED(field) FUZZ_ASSERT(memchr((field), '\0', sizeof(field)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	struct mp_map *maps = NULL;
	size_t n = 0;

	fuzz_quiet();
	int r = multipath_parse_maps(text, &maps, &n);
	if (r >= 0) {
		FUZZ_ASSERT((size_t)r == n);
		for (size_t i = 0; i < n; i++) {
			TERMINATED(maps[i].wwid);
			TERMINATED(maps[i].name);
			TERMINATED(maps[i].vendor);
			TERMINATED(maps[i].product);
			TERMINATED(maps[i].queueing);
			for (size_t j = 0; j < maps[i].n_paths; j++) {
				TERMINATED(maps[i].paths[j].dev);
				TERMINATED(maps[i].paths[j].dm_state);
				TERMINATED(maps[i].paths[j].check_state);
				TERMINATED(maps[i].paths[j].target);
			}
			FUZZ_ASSERT(multipath_map_usable_paths(&maps[i]) <= maps[i].n_paths);
		}
		multipath_maps_free(maps, n);
	}
	free(text);
	return 0;
}
