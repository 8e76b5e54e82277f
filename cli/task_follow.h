/* Changes return a task: submitting one, following it to its end, and
 * telling the user how it ended. */
#pragma once
#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/views.h"

/* Waits for task to end, drawing its progress; returns 0 with the final
 * task JSON in *ret (raw text in *ret_raw, both owned by the caller). */
int task_follow(struct cli *c, const char *task, json_object **ret, char **ret_raw);

/* Prints how an ended task went: --json the raw task, else its result
 * through show (may be NULL). Returns 0 if it finished, -CLI_E_API (reported) if not. */
int task_outcome(struct cli *c, json_object *task, const char *raw, show_fn show);

/* Sends a change (method path body), then, unless --no-wait, follows the
 * task and prints its outcome. With --no-wait prints the task id (or the
 * 202 body with --json) and returns 0. */
int task_submit(struct cli *c, const char *method, const char *path, json_object *body, show_fn show);
