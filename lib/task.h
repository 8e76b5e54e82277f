/* Tasks: changes that take time run on a small worker pool; the API returns
 * at once with the task, which has state, progress, result or error and can be
 * aborted. Every task is journaled on a domain before it is acknowledged
 * (see ops.h), so a restart finishes or rolls it back. */
#pragma once
#include <json-c/json.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/util/error.h"
#include "lib/util/uuid.h"

enum task_state { TASK_QUEUED, TASK_RUNNING, TASK_FINISHED, TASK_FAILED, TASK_ABORTED };

struct task;
/* Does the work; returns 0, or a negative code with the error recorded. */
typedef int (*task_run_fn)(struct task *t);

struct task {
	char uuid[UUID_STR_LEN];
	char op[32];
	char domain[UUID_STR_LEN];   /* where the journal record lives */
	json_object *record;         /* journal record: {"op":..., params...} */
	char claims[2][UUID_STR_LEN]; /* images held busy while it runs */
	task_run_fn run;

	enum task_state state;
	atomic_int progress; /* 0..100 */
	atomic_bool abort;
	bool recovered; /* ended by recovery after a restart */
	json_object *result;
	/* Builds the result once the task has released its images (so that
	 * they read as free in it); set by run instead of task_set_result. */
	json_object *(*result_fn)(struct task *t);
	struct sp_error error;
	int64_t created_ms, started_ms, ended_ms;
};

const char *task_state_str(enum task_state s);

/* How many tasks are kept for clients to read (tasks_kept, default 2,000):
 * at that many, the oldest ended ones go down to half. Before any task exists. */
void task_set_kept(unsigned n);
int task_runner_start(int workers);
/* Stops the workers: running tasks are asked to abort and are waited for;
 * queued ones are left in their journal, for recovery at the next start. */
void task_runner_stop(void);

/* A new task in QUEUED state (not yet submitted). */
struct task *task_new(const char *op, const char *domain, json_object *record, task_run_fn run);
/* Queues t (the runner owns it afterwards). Its journal record must already be durable. */
void task_submit(struct task *t);
/* Tasks accepted by one API request, held until the request's response has
 * reached the client: a task that ran at once could end, or a crash at its
 * first step kill the daemon, before the client held the task's id (and so
 * could not tell an accepted change from a refused one). */
struct task_hold {
	struct task **tasks;
	size_t n;
};
/* From now on, task_submit on this thread holds its tasks in h. */
void task_hold_begin(struct task_hold *h);
/* task_submit on this thread queues at once again. */
void task_hold_end(void);
/* Queues the tasks held in h (the request's response is out, or its
 * connection ended) and empties h. */
void task_hold_release(struct task_hold *h);

/* Adds an already ended task (outcome of recovery) to the list. */
void task_add_ended(struct task *t);

/* Sets the result JSON (owned by the task) from inside run. */
void task_set_result(struct task *t, json_object *result);

/* JSON of one task, or NULL with the error recorded; waits up to wait_ms for it to end. */
json_object *task_json(const char *uuid, int wait_ms);
json_object *task_list_json(void);
/* Asks a task to abort: a queued task ends at once, a running one at its next
 * abort point (before its commit point). -SP_E_NOT_FOUND / -SP_E_CONFLICT if ended. */
int task_abort(const char *uuid);
/* How many tasks were ever submitted in this process (a change of it shows
 * that a task came and went meanwhile). */
uint64_t task_submitted_count(void);
/* Whether the task is queued or running in this process. */
bool task_active(const char *uuid);
/* Counts by state, for /metrics and tests. */
void task_counts(int counts[5]);

int64_t now_ms(void);
