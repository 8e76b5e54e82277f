/* Device sharing across the hosts of a pool (see sharing.h). */
#include "lease/sharing.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lease/lease.h"
#include "lib/device_sharing.h"
#include "lib/devices.h"
#include "lib/host_report.h"
#include "lib/store.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/hashmap.h"
#include "lib/util/log.h"
#include "lib/util/xalloc.h"

/* What this host last published in a pool. */
struct published {
	char *list;    /* the WWIDs joined by '\n' ("" for none); NULL: nothing published */
	bool leaving;  /* being disconnected: publish nothing */
};

static struct {
	pthread_mutex_t lock; /* serialises refreshes (thread and API) and guards what follows */
	struct hashmap *pools; /* pool uuid -> struct published */
	unsigned host_id;
	bool leases;
	uint64_t seq;
	pthread_t thread;
	pthread_cond_t wake;
	bool running, stopping;
} S = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

static void published_free(void *v)
{
	struct published *p = v;
	free(p->list);
	free(p);
}

static struct published *published_of(const char *pool)
{
	struct published *p = hashmap_get(S.pools, pool);
	if (!p) {
		p = xcalloc(1, sizeof(*p));
		hashmap_put(S.pools, pool, p);
	}
	return p;
}

static char *joined(const char *const *wwids)
{
	size_t len = 1;
	for (size_t i = 0; wwids[i]; i++)
		len += strlen(wwids[i]) + 1;
	char *s = xcalloc(1, len), *p = s;
	for (size_t i = 0; wwids[i]; i++) {
		size_t l = strlen(wwids[i]);
		memcpy(p, wwids[i], l);
		p[l] = '\n';
		p += l + 1;
	}
	return s;
}

/* This host's WWIDs; with multipath unavailable, none. */
static char **local_wwids(void)
{
	char **w = devices_seen_wwids();
	sp_error_clear();
	return w ? w : xcalloc(1, sizeof(char *));
}

static int master_area(const char *pool, char **ret_path, uint64_t *ret_offset)
{
	struct pool p;
	struct domain d;
	int r;
	if ((r = store_get_pool(pool, &p)) < 0 || (r = store_get_domain(p.master, &d)) < 0)
		return r;
	return d.ops->hosts_area(&d, ret_path, ret_offset);
}

static int publish(const char *pool, const char *path, uint64_t offset, char **wwids)
{
	size_t n = 0;
	while (wwids[n])
		n++;
	struct host_report r = { .host_id = S.host_id, .seq = ++S.seq, .time = (int64_t)time(NULL), .wwids = wwids, .n = n };
	snprintf(r.pool, sizeof(r.pool), "%s", pool);
	int e = host_report_write(path, offset, &r);
	if (e == 0)
		log_info("pool %s: this host's report published: %zu devices", pool, n);
	return e;
}

/* Publishes this host's list if it changed (or was never published), then
 * reads the live hosts' reports into the registry. Under S.lock. */
static int refresh_pool(const char *pool, char **local)
{
	_cleanup_free_ char *path = NULL;
	uint64_t offset;
	int r;

	struct published *pub = published_of(pool);
	if (pub->leaving)
		return 0;
	if (!S.leases) {
		/* the pool's only host: nothing to publish, nobody to read */
		device_sharing_set_pool(pool, &(struct host_wwids){ (int)S.host_id, (const char *const *)local }, 1);
		return 0;
	}
	if ((r = master_area(pool, &path, &offset)) < 0)
		return r;
	_cleanup_free_ char *now = joined((const char *const *)local);
	if (!pub->list || strcmp(pub->list, now) != 0) {
		if ((r = publish(pool, path, offset, local)) < 0)
			return r;
		free(pub->list);
		pub->list = TAKE_PTR(now);
	}

	_cleanup_free_ unsigned *ids = NULL;
	size_t n = 0;
	struct pool p;
	if ((r = store_get_pool(pool, &p)) < 0 || (r = lockspace_live_hosts(p.master, &ids, &n)) < 0)
		return r; /* not joined yet: who else is there is not known, the registry keeps what it had */
	struct host_wwids *hosts = xcalloc(n + 1, sizeof(*hosts));
	struct host_report *reports = xcalloc(n + 1, sizeof(*reports));
	size_t nh = 0;
	for (size_t i = 0; i < n; i++) {
		if (ids[i] == S.host_id)
			continue; /* this host's list is fresh: local */
		struct host_report *rep = &reports[nh];
		int e = host_report_read(path, offset, ids[i], rep);
		if (e == 0 && strcmp(rep->pool, pool) == 0) {
			hosts[nh].host_id = (int)ids[i];
			hosts[nh].wwids = (const char *const *)rep->wwids;
			nh++;
		} else {
			/* a live host without a report of this pool (an older agent, or one
			 * still connecting) does not count: it has not said what it sees */
			if (e < 0 && e != -ENOENT)
				log_debug("pool %s: %s", pool, sp_error_last()->message);
			host_report_clear(rep);
		}
	}
	/* this host is in the pool whatever its own lockspace view says */
	hosts[nh].host_id = (int)S.host_id;
	hosts[nh].wwids = (const char *const *)local;
	device_sharing_set_pool(pool, hosts, nh + 1);
	for (size_t i = 0; i < nh; i++)
		host_report_clear(&reports[i]);
	free(reports);
	free(hosts);
	return 0;
}

static void refresh_all(void)
{
	char **local = local_wwids();
	_cleanup_json_ json_object *pools = store_pools_json();
	MUTEX_SCOPE(&S.lock);
	for (size_t i = 0; i < json_object_array_length(pools); i++) {
		const char *pool = json_object_get_string(json_object_object_get(json_object_array_get_idx(pools, i), "uuid"));
		if (pool && refresh_pool(pool, local) < 0)
			log_debug("pool %s: device sharing not refreshed: %s", pool, sp_error_last()->message);
	}
	device_sharing_free(local);
	sp_error_clear();
}

static void *sharing_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&S.lock);
	while (!S.stopping) {
		pthread_mutex_unlock(&S.lock);
		refresh_all();
		pthread_mutex_lock(&S.lock);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += SHARING_PERIOD_MS % 1000 * 1000000L;
		until.tv_sec += SHARING_PERIOD_MS / 1000 + until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		if (!S.stopping)
			pthread_cond_timedwait(&S.wake, &S.lock, &until);
	}
	pthread_mutex_unlock(&S.lock);
	return NULL;
}

int sharing_service_start(unsigned host_id, bool leases)
{
	S.host_id = host_id;
	S.leases = leases;
	S.pools = hashmap_new(published_free);
	/* a report's sequence grows across restarts too */
	S.seq = (uint64_t)time(NULL) * 1000;
	S.stopping = false;
	/* once before the API answers: this host's reports are on storage (and
	 * the registry filled where the lockspaces are joined) from the start */
	refresh_all();
	int r = -pthread_create(&S.thread, NULL, sharing_main, NULL);
	if (r < 0)
		return log_error_errno(r, "cannot start the device sharing thread");
	S.running = true;
	return 0;
}

void sharing_service_stop(void)
{
	if (S.running) {
		pthread_mutex_lock(&S.lock);
		S.stopping = true;
		pthread_cond_broadcast(&S.wake);
		pthread_mutex_unlock(&S.lock);
		pthread_join(S.thread, NULL);
		S.running = false;
	}
	hashmap_free(S.pools);
	S.pools = NULL;
}

void sharing_pool_joined(const char *pool)
{
	if (!S.running)
		return;
	char **local = local_wwids();
	MUTEX_SCOPE(&S.lock);
	struct published *pub = published_of(pool);
	pub->leaving = false;
	free(pub->list);
	pub->list = NULL; /* publish again, whatever was there */
	if (refresh_pool(pool, local) < 0)
		log_warning("pool %s: cannot publish this host's devices yet (trying again): %s", pool,
			    sp_error_last()->message);
	device_sharing_free(local);
	sp_error_clear();
}

void sharing_pool_leaving(const char *pool)
{
	_cleanup_free_ char *path = NULL;
	uint64_t offset;
	if (!S.running)
		return;
	MUTEX_SCOPE(&S.lock);
	struct published *pub = published_of(pool);
	pub->leaving = true;
	free(pub->list);
	pub->list = NULL;
	device_sharing_forget_pool(pool);
	if (master_area(pool, &path, &offset) < 0 || host_report_erase(path, offset, S.host_id) < 0)
		log_warning("pool %s: cannot erase this host's report: %s", pool, sp_error_last()->message);
	sp_error_clear();
}

int sharing_check_devices(const char *pool, const char *const *devs, bool force, const char *field)
{
	if (!pool || !pool[0] || !devs)
		return 0;
	char **local = local_wwids();
	int r;
	{
		MUTEX_SCOPE(&S.lock);
		if (S.running && (r = refresh_pool(pool, local)) < 0)
			log_warning("pool %s: which hosts see the devices is not refreshed: %s", pool, sp_error_last()->message);
	}
	r = 0;
	for (size_t i = 0; devs[i] && r == 0; i++) {
		_cleanup_free_ char *wwid = NULL;
		_cleanup_free_ unsigned *missing = NULL;
		/* no multipath map: known by its path to this host alone */
		if (devices_wwid_of(devs[i], &wwid) < 0)
			wwid = xstrdup(devs[i]);
		size_t n = 0;
		while (local[n])
			n++;
		const char **mine = xcalloc(n + 2, sizeof(*mine));
		memcpy(mine, local, n * sizeof(*mine));
		mine[n] = wwid;
		int shared = device_sharing_state(pool, wwid, (int)S.host_id, mine, &missing);
		free(mine);
		sp_error_clear();
		if (shared == -ENODATA) {
			if (!force)
				r = sp_error_set(-SP_E_CONFLICT, "sharing_unknown", field,
						 "pool %s: which hosts see %s is not known yet (this host has not joined the "
						 "master's lockspace); set force to use it anyway", pool, devs[i]);
			continue;
		}
		if (shared)
			continue;
		char hosts[256] = "";
		json_object *d = json_object_new_object(), *ids = json_object_new_array();
		for (size_t j = 0; missing[j]; j++) {
			size_t l = strlen(hosts);
			snprintf(hosts + l, sizeof(hosts) - l, "%s%u", j ? ", " : "", missing[j]);
			json_object_array_add(ids, json_object_new_int((int)missing[j]));
		}
		if (force) {
			log_warning("pool %s: %s (WWID %s) is not seen by hosts %s, taken because force was set", pool, devs[i],
				    wwid, hosts);
		} else {
			r = sp_error_set(-SP_E_CONFLICT, "device_not_shared", field,
					 "%s (WWID %s) is not seen by every host of pool %s: not by host%s %s; set force to "
					 "use it anyway", devs[i], wwid, pool, missing[1] ? "s" : "", hosts);
			json_object_object_add(d, "device", json_object_new_string(devs[i]));
			json_object_object_add(d, "wwid", json_object_new_string(wwid));
			json_object_object_add(d, "hosts", ids);
			ids = NULL;
			sp_error_set_details(json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN));
		}
		json_object_put(ids);
		json_object_put(d);
	}
	device_sharing_free(local);
	return r;
}
