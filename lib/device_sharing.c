#include "lib/device_sharing.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/xalloc.h"

static bool in_list(const char *const *list, const char *wwid)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(list[i], wwid) == 0)
			return true;
	return false;
}

bool device_sharing_is_shared(const struct host_wwids *hosts, size_t n, const char *wwid)
{
	if (n == 0)
		return false;
	for (size_t h = 0; h < n; h++)
		if (!in_list(hosts[h].wwids, wwid))
			return false;
	return true;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **device_sharing_compute(const struct host_wwids *hosts, size_t n)
{
	size_t cap = 0, count = 0;
	char **out;

	/* a WWID every host sees is in the first host's list */
	for (size_t i = 0; n > 0 && hosts[0].wwids && hosts[0].wwids[i]; i++)
		cap++;
	out = xcalloc(cap + 1, sizeof(*out));
	for (size_t i = 0; i < cap; i++) {
		const char *w = hosts[0].wwids[i];
		bool dup = false;
		for (size_t j = 0; j < count && !dup; j++)
			dup = strcmp(out[j], w) == 0;
		if (!dup && device_sharing_is_shared(hosts, n, w))
			out[count++] = xstrdup(w);
	}
	qsort(out, count, sizeof(*out), cmp_str);
	return out;
}

void device_sharing_free(char **wwids)
{
	for (size_t i = 0; wwids && wwids[i]; i++)
		free(wwids[i]);
	free(wwids);
}

/* --- registry --------------------------------------------------------------- */

struct entry {
	int host_id;
	char **wwids;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *entries;
static size_t n_entries;

static char **copy_list(const char *const *wwids)
{
	size_t n = 0;
	while (wwids && wwids[n])
		n++;
	char **c = xcalloc(n + 1, sizeof(*c));
	for (size_t i = 0; i < n; i++)
		c[i] = xstrdup(wwids[i]);
	return c;
}

void device_sharing_forget(int host_id)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_entries; i++)
		if (entries[i].host_id == host_id) {
			device_sharing_free(entries[i].wwids);
			entries[i] = entries[--n_entries];
			break;
		}
	pthread_mutex_unlock(&lock);
}

void device_sharing_publish(int host_id, const char *const *wwids)
{
	char **c = copy_list(wwids);
	pthread_mutex_lock(&lock);
	size_t i = 0;
	while (i < n_entries && entries[i].host_id != host_id)
		i++;
	if (i == n_entries) {
		entries = xrealloc(entries, (n_entries + 1) * sizeof(*entries));
		entries[n_entries++] = (struct entry){ host_id, NULL };
	}
	device_sharing_free(entries[i].wwids);
	entries[i].wwids = c;
	pthread_mutex_unlock(&lock);
}

int device_sharing_state(const char *wwid, int local_host_id, const char *const *local_wwids)
{
	pthread_mutex_lock(&lock);
	if (n_entries == 0) {
		pthread_mutex_unlock(&lock);
		return -ENODATA;
	}
	struct host_wwids *hosts = xcalloc(n_entries, sizeof(*hosts));
	for (size_t i = 0; i < n_entries; i++) {
		hosts[i].host_id = entries[i].host_id;
		hosts[i].wwids = entries[i].host_id == local_host_id && local_wwids ? local_wwids
										    : (const char *const *)entries[i].wwids;
	}
	bool shared = device_sharing_is_shared(hosts, n_entries, wwid);
	pthread_mutex_unlock(&lock);
	free(hosts);
	return shared;
}
