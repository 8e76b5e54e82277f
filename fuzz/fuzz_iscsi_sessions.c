/* `iscsiadm -m session -P 3` (lib/iscsi.c): the sessions of this host, read
 * to make connecting idempotent and to list a connection's disks.
 *
 * Property: an accepted report gives as many sessions as it says, each with
 * at most its 8 disks and every field terminated within its buffer. */
#include "fuzz/fuzz.h"

#include "lib/iscsi.h"

#define TERMINATED(field) FUZZ_ASSERT(memchr((field), '\0', sizeof(field)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	struct iscsi_session *s = NULL;
	size_t n = 0;

	fuzz_quiet();
	int r = iscsi_parse_sessions(text, &s, &n);
	if (r >= 0) {
		FUZZ_ASSERT((size_t)r == n);
		for (size_t i = 0; i < n; i++) {
			TERMINATED(s[i].target);
			TERMINATED(s[i].portal);
			TERMINATED(s[i].state);
			FUZZ_ASSERT(s[i].n_disks <= sizeof(s[i].disks) / sizeof(s[i].disks[0]));
			for (size_t j = 0; j < s[i].n_disks; j++)
				TERMINATED(s[i].disks[j]);
		}
		free(s);
	}
	free(text);
	return 0;
}
