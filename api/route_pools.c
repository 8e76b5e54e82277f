/* /v1/pools: pools, connecting hosts to them, and their SPM. */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "api/route.h"
#include "lease/sharing.h"
#include "lease/spm.h"
#include "lib/devices.h"
#include "lib/store.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"

/* The store's view of a pool with this host's role in it. */
static json_object *pool_view(json_object *o)
{
	if (o)
		json_object_object_add(o, "spm", spm_pool_status(json_object_get_string(json_object_object_get(o, "uuid"))));
	return o;
}

static void list_pools(const struct request *req, struct response *res)
{
	(void)req;
	json_object *a = store_pools_json();
	for (size_t i = 0; i < json_object_array_length(a); i++)
		pool_view(json_object_array_get_idx(a, i));
	reply_json(res, MHD_HTTP_OK, a);
}

static void get_pool(const struct request *req, struct response *res)
{
	reply_found(res, pool_view(store_pool_json(req->params[0])));
}

static void create_pool(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = {
		{ "name", FIELD_NAME, true },
		{ "master_domain_name", FIELD_NAME, true },
		{ "kind", FIELD_STRING, false },
		{ "path", FIELD_STRING, false },
		{ "devices", FIELD_STRING_ARRAY, false },
		{ "force", FIELD_BOOL, false },
	};
	char pool[UUID_STR_LEN], domain[UUID_STR_LEN];
	struct domain_spec master = { 0 };
	int r = body_check(req->body, spec, ARRAY_SIZE(spec));

	if (r == 0)
		r = domain_location_parse(req->body, &master);
	if (r == 0 && master.devices) /* as for a domain: a device in use only when forced */
		r = devices_check_unused(master.devices, json_object_get_boolean(json_object_object_get(req->body, "force")),
					 "devices");
	master.name = body_str(req->body, "master_domain_name");
	if (r == 0)
		r = store_pool_create(body_str(req->body, "name"), &master, pool, domain);
	free((void *)master.devices);
	if (r == 0)
		r = spm_pool_created(pool);
	if (r == 0)
		sharing_pool_joined(pool);
	if (r < 0) {
		reply_error(res);
		return;
	}
	reply_json(res, MHD_HTTP_CREATED, pool_view(store_pool_json(pool)));
}

static void connect_pool(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = {
		{ "kind", FIELD_STRING, true },
		{ "path", FIELD_STRING, false },
		{ "devices", FIELD_STRING_ARRAY, false },
	};
	struct domain_spec master = { 0 };
	int r = body_check(req->body, spec, ARRAY_SIZE(spec));

	if (r == 0)
		r = domain_location_parse(req->body, &master);
	if (r == 0 && !master.devices && !master.path)
		r = sp_bad_field("path", "the master domain of a pool is found at its path or devices");
	if (r == 0)
		r = store_pool_connect(req->params[0], &master);
	free((void *)master.devices);
	if (r == 0)
		r = spm_pool_connected(req->params[0]);
	if (r == 0)
		sharing_pool_joined(req->params[0]);
	if (r < 0) {
		reply_error(res);
		return;
	}
	reply_found(res, pool_view(store_pool_json(req->params[0])));
}

static int disconnect(const char *pool);

/* The actions on a pool without a body: disconnect, SPM start and stop. */
static void pool_action(const struct request *req, struct response *res, int (*fn)(const char *pool))
{
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = fn(req->params[0]);
	if (r < 0) {
		reply_error(res);
		return;
	}
	reply_found(res, fn == disconnect ? json_object_new_object() : pool_view(store_pool_json(req->params[0])));
}

/* This host's report goes first (the master is still attached), and comes
 * back if the disconnection is refused. */
static int disconnect(const char *pool)
{
	struct pool p;
	if (store_get_pool(pool, &p) < 0)
		return spm_pool_disconnect(pool); /* says what is wrong */
	sharing_pool_leaving(pool);
	int r = spm_pool_disconnect(pool);
	if (r < 0) {
		struct sp_error cause;
		sp_error_copy(&cause);
		sharing_pool_joined(pool);
		sp_error_set(cause.code, cause.kind, cause.field, "%s", cause.message);
	}
	return r;
}

static void disconnect_pool(const struct request *req, struct response *res)
{
	pool_action(req, res, disconnect);
}

static void start_spm(const struct request *req, struct response *res) { pool_action(req, res, spm_start); }

static void stop_spm(const struct request *req, struct response *res) { pool_action(req, res, spm_stop); }

const struct route pool_routes[] = {
	{ "GET", "/v1/pools", list_pools },
	{ "POST", "/v1/pools", create_pool },
	{ "GET", "/v1/pools/{pool}", get_pool },
	{ "POST", "/v1/pools/{pool}/connect", connect_pool, .host_local = true },
	{ "POST", "/v1/pools/{pool}/disconnect", disconnect_pool, .host_local = true },
	{ "POST", "/v1/pools/{pool}/spm/start", start_spm, .host_local = true },
	{ "POST", "/v1/pools/{pool}/spm/stop", stop_spm, .host_local = true },
	{ NULL, NULL, NULL },
};
