/* Growing an image: its top volume gets the new capacity (the layers below
 * may stay smaller). Resizing to a size is idempotent (a volume that already
 * has it is left alone: qemu-img refuses to preallocate a size it does not
 * grow), so recovery redoes it and writes the metadata: the operation always
 * completes. */
#include <string.h>

#include "lib/activation.h"
#include "lib/ops.h"
#include "lib/ops_common.h"
#include "lib/qemu_img.h"
#include "lib/store.h"
#include "lib/util/cleanup.h"
#include "lib/util/crashpoint.h"
#include "lib/util/error.h"

static int resize(json_object *rec)
{
	struct volume_meta m;
	struct domain d;
	uint64_t capacity = (uint64_t)rec_int(rec, "capacity");
	int r;

	if ((r = store_get_domain(rec_str(rec, "domain"), &d)) < 0 ||
	    (r = store_get_volume(rec_str(rec, "volume"), &m)) < 0)
		return r;
	_cleanup_free_ char *path = d.ops->volume_path(&d, m.image, m.uuid);
	_cleanup_(activation_releasep) struct held *h = NULL;
	struct qemu_img_info info;
	if ((r = activation_hold(d.uuid, m.uuid, &h)) < 0 || (r = qemu_img_info(path, &info)) < 0)
		return r;
	if (info.virtual_size != capacity && (r = qemu_img_resize(path, m.format, m.alloc, capacity)) < 0)
		return r;
	crashpoint("resize.after_data");
	m.capacity = capacity;
	return store_put_volume(&d, &m);
}

static int run(struct task *t)
{
	int r = resize(t->record);
	if (r == 0)
		t->result_fn = op_image_result;
	return r;
}

const struct op_desc op_resize = { "resize_image", run, resize };

int op_image_resize(const char *domain, const char *image, uint64_t capacity, json_object **ret)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	size_t n;
	int r;

	if ((r = volume_check_capacity(capacity, "capacity")) < 0)
		return r;
	if ((r = op_image_chain(domain, image, true, &v, &n)) < 0 || (r = op_require_data(domain)) < 0 ||
	    (r = activation_refuse_prepared(image)) < 0)
		return r;
	if (capacity <= v[n - 1].capacity)
		return sp_bad_field("capacity", "capacity %llu is not larger than the current %llu: images only grow",
				    (unsigned long long)capacity, (unsigned long long)v[n - 1].capacity);
	json_object *rec = rec_new(op_resize.name);
	rec_add_str(rec, "domain", domain);
	rec_add_str(rec, "image", image);
	rec_add_str(rec, "volume", v[n - 1].uuid);
	rec_add_int(rec, "capacity", (int64_t)capacity);
	return op_submit(&op_resize, domain, rec, image, NULL, NULL, ret);
}
