/* lib/thin_policy.c: the next LV size of an extend, the block threshold, and
 * whether a VM paused for ENOSPC needs an extend or only a resume. */
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

/* bench/thin_enospc.py's run (first LV 128 MiB, chunk 128 MiB, watermark 100):
 * the guest wrote past 384 MiB, the VM paused there while the extend for the
 * threshold grew the LV to 512 MiB, and libvirt's ENOSPC event reached the
 * monitor after that extend, the VM still paused. The LV already has the room:
 * resume only (the old monitor extended to 640 MiB, one chunk past need). */
static void test_enospc_after_the_extend_that_made_room(void **state)
{
	(void)state;
	uint64_t chunk = 128 * MiB;
	/* qemu wrote up to just under the old end (4 MiB pieces, qcow2 metadata) */
	assert_true(thin_enospc_has_room(512 * MiB, 380 * MiB, chunk, THIN_NOT_RETRIED));
	assert_true(thin_enospc_has_room(512 * MiB, 384 * MiB, chunk, THIN_NOT_RETRIED));
	/* or a little past it: writes in flight that reached the LV after it grew
	 * (its first run with "a whole chunk free" as the rule still extended) */
	assert_true(thin_enospc_has_room(512 * MiB, 388 * MiB, chunk, THIN_NOT_RETRIED));
	/* with the default policy too: 1 GiB chunks, the VM paused at 4 GiB, the LV is 5 GiB */
	assert_true(thin_enospc_has_room(5 * GiB, 4 * GiB - 3 * MiB, GiB, THIN_NOT_RETRIED));
}

/* The ENOSPC came before any extend for it: the LV is still the size the
 * write failed at, not half a chunk is free past what qemu wrote: extend. */
static void test_enospc_before_the_extend_needs_one(void **state)
{
	(void)state;
	uint64_t chunk = 128 * MiB;
	assert_false(thin_enospc_has_room(384 * MiB, 380 * MiB, chunk, THIN_NOT_RETRIED));
	assert_false(thin_enospc_has_room(384 * MiB, 384 * MiB, chunk, THIN_NOT_RETRIED));
	/* half a chunk free is not more than half: not grown since (a chunk, less what was in flight) */
	assert_false(thin_enospc_has_room(448 * MiB, 384 * MiB, chunk, THIN_NOT_RETRIED));
	assert_true(thin_enospc_has_room(448 * MiB + 1, 384 * MiB, chunk, THIN_NOT_RETRIED));
	/* qemu wrote past what this host saw of the LV (another host grew it, not refreshed here) */
	assert_false(thin_enospc_has_room(384 * MiB, 400 * MiB, chunk, THIN_NOT_RETRIED));
}

/* A VM resumed without an extend that pauses again without writing past where
 * it stood (qemu's high-water mark starts at 0 with its process: a low one
 * looks like room) gets the extend; once it wrote more, the rule holds again. */
static void test_enospc_again_without_progress_extends(void **state)
{
	(void)state;
	uint64_t chunk = 128 * MiB;
	/* a fresh qemu: nothing written yet, the LV's first 256 MiB look free */
	assert_true(thin_enospc_has_room(256 * MiB, 0, chunk, THIN_NOT_RETRIED));
	assert_false(thin_enospc_has_room(256 * MiB, 0, chunk, 0));
	assert_false(thin_enospc_has_room(512 * MiB, 380 * MiB, chunk, 380 * MiB));
	assert_false(thin_enospc_has_room(512 * MiB, 379 * MiB, chunk, 380 * MiB));
	/* it wrote on after that resume, and another extend left room */
	assert_true(thin_enospc_has_room(640 * MiB, 500 * MiB, chunk, 380 * MiB));
	/* no overflow at the top of the range */
	assert_true(thin_enospc_has_room(UINT64_MAX, UINT64_MAX - chunk, chunk, THIN_NOT_RETRIED));
	assert_false(thin_enospc_has_room(UINT64_MAX, UINT64_MAX - chunk / 2, chunk, THIN_NOT_RETRIED));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_size_by_a_chunk_or_to_a_size),
		cmocka_unit_test(test_next_size_never_past_the_maximum),
		cmocka_unit_test(test_threshold_keeps_the_watermark_free),
		cmocka_unit_test(test_threshold_zero_when_already_under_the_watermark),
		cmocka_unit_test(test_enospc_after_the_extend_that_made_room),
		cmocka_unit_test(test_enospc_before_the_extend_needs_one),
		cmocka_unit_test(test_enospc_again_without_progress_extends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
