/* Pool roles: the SPM lease, lockspaces of pool domains, and the monitor
 * that demotes this host the moment either is lost. */
#include "lease/spm.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease/lease.h"
#include "lib/lvm.h"
#include "lib/mailbox.h"
#include "lib/metrics.h"
#include "lib/ops.h"
#include "lib/store.h"
#include "lib/task.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/hashmap.h"
#include "lib/util/log.h"
#include "lib/util/xalloc.h"

#define SPM_LEASE_NAME "SPM"
#define MONITOR_PERIOD_MS 500
#define HOLDER_READ_PERIOD_MS 2000
#define READ_REFRESH_MS 1000

enum role { ROLE_NONE, ROLE_STARTING, ROLE_SPM, ROLE_LOCAL };
static const char *const role_names[] = { "none", "starting", "spm", "local" };

struct domain_ls {
	char domain[UUID_STR_LEN];
	struct lockspace *ls;
};

/* Never freed while the service runs (the monitor holds pointers to it). */
struct pool_state {
	char uuid[UUID_STR_LEN];
	char master[UUID_STR_LEN];
	pthread_mutex_t lock; /* serialises start, stop and disconnect */
	atomic_int role;
	_Atomic uint64_t generation;
	atomic_uint holder; /* the SPM's host id as last seen, 0 if unknown */
	char *leases_path;  /* the master's leases area, once known (under lock) */
	uint64_t leases_offset;
	struct domain_ls *ls; /* under S.lock */
	size_t nls;
	int64_t next_holder_read_ms; /* monitor only */
	bool gone;                   /* disconnected (under S.lock) */
};

static struct {
	pthread_mutex_t lock; /* guards pools, read_at and each pool's ls array */
	struct hashmap *pools; /* uuid -> struct pool_state */
	struct hashmap *read_at; /* domain uuid -> int64_t * last rescan (ms) */
	struct spm_settings cfg;
	struct lease_client *client;
	pthread_t monitor;
	pthread_cond_t wake;
	bool running, stopping;
	bool sanlock_missing_logged; /* monitor only, after start */
} S = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };


static void pool_state_free(void *v)
{
	struct pool_state *p = v;
	for (size_t i = 0; i < p->nls; i++)
		lockspace_free(p->ls[i].ls);
	free(p->ls);
	free(p->leases_path);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static struct pool_state *pool_find(const char *uuid)
{
	MUTEX_SCOPE(&S.lock);
	struct pool_state *p = S.pools ? hashmap_get(S.pools, uuid) : NULL;
	return p && !p->gone ? p : NULL;
}

static int pool_find_or_fail(const char *uuid, struct pool_state **ret)
{
	*ret = pool_find(uuid);
	return *ret ? 0 : sp_not_found("pool %s is not connected on this host", uuid);
}

static struct pool_state *pool_add(const char *uuid)
{
	struct pool_state *p;
	{
		MUTEX_SCOPE(&S.lock);
		if ((p = hashmap_get(S.pools, uuid))) {
			p->gone = false; /* connected again: its lockspaces are joined again */
			return p;
		}
	}
	struct pool store_pool;
	p = xcalloc(1, sizeof(*p));
	snprintf(p->uuid, sizeof(p->uuid), "%s", uuid);
	if (store_get_pool(uuid, &store_pool) == 0)
		memcpy(p->master, store_pool.master, UUID_STR_LEN);
	pthread_mutex_init(&p->lock, NULL);
	atomic_store(&p->role, S.cfg.enabled ? ROLE_NONE : ROLE_LOCAL);
	atomic_store(&p->holder, S.cfg.enabled ? 0 : S.cfg.host_id);
	MUTEX_SCOPE(&S.lock);
	hashmap_put(S.pools, uuid, p);
	return p;
}

static void set_pool_writable(const char *pool, bool writable)
{
	_cleanup_free_ char (*domains)[UUID_STR_LEN] = NULL;
	size_t n = 0;
	store_pool_domains(pool, &domains, &n);
	for (size_t i = 0; i < n; i++)
		lvm_vg_set_read_only(domains[i], !writable);
}

/* ---- lockspaces ---- */

static struct lockspace *pool_lockspace(struct pool_state *p, const char *domain)
{
	MUTEX_SCOPE(&S.lock);
	for (size_t i = 0; i < p->nls; i++)
		if (strcmp(p->ls[i].domain, domain) == 0)
			return p->ls[i].ls;
	return NULL;
}

static int join_domain(struct pool_state *p, const char *domain, bool format)
{
	_cleanup_free_ char *path = NULL;
	struct lockspace *ls = NULL;
	struct domain d;
	uint64_t offset;
	int r;

	if ((ls = pool_lockspace(p, domain)))
		return lockspace_join(ls); /* joined already: not an error; left: joins again */
	if ((r = store_get_domain(domain, &d)) < 0 ||
	    (r = d.ops->lease_area(&d, "ids", LEASE_AREA_SIZE, &path, &offset)) < 0 ||
	    (r = lockspace_new(domain, path, offset, S.cfg.host_id, S.cfg.io_timeout, &ls)) < 0)
		return r;
	if ((format && (r = lockspace_format(ls)) < 0) || (r = lockspace_join(ls)) < 0) {
		lockspace_free(ls);
		return r;
	}
	MUTEX_SCOPE(&S.lock);
	p->ls = xrealloc(p->ls, (p->nls + 1) * sizeof(*p->ls));
	memcpy(p->ls[p->nls].domain, domain, UUID_STR_LEN);
	p->ls[p->nls++].ls = ls;
	log_info("pool %s: joining the lockspace of domain %s as host %u", p->uuid, domain, S.cfg.host_id);
	return 0;
}

static int join_pool(struct pool_state *p)
{
	_cleanup_free_ char (*domains)[UUID_STR_LEN] = NULL;
	size_t n = 0;
	int r = 0;

	store_pool_domains(p->uuid, &domains, &n);
	for (size_t i = 0; i < n; i++) {
		lvm_vg_set_read_only(domains[i], true);
		int q = join_domain(p, domains[i], false);
		if (q < 0) {
			log_error("pool %s: cannot join the lockspace of domain %s: %s", p->uuid, domains[i],
				  sp_error_last()->message);
			r = r < 0 ? r : q;
		}
	}
	return r;
}

/* ---- the SPM lease ---- */

static int spm_ref(struct pool_state *p, struct lease_ref *ret)
{
	struct domain d;
	int r;
	if (!p->leases_path) {
		if ((r = store_get_domain(p->master, &d)) < 0 ||
		    (r = d.ops->lease_area(&d, "leases", LEASE_AREA_SIZE, &p->leases_path, &p->leases_offset)) < 0)
			return r;
	}
	*ret = (struct lease_ref){ .lockspace = p->master, .name = SPM_LEASE_NAME, .path = p->leases_path,
				   .offset = p->leases_offset };
	return 0;
}

/* Stops every write at once; the lease is gone or going. */
static void demote(struct pool_state *p, int from, const char *why)
{
	int expected = from;
	if (!atomic_compare_exchange_strong(&p->role, &expected, ROLE_NONE))
		return;
	atomic_store(&p->holder, 0);
	set_pool_writable(p->uuid, false);
	mailbox_serve_stop(p->uuid);
	metrics_lease_state(p->master, SPM_LEASE_NAME, "lost");
	log_error("pool %s: no longer SPM (generation %" PRIu64 "): %s", p->uuid, atomic_load(&p->generation), why);
}

/* Makes this host's inbox slot of the pool's mailbox known to any SPM. */
static void announce(const char *pool)
{
	if (mailbox_announce(pool, S.cfg.host_id) < 0)
		log_warning("pool %s: cannot announce this host in the mailbox: %s", pool, sp_error_last()->message);
}

int spm_pool_created(const char *pool)
{
	struct lease_ref ref;
	int r;

	struct pool_state *p = pool_add(pool);
	if (!S.cfg.enabled)
		return 0;
	MUTEX_SCOPE(&p->lock);
	if ((r = spm_ref(p, &ref)) < 0 || (r = lease_format(&ref)) < 0)
		return r;
	lvm_vg_set_read_only(p->master, true);
	announce(pool);
	return join_domain(p, p->master, true);
}

int spm_pool_connected(const char *pool)
{
	struct pool_state *p = pool_add(pool);
	if (!S.cfg.enabled)
		return 0;
	announce(pool);
	return join_pool(p);
}

int spm_domain_added(const char *domain)
{
	struct domain d;
	struct pool_state *p;
	int r;
	if (!S.cfg.enabled || (r = store_get_domain(domain, &d)) < 0 || !d.pool[0] || !(p = pool_find(d.pool)))
		return 0;
	return join_domain(p, domain, true);
}

int spm_pool_disconnect(const char *pool)
{
	struct pool_state *p;
	int r;
	if ((r = pool_find_or_fail(pool, &p)) < 0)
		return r;
	MUTEX_SCOPE(&p->lock);
	int role = atomic_load(&p->role);
	if (role == ROLE_SPM || role == ROLE_STARTING)
		return sp_conflict("this host is the SPM of pool %s: stop the SPM first", pool);
	if ((r = store_pool_disconnect(pool)) < 0)
		return r;
	mailbox_forget(pool);
	pthread_mutex_lock(&S.lock);
	p->gone = true;
	size_t n = p->nls;
	pthread_mutex_unlock(&S.lock);
	/* leaving blocks for seconds: outside S.lock; the monitor skips a gone pool */
	for (size_t i = 0; i < n; i++)
		if (lockspace_leave(p->ls[i].ls) < 0)
			log_warning("pool %s: cannot leave lockspace %s: %s", pool, p->ls[i].domain, sp_error_last()->message);
	return 0;
}

int spm_start(const char *pool)
{
	struct lockspace_status ls = { 0 };
	struct lease_ref ref;
	struct pool_state *p;
	uint64_t generation = 0;
	unsigned owner = 0;
	int r;

	if ((r = pool_find_or_fail(pool, &p)) < 0)
		return r;
	if (!S.cfg.enabled)
		return 0; /* role local: this host manages the pool alone */
	if (!S.client)
		return sp_conflict("pool %s: the sanlock daemon of this host is not reachable", pool);
	MUTEX_SCOPE(&p->lock);
	if (atomic_load(&p->role) == ROLE_SPM)
		return 0;
	struct lockspace *master_ls = pool_lockspace(p, p->master);
	if (!master_ls || lockspace_poll(master_ls, &ls) < 0 || ls.state != LOCKSPACE_JOINED)
		return sp_conflict("pool %s: this host has not joined the lockspace of master domain %s yet (%s, %u%%)",
				   pool, p->master, master_ls ? lockspace_state_name(ls.state) : "not started", ls.progress);
	if ((r = spm_ref(p, &ref)) < 0)
		return r;
	r = lease_acquire(S.client, &ref, &generation, &owner);
	if (r == -EEXIST)
		r = lease_held_generation(S.client, &ref, &generation);
	if (r == -SP_E_LEASE_HELD) {
		atomic_store(&p->holder, owner);
		sp_error_set_spm_host(owner);
		return r;
	}
	if (r < 0)
		return r;
	atomic_store(&p->generation, generation);
	atomic_store(&p->role, ROLE_STARTING);
	metrics_lease_state(p->master, SPM_LEASE_NAME, "held");
	set_pool_writable(pool, true);

	/* another SPM changed the domains: read them again, then finish or roll
	 * back what it left journaled, before any new work */
	_cleanup_free_ char (*domains)[UUID_STR_LEN] = NULL;
	size_t n = 0;
	store_pool_domains(pool, &domains, &n);
	for (size_t i = 0; i < n; i++)
		if (store_domain_rescan(domains[i]) < 0)
			log_warning("pool %s: cannot read domain %s again: %s", pool, domains[i], sp_error_last()->message);
	if ((r = store_pool_set_spm(pool, generation, S.cfg.host_id)) < 0) {
		struct sp_error cause;
		sp_error_copy(&cause);
		demote(p, ROLE_STARTING, "cannot record the SPM generation");
		lease_release(S.client, &ref);
		return sp_error_set(cause.code, cause.kind, cause.field, "%s", cause.message);
	}
	ops_recover(pool);
	int expected = ROLE_STARTING;
	if (!atomic_compare_exchange_strong(&p->role, &expected, ROLE_SPM))
		return sp_error_set(-SP_E_NOT_SPM, "not_spm", "", "pool %s: the SPM lease was lost while starting", pool);
	atomic_store(&p->holder, S.cfg.host_id);
	log_info("pool %s: this host (%u) is SPM, generation %" PRIu64, pool, S.cfg.host_id, generation);
	/* the other hosts' extend requests, those left pending by the last SPM first */
	if (mailbox_serve_start(pool) < 0)
		log_error("pool %s: %s", pool, sp_error_last()->message);
	return 0;
}

int spm_stop(const char *pool)
{
	struct lease_ref ref;
	struct pool_state *p;
	int r;

	if ((r = pool_find_or_fail(pool, &p)) < 0)
		return r;
	if (!S.cfg.enabled)
		return sp_conflict("leases are disabled on this host (sanlock = no): it manages pool %s alone", pool);
	MUTEX_SCOPE(&p->lock);
	int expected = ROLE_SPM;
	if (!atomic_compare_exchange_strong(&p->role, &expected, ROLE_NONE))
		return 0;
	/* no new write from here; a task already queued keeps the SPM */
	_cleanup_free_ char (*domains)[UUID_STR_LEN] = NULL;
	size_t n = 0;
	store_pool_domains(pool, &domains, &n);
	for (size_t i = 0; i < n; i++)
		if (store_domain_has_tasks(domains[i])) {
			atomic_store(&p->role, ROLE_SPM);
			return sp_conflict("pool %s: tasks are queued or running on domain %s", pool, domains[i]);
		}
	set_pool_writable(pool, false);
	mailbox_serve_stop(pool);
	atomic_store(&p->holder, 0);
	if ((r = spm_ref(p, &ref)) < 0 || (r = lease_release(S.client, &ref)) < 0)
		return r;
	metrics_lease_state(p->master, SPM_LEASE_NAME, "free");
	log_info("pool %s: SPM stopped, lease released (generation %" PRIu64 ")", pool, atomic_load(&p->generation));
	return 0;
}

/* ---- checks ---- */

static int not_spm(struct pool_state *p, const char *pool)
{
	unsigned holder = p ? atomic_load(&p->holder) : 0;
	int role = p ? atomic_load(&p->role) : ROLE_NONE;
	if (role == ROLE_STARTING)
		sp_error_set(-SP_E_NOT_SPM, "not_spm", "", "this host is becoming the SPM of pool %s: try again", pool);
	else if (holder && holder != S.cfg.host_id)
		sp_error_set(-SP_E_NOT_SPM, "not_spm", "", "host %u is the SPM of pool %s, not this host", holder, pool);
	else
		sp_error_set(-SP_E_NOT_SPM, "not_spm", "", "this host is not the SPM of pool %s", pool);
	sp_error_set_spm_host(holder != S.cfg.host_id ? holder : 0);
	return -SP_E_NOT_SPM;
}

int spm_check_write(const char *pool)
{
	struct pool_state *p = pool_find(pool);
	struct pool known;
	if (!p && store_get_pool(pool, &known) < 0) {
		sp_error_clear(); /* no such pool here: the handler answers */
		return 0;
	}
	int role = p ? atomic_load(&p->role) : ROLE_NONE;
	return role == ROLE_SPM || role == ROLE_LOCAL ? 0 : not_spm(p, pool);
}

/* The store's guard: the recovery of a starting SPM writes too. */
static int guard(const char *pool, uint64_t *ret_generation)
{
	struct pool_state *p = pool_find(pool);
	int role = p ? atomic_load(&p->role) : ROLE_NONE;
	if (role != ROLE_SPM && role != ROLE_LOCAL && role != ROLE_STARTING)
		return not_spm(p, pool);
	*ret_generation = atomic_load(&p->generation);
	return 0;
}

void spm_before_read(const char *domain)
{
	struct domain d;
	struct pool_state *p;
	if (!S.cfg.enabled || store_get_domain(domain, &d) < 0 || !d.pool[0] || !(p = pool_find(d.pool))) {
		sp_error_clear();
		return;
	}
	int role = atomic_load(&p->role);
	if (role == ROLE_SPM || role == ROLE_STARTING)
		return;
	int64_t now = now_ms();
	{
		MUTEX_SCOPE(&S.lock);
		int64_t *at = hashmap_get(S.read_at, domain);
		if (at && now - *at < READ_REFRESH_MS)
			return;
		if (!at) {
			at = xmalloc(sizeof(*at));
			hashmap_put(S.read_at, domain, at);
		}
		*at = now;
	}
	if (store_domain_rescan(domain) < 0)
		log_warning("domain %s: cannot read its metadata again: %s", domain, sp_error_last()->message);
}

json_object *spm_pool_status(const char *pool)
{
	struct pool_state *p = pool_find(pool);
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	int role = p ? atomic_load(&p->role) : ROLE_NONE;
	unsigned holder = p ? atomic_load(&p->holder) : 0;

	json_object_object_add(o, "role", json_object_new_string(role_names[role]));
	json_object_object_add(o, "generation", json_object_new_int64(p ? (int64_t)atomic_load(&p->generation) : 0));
	json_object_object_add(o, "spm_host", holder ? json_object_new_int((int)holder) : NULL);
	json_object_object_add(o, "host_id", json_object_new_int((int)S.cfg.host_id));
	pthread_mutex_lock(&S.lock);
	size_t n = p ? p->nls : 0;
	struct domain_ls *ls = n ? xmemdup(p->ls, n * sizeof(*ls)) : NULL;
	pthread_mutex_unlock(&S.lock);
	for (size_t i = 0; i < n; i++) {
		struct lockspace_status st;
		json_object *l = json_object_new_object();
		lockspace_poll(ls[i].ls, &st);
		json_object_object_add(l, "domain", json_object_new_string(ls[i].domain));
		json_object_object_add(l, "state", json_object_new_string(lockspace_state_name(st.state)));
		json_object_object_add(l, "progress", json_object_new_int((int)st.progress));
		json_object_object_add(l, "io_timeout", json_object_new_int((int)st.io_timeout));
		json_object_object_add(l, "join_seconds", json_object_new_double(st.join_time));
		json_object_array_add(a, l);
	}
	free(ls);
	json_object_object_add(o, "lockspaces", a);
	return o;
}

/* ---- monitor ---- */

static void check_pool(struct pool_state *p)
{
	struct lockspace *master_ls = NULL;
	struct lockspace_status st;
	struct lease_ref ref;

	pthread_mutex_lock(&S.lock);
	bool gone = p->gone;
	size_t n = p->nls;
	struct domain_ls *ls = n ? xmemdup(p->ls, n * sizeof(*ls)) : NULL;
	pthread_mutex_unlock(&S.lock);
	if (gone) {
		free(ls);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		static const char *const lease_states[] = { [LOCKSPACE_IDLE] = "free", [LOCKSPACE_JOINING] = "acquiring",
							    [LOCKSPACE_JOINED] = "held", [LOCKSPACE_FAILED] = "lost",
							    [LOCKSPACE_LOST] = "lost" };
		lockspace_poll(ls[i].ls, &st);
		metrics_lease_state(ls[i].domain, "", lease_states[st.state]);
		if (strcmp(ls[i].domain, p->master) == 0)
			master_ls = ls[i].ls;
	}
	free(ls);

	int role = atomic_load(&p->role);
	if (role == ROLE_SPM || role == ROLE_STARTING) {
		uint64_t held = 0;
		if (!master_ls || lockspace_poll(master_ls, &st) < 0 || st.state != LOCKSPACE_JOINED)
			demote(p, role, "the lockspace of the master domain is lost");
		else if (!p->leases_path || spm_ref(p, &ref) < 0 || lease_held_generation(S.client, &ref, &held) < 0 ||
			 held != atomic_load(&p->generation))
			demote(p, role, "the SPM lease is no longer held");
	} else if (role == ROLE_NONE && master_ls && now_ms() >= p->next_holder_read_ms &&
		   pthread_mutex_trylock(&p->lock) == 0) {
		/* who holds the lease, for the 409s (skipped while a start or stop runs) */
		struct lease_info info;
		p->next_holder_read_ms = now_ms() + HOLDER_READ_PERIOD_MS;
		if (atomic_load(&p->role) == ROLE_NONE && lockspace_poll(master_ls, &st) == 0 &&
		    st.state == LOCKSPACE_JOINED && spm_ref(p, &ref) == 0 && lease_read(&ref, &info) == 0)
			atomic_store(&p->holder, info.held ? info.owner_host_id : 0);
		pthread_mutex_unlock(&p->lock);
	}
	sp_error_clear();
}

static void connect_sanlock(void);

static void *monitor(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&S.lock);
	while (!S.stopping) {
		size_t pos = 0, n = 0;
		void *v;
		struct pool_state **pools = xcalloc(hashmap_size(S.pools) + 1, sizeof(*pools));
		while (hashmap_next(S.pools, &pos, NULL, &v) == 0)
			pools[n++] = v;
		pthread_mutex_unlock(&S.lock);
		connect_sanlock();
		for (size_t i = 0; i < n && S.client; i++)
			check_pool(pools[i]);
		free(pools);
		pthread_mutex_lock(&S.lock);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += MONITOR_PERIOD_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		if (!S.stopping)
			pthread_cond_timedwait(&S.wake, &S.lock, &until);
	}
	pthread_mutex_unlock(&S.lock);
	return NULL;
}

/* ---- service ---- */

/* Registers with the host's sanlock daemon and joins every known pool's
 * lockspaces; until then the pools have no SPM here. Monitor thread or start. */
static void connect_sanlock(void)
{
	if (S.client)
		return;
	if (lease_client_open(&S.client) < 0) {
		S.client = NULL;
		if (!S.sanlock_missing_logged)
			log_error("cannot connect to the sanlock daemon (trying again): %s", sp_error_last()->message);
		S.sanlock_missing_logged = true;
		return;
	}
	log_info("connected to the sanlock daemon as host %u", S.cfg.host_id);
	_cleanup_json_ json_object *pools = store_pools_json();
	for (size_t i = 0; i < json_object_array_length(pools); i++) {
		struct pool_state *p = pool_find(json_object_get_string(
			json_object_object_get(json_object_array_get_idx(pools, i), "uuid")));
		if (p)
			join_pool(p);
	}
}

int spm_service_start(const struct spm_settings *s)
{
	int r;

	S.cfg = *s;
	S.pools = hashmap_new(pool_state_free);
	S.read_at = hashmap_new(free);
	store_set_write_guard(guard);
	_cleanup_json_ json_object *pools = store_pools_json();
	for (size_t i = 0; i < json_object_array_length(pools); i++) {
		const char *uuid = json_object_get_string(json_object_object_get(json_object_array_get_idx(pools, i), "uuid"));
		struct pool_state *p = pool_add(uuid);
		if (S.cfg.enabled) {
			set_pool_writable(p->uuid, false);
			announce(p->uuid);
		}
	}
	if (!S.cfg.enabled)
		return 0;
	/* without its sanlock daemon (not started yet, restarting) the agent
	 * still serves; the monitor connects and joins once it answers */
	connect_sanlock();
	S.stopping = false;
	if ((r = -pthread_create(&S.monitor, NULL, monitor, NULL)) < 0)
		return log_error_errno(r, "cannot start the lease monitor");
	S.running = true;
	return 0;
}

void spm_service_stop(void)
{
	mailbox_serve_stop_all();
	if (S.running) {
		pthread_mutex_lock(&S.lock);
		S.stopping = true;
		pthread_cond_broadcast(&S.wake);
		pthread_mutex_unlock(&S.lock);
		pthread_join(S.monitor, NULL);
		S.running = false;
	}
	if (S.pools) {
		size_t pos = 0;
		void *v;
		while (hashmap_next(S.pools, &pos, NULL, &v) == 0) {
			struct pool_state *p = v;
			struct lease_ref ref;
			if (atomic_load(&p->role) == ROLE_SPM && spm_ref(p, &ref) == 0 && lease_release(S.client, &ref) == 0)
				log_info("pool %s: SPM lease released", p->uuid);
		}
	}
	lease_client_close(S.client);
	S.client = NULL;
	hashmap_free(S.pools);
	hashmap_free(S.read_at);
	S.pools = S.read_at = NULL;
	store_set_write_guard(NULL);
}
