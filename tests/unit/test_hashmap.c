/* lib/util/hashmap: the store's index of pools, domains, volumes and claims. */
#include "testutil.h"

#include <errno.h>

#include "lib/util/hashmap.h"

/* Values are counted as they are freed, to check ownership. */
static int freed;
static void count_free(void *v)
{
	freed++;
	free(v);
}

static void test_put_get_replace(void **state)
{
	(void)state;
	struct hashmap *m = hashmap_new(count_free);
	freed = 0;

	assert_null(hashmap_get(m, "a"));
	assert_int_equal(hashmap_put(m, "a", xstrdup("one")), 0);
	assert_int_equal(hashmap_put(m, "b", xstrdup("two")), 0);
	assert_string_equal(hashmap_get(m, "a"), "one");
	assert_string_equal(hashmap_get(m, "b"), "two");
	assert_int_equal(hashmap_size(m), 2);

	/* replacing frees the old value, keeps the size */
	assert_int_equal(hashmap_put(m, "a", xstrdup("uno")), 0);
	assert_int_equal(freed, 1);
	assert_string_equal(hashmap_get(m, "a"), "uno");
	assert_int_equal(hashmap_size(m), 2);

	/* putting the same value again must not free it */
	void *same = hashmap_get(m, "b");
	assert_int_equal(hashmap_put(m, "b", same), 0);
	assert_int_equal(freed, 1);
	assert_string_equal(hashmap_get(m, "b"), "two");

	hashmap_free(m);
	assert_int_equal(freed, 3);
}

static void test_keys_are_copied(void **state)
{
	(void)state;
	struct hashmap *m = hashmap_new(NULL);
	char key[16] = "volume";
	int v = 7;

	hashmap_put(m, key, &v);
	snprintf(key, sizeof(key), "other");
	assert_ptr_equal(hashmap_get(m, "volume"), &v);
	assert_null(hashmap_get(m, "other"));
	assert_null(hashmap_get(m, ""));
	hashmap_free(m);
}

static void test_remove(void **state)
{
	(void)state;
	struct hashmap *m = hashmap_new(count_free);
	freed = 0;

	hashmap_put(m, "a", xstrdup("1"));
	assert_int_equal(hashmap_remove(m, "missing"), -ENOENT);
	assert_int_equal(hashmap_remove(m, "a"), 0);
	assert_int_equal(freed, 1);
	assert_null(hashmap_get(m, "a"));
	assert_int_equal(hashmap_size(m), 0);
	assert_int_equal(hashmap_remove(m, "a"), -ENOENT);
	/* a removed key can come back */
	hashmap_put(m, "a", xstrdup("2"));
	assert_string_equal(hashmap_get(m, "a"), "2");
	assert_int_equal(hashmap_size(m), 1);
	hashmap_free(m);
	assert_int_equal(freed, 2);
}

static char *key_of(int i) { return xasprintf("key-%d", i); }

static void test_growth_thousands(void **state)
{
	(void)state;
	enum { N = 20000 };
	struct hashmap *m = hashmap_new(free);

	for (int i = 0; i < N; i++) {
		char *k = key_of(i);
		int *v = xmalloc(sizeof(*v));
		*v = i;
		assert_int_equal(hashmap_put(m, k, v), 0);
		free(k);
	}
	assert_int_equal(hashmap_size(m), N);
	for (int i = 0; i < N; i++) {
		char *k = key_of(i);
		int *v = hashmap_get(m, k);
		assert_non_null(v);
		assert_int_equal(*v, i);
		free(k);
	}
	assert_null(hashmap_get(m, "key-20000"));
	hashmap_free(m);
}

static void test_iterate_visits_each_once(void **state)
{
	(void)state;
	enum { N = 3000 };
	struct hashmap *m = hashmap_new(NULL);
	int *seen = xcalloc(N, sizeof(int));
	int values[N];

	for (int i = 0; i < N; i++) {
		char *k = key_of(i);
		values[i] = i;
		hashmap_put(m, k, &values[i]);
		free(k);
	}
	for (int i = 0; i < N; i += 3) { /* with tombstones in the table */
		char *k = key_of(i);
		assert_int_equal(hashmap_remove(m, k), 0);
		free(k);
	}
	size_t pos = 0, count = 0;
	const char *key;
	void *value;
	while (hashmap_next(m, &pos, &key, &value) == 0) {
		int i = *(int *)value;
		char *k = key_of(i);
		assert_string_equal(key, k);
		free(k);
		assert_int_not_equal(i % 3, 0);
		seen[i]++;
		count++;
	}
	assert_int_equal(count, hashmap_size(m));
	assert_int_equal(count, N - (N + 2) / 3);
	for (int i = 0; i < N; i++)
		assert_int_equal(seen[i], i % 3 ? 1 : 0);
	/* the end stays the end; NULL outputs are allowed */
	assert_int_equal(hashmap_next(m, &pos, NULL, NULL), -ENOENT);

	struct hashmap *empty = hashmap_new(NULL);
	pos = 0;
	assert_int_equal(hashmap_next(empty, &pos, NULL, NULL), -ENOENT);
	hashmap_free(empty);
	free(seen);
	hashmap_free(m);
}

/* Keys that follow removed ones in a probe sequence must stay reachable. */
static void test_tombstones_keep_chains(void **state)
{
	(void)state;
	enum { N = 2000 };
	struct hashmap *m = hashmap_new(NULL);
	static int v[N];

	for (int i = 0; i < N; i++) {
		char *k = key_of(i);
		hashmap_put(m, k, &v[i]);
		free(k);
	}
	for (int i = 0; i < N; i += 2) {
		char *k = key_of(i);
		hashmap_remove(m, k);
		free(k);
	}
	for (int i = 0; i < N; i++) {
		char *k = key_of(i);
		if (i % 2)
			assert_ptr_equal(hashmap_get(m, k), &v[i]);
		else
			assert_null(hashmap_get(m, k));
		free(k);
	}
	/* re-inserting does not duplicate a key that lives past a tombstone */
	for (int i = 0; i < N; i++) {
		char *k = key_of(i);
		hashmap_put(m, k, &v[i]);
		free(k);
	}
	assert_int_equal(hashmap_size(m), N);
	size_t pos = 0, count = 0;
	while (hashmap_next(m, &pos, NULL, NULL) == 0)
		count++;
	assert_int_equal(count, N);
	hashmap_free(m);
}

/* Endless churn of distinct keys in a small map (claims come and go): the
 * table must reuse or purge tombstones, never fill up with them. */
static void test_tombstone_churn(void **state)
{
	(void)state;
	struct hashmap *m = hashmap_new(free);
	for (int i = 0; i < 200000; i++) {
		char *k = key_of(i);
		hashmap_put(m, k, xstrdup(k));
		if (i >= 5) {
			char *old = key_of(i - 5);
			assert_int_equal(hashmap_remove(m, old), 0);
			free(old);
		}
		free(k);
	}
	assert_int_equal(hashmap_size(m), 5);
	for (int i = 200000 - 5; i < 200000; i++) {
		char *k = key_of(i);
		assert_string_equal(hashmap_get(m, k), k);
		free(k);
	}
	assert_null(hashmap_get(m, "key-0"));
	hashmap_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_replace),
		cmocka_unit_test(test_keys_are_copied),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_growth_thousands),
		cmocka_unit_test(test_iterate_visits_each_once),
		cmocka_unit_test(test_tombstones_keep_chains),
		cmocka_unit_test(test_tombstone_churn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
