/* Deleting a snapshot: a volume leaves the chain and the image keeps its
 * content. Two ways, chosen by where the volume is:
 *  - it has a child: the child is rebased onto the volume's parent (a safe
 *    rebase copies in what the child read through the volume); commit point:
 *    the child's metadata naming its new parent;
 *  - it is the top: its data is committed into its parent. The parent is
 *    made ILLEGAL first (the commit point): while its content is in flux it
 *    must never be used alone (discarding the top would expose a half-merged
 *    parent). From there the merge only goes forward: an abort is ignored,
 *    recovery redoes the commit (idempotent), and if qemu-img fails the parent
 *    stays ILLEGAL and the deletion can be asked again. Once the parent is
 *    LEGAL again (a newer generation than the journal record noted), only the
 *    top's removal is left: recovery finishes it.
 * Either way the volume is then removed. Before its commit point an
 * interrupted merge leaves a valid chain: what a safe rebase copied already is
 * equal to what was read through the volume. */
#include <string.h>

#include "lib/activation.h"
#include "lib/ops.h"
#include "lib/ops_common.h"
#include "lib/qemu_img.h"
#include "lib/store.h"
#include "lib/util/cleanup.h"
#include "lib/util/crashpoint.h"
#include "lib/util/error.h"

static int finish(struct domain *d, const char *volume)
{
	struct volume_meta m;
	if (store_get_volume(volume, &m) < 0)
		return 0;
	return op_remove_volume(d, &m);
}

static char *new_backing(struct domain *d, json_object *rec, enum vol_format *ret_fmt)
{
	struct volume_meta p;
	const char *parent = rec_str(rec, "parent");
	if (!parent[0] || store_get_volume(parent, &p) < 0)
		return NULL;
	*ret_fmt = p.format;
	return d->ops->backing_ref(d, p.image, p.uuid);
}

static int rebase_child(struct task *t, struct domain *d)
{
	json_object *rec = t->record;
	struct volume_meta child;
	enum vol_format fmt = VOL_FORMAT_RAW;
	struct held *h = NULL;
	int r;

	if ((r = store_get_volume(rec_str(rec, "child"), &child)) < 0)
		return r;
	_cleanup_free_ char *backing = new_backing(d, rec, &fmt);
	_cleanup_free_ char *path = d->ops->volume_path(d, child.image, child.uuid);
	struct qemu_img_progress p = { op_progress, t, &t->abort };
	/* the child's chain: the volume leaving it and the new parent below */
	if ((r = activation_hold(d->uuid, child.uuid, &h)) == 0)
		r = qemu_img_rebase(path, backing, fmt, &p);
	activation_release(h);
	if (r < 0)
		return r;
	crashpoint("merge.after_rebase");
	snprintf(child.parent, sizeof(child.parent), "%s", rec_str(rec, "parent"));
	snprintf(child.parent_image, sizeof(child.parent_image), "%s", rec_str(rec, "parent_image"));
	if ((r = store_put_volume(d, &child)) < 0)
		return r;
	crashpoint("merge.after_commit_point");
	return finish(d, rec_str(rec, "volume"));
}

/* From the parent ILLEGAL on: commit, parent LEGAL with its new size, top removed. */
static int commit_forward(struct domain *d, const char *top_uuid, const char *parent_uuid,
			  const struct qemu_img_progress *p)
{
	struct volume_meta top, parent;
	struct qemu_img_info info;
	int r;

	if ((r = store_get_volume(top_uuid, &top)) < 0 || (r = store_get_volume(parent_uuid, &parent)) < 0)
		return r;
	_cleanup_free_ char *top_path = d->ops->volume_path(d, top.image, top.uuid);
	_cleanup_free_ char *parent_path = d->ops->volume_path(d, parent.image, parent.uuid);
	struct held *h = NULL;
	if ((r = activation_hold(d->uuid, top.uuid, &h)) == 0 && (r = qemu_img_commit(top_path, p)) == 0) {
		crashpoint("merge.after_commit_data");
		/* qemu-img commit grew the parent to the top's size if it was smaller */
		r = qemu_img_info(parent_path, &info);
	}
	activation_release(h); /* before the top's LV is removed */
	if (r < 0)
		return r;
	parent.capacity = info.virtual_size;
	parent.legal = true;
	if ((r = store_put_volume(d, &parent)) < 0)
		return r;
	crashpoint("merge.after_parent_legal");
	return finish(d, top.uuid);
}

static int commit_into_parent(struct task *t, struct domain *d)
{
	json_object *rec = t->record;
	struct volume_meta parent;
	int r;

	if ((r = store_get_volume(rec_str(rec, "parent"), &parent)) < 0)
		return r;
	if (op_aborted(t))
		return -SP_E_ABORTED;
	if (parent.legal) {
		parent.legal = false;
		if ((r = store_put_volume(d, &parent)) < 0)
			return r;
	}
	crashpoint("merge.after_parent_illegal");
	struct qemu_img_progress p = { op_progress, t, NULL }; /* past the commit point: no abort */
	return commit_forward(d, rec_str(rec, "volume"), parent.uuid, &p);
}

static int run(struct task *t)
{
	struct domain d;
	int r;

	if ((r = store_get_domain(rec_str(t->record, "domain"), &d)) < 0)
		return r;
	if (strcmp(rec_str(t->record, "mode"), "rebase") == 0)
		r = rebase_child(t, &d);
	else
		r = commit_into_parent(t, &d);
	if (r == 0)
		t->result_fn = op_image_result;
	return r;
}

static int rolled_back(json_object *rec)
{
	return sp_error_set(-SP_E_ABORTED, "rolled_back", "",
			    "the agent stopped before the merge of volume %s was complete; the chain is unchanged",
			    rec_str(rec, "volume"));
}

static int recover(json_object *rec)
{
	struct volume_meta child, vol;
	struct domain d;
	int r;

	if ((r = store_get_domain(rec_str(rec, "domain"), &d)) < 0)
		return r;
	if (store_get_volume(rec_str(rec, "volume"), &vol) < 0 || !vol.legal)
		return finish(&d, rec_str(rec, "volume"));
	if (strcmp(rec_str(rec, "mode"), "rebase") != 0) {
		struct volume_meta parent;
		if ((r = store_get_volume(rec_str(rec, "parent"), &parent)) < 0)
			return r;
		/* LEGAL again after the commit (a newer generation than at submission:
		 * only the top's removal is left), or not yet made ILLEGAL */
		json_object *g;
		if (parent.legal && json_object_object_get_ex(rec, "parent_generation", &g) &&
		    parent.generation > (uint64_t)json_object_get_int64(g))
			return finish(&d, vol.uuid);
		if (parent.legal)
			return rolled_back(rec); /* stopped before the commit point */
		return commit_forward(&d, vol.uuid, parent.uuid, NULL);
	}
	if ((r = store_get_volume(rec_str(rec, "child"), &child)) < 0)
		return r;
	if (strcmp(child.parent, rec_str(rec, "parent")) == 0)
		return finish(&d, vol.uuid);

	/* the rebase may have ended without its metadata write */
	enum vol_format fmt = VOL_FORMAT_RAW;
	_cleanup_free_ char *backing = new_backing(&d, rec, &fmt);
	_cleanup_free_ char *path = d.ops->volume_path(&d, child.image, child.uuid);
	struct qemu_img_info info;
	struct held *h = NULL;
	if ((r = activation_hold(d.uuid, child.uuid, &h)) == 0)
		r = qemu_img_info(path, &info);
	activation_release(h);
	if (r < 0)
		return r;
	if (strcmp(info.backing, backing ? backing : "") != 0)
		return rolled_back(rec);
	snprintf(child.parent, sizeof(child.parent), "%s", rec_str(rec, "parent"));
	snprintf(child.parent_image, sizeof(child.parent_image), "%s", rec_str(rec, "parent_image"));
	if ((r = store_put_volume(&d, &child)) < 0)
		return r;
	return finish(&d, vol.uuid);
}

const struct op_desc op_merge = { "merge_volume", run, recover };

int op_snapshot_delete(const char *domain, const char *image, const char *volume, json_object **ret)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	size_t n, i;
	int r;

	if ((r = store_get_domain(domain, &(struct domain){ 0 })) < 0 ||
	    (r = store_image_volumes(domain, image, &v, &n)) < 0 || (r = op_require_data(domain)) < 0 ||
	    (r = activation_refuse_prepared(image)) < 0)
		return r;
	for (i = 0; i < n && strcmp(v[i].uuid, volume) != 0; i++)
		;
	if (i == n)
		return sp_not_found("volume %s not found in image %s", volume, image);
	for (size_t k = 0; k < n; k++) {
		if (v[k].shared)
			return sp_conflict("image %s is a template: it is read-only", image);
		/* the one ILLEGAL volume allowed: the parent a failed commit left, when asked again */
		bool retry = k + 2 == n && i == n - 1;
		if (!v[k].legal && !retry)
			return sp_conflict("image %s is not usable: volume %s is ILLEGAL", image, v[k].uuid);
	}
	if (n == 1)
		return sp_conflict("volume %s is the only volume of image %s: delete the image instead", volume, image);
	/* a clone's base has its parent in the template: that parent is kept */
	bool is_top = i == n - 1;
	json_object *rec = rec_new(op_merge.name);
	rec_add_str(rec, "domain", domain);
	rec_add_str(rec, "image", image);
	rec_add_str(rec, "volume", volume);
	rec_add_str(rec, "mode", is_top ? "commit" : "rebase");
	rec_add_str(rec, "child", is_top ? "" : v[i + 1].uuid);
	rec_add_str(rec, "parent", v[i].parent);
	rec_add_str(rec, "parent_image", v[i].parent_image);
	/* recovery tells a commit that ended (parent written LEGAL again) from
	 * one that never began (parent LEGAL as it was) by this */
	if (is_top)
		rec_add_int(rec, "parent_generation", (int64_t)v[i - 1].generation);
	return op_submit(&op_merge, domain, rec, image, NULL, NULL, ret);
}
