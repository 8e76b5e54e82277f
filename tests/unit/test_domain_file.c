/* lib/domain_file: the file storage domain backend (a directory). */
#include "testutil.h"

#include <unistd.h>

#include "lib/domain_file.h"
#include "lib/util/error.h"
#include "lib/util/log.h"

#define DOM "d0d0d0d0-d0d0-4d0d-8d0d-d0d0d0d0d0d0"
#define POOL "e0e0e0e0-e0e0-4e0e-8e0e-e0e0e0e0e0e0"
#define IMG "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define V1 "11111111-1111-4111-8111-111111111111"
#define V2 "22222222-2222-4222-8222-222222222222"
#define TASK "cccccccc-cccc-4ccc-8ccc-cccccccccccc"

struct fixture {
	char *dir, *path;
	struct domain d;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	log_set_level(LOG_LVL_ERROR);
	f->dir = test_mkdtemp();
	f->path = xasprintf("%s/dom", f->dir);
	assert_int_equal(domain_file_format(f->path, DOM, "local", POOL), 0);
	assert_int_equal(domain_file_open(f->path, &f->d), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	test_rmdtemp(f->dir);
	free(f->path);
	free(f);
	return 0;
}

static struct volume_meta vol(const char *uuid, const char *parent)
{
	struct volume_meta m = { 0 };
	snprintf(m.uuid, sizeof(m.uuid), "%s", uuid);
	snprintf(m.image, sizeof(m.image), IMG);
	snprintf(m.domain, sizeof(m.domain), DOM);
	if (parent) {
		snprintf(m.parent, sizeof(m.parent), "%s", parent);
		snprintf(m.parent_image, sizeof(m.parent_image), IMG);
	}
	m.format = parent ? VOL_FORMAT_QCOW2 : VOL_FORMAT_RAW;
	m.capacity = 8ULL << 20;
	m.generation = 1;
	return m;
}

static void test_format_and_open(void **state)
{
	struct fixture *f = *state;
	assert_string_equal(f->d.uuid, DOM);
	assert_string_equal(f->d.name, "local");
	assert_string_equal(f->d.pool, POOL);
	assert_string_equal(f->d.path, f->path);
	assert_ptr_equal(f->d.ops, &domain_file_ops);

	/* formatting an existing domain is refused, and its identity is kept */
	assert_int_equal(domain_file_format(f->path, V1, "other", NULL), -SP_E_CONFLICT);
	struct domain again;
	assert_int_equal(domain_file_open(f->path, &again), 0);
	assert_string_equal(again.uuid, DOM);

	uint64_t total = 0, avail = 0;
	assert_int_equal(f->d.ops->stats(&f->d, &total, &avail), 0);
	assert_true(total > 0 && avail <= total);
}

static void test_open_rejects_non_domains(void **state)
{
	struct fixture *f = *state;
	char *empty = xasprintf("%s/empty", f->dir);
	char *bad = xasprintf("%s/bad", f->dir);
	char *ident = xasprintf("%s/bad/dom_md/metadata.json", f->dir);
	char *dir = xasprintf("%s/bad/dom_md", f->dir);
	struct domain d;
	memset(&d, 0x7e, sizeof(d));
	struct domain before = d;

	assert_int_equal(mkdir(empty, 0755), 0);
	assert_true(domain_file_open(empty, &d) < 0);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	test_write(ident, "not json");
	assert_int_equal(domain_file_open(bad, &d), -SP_E_CORRUPT);
	test_write(ident, "{\"uuid\":\"nope\",\"name\":\"x\"}");
	assert_int_equal(domain_file_open(bad, &d), -SP_E_CORRUPT);
	test_write(ident, "{\"uuid\":\"" DOM "\",\"name\":\"../x\"}");
	assert_int_equal(domain_file_open(bad, &d), -SP_E_CORRUPT);
	assert_memory_equal(&d, &before, sizeof(d));
	free(empty), free(bad), free(ident), free(dir);
}

static int collect(const struct volume_meta *m, void *userdata)
{
	char *seen = userdata;
	size_t n = strlen(seen);
	snprintf(seen + n, 512 - n, "%s:%s;", m->uuid, m->legal ? "L" : "I");
	return 0;
}

static void test_volumes_create_scan_remove(void **state)
{
	struct fixture *f = *state;
	const struct domain_ops *ops = f->d.ops;
	struct volume_meta base = vol(V1, NULL), top = vol(V2, V1);
	char seen[512] = "";

	assert_int_equal(ops->meta_write(&f->d, NULL, &base), 0);
	assert_int_equal(ops->volume_create(&f->d, &base, NULL), 0);
	assert_int_equal(ops->meta_write(&f->d, NULL, &top), 0);
	assert_int_equal(ops->volume_create(&f->d, &top, &base), 0);

	char *path = ops->volume_path(&f->d, IMG, V2);
	char *expect = xasprintf("%s/images/%s/%s", f->path, IMG, V2);
	assert_string_equal(path, expect);
	assert_true(path_exists(path));
	char *ref = ops->backing_ref(&f->d, IMG, V1);
	assert_string_equal(ref, "../" IMG "/" V1); /* relative: valid wherever it is mounted */

	/* an unreadable metadata file is skipped, not fatal */
	char *junk = xasprintf("%s/images/%s/%s.meta", f->path, IMG, TASK);
	test_write(junk, "{ broken");
	assert_int_equal(ops->meta_scan(&f->d, collect, seen), 0);
	assert_true(strstr(seen, V1 ":I;") != NULL);
	assert_true(strstr(seen, V2 ":I;") != NULL);
	assert_int_equal(strlen(seen), 2 * (36 + 3));

	/* removal takes data and metadata; again is fine */
	char *meta = xasprintf("%s.meta", path);
	assert_int_equal(ops->volume_remove(&f->d, IMG, V2), 0);
	assert_false(path_exists(path));
	assert_false(path_exists(meta));
	assert_int_equal(ops->volume_remove(&f->d, IMG, V2), 0);

	char *img_dir = xasprintf("%s/images/%s", f->path, IMG);
	assert_int_equal(ops->image_remove(&f->d, IMG), 0);
	assert_false(path_exists(img_dir));
	assert_int_equal(ops->image_remove(&f->d, IMG), 0);
	free(path), free(expect), free(ref), free(junk), free(meta), free(img_dir);
}

static int collect_journal(const char *task, json_object *record, void *userdata)
{
	int *n = userdata;
	assert_string_equal(task, TASK);
	assert_string_equal(json_object_get_string(json_object_object_get(record, "op")), "resize_image");
	(*n)++;
	return 0;
}

static void test_journal(void **state)
{
	struct fixture *f = *state;
	const struct domain_ops *ops = f->d.ops;
	json_object *rec = json_object_new_object();
	int n = 0;

	json_object_object_add(rec, "op", json_object_new_string("resize_image"));
	assert_int_equal(ops->journal_write(&f->d, TASK, rec), 0);
	json_object_put(rec);
	/* leftovers that are not records are skipped */
	char *junk = xasprintf("%s/dom_md/journal/not-a-uuid.json", f->path);
	char *tmp = xasprintf("%s/dom_md/journal/" V1 ".json.tmp", f->path);
	test_write(junk, "{}");
	test_write(tmp, "{}");
	assert_int_equal(ops->journal_scan(&f->d, collect_journal, &n), 0);
	assert_int_equal(n, 1);

	assert_int_equal(ops->journal_remove(&f->d, TASK), 0);
	assert_int_equal(ops->journal_remove(&f->d, TASK), 0); /* already gone */
	n = 0;
	assert_int_equal(ops->journal_scan(&f->d, collect_journal, &n), 0);
	assert_int_equal(n, 0);
	free(junk), free(tmp);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_format_and_open),
		T(test_open_rejects_non_domains),
		T(test_volumes_create_scan_remove),
		T(test_journal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
