/* Volume leases (see vlease.h): the index's slots on the SPM, holder
 * processes on every host. */
#include "lease/vlease.h"

#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lease/holder.h"
#include "lease/lease.h"
#include "lease/spm.h"
#include "lib/activation.h"
#include "lib/domain.h"
#include "lib/lease_index.h"
#include "lib/ops_common.h"
#include "lib/store.h"
#include "lib/util/cleanup.h"
#include "lib/util/crashpoint.h"
#include "lib/util/error.h"
#include "lib/util/fsutil.h"
#include "lib/util/hashmap.h"
#include "lib/util/log.h"
#include "lib/util/xalloc.h"

/* A lease this host holds (or held: lost), by volume uuid. */
struct vheld {
	char domain[UUID_STR_LEN];
	char image[UUID_STR_LEN];
	char volume[UUID_STR_LEN];
	unsigned slot;
	pid_t pid; /* 0 once known gone */
	uint64_t generation;
	bool prepared; /* acquired by a prepare of the image (prepared again after a restart) */
};

static struct {
	pthread_mutex_t lock; /* serialises every lease change of this host, guards held */
	struct hashmap *held;
	bool enabled;
	char *dir; /* run_dir/vleases */
} V = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- records of the holders in run_dir ---- */

static char *record_path(const char *volume) { return xasprintf("%s/%s", V.dir, volume); }

static int record_write(const struct vheld *h)
{
	_cleanup_free_ char *path = record_path(h->volume);
	_cleanup_free_ char *text = xasprintf("%d %u %" PRIu64 " %d %s %s\n", (int)h->pid, h->slot, h->generation,
					      h->prepared, h->domain, h->image);
	int r = atomic_write_file(path, text, strlen(text));
	if (r < 0)
		return sp_error_set(r, "io_error", "", "cannot record the lease holder of volume %s in %s: %s", h->volume,
				    path, strerror(-r));
	return 0;
}

static void record_remove(const char *volume)
{
	_cleanup_free_ char *path = record_path(volume);
	if (unlink(path) < 0 && errno != ENOENT)
		log_warning("cannot remove %s: %m", path);
}

static void adopt(const char *volume)
{
	_cleanup_free_ char *path = record_path(volume), *text = NULL;
	struct vheld *h = xcalloc(1, sizeof(*h));
	int pid = 0, prepared = 0;
	size_t len;

	if (!uuid_is_valid(volume) || read_file(path, 4096, &text, &len) < 0 ||
	    sscanf(text, "%d %u %" SCNu64 " %d %36s %36s", &pid, &h->slot, &h->generation, &prepared, h->domain,
		   h->image) != 6 ||
	    !uuid_is_valid(h->domain) || !uuid_is_valid(h->image)) {
		log_warning("ignoring %s: not a lease holder's record", path);
		free(h);
		return;
	}
	snprintf(h->volume, sizeof(h->volume), "%.36s", volume); /* checked: a uuid */
	h->prepared = prepared;
	h->pid = lease_holder_alive(pid, volume) ? pid : 0;
	if (h->pid)
		log_info("domain %s: the lease of volume %s is held by holder %d (generation %" PRIu64 ")", h->domain,
			 volume, pid, h->generation);
	else
		log_warning("domain %s: the lease holder of volume %s is gone: its lease is lost", h->domain, volume);
	hashmap_put(V.held, volume, h);
	/* a VM still runs on it: the image counts as prepared again (block
	 * domains find their active LVs anyway; file domains have nothing else
	 * that tells) */
	json_object *o = NULL;
	if (h->pid && h->prepared && activation_prepare(h->domain, h->image, &o) < 0)
		log_warning("domain %s: image %s: cannot prepare it again: %s", h->domain, h->image, sp_error_last()->message);
	json_object_put(o);
}

int vlease_service_start(const struct vlease_settings *s)
{
	DIR *dir;
	struct dirent *e;
	int r;

	V.enabled = s->enabled;
	V.held = hashmap_new(free);
	V.dir = xasprintf("%s/vleases", s->run_dir);
	if (!V.enabled)
		return 0;
	/* not fatal: the agent serves without volume leases (acquire fails to
	 * record its holder and says why) */
	if ((r = mkdir_p(V.dir, 0700)) < 0) {
		log_error_errno(r, "cannot make %s: no volume lease can be held here", V.dir);
		return 0;
	}
	if (!(dir = opendir(V.dir))) {
		log_error_errno(-errno, "cannot read %s: volume leases held before are not known", V.dir);
		return 0;
	}
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.' && !strchr(e->d_name, '~') && !strstr(e->d_name, ".tmp"))
			adopt(e->d_name);
	closedir(dir);
	return 0;
}

void vlease_service_stop(void)
{
	hashmap_free(V.held);
	V.held = NULL;
	free(V.dir);
	V.dir = NULL;
}

/* ---- where a domain's leases are ---- */

struct where {
	struct domain d;
	char *path;    /* the leases area: file or device */
	uint64_t base; /* its offset there */
};

static void where_done(struct where *w) { free(w->path); }

/* grow: the SPM makes sure the area is large enough (a file domain's
 * dom_md/leases grows, sparse); other callers only read or acquire what the
 * SPM formatted, and must not change the shared file. */
static int where_of(const char *domain, bool grow, struct where *ret)
{
	int r;
	memset(ret, 0, sizeof(*ret));
	if ((r = store_get_domain(domain, &ret->d)) < 0)
		return r;
	if (!V.enabled)
		return sp_conflict("volume leases need sanlock (sanlock = no on this host)");
	if (!ret->d.pool[0])
		return sp_conflict("domain %s is in no pool: volume leases live in a pool domain's lockspace", domain);
	return ret->d.ops->lease_area(&ret->d, "leases", grow ? LEASE_INDEX_AREA_SIZE : 0, &ret->path, &ret->base);
}

static int volume_check(const char *domain, const char *image, const char *volume)
{
	struct volume_meta m;
	spm_before_read(domain); /* off the SPM: what the SPM made a moment ago */
	if (store_get_volume(volume, &m) < 0 || strcmp(m.image, image) != 0 || strcmp(m.domain, domain) != 0)
		return sp_not_found("volume %s not found in image %s of domain %s", volume, image, domain);
	return 0;
}

static struct lease_ref ref_of(const struct where *w, const char *volume, unsigned slot)
{
	return (struct lease_ref){ .lockspace = w->d.uuid, .name = volume, .path = w->path,
				   .offset = lease_index_slot_offset(w->base, slot) };
}

/* The record vlease_volume_json makes; under V.lock. */
static json_object *lease_json(const struct where *w, const char *volume, unsigned slot)
{
	json_object *o = json_object_new_object();
	struct lease_ref ref = ref_of(w, volume, slot);
	struct lease_info info = { 0 };
	const char *state = "none";
	struct vheld *h = hashmap_get(V.held, volume);

	if (lease_read(&ref, &info) < 0)
		log_debug("volume %s: cannot read its lease: %s", volume, sp_error_last()->message);
	if (h && h->pid && !lease_holder_alive(h->pid, volume)) {
		log_error("domain %s: the lease holder of volume %s is gone: its lease is lost", h->domain, volume);
		h->pid = 0;
	}
	if (h)
		state = h->pid && spm_domain_joined(w->d.uuid) ? "held" : "lost";
	json_object_object_add(o, "slot", json_object_new_int((int)slot));
	json_object_object_add(o, "offset", json_object_new_int64((int64_t)ref.offset));
	json_object_object_add(o, "generation", json_object_new_int64((int64_t)info.generation));
	json_object_object_add(o, "holder_host", info.held ? json_object_new_int((int)info.owner_host_id) : NULL);
	json_object_object_add(o, "state", json_object_new_string(state));
	sp_error_clear();
	return o;
}

/* The lease's JSON, NULL if the volume has no slot; under V.lock. */
static json_object *volume_json_locked(const struct where *w, const char *volume)
{
	struct lease_index ix;
	int slot;
	if (lease_index_read(w->path, w->base, &ix) < 0 || (slot = lease_index_find(&ix, volume)) < 0) {
		sp_error_clear();
		return NULL;
	}
	return lease_json(w, volume, (unsigned)slot);
}

/* ---- the SPM's side: slots ---- */

/* A slot to use when every one names a volume: one whose volume is gone
 * from the domain (deleted since; slots are freed lazily) and whose lease
 * nobody holds. */
static int reclaim(const struct where *w, const struct lease_index *ix)
{
	for (unsigned k = 0; k < LEASE_INDEX_SLOTS; k++) {
		struct volume_meta m;
		struct lease_info info;
		struct lease_ref ref = ref_of(w, ix->slot[k].volume, k);
		if (ix->slot[k].state != LEASE_SLOT_USED || store_get_volume(ix->slot[k].volume, &m) == 0 ||
		    lease_read(&ref, &info) < 0 || info.held)
			continue;
		log_info("domain %s: lease slot %u of deleted volume %s reused", w->d.uuid, k, ix->slot[k].volume);
		return (int)k;
	}
	sp_error_clear();
	return sp_error_set(-ENOSPC, "no_space", "", "domain %s: every one of the %u volume lease slots is in use",
			    w->d.uuid, LEASE_INDEX_SLOTS);
}

int vlease_add(const char *domain, const char *image, const char *volume, json_object **ret)
{
	_cleanup_(where_done) struct where w = { 0 };
	struct lease_index ix;
	int r, slot;

	if ((r = where_of(domain, true, &w)) < 0 || (r = volume_check(domain, image, volume)) < 0 ||
	    (r = spm_check_write(w.d.pool)) < 0)
		return r;
	MUTEX_SCOPE(&V.lock);
	if ((r = lease_index_read(w.path, w.base, &ix)) < 0)
		return r;
	if ((slot = lease_index_find(&ix, volume)) < 0) {
		/* write order: the lease first, then the record naming it. A crash
		 * between leaves a formatted lease in a slot the index calls free:
		 * the next allocation formats it again. */
		if ((slot = lease_index_pick(&ix)) < 0 && (slot = reclaim(&w, &ix)) < 0)
			return slot;
		struct lease_ref ref = ref_of(&w, volume, (unsigned)slot);
		if ((r = lease_index_format(w.path, w.base)) < 0 || (r = lease_format(&ref)) < 0 ||
		    (r = lease_index_write(w.path, w.base, (unsigned)slot, volume, image)) < 0)
			return r;
		log_info("domain %s: volume %s has a lease in slot %d", domain, volume, slot);
	}
	sp_error_clear();
	*ret = lease_json(&w, volume, (unsigned)slot);
	return 0;
}

int vlease_remove(const char *domain, const char *image, const char *volume, json_object **ret)
{
	_cleanup_(where_done) struct where w = { 0 };
	struct lease_index ix;
	pid_t pid = 0;
	unsigned owner = 0;
	int r, slot;

	if ((r = where_of(domain, true, &w)) < 0 || (r = volume_check(domain, image, volume)) < 0 ||
	    (r = spm_check_write(w.d.pool)) < 0)
		return r;
	MUTEX_SCOPE(&V.lock);
	if ((r = lease_index_read(w.path, w.base, &ix)) < 0)
		return r;
	if ((slot = lease_index_find(&ix, volume)) >= 0) {
		if (hashmap_get(V.held, volume))
			return sp_conflict("the lease of volume %s is held on this host: release it first", volume);
		/* held while the record goes: no host acquires it in between, and
		 * one that acquires after the release reads a free record and lets
		 * go (vlease_acquire checks the index again) */
		struct lease_ref ref = ref_of(&w, volume, (unsigned)slot);
		if ((r = lease_holder_start(&ref, NULL, NULL, &pid, NULL, &owner)) < 0) {
			if (r == -SP_E_LEASE_HELD)
				sp_error_set_holder_host(owner);
			return r;
		}
		r = lease_index_write(w.path, w.base, (unsigned)slot, NULL, NULL);
		lease_holder_stop(pid, volume);
		if (r < 0)
			return r;
		log_info("domain %s: the lease of volume %s (slot %d) removed", domain, volume, slot);
	}
	sp_error_clear();
	*ret = NULL;
	return 0;
}

/* ---- this host's side: holders ---- */

struct commit {
	const struct where *w;
	struct vheld *h; /* filled but for pid and generation */
};

/* The holder holds the lease: check that the slot is still the volume's (the
 * SPM may have freed it between the index read and the acquire), then record
 * the holder in run_dir, before the holder is acknowledged. */
static int commit_holder(pid_t pid, uint64_t generation, void *userdata)
{
	struct commit *c = userdata;
	struct lease_index ix;
	int r;

	if ((r = lease_index_read(c->w->path, c->w->base, &ix)) < 0)
		return r;
	if (lease_index_find(&ix, c->h->volume) != (int)c->h->slot)
		return sp_error_set(-SP_E_CONFLICT, "no_lease", "", "the lease of volume %s was removed", c->h->volume);
	c->h->pid = pid;
	c->h->generation = generation;
	if ((r = record_write(c->h)) < 0)
		return r;
	crashpoint("vlease.before_ack");
	return 0;
}

/* Under V.lock. */
static int acquire_locked(const struct where *w, const char *image, const char *volume, unsigned *ret_slot)
{
	struct lease_index ix;
	struct vheld *h = hashmap_get(V.held, volume);
	pid_t pid = 0;
	uint64_t gen = 0;
	unsigned owner = 0;
	int r, slot;

	if ((r = lease_index_read(w->path, w->base, &ix)) < 0)
		return r;
	if ((slot = lease_index_find(&ix, volume)) < 0)
		return sp_error_set(-SP_E_CONFLICT, "no_lease", "",
				    "volume %s has no lease: the SPM adds one (POST .../volumes/%s/lease)", volume, volume);
	if (h && h->pid && lease_holder_alive(h->pid, volume)) {
		*ret_slot = (unsigned)slot;
		return 0; /* held here already */
	}
	struct lease_ref ref = ref_of(w, volume, (unsigned)slot);
	h = xcalloc(1, sizeof(*h));
	snprintf(h->domain, sizeof(h->domain), "%s", w->d.uuid);
	snprintf(h->image, sizeof(h->image), "%s", image);
	snprintf(h->volume, sizeof(h->volume), "%s", volume);
	h->slot = (unsigned)slot;
	struct commit c = { w, h };
	if ((r = lease_holder_start(&ref, commit_holder, &c, &pid, &gen, &owner)) < 0) {
		unsigned held_by = r == -SP_E_LEASE_HELD ? owner : 0;
		if (h->pid)
			record_remove(volume); /* recorded, then not acknowledged */
		free(h);
		if (held_by)
			sp_error_set_holder_host(held_by);
		return r;
	}
	hashmap_put(V.held, volume, h);
	log_info("domain %s: lease of volume %s acquired (slot %d, generation %" PRIu64 ", holder %d)", w->d.uuid,
		 volume, slot, gen, (int)pid);
	*ret_slot = (unsigned)slot;
	return 0;
}

/* Under V.lock. */
static void release_locked(const char *volume)
{
	struct vheld *h = hashmap_get(V.held, volume);
	if (!h)
		return;
	lease_holder_stop(h->pid, volume);
	record_remove(volume);
	log_info("domain %s: lease of volume %s released", h->domain, volume);
	hashmap_remove(V.held, volume);
}

int vlease_acquire(const char *domain, const char *image, const char *volume, json_object **ret)
{
	_cleanup_(where_done) struct where w = { 0 };
	unsigned slot;
	int r;

	if ((r = where_of(domain, false, &w)) < 0 || (r = volume_check(domain, image, volume)) < 0)
		return r;
	MUTEX_SCOPE(&V.lock);
	if ((r = acquire_locked(&w, image, volume, &slot)) < 0)
		return r;
	*ret = lease_json(&w, volume, slot);
	return 0;
}

int vlease_release(const char *domain, const char *image, const char *volume, json_object **ret)
{
	_cleanup_(where_done) struct where w = { 0 };
	int r;

	if ((r = where_of(domain, false, &w)) < 0 || (r = volume_check(domain, image, volume)) < 0)
		return r;
	MUTEX_SCOPE(&V.lock);
	release_locked(volume);
	*ret = volume_json_locked(&w, volume);
	return 0;
}

/* The image's top volume as this host last read it (a non-SPM host reads
 * again what is over a second old). */
static int image_top(const char *domain, const char *image, char top[UUID_STR_LEN])
{
	_cleanup_free_ struct volume_meta *v = NULL;
	size_t n;
	int r;
	spm_before_read(domain);
	if ((r = op_image_chain(domain, image, false, &v, &n)) < 0)
		return r;
	snprintf(top, UUID_STR_LEN, "%s", v[n - 1].uuid);
	return 0;
}

int vlease_prepare(const char *domain, const char *image, bool exclusive, json_object **ret)
{
	_cleanup_(where_done) struct where w = { 0 };
	char top[UUID_STR_LEN];
	unsigned slot;
	int r;

	if (!exclusive) {
		if ((r = activation_prepare(domain, image, ret)) < 0)
			return r;
		json_object *chain = json_object_object_get(*ret, "chain");
		json_object *t = json_object_array_get_idx(chain, json_object_array_length(chain) - 1);
		json_object_object_add(*ret, "lease",
				       vlease_volume_json(domain, json_object_get_string(json_object_object_get(t, "volume"))));
		return 0;
	}
	if ((r = where_of(domain, false, &w)) < 0 || (r = op_require_data(domain)) < 0 || (r = image_top(domain, image, top)) < 0)
		return r;
	MUTEX_SCOPE(&V.lock);
	struct vheld *before = hashmap_get(V.held, top);
	bool had = before && before->pid && lease_holder_alive(before->pid, top);
	if ((r = acquire_locked(&w, image, top, &slot)) < 0)
		return r;
	if ((r = activation_prepare(domain, image, ret)) < 0) {
		struct sp_error cause;
		sp_error_copy(&cause);
		if (!had)
			release_locked(top);
		return sp_error_set(cause.code, cause.kind, cause.field, "%s", cause.message);
	}
	struct vheld *h = hashmap_get(V.held, top);
	if (!h->prepared) {
		h->prepared = true;
		if (record_write(h) < 0)
			log_warning("%s", sp_error_last()->message);
	}
	json_object_object_add(*ret, "lease", lease_json(&w, top, slot));
	return 0;
}

int vlease_teardown(const char *domain, const char *image, json_object **ret)
{
	int r;
	if ((r = activation_teardown(domain, image, ret)) < 0)
		return r;
	MUTEX_SCOPE(&V.lock);
	if (!V.held)
		return 0;
	/* collect first: releasing changes the map */
	char (*vols)[UUID_STR_LEN] = xcalloc(hashmap_size(V.held) + 1, UUID_STR_LEN);
	size_t pos = 0, n = 0;
	void *val;
	while (hashmap_next(V.held, &pos, NULL, &val) == 0) {
		const struct vheld *h = val;
		if (strcmp(h->domain, domain) == 0 && strcmp(h->image, image) == 0)
			memcpy(vols[n++], h->volume, UUID_STR_LEN);
	}
	for (size_t i = 0; i < n; i++)
		release_locked(vols[i]);
	free(vols);
	return 0;
}

json_object *vlease_volume_json(const char *domain, const char *volume)
{
	_cleanup_(where_done) struct where w = { 0 };

	if (!V.enabled || where_of(domain, false, &w) < 0) {
		sp_error_clear();
		return NULL;
	}
	MUTEX_SCOPE(&V.lock);
	return volume_json_locked(&w, volume);
}
