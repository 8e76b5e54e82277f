/* /v1/domains/{domain}/images/{image}/volumes/{volume}/lease: a volume's write
 * lease (lease/vlease.h). Adding and removing its slot changes the domain's
 * leases area: the SPM only (the gate in http.c), answered like the other
 * changes done while the request waits (202 with an ended task, the lease as
 * its result). Acquiring and releasing act on this host: every host, as
 * prepare, answered 200 with the lease. */
#include <microhttpd.h>

#include "api/body.h"
#include "api/route.h"
#include "lease/vlease.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"

#define DOMAIN req->params[0]
#define IMAGE req->params[1]
#define VOLUME req->params[2]

/* {"domain", "image", "volume", "lease"} (lease owned; NULL: none). */
static json_object *lease_result(const struct request *req, json_object *lease)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "domain", json_object_new_string(DOMAIN));
	json_object_object_add(o, "image", json_object_new_string(IMAGE));
	json_object_object_add(o, "volume", json_object_new_string(VOLUME));
	json_object_object_add(o, "lease", lease);
	return o;
}

static void add_lease(const struct request *req, struct response *res)
{
	json_object *lease = NULL;
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = vlease_add(DOMAIN, IMAGE, VOLUME, &lease);
	if (r < 0)
		reply_error(res);
	else
		reply_ended_task(res, "lease_add", DOMAIN, lease_result(req, lease));
}

static void remove_lease(const struct request *req, struct response *res)
{
	json_object *lease = NULL;
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = vlease_remove(DOMAIN, IMAGE, VOLUME, &lease);
	if (r < 0)
		reply_error(res);
	else
		reply_ended_task(res, "lease_remove", DOMAIN, lease_result(req, lease));
}

static void acquire_lease(const struct request *req, struct response *res)
{
	json_object *lease = NULL;
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = vlease_acquire(DOMAIN, IMAGE, VOLUME, &lease);
	if (r < 0)
		reply_error(res);
	else
		reply_json(res, MHD_HTTP_OK, lease_result(req, lease));
}

static void release_lease(const struct request *req, struct response *res)
{
	json_object *lease = NULL;
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = vlease_release(DOMAIN, IMAGE, VOLUME, &lease);
	if (r < 0)
		reply_error(res);
	else
		reply_json(res, MHD_HTTP_OK, lease_result(req, lease));
}

#define LEASE "/v1/domains/{domain}/images/{image}/volumes/{volume}/lease"
const struct route lease_routes[] = {
	{ "POST", LEASE, add_lease },
	{ "DELETE", LEASE, remove_lease },
	{ "POST", LEASE "/acquire", acquire_lease, .host_local = true },
	{ "POST", LEASE "/release", release_lease, .host_local = true },
	{ NULL, NULL, NULL },
};
