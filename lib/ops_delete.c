/* Removing an image, or discarding an image's top volume. The journal record
 * is the commit point: once acknowledged, a removal is finished even across a
 * restart. Volumes are made ILLEGAL first so that none is reported usable
 * while half removed. */
#include <string.h>

#include "lib/activation.h"
#include "lib/ops.h"
#include "lib/ops_common.h"
#include "lib/store.h"
#include "lib/util/cleanup.h"
#include "lib/util/crashpoint.h"
#include "lib/util/error.h"

int op_remove_volume(struct domain *d, struct volume_meta *m)
{
	int r;
	if (m->legal) {
		m->legal = false;
		if ((r = store_put_volume(d, m)) < 0)
			return r;
	}
	crashpoint("delete.after_illegal");
	if ((r = store_check_writer(d)) < 0 || (r = d->ops->volume_remove(d, m->image, m->uuid)) < 0)
		return r;
	store_forget_volume(m->uuid);
	return 0;
}

static int delete_image(json_object *rec)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	const char *image = rec_str(rec, "image");
	struct domain d;
	size_t n = 0;
	int r;

	if ((r = store_get_domain(rec_str(rec, "domain"), &d)) < 0)
		return r;
	if (store_image_volumes(d.uuid, image, &v, &n) < 0)
		n = 0; /* already gone: only the directory may be left */
	for (size_t i = n; i-- > 0;)
		if ((r = op_remove_volume(&d, &v[i])) < 0)
			return r;
	return d.ops->image_remove(&d, image);
}

static int run_delete_image(struct task *t) { return delete_image(t->record); }

const struct op_desc op_delete_image = { "delete_image", run_delete_image, delete_image };

int op_image_delete(const char *domain, const char *image, json_object **ret)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	size_t n;
	int r;

	if ((r = store_get_domain(domain, &(struct domain){ 0 })) < 0)
		return r;
	if ((r = store_image_volumes(domain, image, &v, &n)) < 0 || (r = activation_refuse_prepared(image)) < 0)
		return r;
	size_t clones = store_external_children_count(image);
	if (clones > 0)
		return sp_conflict("image %s is the template of %zu other image(s): delete them first", image, clones);
	json_object *rec = rec_new(op_delete_image.name);
	rec_add_str(rec, "domain", domain);
	rec_add_str(rec, "image", image);
	return op_submit(&op_delete_image, domain, rec, image, NULL, NULL, ret);
}

static int delete_volume(json_object *rec)
{
	struct volume_meta m;
	struct domain d;
	int r;

	if ((r = store_get_domain(rec_str(rec, "domain"), &d)) < 0)
		return r;
	if (store_get_volume(rec_str(rec, "volume"), &m) < 0)
		return 0; /* already removed */
	return op_remove_volume(&d, &m);
}

static int run_delete_volume(struct task *t) { return delete_volume(t->record); }

const struct op_desc op_delete_volume = { "delete_volume", run_delete_volume, delete_volume };

int op_volume_delete(const char *domain, const char *image, const char *volume, json_object **ret)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	size_t n;
	int r;

	if ((r = op_image_chain(domain, image, true, &v, &n)) < 0 || (r = activation_refuse_prepared(image)) < 0)
		return r;
	if (strcmp(v[n - 1].uuid, volume) != 0) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(v[i].uuid, volume) == 0)
				return sp_conflict("volume %s has children: only the top volume can be deleted "
						   "(delete it as a snapshot to merge it instead)", volume);
		return sp_not_found("volume %s not found in image %s", volume, image);
	}
	if (n == 1)
		return sp_conflict("volume %s is the only volume of image %s: delete the image instead", volume, image);
	json_object *rec = rec_new(op_delete_volume.name);
	rec_add_str(rec, "domain", domain);
	rec_add_str(rec, "image", image);
	rec_add_str(rec, "volume", volume);
	return op_submit(&op_delete_volume, domain, rec, image, NULL, NULL, ret);
}
