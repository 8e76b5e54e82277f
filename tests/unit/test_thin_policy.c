/* lib/thin_policy.c: the next LV size of an extend and the block threshold. */
#include "testutil.h"

#include "lib/thin_policy.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static void test_next_size_by_a_chunk_or_to_a_size(void **state)
{
	(void)state;
	/* no size: one chunk more */
	assert_int_equal(thin_next_size(GiB, 0, GiB, 10 * GiB), 2 * GiB);
	/* a size that grows the LV */
	assert_int_equal(thin_next_size(GiB, 3 * GiB, GiB, 10 * GiB), 3 * GiB);
	assert_int_equal(thin_next_size(GiB, GiB + 1, GiB, 10 * GiB), GiB + 1);
	/* a size reached already: nothing to grow */
	assert_int_equal(thin_next_size(2 * GiB, GiB, GiB, 10 * GiB), 2 * GiB);
	assert_int_equal(thin_next_size(2 * GiB, 2 * GiB, GiB, 10 * GiB), 2 * GiB);
}

static void test_next_size_never_past_the_maximum(void **state)
{
	(void)state;
	assert_int_equal(thin_next_size(9 * GiB + 512 * MiB, 0, GiB, 10 * GiB), 10 * GiB);
	assert_int_equal(thin_next_size(GiB, 100 * GiB, GiB, 10 * GiB), 10 * GiB);
	/* at the maximum, or past it (the capacity shrank? never: stays) */
	assert_int_equal(thin_next_size(10 * GiB, 0, GiB, 10 * GiB), 10 * GiB);
	assert_int_equal(thin_next_size(11 * GiB, 0, GiB, 10 * GiB), 11 * GiB);
	/* no overflow near the top of the range */
	assert_int_equal(thin_next_size(UINT64_MAX - 10, 0, GiB, UINT64_MAX), UINT64_MAX);
}

static void test_threshold_keeps_the_watermark_free(void **state)
{
	(void)state;
	/* W = 20 with 1 GiB chunks: extend once under 80 % of a chunk is free */
	assert_int_equal(thin_threshold(4 * GiB, GiB, 20), 4 * GiB - GiB * 80 / 100);
	/* VDSM's anchor: 2.5 GiB chunks, 20 %: 2 GiB free */
	assert_int_equal(thin_threshold(10 * GiB, 2560 * MiB, 20), 8 * GiB);
	/* W = 100: only when full; W = 0: a whole chunk ahead */
	assert_int_equal(thin_threshold(4 * GiB, GiB, 100), 4 * GiB);
	assert_int_equal(thin_threshold(4 * GiB, GiB, 0), 3 * GiB);
	assert_int_equal(thin_threshold(4 * GiB, GiB, 250), 4 * GiB); /* counts as 100 */
	/* a chunk not a multiple of 100 bytes: rounded down, as chunk * (100 - W) / 100 */
	assert_int_equal(thin_threshold(1000, 999, 50), 1000 - 999 * 50 / 100);
}

static void test_threshold_zero_when_already_under_the_watermark(void **state)
{
	(void)state;
	/* a 512 MiB LV with 1 GiB chunks: 819 MiB must be free, there is less: extend now */
	assert_int_equal(thin_threshold(512 * MiB, GiB, 20), 0);
	assert_int_equal(thin_threshold(GiB * 80 / 100, GiB, 20), 0);
	assert_int_equal(thin_threshold(GiB * 80 / 100 + 1, GiB, 20), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_size_by_a_chunk_or_to_a_size),
		cmocka_unit_test(test_next_size_never_past_the_maximum),
		cmocka_unit_test(test_threshold_keeps_the_watermark_free),
		cmocka_unit_test(test_threshold_zero_when_already_under_the_watermark),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
