/* /v1/connections: iSCSI targets this host logs in to, NFS exports it mounts.
 * CHAP secrets are accepted here and never returned. */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "api/route.h"
#include "lib/connections.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"

static void list_connections(const struct request *req, struct response *res)
{
	(void)req;
	reply_json(res, MHD_HTTP_OK, connections_json());
}

static void get_connection(const struct request *req, struct response *res)
{
	reply_found(res, connection_json(req->params[0]));
}

static void create_connection(const struct request *req, struct response *res)
{
	static const struct field_spec spec[] = {
		{ "kind", FIELD_STRING, false },
		{ "target", FIELD_STRING, false },
		{ "portals", FIELD_STRING_ARRAY, false },
		{ "chap_username", FIELD_STRING, false },
		{ "chap_password", FIELD_STRING, false },
		{ "export", FIELD_STRING, false },
		{ "mount_options", FIELD_STRING, false },
	};
	json_object *o = NULL;
	int r = body_check(req->body, spec, ARRAY_SIZE(spec));
	if (r == 0) {
		_cleanup_free_ const char **portals = body_str_array(req->body, "portals");
		struct connection_spec cs = {
			.kind = body_str(req->body, "kind"),
			.export_ = body_str(req->body, "export"),
			.mount_options = body_str(req->body, "mount_options"),
			.target = body_str(req->body, "target"),
			.portals = portals,
			.chap_username = body_str(req->body, "chap_username"),
			.chap_password = body_str(req->body, "chap_password"),
		};
		r = connection_connect(&cs, &o);
	}
	if (r < 0)
		reply_error(res);
	else
		reply_json(res, r == 1 ? MHD_HTTP_CREATED : MHD_HTTP_OK, o);
}

static void delete_connection(const struct request *req, struct response *res)
{
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = connection_disconnect(req->params[0]);
	if (r < 0) {
		reply_error(res);
		return;
	}
	/* answered like every removal: 202 with its task, already ended (logouts take seconds, not minutes) */
	reply_ended_task(res, "disconnect", NULL, NULL);
}

const struct route connection_routes[] = {
	{ "GET", "/v1/connections", list_connections },
	{ "POST", "/v1/connections", create_connection },
	{ "GET", "/v1/connections/{connection}", get_connection },
	{ "DELETE", "/v1/connections/{connection}", delete_connection },
	{ NULL, NULL, NULL },
};
