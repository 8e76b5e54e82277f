/* Shared by the unit tests: cmocka's includes and a scratch directory. */
#pragma once
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/util/fsutil.h"
#include "lib/util/run.h"
#include "lib/util/xalloc.h"

/* A new empty directory under TMPDIR (newly allocated). */
static inline char *test_mkdtemp(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *dir = xasprintf("%s/sanpool-unit-XXXXXX", base);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static inline void test_rmdtemp(char *dir)
{
	if (dir)
		assert_int_equal(rm_rf(dir), 0);
	free(dir);
}

static inline void test_write(const char *path, const char *data)
{
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fputs(data, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static inline double test_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs argv; 0 if it exited 0 (with its first line of stdout in *ret_out,
 * newly allocated, if asked), -EIO if it failed, -errno if it did not start. */
static inline int test_run(const char *const argv[], char **ret_out)
{
	struct run_result res = { 0 };
	int r = run_argv(argv, NULL, &res);
	if (r == 0 && res.exit_status != 0)
		r = -EIO;
	if (r == 0 && ret_out) {
		res.out[strcspn(res.out, "\n")] = '\0';
		*ret_out = xstrdup(res.out);
	}
	run_result_free(&res);
	return r;
}
