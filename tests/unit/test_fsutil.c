/* lib/util/fsutil: the durable file operations metadata relies on. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <unistd.h>

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

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;
	assert_non_null(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void test_atomic_write_creates_and_replaces(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/vol.meta", dir);
	char *tmp = xasprintf("%s/vol.meta.tmp", dir);
	char *data = NULL;
	size_t len = 0;

	assert_int_equal(atomic_write_file(path, "a long first version", 20), 0);
	assert_int_equal(read_file(path, 1024, &data, &len), 0);
	assert_int_equal(len, 20);
	assert_string_equal(data, "a long first version");
	free(data);

	/* shorter content replaces all of it: no tail of the old one */
	assert_int_equal(atomic_write_file(path, "v2", 2), 0);
	assert_int_equal(read_file(path, 1024, &data, &len), 0);
	assert_int_equal(len, 2);
	assert_string_equal(data, "v2");
	free(data);

	/* only len bytes are written */
	assert_int_equal(atomic_write_file(path, "abcdef", 3), 0);
	assert_int_equal(read_file(path, 1024, &data, &len), 0);
	assert_string_equal(data, "abc");
	free(data);

	assert_false(path_exists(tmp));
	assert_int_equal(count_entries(dir), 1);
	free(path);
	free(tmp);
}

static void test_atomic_write_empty(void **state)
{
	char *path = xasprintf("%s/empty", (const char *)*state);
	char *data = NULL;
	size_t len = 99;

	assert_int_equal(atomic_write_file(path, "", 0), 0);
	assert_int_equal(read_file(path, 10, &data, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(data, "");
	free(data);
	free(path);
}

static void test_atomic_write_missing_dir_fails_cleanly(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/nodir/vol.meta", dir);
	assert_int_equal(atomic_write_file(path, "x", 1), -ENOENT);
	assert_int_equal(count_entries(dir), 0);
	free(path);
}

static void test_atomic_write_over_directory_keeps_it(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/sub", dir);
	char *tmp = xasprintf("%s/sub.tmp", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_true(atomic_write_file(path, "x", 1) < 0);
	/* the failed write left no temp file behind */
	assert_false(path_exists(tmp));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(path);
	free(tmp);
}

static void test_read_file_limit(void **state)
{
	char *path = xasprintf("%s/f", (const char *)*state);
	char *data = (char *)"untouched";
	size_t len = 12345;

	test_write(path, "0123456789");
	assert_int_equal(read_file(path, 9, &data, &len), -EFBIG);
	assert_string_equal(data, "untouched"); /* out-parameters written only on success */
	assert_int_equal(len, 12345);
	assert_int_equal(read_file(path, 10, &data, &len), 0);
	assert_int_equal(len, 10);
	assert_string_equal(data, "0123456789");
	free(data);
	assert_int_equal(read_file(path, 1 << 20, &data, NULL), 0);
	assert_string_equal(data, "0123456789");
	free(data);
	free(path);
}

static void test_read_file_missing(void **state)
{
	char *path = xasprintf("%s/missing", (const char *)*state);
	char *data = NULL;
	assert_int_equal(read_file(path, 100, &data, NULL), -ENOENT);
	assert_null(data);
	free(path);
}

static void test_mkdir_p(void **state)
{
	const char *dir = *state;
	char *deep = xasprintf("%s/a/b/c/d", dir);
	char *file = xasprintf("%s/file", dir);
	char *under_file = xasprintf("%s/file/sub", dir);
	struct stat st;

	assert_int_equal(mkdir_p(deep, 0755), 0);
	assert_int_equal(stat(deep, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(mkdir_p(deep, 0755), 0); /* exists: fine */
	assert_int_equal(mkdir_p(dir, 0755), 0);

	test_write(file, "x");
	assert_int_equal(mkdir_p(under_file, 0755), -ENOTDIR);
	/* "0 if the directory exists afterwards": a file there is no directory */
	assert_true(mkdir_p(file, 0755) < 0);
	free(deep);
	free(file);
	free(under_file);
}

static void test_rm_rf(void **state)
{
	const char *dir = *state;
	char *tree = xasprintf("%s/tree", dir);
	char *deep = xasprintf("%s/tree/x/y/z", dir);
	char *f1 = xasprintf("%s/tree/x/f1", dir);
	char *f2 = xasprintf("%s/tree/x/y/z/f2", dir);
	char *outside = xasprintf("%s/outside", dir);
	char *keep = xasprintf("%s/outside/keep", dir);
	char *link = xasprintf("%s/tree/x/link", dir);

	assert_int_equal(mkdir_p(deep, 0755), 0);
	assert_int_equal(mkdir_p(outside, 0755), 0);
	test_write(f1, "1");
	test_write(f2, "2");
	test_write(keep, "keep");
	assert_int_equal(symlink(outside, link), 0);

	assert_int_equal(rm_rf(tree), 0);
	assert_false(path_exists(tree));
	/* a symlink is removed, never followed */
	assert_true(path_exists(keep));
	assert_int_equal(rm_rf(tree), 0); /* already gone */

	assert_int_equal(rm_rf(keep), 0); /* a plain file */
	assert_false(path_exists(keep));
	assert_true(path_exists(outside));
	free(tree), free(deep), free(f1), free(f2), free(outside), free(keep), free(link);
}

static void test_path_dirname(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{ "/a/b/c.meta", "/a/b" }, { "/a", "/" }, { "a", "." }, { "a/b", "a" }, { "/", "/" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d = path_dirname(cases[i][0]);
		assert_string_equal(d, cases[i][1]);
		free(d);
	}
}

static void test_fsync_dir(void **state)
{
	char *missing = xasprintf("%s/missing", (const char *)*state);
	assert_int_equal(fsync_dir(*state), 0);
	assert_int_equal(fsync_dir(missing), -ENOENT);
	free(missing);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_atomic_write_creates_and_replaces),
		T(test_atomic_write_empty),
		T(test_atomic_write_missing_dir_fails_cleanly),
		T(test_atomic_write_over_directory_keeps_it),
		T(test_read_file_limit),
		T(test_read_file_missing),
		T(test_mkdir_p),
		T(test_rm_rf),
		T(test_path_dirname),
		T(test_fsync_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
