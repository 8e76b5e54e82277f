/* Replaying task journals after a restart: every acknowledged task is
 * finished or rolled back before new work is accepted. */
#include <string.h>

#include "lib/activation.h"
#include "lib/ops.h"
#include "lib/ops_common.h"
#include "lib/qemu_img.h"
#include "lib/store.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/hashmap.h"
#include "lib/util/log.h"
#include "lib/util/xalloc.h"

/* A qemu-img killed while it wrote into a qcow2 volume (resize, commit,
 * rebase) leaves clusters allocated and unused: harmless, but reported by
 * every check. The image's volumes get them freed once its task is settled. */
static void repair_leaks(struct domain *d, json_object *record)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	size_t n;

	if (!d->ops->data_access(d) || store_image_volumes(d->uuid, rec_str(record, "image"), &v, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (v[i].format != VOL_FORMAT_QCOW2 || v[i].shared)
			continue;
		_cleanup_free_ char *path = d->ops->volume_path(d, v[i].image, v[i].uuid);
		_cleanup_(activation_releasep) struct held *h = NULL;
		if (activation_hold(d->uuid, v[i].uuid, &h) < 0 || qemu_img_repair_leaks(path) < 0)
			log_warning("recovery: volume %s: %s", v[i].uuid, sp_error_last()->message);
	}
}

static int replay(const char *task_uuid, json_object *record, void *userdata)
{
	struct domain *d = userdata;
	const char *name = rec_str(record, "op");
	const struct op_desc *op = op_find(name);
	int r;

	sp_error_clear();
	if (!op)
		r = sp_error_set(-SP_E_CORRUPT, "corrupt", "", "unknown operation %s in journal", name);
	else
		r = op->recover(record);
	if (op) {
		struct sp_error outcome;
		sp_error_copy(&outcome);
		repair_leaks(d, record);
		sp_error_set(outcome.code, outcome.kind, outcome.field, "%s", outcome.message);
	}

	struct task *t = task_new(name, d->uuid, json_object_get(record), op ? op->run : NULL);
	snprintf(t->uuid, sizeof(t->uuid), "%s", task_uuid);
	t->recovered = true;
	t->started_ms = t->ended_ms = now_ms();
	if (r == 0) {
		t->state = TASK_FINISHED;
		atomic_store(&t->progress, 100);
		log_info("recovery: task %s (%s) completed", task_uuid, name);
	} else {
		sp_error_copy(&t->error);
		t->state = TASK_FAILED;
		log_warning("recovery: task %s (%s) rolled back: %s", task_uuid, name, t->error.message);
	}
	/* a record whose recovery hit an I/O error stays for the next start */
	if (r == 0 || r == -SP_E_ABORTED)
		d->ops->journal_remove(d, task_uuid);
	task_add_ended(t);
	return 0;
}

struct domains {
	const char *pool; /* only this pool's domains ("": those in no pool); NULL: all */
	struct domain *v;
	size_t n;
};

static void collect_domain(struct domain *d, void *userdata)
{
	struct domains *ds = userdata;
	if (ds->pool && strcmp(ds->pool, d->pool) != 0)
		return;
	ds->v = xrealloc(ds->v, (ds->n + 1) * sizeof(*ds->v));
	ds->v[ds->n++] = *d;
}

/* Every string value of a record that stays journaled (its recovery failed
 * and is tried again at the next start): the volumes it may still change. */
static int note_record(const char *task_uuid, json_object *record, void *userdata)
{
	(void)task_uuid;
	json_object_object_foreach(record, key, val) {
		(void)key;
		if (json_object_is_type(val, json_type_string))
			hashmap_put(userdata, json_object_get_string(val), (void *)1);
	}
	return 0;
}

static bool has_children(const struct volume_meta *v, size_t n, const char *uuid)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].parent, uuid) == 0)
			return true;
	return false;
}

static bool image_empty(const struct volume_meta *v, size_t n, const char *image)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].uuid[0] && strcmp(v[i].image, image) == 0)
			return false;
	return true;
}

/* An ILLEGAL volume that no journal record explains is a leftover (e.g. a
 * metadata write that succeeded while its task's record was lost): it is
 * removed, leaves first, so that no chain loses a volume under a child. An
 * ILLEGAL volume with a child is kept (logged): removing it would break the
 * child's chain. */
static void remove_leftovers(struct domain *d, struct hashmap *explained)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	size_t n = 0;
	bool removed = true;

	store_domain_volumes(d->uuid, &v, &n);
	while (removed) {
		removed = false;
		for (size_t i = 0; i < n; i++) {
			if (!v[i].uuid[0] || v[i].legal || hashmap_get(explained, v[i].uuid) ||
			    hashmap_get(explained, v[i].image) || has_children(v, n, v[i].uuid))
				continue;
			struct volume_meta m = v[i];
			log_warning("recovery: domain %s: removing volume %s of image %s, ILLEGAL with no task "
				    "to explain it (a leftover)", d->uuid, m.uuid, m.image);
			if (op_remove_volume(d, &m) < 0) {
				log_warning("recovery: domain %s: cannot remove leftover volume %s: %s", d->uuid, m.uuid,
					    sp_error_last()->message);
				continue;
			}
			v[i].uuid[0] = '\0';
			v[i].parent[0] = '\0';
			removed = true;
			if (image_empty(v, n, m.image) && d->ops->image_remove(d, m.image) < 0)
				log_warning("recovery: domain %s: cannot remove image %s: %s", d->uuid, m.image,
					    sp_error_last()->message);
		}
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].uuid[0] && !v[i].legal && !hashmap_get(explained, v[i].uuid))
			log_warning("recovery: domain %s: volume %s is ILLEGAL with no task to explain it; kept: "
				    "it has a child", d->uuid, v[i].uuid);
}

static void hashmap_freep(struct hashmap **m) { hashmap_free(*m); }

int ops_recover_all(void) { return ops_recover(NULL); }

int ops_recover(const char *pool)
{
	struct domains ds = { .pool = pool };
	store_foreach_domain(collect_domain, &ds);
	_cleanup_free_ struct domain *v = ds.v;
	_cleanup_(hashmap_freep) struct hashmap *explained = hashmap_new(NULL);
	for (size_t i = 0; i < ds.n; i++) {
		int r = v[i].ops->journal_scan(&v[i], replay, &v[i]);
		if (r < 0)
			log_error("recovery: cannot read the journal of domain %s: %s", v[i].uuid, strerror(-r));
	}
	/* what stays journaled, on any domain (a copy's record is on its destination) */
	_cleanup_(hashmap_freep) struct hashmap *unreadable = hashmap_new(NULL);
	for (size_t i = 0; i < ds.n; i++) {
		int r = v[i].ops->journal_scan(&v[i], note_record, explained);
		if (r < 0) {
			/* any ILLEGAL volume may be explained by a record that could not be read */
			log_warning("recovery: domain %s: journal unreadable, ILLEGAL volumes kept", v[i].uuid);
			hashmap_put(unreadable, v[i].uuid, (void *)1);
		}
	}
	for (size_t i = 0; i < ds.n; i++)
		if (!hashmap_get(unreadable, v[i].uuid))
			remove_leftovers(&v[i], explained);
	return 0;
}
