/* Which devices are shared: seen by every host connected to the pool. A pure
 * computation over each host's list of seen WWIDs, plus the registry of those
 * lists, per pool, that lease/sharing.c fills from the hosts' reports. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "lib/util/uuid.h"

struct host_wwids {
	int host_id;
	const char *const *wwids; /* NULL-terminated, any order, duplicates allowed */
};

/* The WWIDs that every one of hosts[0..n) sees, sorted, each once, as a
 * NULL-terminated array (allocated, strings too; free with
 * device_sharing_free). No host: nothing is shared. */
char **device_sharing_compute(const struct host_wwids *hosts, size_t n);
/* True when wwid is in every host's list (false when n == 0). */
bool device_sharing_is_shared(const struct host_wwids *hosts, size_t n, const char *wwid);
void device_sharing_free(char **wwids);

/* The registry: per pool this host is connected to, the WWID lists of the
 * pool's hosts as last read from its hosts area (lease/sharing.c replaces a
 * pool's set whenever it reads the reports again, and forgets it when this
 * host leaves the pool). Thread-safe. */
void device_sharing_set_pool(const char *pool, const struct host_wwids *hosts, size_t n);
void device_sharing_forget_pool(const char *pool);
/* The registry's state for wwid in pool (NULL: in every pool this host is
 * connected to): 1 shared, 0 not shared, -ENODATA when there is no such pool
 * or no pool at all (this host is in no pool). local_wwids, when given,
 * replaces the list recorded for local_host_id (fresher). ret_missing, when
 * given and the answer is 0: the ids of the hosts that do not see it,
 * ascending, 0-terminated (allocated). */
int device_sharing_state(const char *pool, const char *wwid, int local_host_id, const char *const *local_wwids,
			 unsigned **ret_missing);
