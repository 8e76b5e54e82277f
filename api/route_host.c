/* /v1/host and /v1/openapi.json */
#include <microhttpd.h>
#include <string.h>

#include "api/route.h"
#include "lib/task.h"
#include "lib/thinmon.h"

/* Generated at build time from api/openapi.json. */
extern const char openapi_doc[];
extern const size_t openapi_doc_len;

static void get_host(const struct request *req, struct response *res)
{
	(void)req;
	int counts[5];
	json_object *o = json_object_new_object();
	json_object *tasks = json_object_new_object();

	task_counts(counts);
	for (int i = 0; i < 5; i++)
		json_object_object_add(tasks, task_state_str((enum task_state)i), json_object_new_int(counts[i]));
	json_object_object_add(o, "hostname", json_object_new_string(api_host.hostname));
	json_object_object_add(o, "host_id", json_object_new_int(api_host.host_id));
	json_object_object_add(o, "version", json_object_new_string(SANPOOL_VERSION));
	json_object_object_add(o, "api_version", json_object_new_string("v1"));
	json_object_object_add(o, "uptime_ms", json_object_new_int64(now_ms() - api_host.started_ms));
	json_object_object_add(o, "tasks", tasks);
	json_object_object_add(o, "thin_monitor", thinmon_summary_json());
	reply_json(res, MHD_HTTP_OK, o);
}

/* The thin monitor's whole state: watched drives, recent extends. */
static void get_thin_monitor(const struct request *req, struct response *res)
{
	(void)req;
	reply_json(res, MHD_HTTP_OK, thinmon_state_json());
}

static void get_openapi(const struct request *req, struct response *res)
{
	(void)req;
	res->status = MHD_HTTP_OK;
	res->raw = openapi_doc;
	res->raw_len = openapi_doc_len;
}

const struct route host_routes[] = {
	{ "GET", "/v1/host", get_host },
	{ "GET", "/v1/host/thin", get_thin_monitor },
	{ "GET", "/v1/openapi.json", get_openapi },
	{ NULL, NULL, NULL },
};
