/* /v1/devices: the LUNs this host sees through multipath. */
#include <microhttpd.h>

#include "api/body.h"
#include "api/route.h"
#include "lib/devices.h"
#include "lib/util/cleanup.h"

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
		reply_ended_task(res, "rescan_devices", NULL, o);
}

const struct route device_routes[] = {
	{ "GET", "/v1/devices", list_devices },
	{ "POST", "/v1/devices/rescan", rescan_devices },
	{ NULL, NULL, NULL },
};
