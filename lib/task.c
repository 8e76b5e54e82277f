#include "lib/task.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/store.h"
#include "lib/util/hashmap.h"
#include "lib/util/log.h"
#include "lib/util/xalloc.h"

/* Tasks kept for clients to read (task_set_kept); past it, the oldest ended half goes. */
static size_t tasks_kept = 2000;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t queued;  /* work for the workers */
	pthread_cond_t changed; /* a task ended */
	struct hashmap *by_uuid;
	struct task **all; /* in creation order */
	size_t n_all, cap_all;
	struct task **queue;
	size_t q_head, q_len, q_cap;
	pthread_t *workers;
	int n_workers;
	atomic_bool stopping; /* read outside the lock by end_task */
	atomic_uint_fast64_t submitted;
} tr = { .lock = PTHREAD_MUTEX_INITIALIZER,
	 .queued = PTHREAD_COND_INITIALIZER,
	 .changed = PTHREAD_COND_INITIALIZER };

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *task_state_str(enum task_state s)
{
	static const char *const names[] = { "queued", "running", "finished", "failed", "aborted" };
	return names[s];
}

static void task_free(struct task *t)
{
	if (!t)
		return;
	json_object_put(t->record);
	json_object_put(t->result);
	free(t);
}

struct task *task_new(const char *op, const char *domain, json_object *record, task_run_fn run)
{
	struct task *t = xcalloc(1, sizeof(*t));
	uuid_generate_str(t->uuid);
	snprintf(t->op, sizeof(t->op), "%s", op);
	snprintf(t->domain, sizeof(t->domain), "%s", domain);
	t->record = record;
	t->run = run;
	t->state = TASK_QUEUED;
	t->created_ms = now_ms();
	return t;
}

void task_set_result(struct task *t, json_object *result)
{
	pthread_mutex_lock(&tr.lock);
	json_object_put(t->result);
	t->result = result;
	pthread_mutex_unlock(&tr.lock);
}

/* Caller holds the lock. Past the limit, the oldest ended tasks go. */
static void prune(void)
{
	if (tr.n_all < tasks_kept)
		return;
	size_t excess = tr.n_all - tasks_kept / 2, kept = 0;
	for (size_t i = 0; i < tr.n_all; i++) {
		struct task *o = tr.all[i];
		if (excess > 0 && o->state >= TASK_FINISHED) {
			hashmap_remove(tr.by_uuid, o->uuid);
			task_free(o);
			excess--;
		} else {
			tr.all[kept++] = o;
		}
	}
	tr.n_all = kept;
}

/* Caller holds the lock. */
static void remember(struct task *t)
{
	prune();
	if (tr.n_all == tr.cap_all) {
		tr.cap_all = tr.cap_all ? tr.cap_all * 2 : 64;
		tr.all = xrealloc(tr.all, tr.cap_all * sizeof(*tr.all));
	}
	tr.all[tr.n_all++] = t;
	hashmap_put(tr.by_uuid, t->uuid, t);
}

void task_add_ended(struct task *t)
{
	pthread_mutex_lock(&tr.lock);
	if (!tr.by_uuid)
		tr.by_uuid = hashmap_new(NULL);
	remember(t);
	pthread_mutex_unlock(&tr.lock);
}

uint64_t task_submitted_count(void) { return atomic_load(&tr.submitted); }

static void enqueue_locked(struct task *t)
{
	if (tr.q_len == tr.q_cap) {
		size_t cap = tr.q_cap ? tr.q_cap * 2 : 64;
		struct task **q = xmalloc(cap * sizeof(*q));
		for (size_t i = 0; i < tr.q_len; i++)
			q[i] = tr.queue[(tr.q_head + i) % tr.q_cap];
		free(tr.queue);
		tr.queue = q;
		tr.q_cap = cap;
		tr.q_head = 0;
	}
	tr.queue[(tr.q_head + tr.q_len++) % tr.q_cap] = t;
	pthread_cond_signal(&tr.queued);
}

static __thread struct task_hold *holding;

void task_hold_begin(struct task_hold *h) { holding = h; }

void task_hold_end(void) { holding = NULL; }

void task_hold_release(struct task_hold *h)
{
	pthread_mutex_lock(&tr.lock);
	for (size_t i = 0; i < h->n; i++)
		enqueue_locked(h->tasks[i]);
	pthread_mutex_unlock(&tr.lock);
	free(h->tasks);
	h->tasks = NULL;
	h->n = 0;
}

void task_submit(struct task *t)
{
	atomic_fetch_add(&tr.submitted, 1);
	pthread_mutex_lock(&tr.lock);
	remember(t);
	if (holding) {
		holding->tasks = xrealloc(holding->tasks, (holding->n + 1) * sizeof(*holding->tasks));
		holding->tasks[holding->n++] = t;
	} else {
		enqueue_locked(t);
	}
	pthread_mutex_unlock(&tr.lock);
}

/* The task's journal record goes once its outcome is final on storage. A
 * task aborted by the daemon's own shutdown keeps its record: recovery at the
 * next start ends it again (idempotently) and so reports its outcome to the
 * clients that could not see it end. */
static void end_task(struct task *t, int r)
{
	struct domain d;
	struct sp_error err = { 0 };
	bool keep_record = r == -SP_E_ABORTED && tr.stopping;

	if (r < 0)
		sp_error_copy(&err); /* before the store records errors of its own (unknown domain) */
	if (!keep_record && store_get_domain(t->domain, &d) == 0) {
		int q = d.ops->journal_remove(&d, t->uuid);
		if (q < 0)
			log_error("task %s: cannot remove journal record: %s", t->uuid, strerror(-q));
	}
	for (size_t i = 0; i < 2; i++)
		if (t->claims[i][0])
			store_image_release(t->claims[i], t->uuid);
	if (r == 0 && t->result_fn)
		task_set_result(t, t->result_fn(t));

	pthread_mutex_lock(&tr.lock);
	if (r == 0) {
		t->state = TASK_FINISHED;
		atomic_store(&t->progress, 100);
	} else {
		t->error = err;
		t->state = r == -SP_E_ABORTED ? TASK_ABORTED : TASK_FAILED;
	}
	t->ended_ms = now_ms();
	pthread_cond_broadcast(&tr.changed);
	pthread_mutex_unlock(&tr.lock);
	if (r == 0)
		log_info("task %s (%s) finished in %lld ms", t->uuid, t->op, (long long)(t->ended_ms - t->started_ms));
	else
		log_warning("task %s (%s) %s: %s", t->uuid, t->op, task_state_str(t->state), t->error.message);
}

static void *worker_main(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&tr.lock);
		while (tr.q_len == 0 && !tr.stopping)
			pthread_cond_wait(&tr.queued, &tr.lock);
		/* on shutdown, queued tasks stay journaled for the next start */
		if (tr.stopping) {
			pthread_mutex_unlock(&tr.lock);
			return NULL;
		}
		struct task *t = tr.queue[tr.q_head];
		tr.q_head = (tr.q_head + 1) % tr.q_cap;
		tr.q_len--;
		t->state = TASK_RUNNING;
		t->started_ms = now_ms();
		pthread_mutex_unlock(&tr.lock);

		int r;
		sp_error_clear();
		if (atomic_load(&t->abort))
			r = sp_error_set(-SP_E_ABORTED, "aborted", "", "task %s aborted before it started", t->uuid);
		else
			r = t->run(t);
		end_task(t, r);
	}
}

void task_set_kept(unsigned n) { tasks_kept = n; }

int task_runner_start(int workers)
{
	pthread_mutex_lock(&tr.lock);
	if (!tr.by_uuid)
		tr.by_uuid = hashmap_new(NULL);
	tr.stopping = false;
	pthread_mutex_unlock(&tr.lock);
	tr.workers = xcalloc((size_t)workers, sizeof(pthread_t));
	tr.n_workers = workers;
	for (int i = 0; i < workers; i++) {
		int r = pthread_create(&tr.workers[i], NULL, worker_main, NULL);
		if (r != 0)
			return -r;
	}
	return 0;
}

void task_runner_stop(void)
{
	pthread_mutex_lock(&tr.lock);
	tr.stopping = true;
	for (size_t i = 0; i < tr.n_all; i++)
		if (tr.all[i]->state <= TASK_RUNNING)
			atomic_store(&tr.all[i]->abort, true);
	pthread_cond_broadcast(&tr.queued);
	pthread_mutex_unlock(&tr.lock);
	for (int i = 0; i < tr.n_workers; i++)
		pthread_join(tr.workers[i], NULL);
	free(tr.workers);
	tr.workers = NULL;
	tr.n_workers = 0;

	pthread_mutex_lock(&tr.lock);
	for (size_t i = 0; i < tr.n_all; i++)
		task_free(tr.all[i]);
	free(tr.all);
	free(tr.queue);
	hashmap_free(tr.by_uuid);
	tr.all = NULL;
	tr.queue = NULL;
	tr.by_uuid = NULL;
	tr.n_all = tr.cap_all = tr.q_len = tr.q_cap = tr.q_head = 0;
	pthread_mutex_unlock(&tr.lock);
}

/* Caller holds the lock. */
static json_object *to_json(const struct task *t)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "uuid", json_object_new_string(t->uuid));
	json_object_object_add(o, "op", json_object_new_string(t->op));
	/* host-level tasks (disconnect, device rescan) concern no domain */
	json_object_object_add(o, "domain", t->domain[0] ? json_object_new_string(t->domain) : NULL);
	json_object_object_add(o, "state", json_object_new_string(task_state_str(t->state)));
	json_object_object_add(o, "progress", json_object_new_int(atomic_load(&t->progress)));
	json_object_object_add(o, "recovered", json_object_new_boolean(t->recovered));
	json_object_object_add(o, "created_ms", json_object_new_int64(t->created_ms));
	json_object_object_add(o, "ended_ms", t->ended_ms ? json_object_new_int64(t->ended_ms) : NULL);
	/* a copy, not a reference: json-c's reference counts are not atomic
	 * (Debian builds it without ENABLE_THREADING), and each answer is freed
	 * on its own connection's thread, outside this lock; a shared result
	 * corrupted the heap under concurrent GET /v1/tasks (bench/load.py) */
	json_object *result = NULL;
	if (t->result && json_object_deep_copy(t->result, &result, NULL) < 0)
		result = NULL;
	json_object_object_add(o, "result", result);
	if (t->state == TASK_FAILED || t->state == TASK_ABORTED) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "code", json_object_new_string(t->error.kind));
		json_object_object_add(e, "message", json_object_new_string(t->error.message));
		json_object_object_add(o, "error", e);
	} else {
		json_object_object_add(o, "error", NULL);
	}
	return o;
}

json_object *task_json(const char *uuid, int wait_ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += wait_ms / 1000;
	deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}

	pthread_mutex_lock(&tr.lock);
	struct task *t = tr.by_uuid ? hashmap_get(tr.by_uuid, uuid) : NULL;
	while (t && t->state <= TASK_RUNNING && wait_ms > 0) {
		if (pthread_cond_timedwait(&tr.changed, &tr.lock, &deadline) != 0)
			break;
		t = hashmap_get(tr.by_uuid, uuid); /* may have been dropped meanwhile */
	}
	json_object *o = t ? to_json(t) : NULL;
	pthread_mutex_unlock(&tr.lock);
	if (!o)
		sp_not_found("task %s not found", uuid);
	return o;
}

json_object *task_list_json(void)
{
	json_object *a = json_object_new_array();
	pthread_mutex_lock(&tr.lock);
	for (size_t i = 0; i < tr.n_all; i++)
		json_object_array_add(a, to_json(tr.all[i]));
	pthread_mutex_unlock(&tr.lock);
	return a;
}

/* Caller holds the lock. Takes t out of the queue; false if it is not in it. */
static bool unqueue(struct task *t)
{
	for (size_t i = 0; i < tr.q_len; i++) {
		if (tr.queue[(tr.q_head + i) % tr.q_cap] != t)
			continue;
		for (size_t j = i; j + 1 < tr.q_len; j++)
			tr.queue[(tr.q_head + j) % tr.q_cap] = tr.queue[(tr.q_head + j + 1) % tr.q_cap];
		tr.q_len--;
		return true;
	}
	return false;
}

int task_abort(const char *uuid)
{
	bool dequeued = false;
	pthread_mutex_lock(&tr.lock);
	struct task *t = tr.by_uuid ? hashmap_get(tr.by_uuid, uuid) : NULL;
	int r = 0;
	if (!t) {
		r = sp_not_found("task %s not found", uuid);
	} else if (t->state >= TASK_FINISHED) {
		r = sp_conflict("task %s has already ended (%s)", uuid, task_state_str(t->state));
	} else {
		atomic_store(&t->abort, true);
		/* a queued task ends now, not once a worker is free: its images are released */
		dequeued = t->state == TASK_QUEUED && unqueue(t);
	}
	pthread_mutex_unlock(&tr.lock);
	if (dequeued)
		end_task(t, sp_error_set(-SP_E_ABORTED, "aborted", "", "task %s aborted before it started", uuid));
	return r;
}

bool task_active(const char *uuid)
{
	pthread_mutex_lock(&tr.lock);
	struct task *t = tr.by_uuid ? hashmap_get(tr.by_uuid, uuid) : NULL;
	bool active = t && t->state <= TASK_RUNNING;
	pthread_mutex_unlock(&tr.lock);
	return active;
}

void task_counts(int counts[5])
{
	memset(counts, 0, 5 * sizeof(int));
	pthread_mutex_lock(&tr.lock);
	for (size_t i = 0; i < tr.n_all; i++)
		counts[tr.all[i]->state]++;
	pthread_mutex_unlock(&tr.lock);
}
