/* /v1/domains */
#include <microhttpd.h>
#include <string.h>

#include "api/body.h"
#include "api/route.h"
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

static void create_domain(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = {
		{ "name", FIELD_NAME, true },
		{ "pool", FIELD_UUID, false },
		{ "kind", FIELD_STRING, false },
		{ "path", FIELD_STRING, false },
	};
	char uuid[UUID_STR_LEN];
	const char *kind = body_str(req->body, "kind");

	if (body_check(req->body, spec, ARRAY_SIZE(spec)) < 0 || body_check_path(body_str(req->body, "path")) < 0) {
		reply_error(res);
		return;
	}
	if (kind && strcmp(kind, "file") != 0) {
		sp_bad_field("kind", "kind must be \"file\" (block domains are not available yet)");
		reply_error(res);
		return;
	}
	if (store_domain_create(body_str(req->body, "name"), body_str(req->body, "pool"), body_str(req->body, "path"),
				uuid) < 0) {
		reply_error(res);
		return;
	}
	reply_json(res, MHD_HTTP_CREATED, store_domain_json(uuid));
}

const struct route domain_routes[] = {
	{ "GET", "/v1/domains", list_domains },
	{ "POST", "/v1/domains", create_domain },
	{ "GET", "/v1/domains/{domain}", get_domain },
	{ NULL, NULL, NULL },
};
