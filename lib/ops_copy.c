/* Copying an image's content (its chain collapsed) into a new image on
 * another domain. Journaled on the destination, where the new volume is
 * ILLEGAL until the copy is complete. */
#include <string.h>
#include <time.h>

#include "lib/activation.h"
#include "lib/ops.h"
#include "lib/ops_common.h"
#include "lib/qemu_img.h"
#include "lib/store.h"
#include "lib/util/cleanup.h"
#include "lib/util/crashpoint.h"
#include "lib/util/error.h"
#include "lib/util/log.h"

static int rollback(json_object *rec)
{
	const char *image = rec_str(rec, "image"), *volume = rec_str(rec, "volume");
	struct domain d;
	int r;

	if ((r = store_get_domain(rec_str(rec, "domain"), &d)) < 0)
		return r;
	if ((r = store_check_writer(&d)) < 0 || (r = d.ops->volume_remove(&d, image, volume)) < 0)
		return r;
	store_forget_volume(volume);
	return d.ops->image_remove(&d, image);
}

static int copy_data(struct task *t, struct domain *dst, struct volume_meta *m)
{
	json_object *rec = t->record;
	struct volume_meta src;
	struct domain sd;
	int r;

	_cleanup_(activation_releasep) struct held *src_held = NULL;
	_cleanup_(activation_releasep) struct held *dst_held = NULL;
	if ((r = store_get_domain(rec_str(rec, "src_domain"), &sd)) < 0 ||
	    (r = store_get_volume(rec_str(rec, "src_volume"), &src)) < 0)
		return r;
	if ((r = activation_hold(sd.uuid, src.uuid, &src_held)) < 0 ||
	    (r = activation_hold(dst->uuid, m->uuid, &dst_held)) < 0)
		return r;
	if ((r = dst->ops->volume_create(dst, m, NULL)) < 0)
		return r;
	crashpoint("copy.after_create");
	_cleanup_free_ char *src_path = sd.ops->volume_path(&sd, src.image, src.uuid);
	_cleanup_free_ char *dst_path = dst->ops->volume_path(dst, m->image, m->uuid);
	struct qemu_img_progress p = { op_progress, t, &t->abort };
	if ((r = qemu_img_convert(src_path, src.format, dst_path, m->format, &p)) < 0)
		return r;
	crashpoint("copy.after_convert");
	return op_aborted(t) ? -SP_E_ABORTED : 0;
}

static int run(struct task *t)
{
	json_object *rec = t->record;
	struct volume_meta m;
	struct domain d;
	int r;

	op_meta_from_record(rec, &m);
	if ((r = store_get_domain(m.domain, &d)) < 0)
		return r;
	if ((r = store_put_volume(&d, &m)) < 0)
		return op_fail(t, r, rollback);
	r = copy_data(t, &d, &m);
	if (r == 0) {
		m.legal = true;
		r = store_put_volume(&d, &m);
	}
	if (r < 0)
		return op_fail(t, r, rollback);
	t->result_fn = op_image_result;
	return 0;
}

static int recover(json_object *rec)
{
	return op_recover_new_volume(rec, rollback, "the copy to image", rec_str(rec, "image"));
}

const struct op_desc op_copy = { "copy_image", run, recover };

int op_image_copy(const char *domain, const char *image, const char *dst_domain, const char *format,
		  const char *allocation, json_object **ret)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	char new_image[UUID_STR_LEN], new_volume[UUID_STR_LEN];
	enum vol_format fmt;
	enum vol_alloc alloc = VOL_ALLOC_SPARSE;
	size_t n;
	int r;

	struct domain dst;
	if (store_get_domain(dst_domain, &dst) < 0)
		return sp_bad_field("domain", "destination domain %s does not exist", dst_domain);
	if ((r = op_image_chain(domain, image, false, &v, &n)) < 0 || (r = op_require_data(domain)) < 0 ||
	    (r = op_require_data(dst_domain)) < 0)
		return r;
	const struct volume_meta *top = &v[n - 1];
	fmt = top->format;
	if (format && vol_format_parse(format, &fmt) < 0)
		return sp_bad_field("format", "format must be raw or qcow2");
	if (allocation && vol_alloc_parse(allocation, &alloc) < 0)
		return sp_bad_field("allocation", "allocation must be sparse or preallocated");
	if ((r = op_check_space(&dst, &(struct volume_meta){ .format = fmt, .alloc = alloc, .capacity = top->capacity },
				"allocation")) < 0)
		return r;

	uuid_generate_str(new_image);
	uuid_generate_str(new_volume);
	json_object *rec = rec_new(op_copy.name);
	rec_add_str(rec, "src_domain", domain);
	rec_add_str(rec, "src_image", image);
	rec_add_str(rec, "src_volume", top->uuid);
	rec_add_str(rec, "domain", dst_domain);
	rec_add_str(rec, "image", new_image);
	rec_add_str(rec, "volume", new_volume);
	rec_add_str(rec, "name", top->image_name);
	rec_add_str(rec, "format", vol_format_str(fmt));
	rec_add_str(rec, "allocation", vol_alloc_str(alloc));
	rec_add_int(rec, "capacity", (int64_t)top->capacity);
	json_object *extra = json_object_new_object();
	json_object_object_add(extra, "image", json_object_new_string(new_image));
	json_object_object_add(extra, "volume", json_object_new_string(new_volume));
	/* the source is held too: a merge under a running copy would change what it reads */
	return op_submit(&op_copy, dst_domain, rec, new_image, image, extra, ret);
}
