/* Creating a volume: a new image, a snapshot on top of an image, or a clone
 * of a template. The volume is written ILLEGAL, built, then made LEGAL: that
 * last metadata write is the commit point. */
#include <string.h>
#include <time.h>

#include "lib/activation.h"
#include "lib/ops.h"
#include "lib/ops_common.h"
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

	if ((r = store_get_domain(rec_str(rec, "domain"), &d)) < 0 || (r = store_check_writer(&d)) < 0 ||
	    (r = d.ops->volume_remove(&d, image, volume)) < 0)
		return r;
	store_forget_volume(volume);
	if (rec_bool(rec, "new_image"))
		return d.ops->image_remove(&d, image);
	return 0;
}

static int run(struct task *t)
{
	struct volume_meta m, parent;
	struct domain d;
	int r;

	op_meta_from_record(t->record, &m);
	if ((r = store_get_domain(m.domain, &d)) < 0)
		return r;
	if (m.parent[0] && (r = store_get_volume(m.parent, &parent)) < 0)
		return r;
	/* a write that fails (a full file system) may leave the new image's directory */
	if ((r = store_put_volume(&d, &m)) < 0)
		return op_fail(t, r, rollback);
	crashpoint("create.after_illegal_meta");
	/* the new LV and its backing chain are active while qemu-img formats it */
	struct held *h = NULL;
	if ((r = activation_hold(m.domain, m.uuid, &h)) == 0)
		r = d.ops->volume_create(&d, &m, m.parent[0] ? &parent : NULL);
	activation_release(h);
	crashpoint("create.after_data");
	if (r == 0 && op_aborted(t))
		r = -SP_E_ABORTED;
	if (r == 0) {
		m.legal = true;
		r = store_put_volume(&d, &m);
	}
	if (r < 0)
		return op_fail(t, r, rollback);
	crashpoint("create.after_legal");
	task_set_result(t, store_volume_json(m.domain, m.image, m.uuid));
	return 0;
}

static int recover(json_object *rec)
{
	return op_recover_new_volume(rec, rollback, "volume", rec_str(rec, "volume"));
}

const struct op_desc op_create_volume = { "create_volume", run, recover };

/* A snapshot or a clone: a thin qcow2 volume of capacity, which may not fit either (a full VG). */
static int check_thin_space(const struct domain *d, uint64_t capacity)
{
	return op_check_space(d, &(struct volume_meta){ .format = VOL_FORMAT_QCOW2, .alloc = VOL_ALLOC_SPARSE,
							.capacity = capacity }, "capacity");
}

static int submit(json_object *rec, const char *claim, json_object **ret)
{
	json_object *extra = json_object_new_object();
	json_object_object_add(extra, "image", json_object_new_string(rec_str(rec, "image")));
	json_object_object_add(extra, "volume", json_object_new_string(rec_str(rec, "volume")));
	return op_submit(&op_create_volume, rec_str(rec, "domain"), rec, claim, NULL, extra, ret);
}

static json_object *new_record(const char *domain, const char *image, bool new_image)
{
	char volume[UUID_STR_LEN];
	json_object *rec = rec_new(op_create_volume.name);

	uuid_generate_str(volume);
	rec_add_str(rec, "domain", domain);
	rec_add_str(rec, "image", image);
	rec_add_str(rec, "volume", volume);
	json_object_object_add(rec, "new_image", json_object_new_boolean(new_image));
	return rec;
}

int op_image_create(const struct image_create_req *req, json_object **ret)
{
	char image[UUID_STR_LEN];
	struct domain d;
	int r;

	if ((r = store_get_domain(req->domain, &d)) < 0)
		return r;
	if ((r = volume_check_capacity(req->capacity, "capacity")) < 0)
		return r;
	if ((r = op_check_space(&d, &(struct volume_meta){ .format = req->format, .alloc = req->alloc,
							   .capacity = req->capacity }, "capacity")) < 0)
		return r;
	uuid_generate_str(image);
	json_object *rec = new_record(req->domain, image, true);
	rec_add_str(rec, "parent", "");
	rec_add_str(rec, "parent_image", "");
	rec_add_str(rec, "name", req->name);
	rec_add_str(rec, "format", vol_format_str(req->format));
	rec_add_str(rec, "allocation", vol_alloc_str(req->alloc));
	rec_add_int(rec, "capacity", (int64_t)req->capacity);
	return submit(rec, image, ret);
}

int op_snapshot_create(const char *domain, const char *image, const char *parent, json_object **ret)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	struct volume_meta p;
	size_t n;
	struct domain d;
	int r;

	if ((r = store_get_domain(domain, &d)) < 0)
		return r;
	if (parent && (store_get_volume(parent, &p) < 0 || strcmp(p.image, image) != 0 || strcmp(p.domain, domain) != 0))
		return sp_bad_field("parent", "parent %s is not a volume of image %s", parent, image);
	if ((r = op_image_chain(domain, image, true, &v, &n)) < 0)
		return r;
	const struct volume_meta top = v[n - 1];
	if (parent && strcmp(parent, top.uuid) != 0)
		return sp_error_set(-SP_E_CONFLICT, "conflict", "parent",
				    "parent %s is not the top volume of image %s (the top is %s)", parent, image, top.uuid);
	if ((r = check_thin_space(&d, top.capacity)) < 0)
		return r;
	json_object *rec = new_record(domain, image, false);
	rec_add_str(rec, "parent", top.uuid);
	rec_add_str(rec, "parent_image", image);
	rec_add_str(rec, "name", top.image_name);
	rec_add_str(rec, "format", "qcow2");
	rec_add_str(rec, "allocation", "sparse");
	rec_add_int(rec, "capacity", (int64_t)top.capacity);
	return submit(rec, image, ret);
}

int op_image_clone(const char *domain, const char *template_image, const char *name, json_object **ret)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	char image[UUID_STR_LEN];
	size_t n;
	struct domain d;
	int r;

	if ((r = store_get_domain(domain, &d)) < 0)
		return r;
	if ((r = op_image_chain(domain, template_image, false, &v, &n)) < 0)
		return r;
	if (!v[0].shared)
		return sp_conflict("image %s is not a template: mark it as one first", template_image);
	if ((r = check_thin_space(&d, v[n - 1].capacity)) < 0)
		return r;
	uuid_generate_str(image);
	json_object *rec = new_record(domain, image, true);
	rec_add_str(rec, "parent", v[n - 1].uuid);
	rec_add_str(rec, "parent_image", template_image);
	rec_add_str(rec, "name", name);
	rec_add_str(rec, "format", "qcow2");
	rec_add_str(rec, "allocation", "sparse");
	rec_add_int(rec, "capacity", (int64_t)v[n - 1].capacity);
	return submit(rec, image, ret);
}
