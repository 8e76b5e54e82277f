/* lib/qemu_img: the qemu-img commands, run for real in a scratch directory. */
#include "testutil.h"

#include <errno.h>

#include "lib/qemu_img.h"
#include "lib/util/error.h"
#include "lib/util/run.h"

#define MiB (1ULL << 20)

static int setup(void **state)
{
	*state = test_mkdtemp();
	return 0;
}

static int teardown(void **state)
{
	test_rmdtemp(*state);
	return 0;
}

static void test_parse_progress(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		int pct;
	} good[] = {
		{ "    (42.50/100%)", 42 }, { "(0.00/100%)", 0 },   { "    (100.00/100%)", 100 },
		{ "\t(99.99/100%)", 99 },    { "(7/100%)", 7 },      { "    (1.00/100%) ", 1 },
	};
	static const char *const bad[] = { "",           "garbage",        "(42.50/100%",  "(42.50/100)",
					   "42.50/100%)", "(101.00/100%)", "(-1.00/100%)", "(nan/100%)",
					   "(inf/100%)", "(/100%)",        "x (42/100%)" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int pct = -1;
		if (qemu_img_parse_progress(good[i].line, &pct) != 0)
			fail_msg("progress line \"%s\" rejected", good[i].line);
		assert_int_equal(pct, good[i].pct);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int pct = -7;
		if (qemu_img_parse_progress(bad[i], &pct) != -EINVAL)
			fail_msg("\"%s\" taken for a progress line", bad[i]);
		assert_int_equal(pct, -7);
	}
}

/* Runs qemu-io on an image; fails the test unless the command succeeded. */
static void qemu_io(const char *path, const char *fmt, const char *cmd)
{
	const char *const argv[] = { "qemu-io", "-f", fmt, "-c", cmd, path, NULL };
	struct run_result res = { 0 };
	assert_int_equal(run_argv(argv, NULL, &res), 0);
	if (res.exit_status != 0 || strstr(res.out, "fail") || strstr(res.out, "error") || strstr(res.out, "Pattern"))
		fail_msg("qemu-io %s %s: %s%s", cmd, path, res.out, res.err);
	run_result_free(&res);
}

static void test_create_and_info(void **state)
{
	const char *dir = *state;
	char *q = xasprintf("%s/a.qcow2", dir), *r = xasprintf("%s/a.raw", dir), *p = xasprintf("%s/p.raw", dir);
	struct qemu_img_info info;
	struct stat st;

	assert_int_equal(qemu_img_create(q, VOL_FORMAT_QCOW2, VOL_ALLOC_SPARSE, 64 * MiB, NULL, VOL_FORMAT_RAW), 0);
	assert_int_equal(qemu_img_info(q, &info), 0);
	assert_string_equal(info.format, "qcow2");
	assert_int_equal(info.virtual_size, 64 * MiB);
	assert_string_equal(info.backing, "");
	assert_int_equal(stat(q, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 < 8 * MiB); /* sparse */

	assert_int_equal(qemu_img_create(r, VOL_FORMAT_RAW, VOL_ALLOC_SPARSE, 8 * MiB, NULL, VOL_FORMAT_RAW), 0);
	assert_int_equal(qemu_img_info(r, &info), 0);
	assert_string_equal(info.format, "raw");
	assert_int_equal(info.virtual_size, 8 * MiB);

	assert_int_equal(qemu_img_create(p, VOL_FORMAT_RAW, VOL_ALLOC_PREALLOCATED, 8 * MiB, NULL, VOL_FORMAT_RAW), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 >= 8 * MiB); /* allocated */
	free(q), free(r), free(p);
}

static void test_create_with_backing(void **state)
{
	const char *dir = *state;
	char *base = xasprintf("%s/base", dir), *top = xasprintf("%s/top", dir);
	struct qemu_img_info info;

	assert_int_equal(qemu_img_create(base, VOL_FORMAT_RAW, VOL_ALLOC_SPARSE, 16 * MiB, NULL, VOL_FORMAT_RAW), 0);
	qemu_io(base, "raw", "write -P 0x5a 0 1M");
	/* relative, as the file domain writes it: resolved from the top's directory */
	assert_int_equal(qemu_img_create(top, VOL_FORMAT_QCOW2, VOL_ALLOC_SPARSE, 16 * MiB, "base", VOL_FORMAT_RAW),
			 0);
	assert_int_equal(qemu_img_info(top, &info), 0);
	assert_string_equal(info.backing, "base");
	assert_int_equal(info.virtual_size, 16 * MiB);
	qemu_io(top, "qcow2", "read -P 0x5a 0 1M");
	free(base), free(top);
}

static void test_errors_name_the_image(void **state)
{
	const char *dir = *state;
	char *missing = xasprintf("%s/missing.qcow2", dir), *nodir = xasprintf("%s/nodir/x.qcow2", dir);
	struct qemu_img_info info = { .virtual_size = 99 };

	sp_error_clear();
	assert_int_equal(qemu_img_info(missing, &info), -SP_E_TOOL_FAILED);
	assert_int_equal(info.virtual_size, 99);
	assert_string_equal(sp_error_last()->kind, "tool_failed");
	assert_non_null(strstr(sp_error_last()->message, missing));
	/* qemu-img's own words are kept, without the trailing newline */
	size_t n = strlen(sp_error_last()->message);
	assert_true(n > 0 && sp_error_last()->message[n - 1] != '\n');

	assert_int_equal(qemu_img_create(nodir, VOL_FORMAT_QCOW2, VOL_ALLOC_SPARSE, MiB, NULL, VOL_FORMAT_RAW),
			 -SP_E_TOOL_FAILED);
	assert_non_null(strstr(sp_error_last()->message, nodir));
	free(missing), free(nodir);
}

static void test_resize(void **state)
{
	const char *dir = *state;
	char *q = xasprintf("%s/r.qcow2", dir), *r = xasprintf("%s/r.raw", dir);
	struct qemu_img_info info;
	struct stat st;

	assert_int_equal(qemu_img_create(q, VOL_FORMAT_QCOW2, VOL_ALLOC_SPARSE, 16 * MiB, NULL, VOL_FORMAT_RAW), 0);
	qemu_io(q, "qcow2", "write -P 0x11 0 1M");
	assert_int_equal(qemu_img_resize(q, VOL_FORMAT_QCOW2, VOL_ALLOC_SPARSE, 48 * MiB), 0);
	assert_int_equal(qemu_img_info(q, &info), 0);
	assert_int_equal(info.virtual_size, 48 * MiB);
	qemu_io(q, "qcow2", "read -P 0x11 0 1M");
	qemu_io(q, "qcow2", "read -P 0 40M 1M");

	assert_int_equal(qemu_img_create(r, VOL_FORMAT_RAW, VOL_ALLOC_PREALLOCATED, 4 * MiB, NULL, VOL_FORMAT_RAW), 0);
	assert_int_equal(qemu_img_resize(r, VOL_FORMAT_RAW, VOL_ALLOC_PREALLOCATED, 12 * MiB), 0);
	assert_int_equal(stat(r, &st), 0);
	assert_int_equal(st.st_size, 12 * MiB);
	assert_true((uint64_t)st.st_blocks * 512 >= 12 * MiB); /* the growth is allocated too */
	free(q), free(r);
}

static int last_pct = -1, calls;
static void on_progress(int pct, void *userdata)
{
	assert_ptr_equal(userdata, &calls);
	assert_true(pct >= last_pct); /* never goes back */
	last_pct = pct;
	calls++;
}

/* base (raw, 0x11 at 0) <- mid (qcow2, 0x22 at 1M) <- top (qcow2, 0x33 at 2M) */
static void make_chain(const char *dir)
{
	char *base = xasprintf("%s/base", dir), *mid = xasprintf("%s/mid", dir), *top = xasprintf("%s/top", dir);
	assert_int_equal(qemu_img_create(base, VOL_FORMAT_RAW, VOL_ALLOC_SPARSE, 16 * MiB, NULL, VOL_FORMAT_RAW), 0);
	assert_int_equal(qemu_img_create(mid, VOL_FORMAT_QCOW2, VOL_ALLOC_SPARSE, 16 * MiB, "base", VOL_FORMAT_RAW), 0);
	assert_int_equal(qemu_img_create(top, VOL_FORMAT_QCOW2, VOL_ALLOC_SPARSE, 16 * MiB, "mid", VOL_FORMAT_QCOW2),
			 0);
	qemu_io(base, "raw", "write -P 0x11 0 1M");
	qemu_io(mid, "qcow2", "write -P 0x22 1M 1M");
	qemu_io(top, "qcow2", "write -P 0x33 2M 1M");
	free(base), free(mid), free(top);
}

static void assert_chain_content(const char *top)
{
	qemu_io(top, "qcow2", "read -P 0x11 0 1M");
	qemu_io(top, "qcow2", "read -P 0x22 1M 1M");
	qemu_io(top, "qcow2", "read -P 0x33 2M 1M");
	qemu_io(top, "qcow2", "read -P 0 3M 1M");
}

static void test_rebase_keeps_content(void **state)
{
	const char *dir = *state;
	char *top = xasprintf("%s/top", dir);
	struct qemu_img_info info;
	struct qemu_img_progress p = { .fn = on_progress, .userdata = &calls };

	make_chain(dir);
	/* drop mid from under top: its data must move into top */
	last_pct = -1, calls = 0;
	assert_int_equal(qemu_img_rebase(top, "base", VOL_FORMAT_RAW, &p), 0);
	assert_int_equal(qemu_img_info(top, &info), 0);
	assert_string_equal(info.backing, "base");
	assert_chain_content(top);
	assert_true(calls > 0);
	assert_int_equal(last_pct, 100);

	/* no backing at all: top becomes standalone */
	assert_int_equal(qemu_img_rebase(top, NULL, VOL_FORMAT_RAW, NULL), 0);
	assert_int_equal(qemu_img_info(top, &info), 0);
	assert_string_equal(info.backing, "");
	assert_chain_content(top);
	free(top);
}

static void test_commit_into_backing(void **state)
{
	const char *dir = *state;
	char *mid = xasprintf("%s/mid", dir), *top = xasprintf("%s/top", dir);
	struct qemu_img_progress p = { .fn = on_progress, .userdata = &calls };

	make_chain(dir);
	last_pct = -1, calls = 0;
	assert_int_equal(qemu_img_commit(top, &p), 0);
	/* mid now holds what top read */
	assert_chain_content(mid);
	assert_true(calls > 0);
	assert_int_equal(last_pct, 100);
	free(mid), free(top);
}

static void test_convert_collapses_chain(void **state)
{
	const char *dir = *state;
	char *top = xasprintf("%s/top", dir), *dst = xasprintf("%s/copy.qcow2", dir);
	char *raw = xasprintf("%s/copy.raw", dir);
	struct qemu_img_info info;
	struct qemu_img_progress p = { .fn = on_progress, .userdata = &calls };

	make_chain(dir);
	assert_int_equal(qemu_img_create(dst, VOL_FORMAT_QCOW2, VOL_ALLOC_SPARSE, 16 * MiB, NULL, VOL_FORMAT_RAW), 0);
	last_pct = -1, calls = 0;
	assert_int_equal(qemu_img_convert(top, VOL_FORMAT_QCOW2, dst, VOL_FORMAT_QCOW2, &p), 0);
	assert_true(calls > 0);
	assert_int_equal(last_pct, 100);
	assert_int_equal(qemu_img_info(dst, &info), 0);
	assert_string_equal(info.backing, "");
	assert_chain_content(dst);

	assert_int_equal(qemu_img_create(raw, VOL_FORMAT_RAW, VOL_ALLOC_SPARSE, 16 * MiB, NULL, VOL_FORMAT_RAW), 0);
	assert_int_equal(qemu_img_convert(top, VOL_FORMAT_QCOW2, raw, VOL_FORMAT_RAW, NULL), 0);
	qemu_io(raw, "raw", "read -P 0x22 1M 1M");
	free(top), free(dst), free(raw);
}

static void test_convert_aborted(void **state)
{
	const char *dir = *state;
	char *src = xasprintf("%s/src", dir), *dst = xasprintf("%s/dst", dir);
	atomic_bool abort_flag = true;
	struct qemu_img_progress p = { .abort = &abort_flag };

	assert_int_equal(qemu_img_create(src, VOL_FORMAT_RAW, VOL_ALLOC_SPARSE, 16 * MiB, NULL, VOL_FORMAT_RAW), 0);
	assert_int_equal(qemu_img_create(dst, VOL_FORMAT_RAW, VOL_ALLOC_SPARSE, 16 * MiB, NULL, VOL_FORMAT_RAW), 0);
	assert_int_equal(qemu_img_convert(src, VOL_FORMAT_RAW, dst, VOL_FORMAT_RAW, &p), -SP_E_ABORTED);
	free(src), free(dst);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_progress),
		T(test_create_and_info),
		T(test_create_with_backing),
		T(test_errors_name_the_image),
		T(test_resize),
		T(test_rebase_keeps_content),
		T(test_commit_into_backing),
		T(test_convert_collapses_chain),
		T(test_convert_aborted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
