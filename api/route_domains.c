/* /v1/domains */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/body.h"
#include "api/route.h"
#include "lease/sharing.h"
#include "lease/spm.h"
#include "lib/devices.h"
#include "lib/lvm.h"
#include "lib/store.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"

static void list_domains(const struct request *req, struct response *res)
{
	(void)req;
	reply_json(res, MHD_HTTP_OK, store_domains_json());
}

static void get_domain(const struct request *req, struct response *res)
{
	reply_found(res, store_domain_json(req->params[0]));
}

/* Devices for a block domain: device paths LVM accepts, existing block
 * devices, each once. (Whether every host sees them: sharing_check_devices.) */
static int check_devices(const char *const *devs)
{
	size_t n = 0;
	for (; devs[n]; n++) {
		struct stat st;
		if (!lvm_device_is_valid(devs[n]))
			return sp_bad_field("devices", "%s is not a valid device path", devs[n]);
		if (stat(devs[n], &st) < 0 || !S_ISBLK(st.st_mode))
			return sp_bad_field("devices", "%s is not a block device", devs[n]);
		for (size_t j = 0; j < n; j++)
			if (strcmp(devs[j], devs[n]) == 0)
				return sp_bad_field("devices", "%s is listed twice", devs[n]);
	}
	if (n > LVM_MAX_DEVS)
		return sp_bad_field("devices", "at most %d devices", LVM_MAX_DEVS);
	return 0;
}

int domain_location_parse(json_object *body, struct domain_spec *spec)
{
	const char *kind = body_str(body, "kind") ? body_str(body, "kind") : "file";
	int r;

	if ((r = body_check_path(body_str(body, "path"))) < 0)
		return r;
	spec->name = body_str(body, "name");
	spec->pool = body_str(body, "pool");
	spec->path = body_str(body, "path");
	spec->devices = body_str_array(body, "devices");
	if (strcmp(kind, "file") == 0) {
		if (spec->devices)
			return sp_bad_field("devices", "devices are for block domains (kind \"block\")");
	} else if (strcmp(kind, "block") == 0) {
		if (!spec->devices)
			return sp_bad_field("devices", "a block domain needs devices");
		if (spec->path)
			return sp_bad_field("path", "path is for file domains");
		return check_devices(spec->devices);
	} else {
		return sp_bad_field("kind", "kind must be \"file\" or \"block\"");
	}
	return 0;
}

static void create_domain(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = {
		{ "name", FIELD_NAME, true },
		{ "pool", FIELD_UUID, false },
		{ "kind", FIELD_STRING, false },
		{ "path", FIELD_STRING, false },
		{ "devices", FIELD_STRING_ARRAY, false },
		{ "force", FIELD_BOOL, false },
	};
	struct domain_spec ds = { 0 };
	char uuid[UUID_STR_LEN];
	int r = body_check(req->body, spec, ARRAY_SIZE(spec));

	if (r == 0)
		r = domain_location_parse(req->body, &ds);
	bool force = json_object_get_boolean(json_object_object_get(req->body, "force"));
	/* a device in use (lib/devices.c), or one some host of the pool does not
	 * see (lease/sharing.c), is refused unless forced */
	if (r == 0 && ds.devices)
		r = devices_check_unused(ds.devices, force, "devices");
	if (r == 0 && ds.devices)
		r = sharing_check_devices(ds.pool, ds.devices, force, "devices");
	if (r == 0)
		r = store_domain_create(&ds, uuid);
	if (r == 0 && ds.pool)
		r = spm_domain_added(uuid);
	free((void *)ds.devices);
	if (r < 0) {
		reply_error(res);
		return;
	}
	reply_json(res, MHD_HTTP_CREATED, store_domain_json(uuid));
}

static void attach_domain(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = {
		{ "kind", FIELD_STRING, true },
		{ "path", FIELD_STRING, false },
		{ "devices", FIELD_STRING_ARRAY, false },
	};
	struct domain_spec ds = { 0 };
	char uuid[UUID_STR_LEN];
	int r = body_check(req->body, spec, ARRAY_SIZE(spec));

	if (r == 0)
		r = domain_location_parse(req->body, &ds);
	if (r == 0 && !ds.devices && !ds.path)
		r = sp_bad_field("path", "a file domain is attached from its directory");
	if (r == 0)
		r = store_domain_attach(&ds, uuid);
	free((void *)ds.devices);
	if (r < 0) {
		reply_error(res);
		return;
	}
	reply_json(res, MHD_HTTP_OK, store_domain_json(uuid));
}

/* A change of a domain done while the request waits (a few LVM commands):
 * answered like every change, 202 with its task, already ended; result is
 * the task's result (owned). Errors are answered directly (4xx/5xx). */
static void reply_done(struct response *res, int r, const char *op, const char *domain, json_object *result)
{
	if (r < 0) {
		json_object_put(result);
		reply_error(res);
		return;
	}
	reply_ended_task(res, op, domain, result);
}

static void add_device(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = {
		{ "device", FIELD_STRING, true },
		{ "force", FIELD_BOOL, false },
	};
	struct domain d;
	struct stat st;
	int r = body_check(req->body, spec, ARRAY_SIZE(spec));

	if (r == 0) {
		const char *devs[] = { body_str(req->body, "device"), NULL };
		bool force = json_object_get_boolean(json_object_object_get(req->body, "force"));
		if (!lvm_device_is_valid(devs[0]))
			r = sp_bad_field("device", "%s is not a valid device path", devs[0]);
		else if (stat(devs[0], &st) < 0 || !S_ISBLK(st.st_mode))
			r = sp_bad_field("device", "%s is not a block device", devs[0]);
		else if ((r = store_get_domain(req->params[0], &d)) == 0 &&
			 (r = sharing_check_devices(d.pool, devs, force, "device")) == 0)
			r = store_domain_add_device(req->params[0], devs[0], force);
	}
	reply_done(res, r, "add_device", req->params[0], r < 0 ? NULL : store_domain_json(req->params[0]));
}

static void resize_domain(const struct request *req, struct response *res)
{
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = store_domain_resize(req->params[0]);
	reply_done(res, r, "resize_domain", req->params[0], r < 0 ? NULL : store_domain_json(req->params[0]));
}

static void delete_domain(const struct request *req, struct response *res)
{
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = store_domain_remove(req->params[0]);
	reply_done(res, r, "remove_domain", req->params[0], NULL);
}

const struct route domain_routes[] = {
	{ "GET", "/v1/domains", list_domains },
	{ "POST", "/v1/domains", create_domain },
	{ "POST", "/v1/domains/attach", attach_domain },
	{ "GET", "/v1/domains/{domain}", get_domain },
	{ "DELETE", "/v1/domains/{domain}", delete_domain },
	{ "POST", "/v1/domains/{domain}/devices", add_device },
	{ "POST", "/v1/domains/{domain}/resize", resize_domain },
	{ NULL, NULL, NULL },
};
