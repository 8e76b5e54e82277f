/* Which devices are shared: seen by every host connected to the pool. A pure
 * computation over each host's list of seen WWIDs, plus the registry of those
 * lists that the pool connection fills (device_sharing_publish). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

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

/* The registry. The pool connection (lead: pool connect) calls
 * device_sharing_publish for every host connected to the pool, this host
 * included, whenever a host's list changes, and device_sharing_forget when a
 * host leaves the pool. Thread-safe. */
void device_sharing_publish(int host_id, const char *const *wwids);
void device_sharing_forget(int host_id);
/* The registry's state for wwid: 1 shared, 0 not shared, -ENODATA when no
 * host published anything (the host is in no pool yet). local_wwids, when
 * given, replaces the list published for local_host_id (fresher). */
int device_sharing_state(const char *wwid, int local_host_id, const char *const *local_wwids);
