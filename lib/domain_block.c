#include "lib/domain_block.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/block_tags.h"
#include "lib/devices.h"
#include "lib/host_report.h"
#include "lib/lvm.h"
#include "lib/qemu_img.h"
#include "lib/slot_journal.h"
#include "lib/util/cleanup.h"
#include "lib/util/crashpoint.h"
#include "lib/util/error.h"
#include "lib/util/fsutil.h"
#include "lib/util/hashmap.h"
#include "lib/util/log.h"
#include "lib/util/run.h"
#include "lib/util/xalloc.h"

/* Sized so the VG holds thousands of LVs (measured: ~460 bytes of metadata
 * text per volume LV; 128 MiB holds over 100,000) and extents as VDSM's. */
#define PV_METADATA_SIZE (128ULL << 20)
#define EXTENT_SIZE (128ULL << 20)
#define SPECIAL_LV_SIZE EXTENT_SIZE

/* The journal uses the start of its LV: 1,024 slots of 4 KiB, read whole at start-up. */
#define JOURNAL_BYTES (4ULL << 20)
/* After the task journal in the same LV: the pool record, when this domain is a
 * pool's master (a few slots: a record is replaced in place). */
#define POOL_MD_BYTES (16ULL * SLOT_SIZE)
/* After the pool record: the markers of volumes being made, one slot each,
 * keyed by the volume uuid (see block_meta_write): as many volumes can be
 * in the making at once. */
#define MARKER_BYTES (1024ULL * SLOT_SIZE)
#define JOURNAL_LV_BYTES (JOURNAL_BYTES + POOL_MD_BYTES + MARKER_BYTES)

/* Further on in the journal LV, 1 MiB-aligned after the markers: the hosts
 * area, one report per host id (lib/host_report.h: 2,000 x 16 KiB). Not
 * zeroed at format: a report names its pool, and only live hosts' reports are read. */
#define HOSTS_AREA_OFFSET (9ULL << 20)
_Static_assert(JOURNAL_LV_BYTES <= HOSTS_AREA_OFFSET, "the hosts area follows the volume markers");
_Static_assert(HOSTS_AREA_OFFSET + HOST_REPORT_AREA_SIZE <= SPECIAL_LV_SIZE, "the hosts area fits in the journal LV");

static const char *const special_lvs[] = { "ids", "leases", "inbox", "outbox", "journal", NULL };

struct block_priv {
	char *devs[LVM_MAX_DEVS + 1];
	struct slot_journal *journal;
	struct slot_journal *pool_md;
	struct slot_journal *markers;
};

/* VDSM's default extension chunk. */
#define DEFAULT_EXTEND_CHUNK (1ULL << 30)

static struct block_settings settings = { "/run/sanpool", true, 1ULL << 30, DEFAULT_EXTEND_CHUNK, 60 * 1000 };
static char settings_run_dir[PATH_MAX] = "/run/sanpool";
static pthread_once_t lvm_once = PTHREAD_ONCE_INIT;
static int lvm_started;  /* outcome of the one start */
static bool lvm_running;

void domain_block_configure(const struct block_settings *s)
{
	snprintf(settings_run_dir, sizeof(settings_run_dir), "%s", s->run_dir);
	settings = *s;
	settings.run_dir = settings_run_dir;
	if (!settings.extend_chunk)
		settings.extend_chunk = DEFAULT_EXTEND_CHUNK;
	/* lvm_start sets these when the first block domain appears, maybe while
	 * other threads read the environment: set now, before any thread, its
	 * setenv only replaces values and never grows environ under them */
	_cleanup_free_ char *lvm_dir = xasprintf("%s/lvm", settings.run_dir);
	setenv("LVM_SYSTEM_DIR", lvm_dir, 1);
	setenv("LC_ALL", "C", 1);
}

void domain_block_shutdown(void)
{
	if (lvm_running)
		lvm_stop();
	lvm_running = false;
}

/* LVM starts with the first block domain: hosts with file domains only never pay for it. */
static void start_lvm(void)
{
	_cleanup_free_ char *dir = xasprintf("%s/lvm", settings.run_dir);
	struct lvm_options o = { .run_dir = dir, .activation = settings.activation, .read_only = false,
				 .timeout_ms = settings.lvm_timeout_ms };
	lvm_started = lvm_start(&o);
	lvm_running = lvm_started == 0;
	if (lvm_started < 0)
		log_error("cannot start LVM: %s", sp_error_last()->message);
}

static int ensure_lvm(void)
{
	pthread_once(&lvm_once, start_lvm);
	return lvm_started < 0 ? lvm_started : 0;
}

static struct block_priv *priv(const struct domain *d) { return d->priv; }

static uint64_t round_up(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

/* The LV a volume starts with: raw and preallocated volumes get their full
 * size, thin qcow2 the initial size, never more than the full capacity needs. */
static int lv_size(const struct volume_meta *m, uint64_t *ret)
{
	bool thin = m->format == VOL_FORMAT_QCOW2 && m->alloc == VOL_ALLOC_SPARSE;
	uint64_t full = m->capacity;
	int r;

	/* a full qcow2 needs more than its capacity: a thin one at least that
	 * large starts at the initial size without asking qemu-img measure */
	if (thin && m->capacity >= settings.initial_size)
		full = settings.initial_size;
	else if (m->format == VOL_FORMAT_QCOW2 && (r = qemu_img_measure(VOL_FORMAT_QCOW2, m->capacity, &full)) < 0)
		return r;
	if (thin && settings.initial_size < full)
		full = settings.initial_size;
	*ret = round_up(full, EXTENT_SIZE);
	return 0;
}

static const char **tag_ptrs(const struct block_tags *t, const char *out[BLOCK_TAGS_MAX + 1])
{
	for (size_t i = 0; i < t->n; i++)
		out[i] = t->v[i];
	out[t->n] = NULL;
	return out;
}

/* A new volume is made ILLEGAL and made LEGAL last, at the cost of one LVM
 * command: every LVM command re-reads and rewrites the whole VG metadata, so
 * its cost grows with the LVs in the VG (docs/benchmarks.md), while a slot
 * write does not. So the ILLEGAL state of a volume being made is a marker
 * slot (MARKER_BYTES, on the PV like the task journal), written before its
 * LV appears; the lvcreate then writes the tags the volume will have once
 * LEGAL (legal, and the generation of the LEGAL write), and removing the
 * marker is the commit. A volume is LEGAL when its tags say so and it has no
 * marker; while it has one, its generation and writer are the marker's.
 * Metadata changes of other volumes are one lvchange, as before. */
static struct volume_meta as_legal(const struct volume_meta *m)
{
	struct volume_meta f = *m;
	f.legal = true;
	f.generation = m->generation + 1;
	return f;
}

static int marker_write(struct domain *d, const struct volume_meta *m)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	json_object_object_add(o, "image", json_object_new_string(m->image));
	json_object_object_add(o, "generation", json_object_new_int64((int64_t)m->generation));
	json_object_object_add(o, "spm_generation", json_object_new_int64((int64_t)m->spm_generation));
	return slot_journal_write(priv(d)->markers, m->uuid, o);
}

/* The tags of a volume from what on_disk gives to what m gives: one lvchange, none if equal. */
static int change_tags(struct domain *d, const struct volume_meta *on_disk, const struct volume_meta *m)
{
	struct block_tags new_tags, old_tags;
	const char *add[BLOCK_TAGS_MAX + 1], *del[BLOCK_TAGS_MAX + 1];

	block_tags_from_meta(m, &new_tags);
	block_tags_from_meta(on_disk, &old_tags);
	block_tags_diff(&old_tags, &new_tags, add, del);
	if (!add[0] && !del[0])
		return 0;
	return lvm_lvchange_tags(d->uuid, m->uuid, add, del);
}

static int block_meta_write(struct domain *d, const struct volume_meta *old, const struct volume_meta *m)
{
	struct slot_journal *markers = priv(d)->markers;
	struct block_tags tags;
	const char *ptrs[BLOCK_TAGS_MAX + 1];
	uint64_t size;
	int r;

	if (!old) {
		/* the LV and its metadata appear in one commit */
		if ((r = lv_size(m, &size)) < 0)
			return r;
		struct volume_meta legal = as_legal(m);
		if (!m->legal && (r = marker_write(d, m)) < 0)
			return r;
		crashpoint("block.after_marker");
		block_tags_from_meta(m->legal ? m : &legal, &tags);
		if ((r = lvm_lvcreate(d->uuid, m->uuid, size, tag_ptrs(&tags, ptrs))) < 0 && !m->legal) {
			struct sp_error cause;
			sp_error_copy(&cause);
			if (slot_journal_remove(markers, m->uuid) < 0) /* a marker without LV is ignored */
				log_warning("domain %s: %s", d->uuid, sp_error_last()->message);
			return sp_error_set(cause.code, cause.kind, cause.field, "%s", cause.message);
		}
		return r;
	}
	if (!slot_journal_has(markers, m->uuid))
		return change_tags(d, old, m);
	struct volume_meta on_disk = as_legal(old);
	if (m->legal) {
		if ((r = change_tags(d, &on_disk, m)) < 0)
			return r;
		return slot_journal_remove(markers, m->uuid);
	}
	/* still ILLEGAL: the tags follow what LEGAL will be, the marker the rest */
	struct volume_meta legal = as_legal(m);
	if ((r = change_tags(d, &on_disk, &legal)) < 0)
		return r;
	return marker_write(d, m);
}

static bool lv_exists(struct domain *d, const char *lv)
{
	struct lvm_lv *lvs;
	size_t n;
	bool found = false;

	if (lvm_lvs(d->uuid, NULL, &lvs, &n) < 0)
		return true; /* let the remove report what is wrong */
	for (size_t i = 0; i < n && !found; i++)
		found = strcmp(lvs[i].name, lv) == 0;
	lvm_lvs_free(lvs, n);
	return found;
}

/* The same relative form as file domains: it resolves in the per-host link
 * layout (run_dir/storage/<domain>/<image>/<volume>) on every host. */
static char *block_backing_ref(const struct domain *d, const char *parent_image, const char *parent)
{
	(void)d;
	return xasprintf("../%s/%s", parent_image, parent);
}

static char *block_volume_path(const struct domain *d, const char *image, const char *volume)
{
	return xasprintf("%s/storage/%s/%s/%s", settings.run_dir, d->uuid, image, volume);
}

static char *link_dir(const struct domain *d, const char *image)
{
	return xasprintf("%s/storage/%s/%s", settings.run_dir, d->uuid, image);
}

/* run_dir/storage/<domain>/<image>/<volume> -> /dev/<vg>/<lv>, replaced atomically. */
static int link_volume(const struct domain *d, const char *image, const char *volume)
{
	_cleanup_free_ char *dir = link_dir(d, image);
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, volume);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
	_cleanup_free_ char *dev = lvm_lv_device(d->uuid, volume);
	int r = mkdir_p(dir, 0755);

	if (r < 0)
		return sp_error_set(r, "io_error", "", "cannot create %s: %s", dir, strerror(-r));
	(void)unlink(tmp);
	if (symlink(dev, tmp) < 0 || rename(tmp, path) < 0) {
		r = sp_error_set(-errno, "io_error", "", "cannot link %s to %s: %m", path, dev);
		(void)unlink(tmp);
		return r;
	}
	return 0;
}

static void unlink_volume(const struct domain *d, const char *image, const char *volume)
{
	_cleanup_free_ char *dir = link_dir(d, image);
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, volume);

	if (unlink(path) < 0 && errno != ENOENT)
		log_warning("domain %s: cannot remove link %s: %m", d->uuid, path);
	(void)rmdir(dir); /* the image's last link: the directory goes too */
}

static int no_data_access(const struct domain *d, const char *volume)
{
	return sp_error_set(-SP_E_CONFLICT, "no_data_access", "",
			    "domain %s: volume %s cannot be activated: LV activation is disabled on this host "
			    "(lvm_activation = no)", d->uuid, volume);
}

static int block_volume_activate(struct domain *d, const char *image, const char *volume)
{
	int r;
	if (!settings.activation)
		return no_data_access(d, volume);
	if ((r = lvm_lv_activate(d->uuid, volume, true)) < 0)
		return r;
	return link_volume(d, image, volume);
}

static int block_volume_deactivate(struct domain *d, const char *image, const char *volume)
{
	int r;
	if (!settings.activation)
		return 0; /* nothing was ever active */
	/* the link goes only once the LV is inactive: a VM still holding the
	 * device keeps a consistent view */
	if ((r = lvm_lv_activate(d->uuid, volume, false)) < 0)
		return r;
	unlink_volume(d, image, volume);
	return 0;
}

static int block_volume_refresh(struct domain *d, const char *image, const char *volume)
{
	(void)image;
	if (!settings.activation)
		return no_data_access(d, volume);
	return lvm_lv_refresh(d->uuid, volume);
}

static int find_lv(struct domain *d, const char *volume, struct lvm_lv *ret)
{
	struct lvm_lv *lvs;
	size_t n;
	int r = lvm_lvs(d->uuid, NULL, &lvs, &n);

	if (r < 0)
		return r;
	r = -SP_E_NOT_FOUND;
	for (size_t i = 0; i < n && r < 0; i++)
		if (strcmp(lvs[i].name, volume) == 0) {
			*ret = lvs[i];
			ret->tags = NULL;
			r = 0;
		}
	lvm_lvs_free(lvs, n);
	if (r < 0)
		return sp_not_found("domain %s: no LV %s", d->uuid, volume);
	return 0;
}

static int block_volume_state(struct domain *d, const char *volume, bool *ret_active, uint64_t *ret_size)
{
	struct lvm_lv lv;
	int r = find_lv(d, volume, &lv);
	if (r < 0)
		return r;
	*ret_active = lv.active;
	*ret_size = lv.size;
	return 0;
}

/* The most a thin qcow2 volume's LV may take: what a full one needs. */
static int lv_max_size(const struct volume_meta *m, uint64_t *ret)
{
	uint64_t full;
	int r = qemu_img_measure(VOL_FORMAT_QCOW2, m->capacity, &full);
	if (r < 0)
		return r;
	*ret = round_up(full, EXTENT_SIZE);
	return 0;
}

static int block_volume_max_size(struct domain *d, const struct volume_meta *m, uint64_t *ret)
{
	(void)d;
	if (m->format != VOL_FORMAT_QCOW2 || m->alloc != VOL_ALLOC_SPARSE)
		return sp_conflict("volume %s is %s %s: only thin qcow2 volumes grow their LV", m->uuid,
				   vol_alloc_str(m->alloc), vol_format_str(m->format));
	return lv_max_size(m, ret);
}

static int block_volume_extend(struct domain *d, const struct volume_meta *m, uint64_t size, uint64_t *ret_size)
{
	struct lvm_lv lv;
	uint64_t max;
	int r;

	if ((r = block_volume_max_size(d, m, &max)) < 0 || (r = find_lv(d, m->uuid, &lv)) < 0)
		return r;
	if (size && size % 512)
		return sp_bad_field("size", "size %" PRIu64 " is not a multiple of 512", size);
	if (size && size <= lv.size)
		return sp_bad_field("size", "size %" PRIu64 " does not grow the LV of volume %s (%" PRIu64 " bytes)",
				    size, m->uuid, lv.size);
	if (size && round_up(size, EXTENT_SIZE) > max)
		return sp_bad_field("size", "size %" PRIu64 " is more than volume %s can ever need (%" PRIu64
				    " bytes for a capacity of %" PRIu64 ")", size, m->uuid, max, m->capacity);
	if (!size) {
		if (lv.size >= max)
			return sp_conflict("the LV of volume %s has its largest size already (%" PRIu64 " bytes)",
					   m->uuid, lv.size);
		size = lv.size + settings.extend_chunk < max ? lv.size + settings.extend_chunk : max;
	}
	/* the VG's extents are EXTENT_SIZE: lvextend gives exactly this */
	if ((r = lvm_lvextend(d->uuid, m->uuid, round_up(size, EXTENT_SIZE))) == -ENOSPC) {
		struct sp_error cause;
		sp_error_copy(&cause);
		return sp_error_set(r, "no_space", "size",
				    "domain %s (%s) is full (ENOSPC): the LV of volume %s cannot grow from %" PRIu64
				    " to %" PRIu64 " bytes: %s", d->name, d->uuid, m->uuid, lv.size, round_up(size, EXTENT_SIZE),
				    cause.message);
	}
	if (r < 0)
		return r;
	*ret_size = round_up(size, EXTENT_SIZE);
	return 0;
}

/* A raw volume is its LV; a qcow2 one gets its header on the LV, which the
 * caller activated (lib/activation.h). */
static int block_volume_create(struct domain *d, const struct volume_meta *m, const struct volume_meta *parent)
{
	if (m->format == VOL_FORMAT_RAW || !settings.activation)
		return 0;
	_cleanup_free_ char *path = block_volume_path(d, m->image, m->uuid);
	_cleanup_free_ char *backing = parent ? block_backing_ref(d, parent->image, parent->uuid) : NULL;
	return qemu_img_create(path, m->format, m->alloc, m->capacity, backing,
			       parent ? parent->format : VOL_FORMAT_RAW);
}

static int block_volume_remove(struct domain *d, const char *image, const char *volume)
{
	int r;
	unlink_volume(d, image, volume);
	if (lv_exists(d, volume) && (r = lvm_lvremove(d->uuid, volume)) < 0)
		return r;
	/* the marker last: a crash before leaves an ILLEGAL volume, never a LEGAL one */
	return slot_journal_remove(priv(d)->markers, volume);
}

static int block_image_remove(struct domain *d, const char *image)
{
	(void)d;
	(void)image;
	return 0; /* an image is only its volumes' tags */
}

struct marker {
	uint64_t generation, spm_generation;
};

static uint64_t rec_u64(json_object *rec, const char *key, uint64_t dflt)
{
	json_object *v;
	if (!json_object_object_get_ex(rec, key, &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		return dflt;
	return (uint64_t)json_object_get_int64(v);
}

static int collect_marker(const char *volume, json_object *rec, void *userdata)
{
	struct marker *mk = xmalloc(sizeof(*mk));
	/* UINT64_MAX: unreadable, the tags' values stand */
	mk->generation = rec_u64(rec, "generation", UINT64_MAX);
	mk->spm_generation = rec_u64(rec, "spm_generation", UINT64_MAX);
	hashmap_put(userdata, volume, mk);
	return 0;
}

static int block_meta_scan(struct domain *d, volume_meta_cb cb, void *userdata)
{
	struct lvm_lv *lvs;
	size_t n;
	struct hashmap *markers = hashmap_new(free);
	int r = slot_journal_scan(priv(d)->markers, collect_marker, markers);

	if (r < 0 || (r = lvm_lvs(d->uuid, NULL, &lvs, &n)) < 0) {
		hashmap_free(markers);
		return r;
	}
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct volume_meta m;
		int q = block_tags_to_meta(d->uuid, lvs[i].name, lvs[i].tags, &m);
		if (q == -ENOENT)
			continue; /* a special LV */
		if (q < 0) {
			log_warning("domain %s: skipping LV %s: %s", d->uuid, lvs[i].name, sp_error_last()->message);
			continue;
		}
		struct marker *mk = hashmap_get(markers, m.uuid);
		if (mk) {
			m.legal = false;
			if (mk->generation != UINT64_MAX)
				m.generation = mk->generation;
			if (mk->spm_generation != UINT64_MAX)
				m.spm_generation = mk->spm_generation;
		}
		r = cb(&m, userdata);
	}
	lvm_lvs_free(lvs, n);
	hashmap_free(markers);
	return r;
}

static bool is_special_lv(const char *name)
{
	for (const char *const *s = special_lvs; *s; s++)
		if (strcmp(*s, name) == 0)
			return true;
	return false;
}

/* Every LV: a volume's (its tags are its metadata, the LV its data) or a
 * stray one (neither special nor tagged as a volume). */
static int block_inventory(struct domain *d, inventory_cb cb, void *userdata)
{
	struct lvm_lv *lvs;
	size_t n;
	int r = lvm_lvs(d->uuid, NULL, &lvs, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct inventory_item it = { .has_data = true, .data_size = lvs[i].size };
		if (is_special_lv(lvs[i].name))
			continue;
		if (!uuid_is_valid(lvs[i].name)) {
			snprintf(it.stray, sizeof(it.stray), "LV %s", lvs[i].name);
			snprintf(it.error, sizeof(it.error), "an LV whose name is not a volume uuid");
			cb(&it, userdata);
			continue;
		}
		snprintf(it.volume, sizeof(it.volume), "%.36s", lvs[i].name);
		sp_error_clear();
		int q = block_tags_to_meta(d->uuid, lvs[i].name, lvs[i].tags, &it.meta);
		it.has_meta = q != -ENOENT; /* no sp.i tag: an LV with no metadata */
		if (q < 0 && q != -ENOENT) {
			snprintf(it.error, sizeof(it.error), "%s", sp_error_last()->message);
		} else if (q == 0) {
			snprintf(it.image, sizeof(it.image), "%s", it.meta.image);
			it.meta_ok = true;
		}
		cb(&it, userdata);
	}
	lvm_lvs_free(lvs, n);
	return 0;
}

static int block_journal_write(struct domain *d, const char *task_uuid, json_object *record)
{
	return slot_journal_write(priv(d)->journal, task_uuid, record);
}

static int block_journal_remove(struct domain *d, const char *task_uuid)
{
	return slot_journal_remove(priv(d)->journal, task_uuid);
}

static int block_journal_scan(struct domain *d, journal_cb cb, void *userdata)
{
	return slot_journal_scan(priv(d)->journal, cb, userdata);
}

static bool block_data_access(const struct domain *d)
{
	(void)d;
	return settings.activation;
}

static int block_stats(const struct domain *d, uint64_t *ret_total, uint64_t *ret_free)
{
	struct lvm_vg vg;
	int r = lvm_vg_info(d->uuid, NULL, &vg);
	if (r < 0)
		return r;
	*ret_total = vg.size;
	*ret_free = vg.free;
	lvm_vg_clear(&vg);
	return 0;
}

static int block_new_volume_space(const struct domain *d, const struct volume_meta *m, uint64_t *ret)
{
	(void)d;
	return lv_size(m, ret);
}

static int block_lease_area(struct domain *d, const char *which, uint64_t min_size, char **ret_path,
			    uint64_t *ret_offset)
{
	_cleanup_free_ char *dev = NULL;
	uint64_t offset, size;
	/* sanlock reads and writes the special LV on the PV, like the journal:
	 * no activation needed on any host */
	int r = lvm_lv_location(d->uuid, which, &dev, &offset, &size);
	if (r < 0)
		return r;
	if (size < min_size || offset % (1 << 20))
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "VG %s: LV %s cannot hold a lease area", d->uuid, which);
	*ret_path = TAKE_PTR(dev);
	*ret_offset = offset;
	return 0;
}

static int block_hosts_area(struct domain *d, char **ret_path, uint64_t *ret_offset)
{
	_cleanup_free_ char *dev = NULL;
	uint64_t offset, size;
	int r = lvm_lv_location(d->uuid, "journal", &dev, &offset, &size);
	if (r < 0)
		return r;
	if (size < HOSTS_AREA_OFFSET + HOST_REPORT_AREA_SIZE)
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "VG %s: the journal LV cannot hold the hosts area", d->uuid);
	*ret_path = TAKE_PTR(dev);
	*ret_offset = offset + HOSTS_AREA_OFFSET;
	return 0;
}

static int block_pool_md_write(struct domain *d, const char *pool, json_object *record)
{
	return slot_journal_write(priv(d)->pool_md, pool, record);
}

struct pool_md_find {
	const char *pool;
	json_object *found;
};

static int pool_md_match(const char *key, json_object *record, void *userdata)
{
	struct pool_md_find *f = userdata;
	if (strcmp(key, f->pool) == 0 && !f->found)
		f->found = json_object_get(record);
	return 0;
}

static int block_pool_md_read(struct domain *d, const char *pool, json_object **ret)
{
	struct pool_md_find f = { .pool = pool };
	int r = slot_journal_scan(priv(d)->pool_md, pool_md_match, &f);
	if (r < 0)
		return r;
	if (!f.found)
		return sp_not_found("domain %s holds no record of pool %s", d->uuid, pool);
	*ret = f.found;
	return 0;
}

static json_object *block_location(const struct domain *d)
{
	json_object *o = json_object_new_object(), *devs = json_object_new_array();
	json_object_object_add(o, "uuid", json_object_new_string(d->uuid));
	json_object_object_add(o, "kind", json_object_new_string("block"));
	for (size_t i = 0; priv(d)->devs[i]; i++)
		json_object_array_add(devs, json_object_new_string(priv(d)->devs[i]));
	json_object_object_add(o, "devices", devs);
	return o;
}

static void block_forget_cache(struct domain *d) { lvm_vg_invalidate(d->uuid); }

static void priv_free(struct block_priv *p);
int domain_block_record(const char *dir, const char *const devs[]);

/* VG first (one commit removes it and every LV), then the PV labels, then the
 * host-local record: a crash in between leaves a record whose VG is gone, which
 * fails to open at the next start (logged) and can be removed by hand. */
static int block_remove(struct domain *d)
{
	const char *const *devs = (const char *const *)priv(d)->devs;
	struct lvm_lv *lvs;
	size_t n;
	int r;

	/* an LV the store does not know (unreadable tags, made by hand) is not removed */
	if ((r = lvm_lvs(d->uuid, NULL, &lvs, &n)) < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		bool special = false;
		for (size_t j = 0; special_lvs[j]; j++)
			special = special || strcmp(lvs[i].name, special_lvs[j]) == 0;
		if (!special)
			r = sp_conflict("domain %s: VG %s holds LV %s, which is no volume of the domain", d->uuid, d->uuid,
					lvs[i].name);
	}
	lvm_lvs_free(lvs, n);
	if (r < 0)
		return r;
	if ((r = lvm_vgremove(d->uuid)) < 0)
		return r;
	/* the domain is gone with its VG: what follows is tidying up */
	if (lvm_pvremove(devs) < 0)
		log_warning("domain %s: VG removed, PV labels left: %s", d->uuid, sp_error_last()->message);
	slot_journal_close(priv(d)->journal);
	slot_journal_close(priv(d)->pool_md);
	slot_journal_close(priv(d)->markers);
	priv(d)->journal = priv(d)->pool_md = priv(d)->markers = NULL;
	_cleanup_free_ char *parent = path_dirname(d->path);
	if ((r = rm_rf(d->path)) < 0)
		log_warning("domain %s: VG removed, cannot remove %s: %s", d->uuid, d->path, strerror(-r));
	fsync_dir(parent);
	return 0;
}

/* pvcreate's close after writing makes the kernel announce a change, and
 * udev's rules (multipath, LVM's own pvscan) open the device to look at it:
 * a vgcreate or vgextend in that moment cannot open it exclusively ("Can't
 * open ... exclusively", seen in the cluster tier). Waiting for udev's queue
 * to drain closes the window; without udev (no control socket) there is
 * nothing to wait for. A failed wait is only logged: the next command says
 * what is wrong, if anything. */
static int pvcreate_settled(const char *const devs[])
{
	const char *argv[] = { "udevadm", "settle", "--timeout=30", NULL };
	struct run_result res = { 0 };
	int r = lvm_pvcreate(devs, PV_METADATA_SIZE);

	if (r < 0 || access("/run/udev/control", F_OK) < 0)
		return r;
	if (run_argv(argv, NULL, &res) < 0 || res.exit_status != 0)
		log_debug("udevadm settle after pvcreate: %s", res.err && res.err[0] ? res.err : "failed");
	run_result_free(&res);
	return 0;
}

int domain_block_add_device(struct domain *d, const char *dev, bool force)
{
	struct block_priv *p = priv(d);
	const char *one[] = { dev, NULL };
	size_t n = 0;
	int r;

	for (; p->devs[n]; n++)
		if (strcmp(p->devs[n], dev) == 0)
			return sp_bad_field("device", "%s is already a device of domain %s", dev, d->uuid);
	if (n >= LVM_MAX_DEVS)
		return sp_bad_field("device", "domain %s has %zu devices, at most %d", d->uuid, n, LVM_MAX_DEVS);
	if ((r = devices_check_unused(one, force, "device")) < 0)
		return r;
	/* the record names the device first: until vgextend commits, an extra
	 * device in the filter is harmless; a PV of the VG missing from it is not */
	p->devs[n] = xstrdup(dev);
	if ((r = domain_block_record(d->path, (const char *const *)p->devs)) < 0 ||
	    (r = pvcreate_settled(one)) < 0 || (r = lvm_vgextend(d->uuid, dev)) < 0) {
		struct sp_error cause;
		sp_error_copy(&cause);
		free(p->devs[n]);
		p->devs[n] = NULL;
		if (domain_block_record(d->path, (const char *const *)p->devs) < 0)
			log_warning("domain %s: cannot take %s out of %s/block.json again: %s", d->uuid, dev, d->path,
				    sp_error_last()->message);
		return sp_error_set(cause.code, cause.kind, cause.field, "%s", cause.message);
	}
	return 0;
}

int domain_block_resize(struct domain *d)
{
	int r;
	for (size_t i = 0; priv(d)->devs[i]; i++)
		if ((r = lvm_pvresize(d->uuid, priv(d)->devs[i])) < 0)
			return r;
	return 0;
}

static void block_close(struct domain *d)
{
	priv_free(d->priv);
	d->priv = NULL;
}

const struct domain_ops domain_block_ops = {
	.kind = "block",
	.volume_create = block_volume_create,
	.volume_path = block_volume_path,
	.backing_ref = block_backing_ref,
	.volume_remove = block_volume_remove,
	.meta_write = block_meta_write,
	.meta_scan = block_meta_scan,
	.inventory = block_inventory,
	.image_remove = block_image_remove,
	.journal_write = block_journal_write,
	.journal_remove = block_journal_remove,
	.journal_scan = block_journal_scan,
	.data_access = block_data_access,
	.volume_activate = block_volume_activate,
	.volume_deactivate = block_volume_deactivate,
	.volume_refresh = block_volume_refresh,
	.volume_state = block_volume_state,
	.volume_extend = block_volume_extend,
	.volume_max_size = block_volume_max_size,
	.remove = block_remove,
	.lease_area = block_lease_area,
	.hosts_area = block_hosts_area,
	.pool_md_write = block_pool_md_write,
	.pool_md_read = block_pool_md_read,
	.location = block_location,
	.forget_cache = block_forget_cache,
	.close = block_close,
	.stats = block_stats,
	.new_volume_space = block_new_volume_space,
};

/* ---- the host-local record and the VG identity ---- */

static char *record_path(const char *dir) { return xasprintf("%s/block.json", dir); }

bool domain_block_present(const char *dir)
{
	_cleanup_free_ char *p = record_path(dir);
	return path_exists(p);
}

int domain_block_record(const char *dir, const char *const devs[])
{
	_cleanup_free_ char *path = record_path(dir);
	_cleanup_json_ json_object *o = json_object_new_object();
	json_object *a = json_object_new_array();
	size_t len;

	for (size_t i = 0; devs[i]; i++)
		json_object_array_add(a, json_object_new_string(devs[i]));
	json_object_object_add(o, "devices", a);
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	int r = mkdir_p(dir, 0755);
	if (r == 0)
		r = atomic_write_file(path, s, len);
	if (r < 0)
		return sp_error_set(r, "io_error", "", "cannot write %s: %s", path, strerror(-r));
	return 0;
}

static int read_record(const char *dir, struct block_priv *p)
{
	_cleanup_free_ char *path = record_path(dir);
	_cleanup_free_ char *data = NULL;
	_cleanup_json_ json_object *o = NULL;
	json_object *a;
	int r = read_file(path, 65536, &data, NULL);

	if (r < 0)
		return sp_error_set(r, "io_error", "", "cannot read %s: %s", path, strerror(-r));
	if (!(o = json_tokener_parse(data)) || !json_object_object_get_ex(o, "devices", &a) ||
	    !json_object_is_type(a, json_type_array) || json_object_array_length(a) == 0 ||
	    json_object_array_length(a) > LVM_MAX_DEVS)
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "%s is not a valid block domain record", path);
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		const char *dev = json_object_get_string(json_object_array_get_idx(a, i));
		if (!dev || !lvm_device_is_valid(dev))
			return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "%s names an invalid device", path);
		p->devs[i] = xstrdup(dev);
	}
	return 0;
}

static const char *vg_tag(const struct lvm_vg *vg, const char *key)
{
	size_t n = strlen(key);
	for (char **t = vg->tags; t && *t; t++)
		if (strncmp(*t, key, n) == 0 && (*t)[n] == '=')
			return *t + n + 1;
	return NULL;
}

static void priv_free(struct block_priv *p)
{
	if (!p)
		return;
	for (size_t i = 0; p->devs[i]; i++)
		free(p->devs[i]);
	slot_journal_close(p->journal);
	slot_journal_close(p->pool_md);
	slot_journal_close(p->markers);
	free(p);
}

static int open_journal(const char *vg, struct block_priv *p)
{
	_cleanup_free_ char *dev = NULL;
	uint64_t offset, size;
	int r = lvm_lv_location(vg, "journal", &dev, &offset, &size);
	if (r < 0)
		return r;
	if (size < JOURNAL_LV_BYTES)
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "VG %s: the journal LV is too small", vg);
	if ((r = slot_journal_open(dev, offset, JOURNAL_BYTES, &p->journal)) < 0 ||
	    (r = slot_journal_open(dev, offset + JOURNAL_BYTES, POOL_MD_BYTES, &p->pool_md)) < 0)
		return r;
	return slot_journal_open(dev, offset + JOURNAL_BYTES + POOL_MD_BYTES, MARKER_BYTES, &p->markers);
}

/* VMs keep running while the agent restarts: the LVs active on this host
 * get their run-time links back (run_dir is a tmpfs, gone after a reboot). */
static void relink_active(struct domain *d)
{
	struct lvm_lv *lvs;
	size_t n;

	if (!settings.activation || lvm_lvs(d->uuid, NULL, &lvs, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct volume_meta m;
		if (!lvs[i].active || block_tags_to_meta(d->uuid, lvs[i].name, lvs[i].tags, &m) < 0)
			continue;
		if (link_volume(d, m.image, m.uuid) < 0)
			log_warning("domain %s: %s", d->uuid, sp_error_last()->message);
		else
			log_info("domain %s: volume %s of image %s is active here, linked", d->uuid, m.uuid, m.image);
	}
	lvm_lvs_free(lvs, n);
}

int domain_block_open(const char *dir, struct domain *ret)
{
	struct block_priv *p = xcalloc(1, sizeof(*p));
	struct domain d = { 0 };
	struct lvm_vg vg = { 0 };
	const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
	int r;

	if ((r = ensure_lvm()) < 0 || (r = read_record(dir, p)) < 0 ||
	    (r = lvm_vg_info(base, (const char *const *)p->devs, &vg)) < 0)
		goto fail;
	const char *kind = vg_tag(&vg, "sp.kind"), *name = vg_tag(&vg, "sp.name"), *pool = vg_tag(&vg, "sp.pool");
	if (!uuid_is_valid(base) || !kind || strcmp(kind, "block") != 0 || !name || !name_is_valid(name)) {
		r = sp_error_set(-SP_E_CORRUPT, "corrupt", "", "VG %s is not a sanpool block domain", base);
		goto fail;
	}
	snprintf(d.uuid, sizeof(d.uuid), "%s", base);
	snprintf(d.name, sizeof(d.name), "%s", name);
	if (pool && uuid_is_valid(pool))
		snprintf(d.pool, sizeof(d.pool), "%s", pool);
	snprintf(d.path, sizeof(d.path), "%s", dir);
	lvm_vg_clear(&vg);
	if ((r = open_journal(d.uuid, p)) < 0)
		goto fail;
	d.ops = &domain_block_ops;
	d.priv = p;
	relink_active(&d);
	*ret = d;
	return 0;
fail:
	lvm_vg_clear(&vg);
	priv_free(p);
	return r;
}

static int zero_region(const char *dev, uint64_t offset, uint64_t size)
{
	_cleanup_close_ int fd = open(dev, O_WRONLY | O_CLOEXEC);
	_cleanup_free_ char *zeros = xcalloc(1, 1 << 20);

	if (fd < 0)
		return sp_error_set(-errno, "io_error", "", "cannot open %s: %m", dev);
	for (uint64_t done = 0; done < size; done += 1 << 20)
		if (pwrite(fd, zeros, 1 << 20, (off_t)(offset + done)) != 1 << 20)
			return sp_error_set(-EIO, "io_error", "", "cannot clear the journal on %s: %m", dev);
	if (fdatasync(fd) < 0)
		return sp_error_set(-errno, "io_error", "", "cannot clear the journal on %s: %m", dev);
	return 0;
}

int domain_block_format(const char *dir, const char *const devs[], const char *uuid, const char *name,
			const char *pool)
{
	_cleanup_free_ char *name_tag = xasprintf("sp.name=%s", name);
	_cleanup_free_ char *pool_tag = xasprintf("sp.pool=%s", pool && pool[0] ? pool : "none");
	const char *tags[] = { "sp.kind=block", "sp.version=1", name_tag, pool_tag, NULL };
	int r;

	if ((r = ensure_lvm()) < 0)
		return r;
	if ((r = pvcreate_settled(devs)) < 0 || (r = lvm_vgcreate(uuid, devs, EXTENT_SIZE, tags)) < 0)
		return r;
	for (size_t i = 0; special_lvs[i]; i++)
		if ((r = lvm_lvcreate_contiguous(uuid, special_lvs[i], SPECIAL_LV_SIZE, NULL)) < 0)
			return r;
	/* zeroed journal: no stale records from an earlier life of the LUN */
	_cleanup_free_ char *dev = NULL;
	uint64_t offset, size;
	if ((r = lvm_lv_location(uuid, "journal", &dev, &offset, &size)) < 0 || (r = zero_region(dev, offset, JOURNAL_LV_BYTES)) < 0)
		return r;
	return domain_block_record(dir, devs);
}

int domain_block_identify(const char *const devs[], char ret_uuid[UUID_STR_LEN])
{
	char **vgs = NULL;
	struct lvm_vg vg = { 0 };
	size_t ndevs = 0;
	int r;

	while (devs[ndevs])
		ndevs++;
	if ((r = ensure_lvm()) < 0 || (r = lvm_vgs_on(devs, &vgs)) < 0)
		return r;
	if (!vgs[0] || vgs[1] || !uuid_is_valid(vgs[0]))
		r = sp_bad_field("devices", "the devices hold %s, not one sanpool block domain",
				 vgs[0] ? "several or foreign VGs" : "no VG");
	else if ((r = lvm_vg_info(vgs[0], devs, &vg)) < 0)
		;
	else if (!vg_tag(&vg, "sp.kind") || strcmp(vg_tag(&vg, "sp.kind"), "block") != 0)
		r = sp_bad_field("devices", "VG %s is not a sanpool block domain", vgs[0]);
	else if (vg.pv_count != ndevs)
		r = sp_bad_field("devices", "VG %s has %" PRIu64 " PVs, %zu devices given: name them all",
				 vgs[0], vg.pv_count, ndevs);
	else
		memcpy(ret_uuid, vgs[0], UUID_STR_LEN);
	if (r < 0 && vgs[0])
		lvm_vg_invalidate(vgs[0]);
	lvm_vg_clear(&vg);
	for (size_t i = 0; vgs[i]; i++)
		free(vgs[i]);
	free(vgs);
	return r;
}
