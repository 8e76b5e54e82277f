/* `multipathd show paths raw format MP_PATHS_FORMAT` (lib/multipath.c): one
 * path a line, read by the path monitor every few seconds.
 *
 * Property: an accepted report gives as many lines as it says, each field
 * terminated within its buffer. */
#include "fuzz/fuzz.h"

#include "lib/multipath.h"

#define TERMINATED(field) FUZZ_ASSERT(memchr((field), '\0', sizeof(field)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	struct mp_path_line *lines = NULL;
	size_t n = 0;

	fuzz_quiet();
	int r = multipath_parse_paths(text, &lines, &n);
	if (r >= 0) {
		FUZZ_ASSERT((size_t)r == n);
		for (size_t i = 0; i < n; i++) {
			TERMINATED(lines[i].wwid);
			TERMINATED(lines[i].path.dev);
			TERMINATED(lines[i].path.dm_state);
			TERMINATED(lines[i].path.check_state);
			TERMINATED(lines[i].path.dev_state);
		}
		free(lines);
	}
	free(text);
	return 0;
}
