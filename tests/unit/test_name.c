/* lib/util/name: names users give to pools, domains and images. */
#include "testutil.h"

#include "lib/util/name.h"

static void test_valid_names(void **state)
{
	(void)state;
	static const char *const good[] = { "a", "disk1", "Disk_1.qcow2", "0", "_x", "a-b.c_d", "a..b", "x-", "x." };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!name_is_valid(good[i]))
			fail_msg("rejected valid name \"%s\"", good[i]);
	}
}

static void test_length_limit(void **state)
{
	(void)state;
	char s[NAME_MAX_LEN + 2];
	memset(s, 'n', sizeof(s));
	s[NAME_MAX_LEN] = '\0';
	assert_true(name_is_valid(s)); /* exactly 64 */
	s[NAME_MAX_LEN] = 'n';
	s[NAME_MAX_LEN + 1] = '\0';
	assert_false(name_is_valid(s)); /* 65 */
}

static void test_invalid_names(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", ".", "..", ".hidden", "-rf", "--help", "a/b", "/abs", "../x", "a b", "a\tb", "a\nb",
		"disk;rm", "a$b", "a*", "d\xc3\xa9j\xc3\xa0", "a:b", "a\\b", "'q'",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (name_is_valid(bad[i]))
			fail_msg("accepted invalid name \"%s\"", bad[i]);
	}
	assert_false(name_is_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_names),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_invalid_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
