/* /v1/domains/{domain}/images/{image}/volumes/{volume}/lease: a volume's write
 * lease (lease/vlease.h). Adding and removing its slot changes the domain's
 * leases area: the SPM only (the gate in http.c). Acquiring and releasing
 * act on this host: every host, as for prepare. */
#include <microhttpd.h>

#include "api/body.h"
#include "api/route.h"
#include "lease/vlease.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"

#define DOMAIN req->params[0]
#define IMAGE req->params[1]
#define VOLUME req->params[2]

typedef int (*lease_fn)(const char *domain, const char *image, const char *volume, json_object **ret);

/* Replies 200 with the lease's JSON (null: the volume has no lease). */
static void reply_lease(const struct request *req, struct response *res, lease_fn fn)
{
	json_object *lease = NULL;
	int r = body_check(req->body, NULL, 0);
	if (r == 0)
		r = fn(DOMAIN, IMAGE, VOLUME, &lease);
	if (r < 0) {
		json_object_put(lease);
		reply_error(res);
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "domain", json_object_new_string(DOMAIN));
	json_object_object_add(o, "image", json_object_new_string(IMAGE));
	json_object_object_add(o, "volume", json_object_new_string(VOLUME));
	json_object_object_add(o, "lease", lease);
	reply_json(res, MHD_HTTP_OK, o);
}

static void add_lease(const struct request *req, struct response *res) { reply_lease(req, res, vlease_add); }
static void remove_lease(const struct request *req, struct response *res) { reply_lease(req, res, vlease_remove); }
static void acquire_lease(const struct request *req, struct response *res) { reply_lease(req, res, vlease_acquire); }
static void release_lease(const struct request *req, struct response *res) { reply_lease(req, res, vlease_release); }

#define LEASE "/v1/domains/{domain}/images/{image}/volumes/{volume}/lease"
const struct route lease_routes[] = {
	{ "POST", LEASE, add_lease },
	{ "DELETE", LEASE, remove_lease },
	{ "POST", LEASE "/acquire", acquire_lease, .host_local = true },
	{ "POST", LEASE "/release", release_lease, .host_local = true },
	{ NULL, NULL, NULL },
};
