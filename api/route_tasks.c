/* /v1/tasks */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "api/route.h"
#include "lib/task.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"

/* Long polls are bounded so that a client cannot hold a thread for long. */
#define WAIT_MAX_MS 60000

static void list_tasks(const struct request *req, struct response *res)
{
	(void)req;
	reply_json(res, MHD_HTTP_OK, task_list_json());
}

static void get_task(const struct request *req, struct response *res)
{
	const char *wait = query_arg(req, "wait_ms");
	long wait_ms = 0;

	if (wait) {
		char *end;
		wait_ms = strtol(wait, &end, 10);
		if (*wait == '\0' || *end != '\0' || wait_ms < 0 || wait_ms > WAIT_MAX_MS) {
			sp_bad_field("wait_ms", "wait_ms must be an integer from 0 to %d", WAIT_MAX_MS);
			reply_error(res);
			return;
		}
	}
	reply_found(res, task_json(req->params[0], (int)wait_ms));
}

static void abort_task(const struct request *req, struct response *res)
{
	if (body_check(req->body, NULL, 0) < 0 || task_abort(req->params[0]) < 0) {
		reply_error(res);
		return;
	}
	reply_json(res, MHD_HTTP_ACCEPTED, task_json(req->params[0], 0));
}

const struct route task_routes[] = {
	{ "GET", "/v1/tasks", list_tasks },
	{ "GET", "/v1/tasks/{task}", get_task },
	{ "POST", "/v1/tasks/{task}/abort", abort_task },
	{ NULL, NULL, NULL },
};
