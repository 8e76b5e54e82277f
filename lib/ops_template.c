/* Making an image a template: every volume becomes shared and read-only, so
 * that other images may use it as their backing. Idempotent: recovery
 * finishes it. */
#include <string.h>

#include "lib/ops.h"
#include "lib/ops_common.h"
#include "lib/store.h"
#include "lib/util/cleanup.h"
#include "lib/util/crashpoint.h"
#include "lib/util/error.h"

static int make_template(json_object *rec)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	struct domain d;
	size_t n;
	int r;

	if ((r = store_get_domain(rec_str(rec, "domain"), &d)) < 0 ||
	    (r = store_image_volumes(d.uuid, rec_str(rec, "image"), &v, &n)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (v[i].shared)
			continue;
		v[i].shared = true;
		if ((r = store_put_volume(&d, &v[i])) < 0)
			return r;
		crashpoint("template.after_volume");
	}
	return 0;
}

static int run(struct task *t)
{
	int r = make_template(t->record);
	if (r == 0)
		t->result_fn = op_image_result;
	return r;
}

const struct op_desc op_template = { "make_template", run, make_template };

int op_image_make_template(const char *domain, const char *image, json_object **ret)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	size_t n;
	int r;

	if ((r = op_image_chain(domain, image, false, &v, &n)) < 0)
		return r;
	if (v[0].parent[0])
		return sp_conflict("image %s is a clone of template %s: copy it to make a template of it", image,
				   v[0].parent_image);
	json_object *rec = rec_new(op_template.name);
	rec_add_str(rec, "domain", domain);
	rec_add_str(rec, "image", image);
	return op_submit(&op_template, domain, rec, image, NULL, NULL, ret);
}
