#include "lib/store.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/domain_block.h"
#include "lib/domain_file.h"
#include "lib/pool.h"
#include "lib/task.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/fsutil.h"
#include "lib/util/hashmap.h"
#include "lib/util/log.h"
#include "lib/util/sanlock_access.h"
#include "lib/util/xalloc.h"

static struct {
	pthread_rwlock_t lock;
	char *data_dir;
	struct hashmap *pools;   /* uuid -> struct pool */
	struct hashmap *domains; /* uuid -> struct domain */
	struct hashmap *volumes; /* uuid -> struct volume_meta */
	struct hashmap *busy;    /* image uuid -> task uuid (char *) */
} st = { .lock = PTHREAD_RWLOCK_INITIALIZER };

struct rdlock_guard {
	int dummy;
};
static void unlockp(struct rdlock_guard *g)
{
	(void)g;
	pthread_rwlock_unlock(&st.lock);
}
/* Scoped locks: released when the guard leaves scope. */
#define READ_LOCKED                                                        \
	_cleanup_(unlockp) struct rdlock_guard _guard_ = { 0 };            \
	(void)_guard_;                                                     \
	pthread_rwlock_rdlock(&st.lock)
#define WRITE_LOCKED                                                       \
	_cleanup_(unlockp) struct rdlock_guard _guard_ = { 0 };            \
	(void)_guard_;                                                     \
	pthread_rwlock_wrlock(&st.lock)

const char *store_data_dir(void) { return st.data_dir; }

static int load_volume(const struct volume_meta *m, void *userdata)
{
	(void)userdata;
	struct volume_meta *copy = xmalloc(sizeof(*copy));
	*copy = *m;
	hashmap_put(st.volumes, m->uuid, copy);
	return 0;
}

/* Opens the domain whose host-local entry is dir, whatever its kind. */
static int domain_open(const char *dir, struct domain *ret)
{
	if (domain_block_present(dir))
		return domain_block_open(dir, ret);
	return domain_file_open(dir, ret);
}

static int load_domain(const char *path)
{
	struct domain d;
	int r = domain_open(path, &d);
	if (r < 0)
		return log_error_errno(r, "cannot open storage domain at %s: %s", path, sp_error_last()->message);
	struct domain *copy = xmalloc(sizeof(*copy));
	*copy = d;
	hashmap_put(st.domains, d.uuid, copy);
	r = d.ops->meta_scan(copy, load_volume, NULL);
	if (r < 0)
		return log_error_errno(r, "cannot scan storage domain %s: %m", d.uuid);
	return 0;
}

static int load_domains(void)
{
	_cleanup_free_ char *dir = xasprintf("%s/domains", st.data_dir);
	DIR *dh = opendir(dir);
	struct dirent *de;

	if (!dh)
		return 0;
	while ((de = readdir(dh))) {
		if (strncmp(de->d_name, ".removing-", 10) == 0) {
			/* a file domain whose removal was cut short */
			_cleanup_free_ char *gone = xasprintf("%s/%s", dir, de->d_name);
			int r = rm_rf(gone);
			if (r < 0)
				log_warning("cannot remove %s, left by a domain removal: %s", gone, strerror(-r));
			continue;
		}
		if (!uuid_is_valid(de->d_name))
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
		/* a domain that cannot be read is logged and left out, not fatal:
		 * the others must stay available */
		load_domain(path);
	}
	closedir(dh);
	return 0;
}

static int pool_from_json(json_object *o, struct pool *ret)
{
	json_object *uuid, *name, *master;
	if (!json_object_object_get_ex(o, "uuid", &uuid) || !uuid_is_valid(json_object_get_string(uuid)) ||
	    !json_object_object_get_ex(o, "name", &name) || !name_is_valid(json_object_get_string(name)) ||
	    !json_object_object_get_ex(o, "master", &master) || !uuid_is_valid(json_object_get_string(master)))
		return -SP_E_CORRUPT;
	snprintf(ret->uuid, sizeof(ret->uuid), "%s", json_object_get_string(uuid));
	snprintf(ret->name, sizeof(ret->name), "%s", json_object_get_string(name));
	snprintf(ret->master, sizeof(ret->master), "%s", json_object_get_string(master));
	return 0;
}

static int load_pools(void)
{
	_cleanup_free_ char *dir = xasprintf("%s/pools", st.data_dir);
	DIR *dh = opendir(dir);
	struct dirent *de;

	if (!dh)
		return 0;
	while ((de = readdir(dh))) {
		size_t n = strlen(de->d_name);
		if (n != 41 || strcmp(de->d_name + 36, ".json") != 0)
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
		_cleanup_free_ char *data = NULL;
		_cleanup_json_ json_object *o = NULL;
		struct pool p;
		if (read_file(path, 65536, &data, NULL) < 0 || !(o = json_tokener_parse(data)) ||
		    pool_from_json(o, &p) < 0) {
			log_warning("skipping unreadable pool record %s", path);
			continue;
		}
		struct pool *copy = xmalloc(sizeof(*copy));
		*copy = p;
		hashmap_put(st.pools, p.uuid, copy);
	}
	closedir(dh);
	return 0;
}

int store_open(const char *data_dir)
{
	int r;

	st.data_dir = xstrdup(data_dir);
	st.pools = hashmap_new(free);
	st.domains = hashmap_new(free);
	st.volumes = hashmap_new(free);
	st.busy = hashmap_new(free);
	_cleanup_free_ char *domains = xasprintf("%s/domains", data_dir);
	_cleanup_free_ char *pools = xasprintf("%s/pools", data_dir);
	if ((r = mkdir_p(domains, 0755)) < 0 || (r = mkdir_p(pools, 0755)) < 0)
		return log_error_errno(r, "cannot create data directory %s: %m", data_dir);
	/* the file domains' lease files lie below it (systemd makes it 0750) */
	sanlock_access_dir(data_dir);
	load_pools();
	return load_domains();
}

void store_close(void)
{
	size_t pos = 0;
	void *v;
	while (hashmap_next(st.domains, &pos, NULL, &v) == 0)
		((struct domain *)v)->ops->close(v);
	hashmap_free(st.pools);
	hashmap_free(st.domains);
	hashmap_free(st.volumes);
	hashmap_free(st.busy);
	free(st.data_dir);
	st.pools = st.domains = st.volumes = st.busy = NULL;
	st.data_dir = NULL;
}

static int write_pool(const struct pool *p)
{
	_cleanup_free_ char *path = xasprintf("%s/pools/%s.json", st.data_dir, p->uuid);
	_cleanup_json_ json_object *o = json_object_new_object();
	size_t len;

	json_object_object_add(o, "uuid", json_object_new_string(p->uuid));
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "master", json_object_new_string(p->master));
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	int r = atomic_write_file(path, s, len);
	if (r < 0)
		return sp_error_set(r, "io_error", "", "cannot write pool record %s: %s", path, strerror(-r));
	return 0;
}

static bool name_taken(struct hashmap *m, size_t name_offset, const char *name)
{
	size_t pos = 0;
	void *v;
	while (hashmap_next(m, &pos, NULL, &v) == 0)
		if (strcmp((const char *)v + name_offset, name) == 0)
			return true;
	return false;
}

/* A domain is only ever formatted into an existing, empty directory: never
 * over somebody's files (a path of "/" must not become a domain). */
static int check_empty_dir(const char *path)
{
	DIR *dh = opendir(path);
	struct dirent *de;
	bool empty = true;

	if (!dh)
		return sp_bad_field("path", "path %s is not an existing directory: %m", path);
	while ((de = readdir(dh)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			empty = false;
	closedir(dh);
	if (!empty)
		return sp_error_set(-SP_E_CONFLICT, "conflict", "path", "directory %s is not empty", path);
	return 0;
}

/* Caller holds the write lock. */
static int domain_create_locked(const struct domain_spec *spec, char ret_uuid[UUID_STR_LEN])
{
	const char *name = spec->name, *pool = spec->pool, *path = spec->path;
	char uuid[UUID_STR_LEN];
	_cleanup_free_ char *link = NULL;
	int r;

	if (name_taken(st.domains, offsetof(struct domain, name), name))
		return sp_error_set(-SP_E_CONFLICT, "conflict", "name", "a domain named %s already exists", name);
	uuid_generate_str(uuid);
	link = xasprintf("%s/domains/%s", st.data_dir, uuid);
	if (spec->devices) {
		if ((r = domain_block_format(link, spec->devices, uuid, name, pool)) < 0)
			return r;
	} else if (path) {
		/* an outside directory (an NFS mount point) is reached through a link */
		if ((r = check_empty_dir(path)) < 0 || (r = domain_file_format(path, uuid, name, pool)) < 0)
			return r;
		if (symlink(path, link) < 0)
			return sp_error_set(-errno, "io_error", "path", "cannot link domain %s: %m", uuid);
	} else if ((r = domain_file_format(link, uuid, name, pool)) < 0) {
		return r;
	}
	_cleanup_free_ char *dir = xasprintf("%s/domains", st.data_dir);
	fsync_dir(dir);
	struct domain *d = xmalloc(sizeof(*d));
	if ((r = domain_open(link, d)) < 0) {
		free(d);
		return r;
	}
	hashmap_put(st.domains, d->uuid, d);
	memcpy(ret_uuid, uuid, UUID_STR_LEN);
	return 0;
}

static int update_pool_record_locked(const char *pool, void (*fn)(json_object *rec, void *userdata), void *userdata);
static void put_location(json_object *rec, void *domain);
static void drop_location(json_object *rec, void *uuid);

int store_domain_create(const struct domain_spec *spec, char ret_uuid[UUID_STR_LEN])
{
	WRITE_LOCKED;
	int r;
	if (spec->pool && spec->pool[0] && !hashmap_get(st.pools, spec->pool))
		return sp_error_set(-SP_E_BAD_REQUEST, "invalid_field", "pool", "pool %s does not exist", spec->pool);
	if ((r = domain_create_locked(spec, ret_uuid)) < 0 || !spec->pool || !spec->pool[0])
		return r;
	return update_pool_record_locked(spec->pool, put_location, hashmap_get(st.domains, ret_uuid));
}

/* Whether a task of the domain is queued or running (the task list is the
 * runner's; a task names the domain its record is journaled on). */
bool store_domain_has_tasks(const char *uuid)
{
	_cleanup_json_ json_object *tasks = task_list_json();
	for (size_t i = 0; i < json_object_array_length(tasks); i++) {
		json_object *t = json_object_array_get_idx(tasks, i);
		const char *state = json_object_get_string(json_object_object_get(t, "state"));
		const char *dom = json_object_get_string(json_object_object_get(t, "domain"));
		if (dom && strcmp(dom, uuid) == 0 && state &&
		    (strcmp(state, "queued") == 0 || strcmp(state, "running") == 0))
			return true;
	}
	return false;
}

static pthread_rwlock_t submissions = PTHREAD_RWLOCK_INITIALIZER;

void store_submission_begin(void) { pthread_rwlock_rdlock(&submissions); }
void store_submission_end(void) { pthread_rwlock_unlock(&submissions); }

static void submissions_unlockp(int *dummy)
{
	(void)dummy;
	pthread_rwlock_unlock(&submissions);
}

/* Undoes what attaching put under data_dir/domains (link or host record). */
static void unlink_domain_entry(const char *link, bool block)
{
	int r = block ? rm_rf(link) : (unlink(link) < 0 ? -errno : 0);
	if (r < 0)
		log_warning("cannot remove %s after a failed attach: %s", link, strerror(-r));
}

/* Caller holds the write lock. */
static int domain_attach_locked(const struct domain_spec *spec, char ret_uuid[UUID_STR_LEN])
{
	char uuid[UUID_STR_LEN];
	int r;

	if (spec->devices) {
		if ((r = domain_block_identify(spec->devices, uuid)) < 0)
			return r;
	} else {
		struct domain probe;
		if (domain_file_open(spec->path, &probe) < 0)
			return sp_bad_field("path", "%s is not a sanpool file domain: %s", spec->path,
					    sp_error_last()->message);
		memcpy(uuid, probe.uuid, UUID_STR_LEN);
		probe.ops->close(&probe);
	}
	if (hashmap_get(st.domains, uuid)) {
		memcpy(ret_uuid, uuid, UUID_STR_LEN);
		return 0;
	}
	_cleanup_free_ char *link = xasprintf("%s/domains/%s", st.data_dir, uuid);
	_cleanup_free_ char *dir = xasprintf("%s/domains", st.data_dir);
	if (spec->devices)
		r = domain_block_record(link, spec->devices);
	else if ((r = symlink(spec->path, link) < 0 ? -errno : 0) < 0)
		sp_error_set(r, "io_error", "path", "cannot link domain %s: %s", uuid, strerror(-r));
	if (r < 0)
		return r;
	fsync_dir(dir);
	struct domain *d = xmalloc(sizeof(*d));
	if ((r = domain_open(link, d)) < 0) {
		free(d);
		unlink_domain_entry(link, spec->devices);
		return r;
	}
	if (name_taken(st.domains, offsetof(struct domain, name), d->name)) {
		r = sp_error_set(-SP_E_CONFLICT, "conflict", "name", "another domain named %s is on this host", d->name);
		d->ops->close(d);
		free(d);
		unlink_domain_entry(link, spec->devices);
		return r;
	}
	hashmap_put(st.domains, d->uuid, d);
	if ((r = d->ops->meta_scan(d, load_volume, NULL)) < 0)
		log_warning("domain %s attached, but its volumes could not all be read: %s", uuid,
			    sp_error_last()->message);
	log_info("attached %s domain %s (%s)", d->ops->kind, uuid, d->name);
	memcpy(ret_uuid, uuid, UUID_STR_LEN);
	return 0;
}

int store_domain_attach(const struct domain_spec *spec, char ret_uuid[UUID_STR_LEN])
{
	WRITE_LOCKED;
	return domain_attach_locked(spec, ret_uuid);
}

/* Changes the pool's record on its master domain through fn (caller holds the write lock). */
static int update_pool_record_locked(const char *pool, void (*fn)(json_object *rec, void *userdata), void *userdata)
{
	struct pool *p = hashmap_get(st.pools, pool);
	struct domain *master = p ? hashmap_get(st.domains, p->master) : NULL;
	_cleanup_json_ json_object *rec = NULL;
	int r;

	if (!master)
		return sp_not_found("pool %s or its master domain is not known on this host", pool);
	if ((r = store_check_writer(master)) < 0 || (r = master->ops->pool_md_read(master, pool, &rec)) < 0)
		return r;
	fn(rec, userdata);
	return master->ops->pool_md_write(master, pool, rec);
}

static void put_location(json_object *rec, void *domain)
{
	struct domain *d = domain;
	pool_record_put_domain(rec, d->ops->location(d));
}

static void drop_location(json_object *rec, void *uuid)
{
	json_object *a = pool_record_domains(rec);
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *u = json_object_object_get(json_object_array_get_idx(a, i), "uuid");
		if (u && strcmp(json_object_get_string(u), uuid) == 0) {
			json_object_array_del_idx(a, i, 1);
			return;
		}
	}
}

int store_pool_create(const char *name, const struct domain_spec *master_spec, char ret_pool[UUID_STR_LEN],
		      char ret_domain[UUID_STR_LEN])
{
	struct pool p = { 0 };
	int r;

	WRITE_LOCKED;
	if (name_taken(st.pools, offsetof(struct pool, name), name))
		return sp_error_set(-SP_E_CONFLICT, "conflict", "name", "a pool named %s already exists", name);
	uuid_generate_str(p.uuid);
	snprintf(p.name, sizeof(p.name), "%s", name);
	struct domain_spec master = *master_spec;
	master.pool = p.uuid;
	if ((r = domain_create_locked(&master, p.master)) < 0)
		return r;
	struct domain *d = hashmap_get(st.domains, p.master);
	_cleanup_json_ json_object *rec = pool_record_new(&p);
	pool_record_put_domain(rec, d->ops->location(d));
	/* the host's pool record last: its master and the record on it exist once it is written */
	if ((r = d->ops->pool_md_write(d, p.uuid, rec)) < 0 || (r = write_pool(&p)) < 0)
		return r;
	struct pool *copy = xmalloc(sizeof(*copy));
	*copy = p;
	hashmap_put(st.pools, p.uuid, copy);
	memcpy(ret_pool, p.uuid, UUID_STR_LEN);
	memcpy(ret_domain, p.master, UUID_STR_LEN);
	return 0;
}

/* Attaches every domain the record names (the master is attached already):
 * one that cannot be attached is logged and left out, the others stay usable. */
static void attach_pool_domains_locked(const char *pool, json_object *rec)
{
	json_object *a = pool_record_domains(rec);
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct domain_spec spec;
		char uuid[UUID_STR_LEN];
		json_object *loc = json_object_array_get_idx(a, i);
		if (pool_location_spec(loc, &spec) < 0 || domain_attach_locked(&spec, uuid) < 0)
			log_warning("pool %s: cannot attach domain %s: %s", pool,
				    json_object_get_string(json_object_object_get(loc, "uuid")), sp_error_last()->message);
		free((void *)spec.devices);
	}
}

int store_pool_connect(const char *pool, const struct domain_spec *master_spec)
{
	char uuid[UUID_STR_LEN];
	_cleanup_json_ json_object *rec = NULL;
	struct pool p;
	int r;

	WRITE_LOCKED;
	if ((r = domain_attach_locked(master_spec, uuid)) < 0)
		return r;
	struct domain *d = hashmap_get(st.domains, uuid);
	if (strcmp(d->pool, pool) != 0)
		return sp_bad_field(master_spec->devices ? "devices" : "path", "domain %s belongs to %s, not to pool %s",
				    uuid, d->pool[0] ? d->pool : "no pool", pool);
	if ((r = d->ops->pool_md_read(d, pool, &rec)) < 0 || (r = pool_record_identity(rec, pool, &p)) < 0)
		return r;
	if (strcmp(p.master, uuid) != 0)
		return sp_bad_field(master_spec->devices ? "devices" : "path",
				    "domain %s is not the master domain of pool %s (%s is)", uuid, pool, p.master);
	struct pool *known = hashmap_get(st.pools, pool);
	if (!known && name_taken(st.pools, offsetof(struct pool, name), p.name))
		return sp_conflict("another pool named %s is on this host", p.name);
	attach_pool_domains_locked(pool, rec);
	if (!known) {
		if ((r = write_pool(&p)) < 0)
			return r;
		struct pool *copy = xmalloc(sizeof(*copy));
		*copy = p;
		hashmap_put(st.pools, p.uuid, copy);
		log_info("connected to pool %s (%s), master domain %s", p.uuid, p.name, p.master);
	}
	return 0;
}

static void forget_domain_locked(struct domain *d)
{
	size_t pos = 0;
	const char *key;
	void *v;
	/* the host-local entry: a block record directory or a file domain's link */
	int r = strcmp(d->ops->kind, "block") == 0 ? rm_rf(d->path) : (unlink(d->path) < 0 ? -errno : 0);
	if (r < 0)
		log_warning("domain %s: cannot remove %s: %s", d->uuid, d->path, strerror(-r));
	while (hashmap_next(st.volumes, &pos, &key, &v) == 0)
		if (strcmp(((struct volume_meta *)v)->domain, d->uuid) == 0) {
			hashmap_remove(st.volumes, key);
			pos = 0;
		}
	d->ops->close(d);
	hashmap_remove(st.domains, d->uuid);
}

int store_pool_disconnect(const char *pool)
{
	size_t pos = 0;
	void *v;

	pthread_rwlock_wrlock(&submissions);
	_cleanup_(submissions_unlockp) int no_submission = 0;
	(void)no_submission;
	WRITE_LOCKED;
	if (!hashmap_get(st.pools, pool))
		return sp_not_found("pool %s not found", pool);
	while (hashmap_next(st.domains, &pos, NULL, &v) == 0)
		if (strcmp(((struct domain *)v)->pool, pool) == 0 && store_domain_has_tasks(((struct domain *)v)->uuid))
			return sp_conflict("domain %s of pool %s has queued or running tasks", ((struct domain *)v)->uuid, pool);
	pos = 0;
	while (hashmap_next(st.domains, &pos, NULL, &v) == 0)
		if (strcmp(((struct domain *)v)->pool, pool) == 0) {
			forget_domain_locked(v);
			pos = 0;
		}
	_cleanup_free_ char *path = xasprintf("%s/pools/%s.json", st.data_dir, pool);
	_cleanup_free_ char *dir = xasprintf("%s/pools", st.data_dir);
	if (unlink(path) < 0 && errno != ENOENT)
		return sp_error_set(-errno, "io_error", "", "cannot remove pool record %s: %m", path);
	fsync_dir(dir);
	hashmap_remove(st.pools, pool);
	log_info("disconnected from pool %s", pool);
	return 0;
}

struct spm_mark {
	uint64_t generation;
	unsigned host_id;
};

static void set_spm(json_object *rec, void *userdata)
{
	struct spm_mark *m = userdata;
	pool_record_set_spm(rec, m->generation, m->host_id);
}

int store_pool_set_spm(const char *pool, uint64_t generation, unsigned host_id)
{
	struct spm_mark m = { generation, host_id };
	WRITE_LOCKED;
	return update_pool_record_locked(pool, set_spm, &m);
}

int store_pool_domains(const char *pool, char (**ret)[UUID_STR_LEN], size_t *ret_n)
{
	size_t pos = 0, n = 0;
	void *v;
	READ_LOCKED;
	char (*u)[UUID_STR_LEN] = xcalloc(hashmap_size(st.domains) + 1, UUID_STR_LEN);
	while (hashmap_next(st.domains, &pos, NULL, &v) == 0)
		if (strcmp(((struct domain *)v)->pool, pool) == 0)
			memcpy(u[n++], ((struct domain *)v)->uuid, UUID_STR_LEN);
	*ret = u;
	*ret_n = n;
	return 0;
}

int store_domain_rescan(const char *uuid)
{
	size_t pos = 0;
	const char *key;
	void *v;
	WRITE_LOCKED;
	struct domain *d = hashmap_get(st.domains, uuid);
	if (!d)
		return sp_not_found("storage domain %s not found", uuid);
	while (hashmap_next(st.volumes, &pos, &key, &v) == 0)
		if (strcmp(((struct volume_meta *)v)->domain, uuid) == 0) {
			hashmap_remove(st.volumes, key);
			pos = 0;
		}
	d->ops->forget_cache(d);
	return d->ops->meta_scan(d, load_volume, NULL);
}

static store_write_guard_fn write_guard;

void store_set_write_guard(store_write_guard_fn fn) { write_guard = fn; }

static int writer_generation(const struct domain *d, uint64_t *ret)
{
	*ret = 0;
	return d->pool[0] && write_guard ? write_guard(d->pool, ret) : 0;
}

int store_check_writer(const struct domain *d)
{
	uint64_t generation;
	return writer_generation(d, &generation);
}

int store_get_pool(const char *uuid, struct pool *ret)
{
	READ_LOCKED;
	struct pool *p = hashmap_get(st.pools, uuid);
	if (!p)
		return sp_not_found("pool %s not found", uuid);
	*ret = *p;
	return 0;
}

size_t store_pool_count(void)
{
	READ_LOCKED;
	return hashmap_size(st.pools);
}

int store_get_domain(const char *uuid, struct domain *ret)
{
	READ_LOCKED;
	struct domain *d = hashmap_get(st.domains, uuid);
	if (!d)
		return sp_not_found("storage domain %s not found", uuid);
	*ret = *d;
	return 0;
}

int store_domain_remove(const char *uuid)
{
	size_t pos = 0, nvol = 0;
	void *v;
	int r;

	/* lock order: submissions, then the store */
	pthread_rwlock_wrlock(&submissions);
	_cleanup_(submissions_unlockp) int no_submission = 0;
	(void)no_submission;
	WRITE_LOCKED;
	struct domain *d = hashmap_get(st.domains, uuid);
	if (!d)
		return sp_not_found("storage domain %s not found", uuid);
	while (hashmap_next(st.volumes, &pos, NULL, &v) == 0)
		nvol += strcmp(((struct volume_meta *)v)->domain, uuid) == 0;
	if (nvol)
		return sp_conflict("domain %s still has %zu volume(s): delete its images first", uuid, nvol);
	pos = 0;
	while (hashmap_next(st.pools, &pos, NULL, &v) == 0)
		if (strcmp(((struct pool *)v)->master, uuid) == 0)
			return sp_conflict("domain %s is the master domain of pool %s", uuid, ((struct pool *)v)->uuid);
	if (store_domain_has_tasks(uuid))
		return sp_conflict("domain %s has queued or running tasks", uuid);
	if ((r = store_check_writer(d)) < 0 || (r = d->ops->remove(d)) < 0)
		return r;
	char pool[UUID_STR_LEN];
	memcpy(pool, d->pool, UUID_STR_LEN);
	d->ops->close(d);
	hashmap_remove(st.domains, uuid);
	if (pool[0] && update_pool_record_locked(pool, drop_location, (void *)uuid) < 0)
		log_warning("domain %s removed, but not from the record of pool %s: %s", uuid, pool, sp_error_last()->message);
	return 0;
}

/* The block domain uuid for a change of its devices: 409 for a file domain. */
static int block_domain_locked(const char *uuid, struct domain **ret)
{
	struct domain *d = hashmap_get(st.domains, uuid);
	if (!d)
		return sp_not_found("storage domain %s not found", uuid);
	if (strcmp(d->ops->kind, "block") != 0)
		return sp_conflict("domain %s is a %s domain: devices are for block domains", uuid, d->ops->kind);
	*ret = d;
	return 0;
}

int store_domain_add_device(const char *uuid, const char *dev, bool force)
{
	struct domain *d = NULL;
	int r;

	WRITE_LOCKED;
	if ((r = block_domain_locked(uuid, &d)) < 0 || (r = store_check_writer(d)) < 0 ||
	    (r = domain_block_add_device(d, dev, force)) < 0)
		return r;
	return d->pool[0] ? update_pool_record_locked(d->pool, put_location, d) : 0;
}

int store_domain_resize(const char *uuid)
{
	struct domain *d = NULL;
	int r;

	WRITE_LOCKED;
	if ((r = block_domain_locked(uuid, &d)) < 0 || (r = store_check_writer(d)) < 0)
		return r;
	return domain_block_resize(d);
}

void store_foreach_domain(void (*fn)(struct domain *d, void *userdata), void *userdata)
{
	READ_LOCKED;
	size_t pos = 0;
	void *v;
	while (hashmap_next(st.domains, &pos, NULL, &v) == 0)
		fn(v, userdata);
}

int store_get_volume(const char *uuid, struct volume_meta *ret)
{
	READ_LOCKED;
	struct volume_meta *m = hashmap_get(st.volumes, uuid);
	if (!m)
		return sp_not_found("volume %s not found", uuid);
	*ret = *m;
	return 0;
}

int store_put_volume(struct domain *d, struct volume_meta *m)
{
	struct volume_meta old;
	/* only the task holding the image changes its volumes: old stays current */
	bool known = store_get_volume(m->uuid, &old) == 0;
	if (!known)
		sp_error_clear();
	int r = writer_generation(d, &m->spm_generation);
	if (r < 0)
		return r;
	m->generation++;
	r = d->ops->meta_write(d, known ? &old : NULL, m);
	if (r < 0)
		return r;
	struct volume_meta *copy = xmalloc(sizeof(*copy));
	*copy = *m;
	WRITE_LOCKED;
	hashmap_put(st.volumes, m->uuid, copy);
	return 0;
}

void store_record_volume(const struct volume_meta *m)
{
	WRITE_LOCKED;
	struct volume_meta *cur = hashmap_get(st.volumes, m->uuid);
	if (cur && cur->generation > m->generation)
		return;
	struct volume_meta *copy = xmalloc(sizeof(*copy));
	*copy = *m;
	hashmap_put(st.volumes, m->uuid, copy);
}

void store_forget_volume(const char *uuid)
{
	WRITE_LOCKED;
	hashmap_remove(st.volumes, uuid);
}

int store_domain_volumes(const char *domain, struct volume_meta **ret, size_t *ret_n)
{
	READ_LOCKED;
	size_t pos = 0, n = 0, cap = 16;
	struct volume_meta *out = xmalloc(cap * sizeof(*out));
	void *v;

	while (hashmap_next(st.volumes, &pos, NULL, &v) == 0) {
		if (strcmp(((struct volume_meta *)v)->domain, domain) != 0)
			continue;
		if (n == cap)
			out = xrealloc(out, (cap *= 2) * sizeof(*out));
		out[n++] = *(struct volume_meta *)v;
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

static int cmp_ctime(const void *a, const void *b)
{
	const struct volume_meta *x = a, *y = b;
	return x->ctime < y->ctime ? -1 : x->ctime > y->ctime;
}

/* Orders an image's volumes base first by following parent links; falls back
 * to creation order if they do not form one chain (a leftover). */
static void order_chain(struct volume_meta *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_ctime);
	for (size_t i = 0; i < n; i++) {
		/* the volume at i must be the child of i-1 (or the image's base at 0) */
		for (size_t j = i; j < n; j++) {
			bool fits = i == 0 ? (!v[j].parent[0] || strcmp(v[j].parent_image, v[j].image) != 0)
					   : strcmp(v[j].parent, v[i - 1].uuid) == 0;
			if (fits) {
				struct volume_meta t = v[i];
				v[i] = v[j];
				v[j] = t;
				break;
			}
		}
	}
}

/* Caller holds the lock. */
static size_t collect_image(const char *domain, const char *image, struct volume_meta **ret)
{
	size_t pos = 0, n = 0, cap = 4;
	struct volume_meta *out = xmalloc(cap * sizeof(*out));
	void *v;

	while (hashmap_next(st.volumes, &pos, NULL, &v) == 0) {
		struct volume_meta *m = v;
		if (strcmp(m->image, image) != 0 || strcmp(m->domain, domain) != 0)
			continue;
		if (n == cap)
			out = xrealloc(out, (cap *= 2) * sizeof(*out));
		out[n++] = *m;
	}
	order_chain(out, n);
	*ret = out;
	return n;
}

int store_image_volumes(const char *domain, const char *image, struct volume_meta **ret, size_t *ret_n)
{
	READ_LOCKED;
	struct volume_meta *v;
	size_t n = collect_image(domain, image, &v);
	if (n == 0) {
		free(v);
		return sp_not_found("image %s not found in domain %s", image, domain);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static size_t count_children_locked(const char *uuid)
{
	size_t pos = 0, n = 0;
	void *v;
	while (hashmap_next(st.volumes, &pos, NULL, &v) == 0)
		n += strcmp(((struct volume_meta *)v)->parent, uuid) == 0;
	return n;
}

size_t store_children_count(const char *uuid)
{
	READ_LOCKED;
	return count_children_locked(uuid);
}

size_t store_external_children_count(const char *image)
{
	READ_LOCKED;
	size_t pos = 0, n = 0;
	void *v;
	while (hashmap_next(st.volumes, &pos, NULL, &v) == 0) {
		struct volume_meta *m = v;
		n += strcmp(m->parent_image, image) == 0 && strcmp(m->image, image) != 0;
	}
	return n;
}

int store_image_claim(const char *image, const char *task)
{
	WRITE_LOCKED;
	const char *holder = hashmap_get(st.busy, image);
	if (holder)
		return sp_error_set(-SP_E_CONFLICT, "busy", "", "image %s is busy with task %s", image, holder);
	hashmap_put(st.busy, image, xstrdup(task));
	return 0;
}

void store_image_release(const char *image, const char *task)
{
	WRITE_LOCKED;
	const char *holder = hashmap_get(st.busy, image);
	if (holder && strcmp(holder, task) == 0)
		hashmap_remove(st.busy, image);
}

bool store_image_busy(const char *image)
{
	READ_LOCKED;
	return hashmap_get(st.busy, image) != NULL;
}

/* ---- JSON views ---- */

static void hashmap_freep(struct hashmap **m) { hashmap_free(*m); }

static json_object *pool_json_locked(const struct pool *p)
{
	json_object *o = json_object_new_object();
	json_object *domains = json_object_new_array();
	size_t pos = 0;
	void *v;

	json_object_object_add(o, "uuid", json_object_new_string(p->uuid));
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "master_domain", json_object_new_string(p->master));
	while (hashmap_next(st.domains, &pos, NULL, &v) == 0)
		if (strcmp(((struct domain *)v)->pool, p->uuid) == 0)
			json_object_array_add(domains, json_object_new_string(((struct domain *)v)->uuid));
	json_object_object_add(o, "domains", domains);
	return o;
}

json_object *store_pools_json(void)
{
	READ_LOCKED;
	json_object *a = json_object_new_array();
	size_t pos = 0;
	void *v;
	while (hashmap_next(st.pools, &pos, NULL, &v) == 0)
		json_object_array_add(a, pool_json_locked(v));
	return a;
}

json_object *store_pool_json(const char *uuid)
{
	READ_LOCKED;
	struct pool *p = hashmap_get(st.pools, uuid);
	if (!p) {
		sp_not_found("pool %s not found", uuid);
		return NULL;
	}
	return pool_json_locked(p);
}

json_object *store_domains_json(void)
{
	READ_LOCKED;
	json_object *a = json_object_new_array();
	size_t pos = 0;
	void *v;
	while (hashmap_next(st.domains, &pos, NULL, &v) == 0)
		json_object_array_add(a, domain_to_json(v));
	return a;
}

json_object *store_domain_json(const char *uuid)
{
	READ_LOCKED;
	struct domain *d = hashmap_get(st.domains, uuid);
	if (!d) {
		sp_not_found("storage domain %s not found", uuid);
		return NULL;
	}
	return domain_to_json(d);
}

static json_object *volume_json_locked(const struct volume_meta *m)
{
	json_object *o = volume_meta_to_json(m);
	struct domain *d = hashmap_get(st.domains, m->domain);
	json_object_object_add(o, "leaf", json_object_new_boolean(count_children_locked(m->uuid) == 0));
	if (d) {
		_cleanup_free_ char *path = d->ops->volume_path(d, m->image, m->uuid);
		json_object_object_add(o, "path", json_object_new_string(path));
	}
	return o;
}

static json_object *image_json_locked(const char *domain, const char *image, bool with_volumes)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	size_t n = collect_image(domain, image, &v);
	if (n == 0) {
		sp_not_found("image %s not found in domain %s", image, domain);
		return NULL;
	}
	const struct volume_meta *top = &v[n - 1], *base = &v[0];
	bool legal = true, shared = true;
	json_object *o = json_object_new_object();
	json_object *chain = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		legal = legal && v[i].legal;
		shared = shared && v[i].shared;
		json_object_array_add(chain, with_volumes ? volume_json_locked(&v[i]) : json_object_new_string(v[i].uuid));
	}
	json_object_object_add(o, "uuid", json_object_new_string(image));
	json_object_object_add(o, "domain", json_object_new_string(domain));
	json_object_object_add(o, "name", json_object_new_string(top->image_name));
	json_object_object_add(o, "capacity", json_object_new_int64((int64_t)top->capacity));
	json_object_object_add(o, "format", json_object_new_string(vol_format_str(top->format)));
	json_object_object_add(o, "top_volume", json_object_new_string(top->uuid));
	json_object_object_add(o, "legality", json_object_new_string(legal ? "LEGAL" : "ILLEGAL"));
	json_object_object_add(o, "template", json_object_new_boolean(shared));
	json_object_object_add(o, "busy", json_object_new_boolean(hashmap_get(st.busy, image) != NULL));
	if (base->parent[0] && strcmp(base->parent_image, image) != 0) {
		json_object *t = json_object_new_object();
		json_object_object_add(t, "image", json_object_new_string(base->parent_image));
		json_object_object_add(t, "volume", json_object_new_string(base->parent));
		json_object_object_add(o, "template_source", t);
	}
	json_object_object_add(o, "volumes", chain);
	return o;
}

json_object *store_images_json(const char *domain)
{
	READ_LOCKED;
	if (!hashmap_get(st.domains, domain)) {
		sp_not_found("storage domain %s not found", domain);
		return NULL;
	}
	/* distinct image uuids of the domain, then one summary each */
	_cleanup_(hashmap_freep) struct hashmap *seen = hashmap_new(NULL);
	json_object *a = json_object_new_array();
	size_t pos = 0;
	void *v;
	while (hashmap_next(st.volumes, &pos, NULL, &v) == 0) {
		struct volume_meta *m = v;
		if (strcmp(m->domain, domain) != 0 || hashmap_get(seen, m->image))
			continue;
		hashmap_put(seen, m->image, m);
		json_object_array_add(a, image_json_locked(domain, m->image, false));
	}
	return a;
}

json_object *store_image_json(const char *domain, const char *image)
{
	READ_LOCKED;
	if (!hashmap_get(st.domains, domain)) {
		sp_not_found("storage domain %s not found", domain);
		return NULL;
	}
	return image_json_locked(domain, image, false);
}

json_object *store_volumes_json(const char *domain, const char *image)
{
	READ_LOCKED;
	_cleanup_json_ json_object *img = image_json_locked(domain, image, true);
	if (!img)
		return NULL;
	return json_object_get(json_object_object_get(img, "volumes"));
}

json_object *store_volume_json(const char *domain, const char *image, const char *volume)
{
	READ_LOCKED;
	struct volume_meta *m = hashmap_get(st.volumes, volume);
	if (!m || strcmp(m->domain, domain) != 0 || strcmp(m->image, image) != 0) {
		sp_not_found("volume %s not found in image %s of domain %s", volume, image, domain);
		return NULL;
	}
	return volume_json_locked(m);
}
