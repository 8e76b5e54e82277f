/* lib/task: the runner that executes changes in the background. One worker,
 * so that a task held running keeps the ones behind it queued. */
#include "testutil.h"

#include <pthread.h>

#include "lib/ops_common.h"
#include "lib/store.h"
#include "lib/task.h"
#include "lib/util/error.h"
#include "lib/util/log.h"

#define NO_DOMAIN "99999999-9999-4999-8999-999999999999"
#define IMAGE "12121212-1212-4212-8212-121212121212"

static char *data_dir;

/* A gate the test opens to let a held task go on. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started, open;
	int runs;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, 0 };

static int run_held(struct task *t)
{
	pthread_mutex_lock(&gate.lock);
	gate.started = true;
	pthread_cond_broadcast(&gate.cond);
	while (!gate.open && !atomic_load(&t->abort))
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
	if (op_aborted(t))
		return -SP_E_ABORTED;
	return 0;
}

static void wait_started(void)
{
	pthread_mutex_lock(&gate.lock);
	while (!gate.started)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

static void open_gate(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

/* Wakes a held task so that it sees its abort flag. */
static void poke_gate(void)
{
	pthread_mutex_lock(&gate.lock);
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

static int run_ok(struct task *t)
{
	json_object *r = json_object_new_object();
	json_object_object_add(r, "answer", json_object_new_int(42));
	task_set_result(t, r);
	atomic_store(&t->progress, 50);
	__atomic_add_fetch(&gate.runs, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static int run_fail(struct task *t)
{
	(void)t;
	__atomic_add_fetch(&gate.runs, 1, __ATOMIC_SEQ_CST);
	return sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "", "qemu-img exploded on volume X");
}

static int setup(void **state)
{
	(void)state;
	log_set_level(LOG_LVL_ERROR);
	data_dir = test_mkdtemp();
	assert_int_equal(store_open(data_dir), 0);
	gate.started = gate.open = false;
	gate.runs = 0;
	return task_runner_start(1);
}

static int teardown(void **state)
{
	(void)state;
	open_gate();
	task_runner_stop();
	store_close();
	test_rmdtemp(data_dir);
	data_dir = NULL;
	return 0;
}

static struct task *submit(const char *domain, task_run_fn run)
{
	json_object *rec = json_object_new_object();
	json_object_object_add(rec, "op", json_object_new_string("test"));
	struct task *t = task_new("test", domain, rec, run);
	task_submit(t);
	return t;
}

static const char *str(json_object *o, const char *key)
{
	return json_object_get_string(json_object_object_get(o, key));
}

static void test_finished_with_result(void **state)
{
	(void)state;
	struct task *t = submit(NO_DOMAIN, run_ok); /* an unknown domain is tolerated */
	char uuid[UUID_STR_LEN];
	memcpy(uuid, t->uuid, sizeof(uuid));
	assert_true(uuid_is_valid(uuid));

	json_object *o = task_json(uuid, 30000);
	assert_non_null(o);
	assert_string_equal(str(o, "uuid"), uuid);
	assert_string_equal(str(o, "op"), "test");
	assert_string_equal(str(o, "domain"), NO_DOMAIN);
	assert_string_equal(str(o, "state"), "finished");
	assert_int_equal(json_object_get_int(json_object_object_get(o, "progress")), 100);
	assert_int_equal(json_object_get_int(json_object_object_get(json_object_object_get(o, "result"), "answer")),
			 42);
	assert_null(json_object_object_get(o, "error"));
	assert_false(json_object_get_boolean(json_object_object_get(o, "recovered")));
	int64_t created = json_object_get_int64(json_object_object_get(o, "created_ms"));
	int64_t ended = json_object_get_int64(json_object_object_get(o, "ended_ms"));
	assert_true(created > 0 && ended >= created);
	json_object_put(o);

	int counts[5];
	task_counts(counts);
	assert_int_equal(counts[TASK_FINISHED], 1);
	assert_int_equal(counts[TASK_QUEUED] + counts[TASK_RUNNING] + counts[TASK_FAILED] + counts[TASK_ABORTED], 0);
}

static void test_failed_keeps_error(void **state)
{
	(void)state;
	struct task *t = submit(NO_DOMAIN, run_fail);
	json_object *o = task_json(t->uuid, 30000);
	assert_non_null(o);
	assert_string_equal(str(o, "state"), "failed");
	json_object *e = json_object_object_get(o, "error");
	assert_string_equal(str(e, "code"), "tool_failed");
	assert_string_equal(str(e, "message"), "qemu-img exploded on volume X");
	assert_null(json_object_object_get(o, "result"));
	assert_true(json_object_get_int(json_object_object_get(o, "progress")) < 100);
	json_object_put(o);
}

static void test_unknown_task(void **state)
{
	(void)state;
	sp_error_clear();
	assert_null(task_json(NO_DOMAIN, 0));
	assert_int_equal(sp_error_last()->code, -SP_E_NOT_FOUND);
	assert_int_equal(task_abort(NO_DOMAIN), -SP_E_NOT_FOUND);
}

static void test_wait_times_out(void **state)
{
	(void)state;
	struct task *t = submit(NO_DOMAIN, run_held);
	char uuid[UUID_STR_LEN];
	memcpy(uuid, t->uuid, sizeof(uuid));
	wait_started();

	/* without waiting: the state now */
	json_object *o = task_json(uuid, 0);
	assert_string_equal(str(o, "state"), "running");
	assert_null(json_object_object_get(o, "ended_ms"));
	json_object_put(o);

	/* a wait that the task does not end within returns after it, still running */
	double t0 = test_now();
	o = task_json(uuid, 300);
	double waited = test_now() - t0;
	assert_string_equal(str(o, "state"), "running");
	assert_true(waited >= 0.29);
	assert_true(waited < 10);
	json_object_put(o);

	open_gate();
	o = task_json(uuid, 30000);
	assert_string_equal(str(o, "state"), "finished");
	json_object_put(o);
}

static void test_abort_running(void **state)
{
	(void)state;
	struct task *t = submit(NO_DOMAIN, run_held);
	char uuid[UUID_STR_LEN];
	memcpy(uuid, t->uuid, sizeof(uuid));
	wait_started();
	assert_int_equal(task_abort(uuid), 0);
	poke_gate();
	json_object *o = task_json(uuid, 30000);
	assert_string_equal(str(o, "state"), "aborted");
	assert_string_equal(str(json_object_object_get(o, "error"), "code"), "aborted");
	json_object_put(o);
	/* an ended task cannot be aborted again */
	assert_int_equal(task_abort(uuid), -SP_E_CONFLICT);
}

/* A queued task aborted by the user ends at once (task.h), and never runs. */
static void test_abort_queued(void **state)
{
	(void)state;
	struct task *held = submit(NO_DOMAIN, run_held);
	char held_uuid[UUID_STR_LEN], uuid[UUID_STR_LEN];
	memcpy(held_uuid, held->uuid, sizeof(uuid));
	wait_started();

	struct task *t = task_new("test", NO_DOMAIN, json_object_new_object(), run_ok);
	memcpy(uuid, t->uuid, sizeof(uuid));
	assert_int_equal(store_image_claim(IMAGE, t->uuid), 0);
	snprintf(t->claims[0], sizeof(t->claims[0]), "%s", IMAGE);
	task_submit(t);

	json_object *o = task_json(uuid, 0);
	assert_string_equal(str(o, "state"), "queued");
	json_object_put(o);

	assert_int_equal(task_abort(uuid), 0);
	/* while the only worker is still busy */
	o = task_json(uuid, 10000);
	assert_string_equal(str(o, "state"), "aborted");
	json_object_put(o);
	assert_false(store_image_busy(IMAGE)); /* its image is free again */

	open_gate();
	o = task_json(held_uuid, 30000);
	assert_string_equal(str(o, "state"), "finished");
	json_object_put(o);
	assert_int_equal(gate.runs, 0); /* run_ok never ran */
}

static void test_list_in_creation_order(void **state)
{
	(void)state;
	char uuids[3][UUID_STR_LEN];
	for (int i = 0; i < 3; i++)
		memcpy(uuids[i], submit(NO_DOMAIN, i == 1 ? run_fail : run_ok)->uuid, UUID_STR_LEN);
	json_object_put(task_json(uuids[2], 30000)); /* one worker: the last ends last */
	json_object *a = task_list_json();
	assert_int_equal(json_object_array_length(a), 3);
	for (int i = 0; i < 3; i++) {
		json_object *o = json_object_array_get_idx(a, (size_t)i);
		assert_string_equal(str(o, "uuid"), uuids[i]);
		assert_string_equal(str(o, "state"), i == 1 ? "failed" : "finished");
	}
	json_object_put(a);
}

/* Once a task has ended, its journal record and its image claims are gone. */
static void test_end_removes_journal_and_claims(void **state)
{
	(void)state;
	char dom[UUID_STR_LEN];
	struct domain d;
	assert_int_equal(store_domain_create(&(struct domain_spec){ .name = "d1", .pool = NULL, .path = NULL }, dom), 0);
	assert_int_equal(store_get_domain(dom, &d), 0);

	json_object *rec = json_object_new_object();
	json_object_object_add(rec, "op", json_object_new_string("test"));
	struct task *t = task_new("test", dom, rec, run_ok);
	char uuid[UUID_STR_LEN];
	memcpy(uuid, t->uuid, sizeof(uuid));
	assert_int_equal(d.ops->journal_write(&d, uuid, rec), 0);
	char *journal = xasprintf("%s/dom_md/journal/%s.json", d.path, uuid);
	assert_true(path_exists(journal));
	assert_int_equal(store_image_claim(IMAGE, uuid), 0);
	snprintf(t->claims[1], sizeof(t->claims[1]), "%s", IMAGE);
	task_submit(t);

	json_object *o = task_json(uuid, 30000);
	assert_string_equal(str(o, "state"), "finished");
	json_object_put(o);
	assert_false(path_exists(journal));
	assert_false(store_image_busy(IMAGE));
	free(journal);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_finished_with_result),
		T(test_failed_keeps_error),
		T(test_unknown_task),
		T(test_wait_times_out),
		T(test_abort_running),
		T(test_abort_queued),
		T(test_list_in_creation_order),
		T(test_end_removes_journal_and_claims),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
