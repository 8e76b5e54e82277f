/* /v1/devices: the LUNs this host sees through multipath. */
#include <microhttpd.h>

#include "api/body.h"
#include "api/route.h"
#include "lib/devices.h"
#include "lib/task.h"
#include "lib/util/cleanup.h"

void reply_ended_task(struct response *res, const char *op, json_object *result)
{
	struct task *t = task_new(op, "", NULL, NULL); /* of no domain */
	t->state = TASK_FINISHED;
	atomic_store(&t->progress, 100);
	t->started_ms = t->ended_ms = now_ms();
	t->result = result;
	json_object *body = json_object_new_object();
	json_object_object_add(body, "task", json_object_new_string(t->uuid));
	task_add_ended(t);
	reply_task(res, 0, body);
}

static void list_devices(const struct request *req, struct response *res)
{
	(void)req;
	reply_found(res, devices_list_json(api_host.host_id));
}

/* After a LUN grew on its target: rescan every iSCSI session and resize the
 * multipath maps whose paths grew; then POST /v1/domains/{domain}/resize
 * grows the domain's PVs. Done while the request waits: 202 with its task,
 * already ended, whose result is the device list. */
static void rescan_devices(const struct request *req, struct response *res)
{
	if (body_check(req->body, NULL, 0) < 0) {
		reply_error(res);
		return;
	}
	json_object *o = devices_rescan_json(api_host.host_id);
	if (!o)
		reply_error(res);
	else
		reply_ended_task(res, "rescan_devices", o);
}

const struct route device_routes[] = {
	{ "GET", "/v1/devices", list_devices },
	{ "POST", "/v1/devices/rescan", rescan_devices },
	{ NULL, NULL, NULL },
};
