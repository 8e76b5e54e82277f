/* sanpoolctl task list|show|wait|abort */
#include <stdio.h>
#include <string.h>

#include "cli/api.h"
#include "cli/cli.h"
#include "cli/report.h"
#include "cli/task_follow.h"
#include "cli/views.h"
#include "lib/util/cleanup.h"
#include "lib/util/xalloc.h"

static int task_list(struct cli *c) { return api_show(c, "/v1/tasks", list_tasks); }

static int task_show(struct cli *c)
{
	int r = cli_check_uuid(c->args[0], "task");
	if (r < 0)
		return r;
	_cleanup_free_ char *path = xasprintf("/v1/tasks/%s", c->args[0]);
	return api_show(c, path, show_task);
}

static int task_wait(struct cli *c)
{
	_cleanup_json_ json_object *task = NULL;
	_cleanup_free_ char *raw = NULL;
	int r = cli_check_uuid(c->args[0], "task");

	if (r < 0 || (r = task_follow(c, c->args[0], &task, &raw)) < 0)
		return r;
	return task_outcome(c, task, raw, show_result);
}

/* Success is a task that ended aborted; one that finished first did not abort. */
static int abort_outcome(struct cli *c, json_object *task, const char *raw)
{
	int r;

	if (strcmp(json_str(task, "state") ?: "", "aborted") == 0) {
		if (c->json)
			puts(raw);
		return 0;
	}
	if ((r = task_outcome(c, task, raw, NULL)) < 0)
		return r;
	return report_error(-CLI_E_API, "task %s finished before the abort took effect", c->args[0]);
}

static int task_abort(struct cli *c)
{
	_cleanup_free_ char *path = NULL, *raw = NULL;
	_cleanup_reply_ struct api_reply reply = { 0 };
	_cleanup_json_ json_object *task = NULL;
	int r = cli_check_uuid(c->args[0], "task");

	if (r < 0)
		return r;
	path = xasprintf("/v1/tasks/%s/abort", c->args[0]);
	if ((r = api_call(c, "POST", path, NULL, &reply)) < 0)
		return r;
	if (!c->wait) {
		if (c->json)
			puts(reply.raw);
		else
			show_task(reply.json);
		return 0;
	}
	if ((r = task_follow(c, c->args[0], &task, &raw)) < 0)
		return r;
	return abort_outcome(c, task, raw);
}

const struct command task_commands[] = {
	{ "task", "list", 0, 0, 0, task_list, "task list" },
	{ "task", "show", 1, 0, 0, task_show, "task show TASK" },
	{ "task", "wait", 1, 0, 0, task_wait, "task wait TASK" },
	{ "task", "abort", 1, 0, 0, task_abort, "task abort TASK" },
	{ NULL },
};
