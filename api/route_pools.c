/* /v1/pools */
#include <microhttpd.h>
#include <string.h>

#include "api/body.h"
#include "api/route.h"
#include "lib/store.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"

static void list_pools(const struct request *req, struct response *res)
{
	(void)req;
	reply_json(res, MHD_HTTP_OK, store_pools_json());
}

static void get_pool(const struct request *req, struct response *res)
{
	reply_found(res, store_pool_json(req->params[0]));
}

static void create_pool(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = {
		{ "name", FIELD_NAME, true },
		{ "master_domain_name", FIELD_NAME, true },
		{ "path", FIELD_STRING, false },
	};
	char pool[UUID_STR_LEN], domain[UUID_STR_LEN];

	if (body_check(req->body, spec, ARRAY_SIZE(spec)) < 0 || body_check_path(body_str(req->body, "path")) < 0 ||
	    store_pool_create(body_str(req->body, "name"), body_str(req->body, "master_domain_name"),
			      body_str(req->body, "path"), pool, domain) < 0) {
		reply_error(res);
		return;
	}
	reply_json(res, MHD_HTTP_CREATED, store_pool_json(pool));
}

const struct route pool_routes[] = {
	{ "GET", "/v1/pools", list_pools },
	{ "POST", "/v1/pools", create_pool },
	{ "GET", "/v1/pools/{pool}", get_pool },
	{ NULL, NULL, NULL },
};
