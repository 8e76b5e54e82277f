#include "lib/device_sharing.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/cleanup.h"
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

struct pool_hosts {
	char pool[UUID_STR_LEN];
	size_t n;
	int *host_ids;
	char ***wwids; /* per host */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool_hosts *pools;
static size_t n_pools;

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

static void pool_hosts_clear(struct pool_hosts *p)
{
	for (size_t i = 0; i < p->n; i++)
		device_sharing_free(p->wwids[i]);
	free(p->wwids);
	free(p->host_ids);
}

static size_t pool_index(const char *pool)
{
	size_t i = 0;
	while (i < n_pools && strcmp(pools[i].pool, pool) != 0)
		i++;
	return i;
}

void device_sharing_forget_pool(const char *pool)
{
	MUTEX_SCOPE(&lock);
	size_t i = pool_index(pool);
	if (i < n_pools) {
		pool_hosts_clear(&pools[i]);
		pools[i] = pools[--n_pools];
	}
}

void device_sharing_set_pool(const char *pool, const struct host_wwids *hosts, size_t n)
{
	struct pool_hosts c = { .n = n, .host_ids = xcalloc(n + 1, sizeof(int)), .wwids = xcalloc(n + 1, sizeof(char **)) };
	snprintf(c.pool, sizeof(c.pool), "%s", pool);
	for (size_t i = 0; i < n; i++) {
		c.host_ids[i] = hosts[i].host_id;
		c.wwids[i] = copy_list(hosts[i].wwids);
	}
	MUTEX_SCOPE(&lock);
	size_t i = pool_index(pool);
	if (i == n_pools)
		pools = xrealloc(pools, ++n_pools * sizeof(*pools));
	else
		pool_hosts_clear(&pools[i]);
	pools[i] = c;
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

int device_sharing_state(const char *pool, const char *wwid, int local_host_id, const char *const *local_wwids,
			 unsigned **ret_missing)
{
	size_t n_missing = 0, found = 0;
	unsigned *missing = NULL;

	MUTEX_SCOPE(&lock);
	for (size_t p = 0; p < n_pools; p++) {
		if (pool && strcmp(pools[p].pool, pool) != 0)
			continue;
		found++;
		for (size_t h = 0; h < pools[p].n; h++) {
			const char *const *list = pools[p].host_ids[h] == local_host_id && local_wwids
							  ? local_wwids
							  : (const char *const *)pools[p].wwids[h];
			bool dup = false;
			if (in_list(list, wwid))
				continue;
			for (size_t j = 0; j < n_missing && !dup; j++)
				dup = missing[j] == (unsigned)pools[p].host_ids[h];
			if (!dup) {
				missing = xrealloc(missing, (n_missing + 2) * sizeof(*missing));
				missing[n_missing++] = (unsigned)pools[p].host_ids[h];
			}
		}
	}
	if (!found)
		return -ENODATA;
	if (ret_missing && n_missing) {
		qsort(missing, n_missing, sizeof(*missing), cmp_uint);
		missing[n_missing] = 0;
		*ret_missing = missing;
	} else {
		free(missing);
	}
	return n_missing == 0;
}
