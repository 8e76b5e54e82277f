#include "cli/task_follow.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/api.h"
#include "cli/progress.h"
#include "cli/report.h"
#include "lib/util/cleanup.h"
#include "lib/util/xalloc.h"

/* The daemon wakes a long poll only when a task ends, not when its progress
 * moves: a bar needs short polls, a script is served best by long ones. */
#define POLL_BAR_MS 500
#define POLL_LONG_MS 30000
/* Slack over the long poll for the answer to travel. */
#define POLL_SLACK_MS 30000L

static bool ended(const char *state)
{
	return state && strcmp(state, "queued") != 0 && strcmp(state, "running") != 0;
}

int task_follow(struct cli *c, const char *task, json_object **ret, char **ret_raw)
{
	struct progress bar;
	int wait_ms;

	progress_init(&bar);
	wait_ms = bar.tty ? POLL_BAR_MS : POLL_LONG_MS;
	_cleanup_free_ char *path = xasprintf("/v1/tasks/%s?wait_ms=%d", task, wait_ms);
	for (;;) {
		_cleanup_reply_ struct api_reply reply = { 0 };
		int r = api_call_timeout(c, "GET", path, NULL, wait_ms + POLL_SLACK_MS, &reply);
		if (r < 0) {
			progress_done(&bar, task, "", "unknown (lost track of it)");
			return r;
		}
		const char *op = json_str(reply.json, "op") ?: "task";
		const char *state = json_str(reply.json, "state");
		if (!state)
			return report_error(-EBADMSG, "task %s: the answer has no state", task);
		if (ended(state)) {
			progress_done(&bar, task, op, state);
			*ret = TAKE_PTR(reply.json);
			*ret_raw = TAKE_PTR(reply.raw);
			return 0;
		}
		progress_update(&bar, op, state, json_object_get_int(json_get(reply.json, "progress")));
	}
}

static int report_task_error(json_object *task)
{
	json_object *err = json_get(task, "error");
	const char *message = json_str(err, "message");
	const char *code = json_str(err, "code");

	fprintf(stderr, "sanpoolctl: error: task %s %s: %s\n", json_str(task, "uuid") ?: "?",
		json_str(task, "state") ?: "?", message && *message ? message : "no detail given");
	if (code && *code)
		fprintf(stderr, "  code: %s\n", code);
	return -CLI_E_API;
}

int task_outcome(struct cli *c, json_object *task, const char *raw, show_fn show)
{
	json_object *result = json_get(task, "result");

	if (c->json)
		puts(raw);
	if (strcmp(json_str(task, "state") ?: "", "finished") != 0)
		return report_task_error(task);
	if (!c->json && show && result && json_object_is_type(result, json_type_object))
		show(result);
	return 0;
}

int task_submit(struct cli *c, const char *method, const char *path, json_object *body, show_fn show)
{
	_cleanup_reply_ struct api_reply accepted = { 0 };
	_cleanup_json_ json_object *task = NULL;
	_cleanup_free_ char *raw = NULL;
	const char *id;
	int r;

	if ((r = api_call(c, method, path, body, &accepted)) < 0)
		return r;
	if (!(id = json_str(accepted.json, "task")))
		return report_error(-EBADMSG, "%s %s: HTTP %ld without a task", method, path, accepted.status);
	if (!c->wait) {
		puts(c->json ? accepted.raw : id);
		return 0;
	}
	if ((r = task_follow(c, id, &task, &raw)) < 0)
		return r;
	return task_outcome(c, task, raw, show);
}
