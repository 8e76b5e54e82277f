/* lib/util/run: the one runner of outside programs (argv only, never a shell). */
#include "testutil.h"

#include <errno.h>

#include "lib/util/error.h"
#include "lib/util/run.h"

static void test_argv_passed_unchanged(void **state)
{
	(void)state;
	const char *const argv[] = { "printf",   "[%s]\\n", "two words", "$HOME",     "; rm -rf /tmp/x", "`id`",
				     "$(id)",    "*",       "'q' \"d\"", "a\\nb",     "",                "-n",
				     "|| true",  "> out",   NULL };
	struct run_result res = { 0 };

	assert_int_equal(run_argv(argv, NULL, &res), 0);
	assert_int_equal(res.exit_status, 0);
	assert_string_equal(res.out, "[two words]\n[$HOME]\n[; rm -rf /tmp/x]\n[`id`]\n[$(id)]\n[*]\n['q' \"d\"]\n"
				     "[a\\nb]\n[]\n[-n]\n[|| true]\n[> out]\n");
	assert_string_equal(res.err, "");
	run_result_free(&res);
	assert_null(res.out);
}

static void test_capture_and_exit_status(void **state)
{
	(void)state;
	/* sh is the program under test here, not a way to run the command */
	const char *const argv[] = { "sh", "-c", "echo to-out; echo to-err >&2; exit 3", NULL };
	struct run_result res = { 0 };

	assert_int_equal(run_argv(argv, NULL, &res), 0);
	assert_int_equal(res.exit_status, 3);
	assert_string_equal(res.out, "to-out\n");
	assert_string_equal(res.err, "to-err\n");
	run_result_free(&res);
}

static void test_killed_by_signal(void **state)
{
	(void)state;
	const char *const argv[] = { "sh", "-c", "kill -9 $$", NULL };
	struct run_result res = { 0 };
	assert_int_equal(run_argv(argv, NULL, &res), 0);
	assert_int_equal(res.exit_status, 128 + 9);
	run_result_free(&res);
}

static void test_large_output_both_streams(void **state)
{
	(void)state;
	/* more than a pipe holds, on both streams at once */
	const char *const argv[] = { "sh", "-c", "seq 1 100000; seq 1 100000 >&2", NULL };
	struct run_result res = { 0 };
	assert_int_equal(run_argv(argv, NULL, &res), 0);
	assert_int_equal(res.exit_status, 0);
	assert_int_equal(strlen(res.out), 588895);
	assert_int_equal(strlen(res.err), 588895);
	assert_string_equal(res.out + strlen(res.out) - 7, "100000\n");
	run_result_free(&res);
}

static void test_stdin_is_empty(void **state)
{
	(void)state;
	const char *const argv[] = { "cat", NULL };
	struct run_result res = { 0 };
	assert_int_equal(run_argv(argv, NULL, &res), 0); /* returns: no terminal to wait on */
	assert_string_equal(res.out, "");
	run_result_free(&res);
}

static void test_missing_program(void **state)
{
	(void)state;
	const char *const argv[] = { "sanpool-no-such-program", NULL };
	struct run_result res = { .out = (char *)"untouched" };
	assert_int_equal(run_argv(argv, NULL, &res), -ENOENT);
	assert_string_equal(res.out, "untouched");
}

struct lines {
	char *got[8];
	int n;
};

static void collect_line(const char *line, void *userdata)
{
	struct lines *l = userdata;
	if (l->n < 8)
		l->got[l->n] = xstrdup(line);
	l->n++;
}

static void test_on_line(void **state)
{
	(void)state;
	/* '\r' ends a line too: qemu-img -p progress */
	const char *const argv[] = { "printf", "one\n    (1.00/100%%)\r    (2.00/100%%)\r\ntwo\n", NULL };
	struct lines l = { 0 };
	struct run_opts o = { .on_line = collect_line, .userdata = &l };
	struct run_result res = { 0 };

	assert_int_equal(run_argv(argv, &o, &res), 0);
	assert_int_equal(l.n, 5);
	assert_string_equal(l.got[0], "one");
	assert_string_equal(l.got[1], "    (1.00/100%)");
	assert_string_equal(l.got[2], "    (2.00/100%)");
	assert_string_equal(l.got[3], "");
	assert_string_equal(l.got[4], "two");
	for (int i = 0; i < 5; i++)
		free(l.got[i]);
	run_result_free(&res);
}

static void test_abort_before_start(void **state)
{
	(void)state;
	const char *const argv[] = { "sleep", "30", NULL };
	atomic_bool abort_flag = true;
	struct run_opts o = { .abort = &abort_flag };
	struct run_result res = { 0 };
	double t0 = test_now();

	sp_error_clear();
	assert_int_equal(run_argv(argv, &o, &res), -SP_E_ABORTED);
	assert_true(test_now() - t0 < 5);
	assert_string_equal(sp_error_last()->kind, "aborted");
	assert_null(res.out); /* nothing to free on abort */
}

/* The flag is raised while the program runs (when it says it started). */
static void raise_abort(const char *line, void *userdata)
{
	if (strcmp(line, "started") == 0)
		atomic_store((atomic_bool *)userdata, true);
}

static void test_abort_kills_running_sleep(void **state)
{
	(void)state;
	const char *const argv[] = { "sh", "-c", "echo started; exec sleep 30", NULL };
	atomic_bool abort_flag = false;
	struct run_opts o = { .on_line = raise_abort, .userdata = &abort_flag, .abort = &abort_flag };
	struct run_result res = { 0 };
	double t0 = test_now();

	assert_int_equal(run_argv(argv, &o, &res), -SP_E_ABORTED);
	assert_true(atomic_load(&abort_flag));
	assert_true(test_now() - t0 < 5);
}

static char *observed;
static void observe(const char *const argv[])
{
	size_t len = 0;
	for (int i = 0; argv[i]; i++)
		len += strlen(argv[i]) + 1;
	free(observed);
	observed = xcalloc(len + 1, 1);
	for (int i = 0; argv[i]; i++) {
		strcat(observed, argv[i]);
		strcat(observed, "|");
	}
}

static void test_observer_sees_argv(void **state)
{
	(void)state;
	const char *const argv[] = { "true", "a b", "--x=1", NULL };
	const char *const missing[] = { "sanpool-no-such-program", "arg", NULL };
	struct run_result res = { 0 };

	run_set_observer(observe);
	assert_int_equal(run_argv(argv, NULL, &res), 0);
	run_result_free(&res);
	assert_string_equal(observed, "true|a b|--x=1|");
	/* seen even when the program cannot start */
	assert_int_equal(run_argv(missing, NULL, &res), -ENOENT);
	assert_string_equal(observed, "sanpool-no-such-program|arg|");
	run_set_observer(NULL);
	free(observed);
	observed = NULL;
	assert_int_equal(run_argv(argv, NULL, &res), 0);
	run_result_free(&res);
	assert_null(observed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv_passed_unchanged),
		cmocka_unit_test(test_capture_and_exit_status),
		cmocka_unit_test(test_killed_by_signal),
		cmocka_unit_test(test_large_output_both_streams),
		cmocka_unit_test(test_stdin_is_empty),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_on_line),
		cmocka_unit_test(test_abort_before_start),
		cmocka_unit_test(test_abort_kills_running_sleep),
		cmocka_unit_test(test_observer_sees_argv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
