#include "lib/util/stallpoint.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/util/log.h"

/* Whether path's first line is name. */
static bool names(const char *path, const char *name)
{
	char line[128];
	FILE *f = fopen(path, "re");
	bool match = false;

	if (!f)
		return false;
	if (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		match = strcmp(line, name) == 0;
	}
	fclose(f);
	return match;
}

void stallpoint(const char *name)
{
	const char *path = getenv("SANPOOL_TEST_STALL");

	if (!path || !names(path, name))
		return;
	log_warning("stall point %s reached: blocked while %s names it (SANPOOL_TEST_STALL)", name, path);
	while (names(path, name))
		nanosleep(&(struct timespec){ 0, 20 * 1000000L }, NULL);
	log_warning("stall point %s: released", name);
}
