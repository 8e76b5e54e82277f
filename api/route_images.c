/* /v1/domains/{domain}/images/...: images, their volumes and snapshots,
 * templates, clones, copies and growth. */
#include <microhttpd.h>
#include <string.h>

#include "api/body.h"
#include "api/route.h"
#include "lease/vlease.h"
#include "lib/activation.h"
#include "lib/extend.h"
#include "lib/ops.h"
#include "lib/store.h"
#include "lib/thinmon.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"

#define DOMAIN req->params[0]
#define IMAGE req->params[1]
#define VOLUME req->params[2]

static void list_images(const struct request *req, struct response *res)
{
	reply_found(res, store_images_json(DOMAIN));
}

static void get_image(const struct request *req, struct response *res)
{
	reply_found(res, store_image_json(DOMAIN, IMAGE));
}

static void create_image(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = {
		{ "name", FIELD_NAME, false },
		{ "format", FIELD_STRING, true },
		{ "allocation", FIELD_STRING, false },
		{ "capacity", FIELD_INT, true },
	};
	struct image_create_req c = { .domain = DOMAIN, .alloc = VOL_ALLOC_SPARSE };
	json_object *body = NULL;
	int r = body_check(req->body, spec, ARRAY_SIZE(spec));

	if (r == 0 && vol_format_parse(body_str(req->body, "format"), &c.format) < 0)
		r = sp_bad_field("format", "format must be raw or qcow2");
	if (r == 0 && body_str(req->body, "allocation") &&
	    vol_alloc_parse(body_str(req->body, "allocation"), &c.alloc) < 0)
		r = sp_bad_field("allocation", "allocation must be sparse or preallocated");
	if (r == 0 && body_int(req->body, "capacity", 0) < 0)
		r = sp_bad_field("capacity", "capacity must be a positive number of bytes");
	if (r == 0) {
		c.name = body_str(req->body, "name") ? body_str(req->body, "name") : "";
		c.capacity = (uint64_t)body_int(req->body, "capacity", 0);
		r = op_image_create(&c, &body);
	}
	reply_task(res, r, body);
}

static void delete_image(const struct request *req, struct response *res)
{
	json_object *body = NULL;
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = op_image_delete(DOMAIN, IMAGE, &body);
	reply_task(res, r, body);
}

static void list_volumes(const struct request *req, struct response *res)
{
	reply_found(res, store_volumes_json(DOMAIN, IMAGE));
}

static void get_volume(const struct request *req, struct response *res)
{
	json_object *o = store_volume_json(DOMAIN, IMAGE, VOLUME);
	if (o) {
		activation_volume_json(o, DOMAIN, VOLUME);
		json_object_object_add(o, "lease", vlease_volume_json(DOMAIN, VOLUME));
		thinmon_volume_json(o, VOLUME);
	}
	reply_found(res, o);
}

/* Replies 200 with body, or the recorded error if r < 0. */
static void reply_done(struct response *res, int r, json_object *body)
{
	if (r < 0)
		reply_error(res);
	else
		reply_json(res, MHD_HTTP_OK, body);
}

/* {"lease": "exclusive" | "none"}: with "exclusive", the top volume's write
 * lease is acquired first (lease/vlease.h); "none" (the default) is how a
 * migration's destination prepares while the source holds the lease. */
static void prepare_image(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = { { "lease", FIELD_STRING, false } };
	json_object *body = NULL;
	int r = body_check(req->body, spec, ARRAY_SIZE(spec));
	const char *lease = r == 0 ? body_str(req->body, "lease") : NULL;
	if (r == 0 && lease && strcmp(lease, "exclusive") != 0 && strcmp(lease, "none") != 0)
		r = sp_bad_field("lease", "lease must be \"exclusive\" or \"none\", not \"%.64s\"", lease);
	if (r == 0)
		r = vlease_prepare(DOMAIN, IMAGE, lease && strcmp(lease, "exclusive") == 0, &body);
	reply_done(res, r, body);
}

static void teardown_image(const struct request *req, struct response *res)
{
	json_object *body = NULL;
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = vlease_teardown(DOMAIN, IMAGE, &body);
	reply_done(res, r, body);
}

static void refresh_volume(const struct request *req, struct response *res)
{
	json_object *body = NULL;
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = activation_refresh(DOMAIN, IMAGE, VOLUME, &body);
	reply_done(res, r, body);
}

static void extend_volume_route(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = { { "size", FIELD_INT, false } };
	json_object *body = NULL;
	int r = body_check(req->body, spec, ARRAY_SIZE(spec));
	int64_t size = r == 0 ? body_int(req->body, "size", 0) : 0;
	struct extend_result x;
	if (r == 0 && req->body && json_object_object_get_ex(req->body, "size", NULL) && (size <= 0 || size % 512))
		r = sp_bad_field("size", "size must be a positive multiple of 512 bytes");
	/* on the SPM directly, elsewhere through the pool's mailbox */
	if (r == 0 && (r = extend_volume(DOMAIN, IMAGE, VOLUME, (uint64_t)size, &x)) == 0) {
		if (!(body = store_volume_json(DOMAIN, IMAGE, VOLUME)))
			r = sp_error_last()->code;
		else
			activation_volume_json(body, DOMAIN, VOLUME);
	}
	if (body) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "from", json_object_new_int64((int64_t)x.from));
		json_object_object_add(e, "to", json_object_new_int64((int64_t)x.to));
		json_object_object_add(e, "latency_ms", json_object_new_double((double)x.latency_us / 1000.0));
		json_object_object_add(body, "extend", e);
	}
	reply_done(res, r, body);
}

static void delete_volume(const struct request *req, struct response *res)
{
	json_object *body = NULL;
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = op_volume_delete(DOMAIN, IMAGE, VOLUME, &body);
	reply_task(res, r, body);
}

/* The whole chain a VM reads, base first: a clone's starts in its template. */
static void list_snapshots(const struct request *req, struct response *res)
{
	_cleanup_json_ json_object *own = store_volumes_json(DOMAIN, IMAGE);
	if (!own) {
		reply_error(res);
		return;
	}
	json_object *chain = json_object_new_array();
	json_object *base = json_object_array_get_idx(own, 0);
	const char *parent_image = json_object_get_string(json_object_object_get(base, "parent_image"));
	if (parent_image && strcmp(parent_image, IMAGE) != 0) {
		_cleanup_json_ json_object *tmpl = store_volumes_json(DOMAIN, parent_image);
		for (size_t i = 0; tmpl && i < json_object_array_length(tmpl); i++)
			json_object_array_add(chain, json_object_get(json_object_array_get_idx(tmpl, i)));
	}
	for (size_t i = 0; i < json_object_array_length(own); i++)
		json_object_array_add(chain, json_object_get(json_object_array_get_idx(own, i)));
	reply_json(res, MHD_HTTP_OK, chain);
}

static void create_snapshot(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = { { "parent", FIELD_UUID, false } };
	json_object *body = NULL;
	int r = body_check(req->body, spec, ARRAY_SIZE(spec));
	if (r == 0)
		r = op_snapshot_create(DOMAIN, IMAGE, body_str(req->body, "parent"), &body);
	reply_task(res, r, body);
}

static void delete_snapshot(const struct request *req, struct response *res)
{
	json_object *body = NULL;
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = op_snapshot_delete(DOMAIN, IMAGE, VOLUME, &body);
	reply_task(res, r, body);
}

static void make_template(const struct request *req, struct response *res)
{
	json_object *body = NULL;
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = op_image_make_template(DOMAIN, IMAGE, &body);
	reply_task(res, r, body);
}

static void clone_image(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = { { "name", FIELD_NAME, false } };
	json_object *body = NULL;
	int r = body_check(req->body, spec, ARRAY_SIZE(spec));
	if (r == 0) {
		const char *name = body_str(req->body, "name");
		r = op_image_clone(DOMAIN, IMAGE, name ? name : "", &body);
	}
	reply_task(res, r, body);
}

static void copy_image(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = {
		{ "domain", FIELD_UUID, true },
		{ "format", FIELD_STRING, false },
		{ "allocation", FIELD_STRING, false },
	};
	json_object *body = NULL;
	int r = body_check(req->body, spec, ARRAY_SIZE(spec));
	if (r == 0)
		r = op_image_copy(DOMAIN, IMAGE, body_str(req->body, "domain"), body_str(req->body, "format"),
				  body_str(req->body, "allocation"), &body);
	reply_task(res, r, body);
}

static void resize_image(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = { { "capacity", FIELD_INT, true } };
	json_object *body = NULL;
	int r = body_check(req->body, spec, ARRAY_SIZE(spec));
	if (r == 0 && body_int(req->body, "capacity", 0) < 0)
		r = sp_bad_field("capacity", "capacity must be a positive number of bytes");
	if (r == 0)
		r = op_image_resize(DOMAIN, IMAGE, (uint64_t)body_int(req->body, "capacity", 0), &body);
	reply_task(res, r, body);
}

#define IMG "/v1/domains/{domain}/images/{image}"
const struct route image_routes[] = {
	{ "GET", "/v1/domains/{domain}/images", list_images },
	{ "POST", "/v1/domains/{domain}/images", create_image },
	{ "GET", IMG, get_image },
	{ "DELETE", IMG, delete_image },
	{ "GET", IMG "/volumes", list_volumes },
	{ "GET", IMG "/volumes/{volume}", get_volume },
	{ "DELETE", IMG "/volumes/{volume}", delete_volume },
	/* activation writes no VG metadata: every host; extend grows an LV on the
	 * SPM, asked through the mailbox from the other hosts: every host too */
	{ "POST", IMG "/volumes/{volume}/refresh", refresh_volume, .host_local = true },
	{ "POST", IMG "/volumes/{volume}/extend", extend_volume_route, .host_local = true },
	{ "POST", IMG "/prepare", prepare_image, .host_local = true },
	{ "POST", IMG "/teardown", teardown_image, .host_local = true },
	{ "GET", IMG "/snapshots", list_snapshots },
	{ "POST", IMG "/snapshots", create_snapshot },
	{ "DELETE", IMG "/snapshots/{volume}", delete_snapshot },
	{ "POST", IMG "/template", make_template },
	{ "POST", IMG "/clone", clone_image },
	{ "POST", IMG "/copy", copy_image },
	{ "POST", IMG "/resize", resize_image },
	{ NULL, NULL, NULL },
};
