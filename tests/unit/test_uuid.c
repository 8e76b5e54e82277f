/* lib/util/uuid: every object is named by a canonical lowercase UUID. */
#include "testutil.h"

#include "lib/util/uuid.h"

static int cmp_str(const void *a, const void *b) { return strcmp(a, b); }

static void test_generated_are_valid_v4(void **state)
{
	(void)state;
	for (int i = 0; i < 1000; i++) {
		char u[UUID_STR_LEN];
		uuid_generate_str(u);
		assert_int_equal(strlen(u), 36);
		assert_true(uuid_is_valid(u));
		assert_int_equal(u[14], '4');                     /* version 4 */
		assert_non_null(strchr("89ab", u[19]));          /* RFC 4122 variant */
	}
}

static void test_generated_are_unique(void **state)
{
	(void)state;
	enum { N = 4096 };
	char(*u)[UUID_STR_LEN] = xcalloc(N, UUID_STR_LEN);
	for (int i = 0; i < N; i++)
		uuid_generate_str(u[i]);
	qsort(u, N, UUID_STR_LEN, cmp_str);
	for (int i = 1; i < N; i++)
		assert_string_not_equal(u[i - 1], u[i]);
	free(u);
}

static void test_valid_forms(void **state)
{
	(void)state;
	assert_true(uuid_is_valid("00000000-0000-0000-0000-000000000000"));
	assert_true(uuid_is_valid("0123abcd-ef01-4567-89ab-cdef01234567"));
}

static void test_invalid_forms(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"0123abcd-ef01-4567-89ab-cdef0123456",   /* 35 chars */
		"0123abcd-ef01-4567-89ab-cdef012345678", /* 37 chars */
		"0123ABCD-EF01-4567-89AB-CDEF01234567",  /* uppercase is not canonical */
		"0123abcd-ef01-4567-89ab-cdef0123456g",  /* not hex */
		"0123abcdef01-4567-89ab-cdef01234567-",  /* dashes misplaced */
		"0123abcd_ef01_4567_89ab_cdef01234567",
		"{0123abcd-ef01-4567-89ab-cdef012345}",
		"0123abcd-ef01-4567-89ab-cdef0123456 ",
		"../../../../../../../../../etc/passw",  /* 36 chars, a path */
		"0123abcd-ef01-4567-89ab-cdef0123456\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (uuid_is_valid(bad[i]))
			fail_msg("accepted invalid UUID \"%s\"", bad[i]);
	}
	assert_false(uuid_is_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generated_are_valid_v4),
		cmocka_unit_test(test_generated_are_unique),
		cmocka_unit_test(test_valid_forms),
		cmocka_unit_test(test_invalid_forms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
