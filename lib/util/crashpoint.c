#include "lib/util/crashpoint.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/log.h"

void crashpoint(const char *name)
{
	const char *at = getenv("SANPOOL_CRASH_AT");

	if (at && strcmp(at, name) == 0) {
		log_warning("crash point %s reached: killing self (SANPOOL_CRASH_AT)", name);
		raise(SIGKILL);
	}
}
