/* lib/lease_index.c: the volume-lease index's records and its slot
 * allocation, on a plain file standing for a domain's leases area (bytes
 * before it belong to something else and must stay untouched). */
#include "testutil.h"

#include <fcntl.h>
#include <unistd.h>

#include "lib/lease_index.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"

#define BASE (3ull << 20) /* the leases area starts 3 MiB into the file */
#define VOL_A "11111111-1111-4111-8111-111111111111"
#define VOL_B "22222222-2222-4222-8222-222222222222"
#define VOL_C "33333333-3333-4333-8333-333333333333"
#define IMG "44444444-4444-4444-8444-444444444444"

static struct {
	char *dir;
	char *file;
} T;

static int setup(void **state)
{
	(void)state;
	T.dir = test_mkdtemp();
	T.file = xasprintf("%s/leases", T.dir);
	int fd = open(T.file, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	/* what precedes the area: 0xee bytes the index must never write */
	uint8_t junk[4096];
	memset(junk, 0xee, sizeof(junk));
	for (uint64_t at = 0; at < BASE; at += sizeof(junk))
		assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)at), (ssize_t)sizeof(junk));
	assert_int_equal(ftruncate(fd, (off_t)(BASE + LEASE_INDEX_AREA_SIZE)), 0);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_rmdtemp(T.dir);
	free(T.file);
	return 0;
}

static void assert_before_base_untouched(void)
{
	_cleanup_close_ int fd = open(T.file, O_RDONLY);
	uint8_t buf[4096];
	for (uint64_t at = 0; at < BASE; at += sizeof(buf)) {
		assert_int_equal(pread(fd, buf, sizeof(buf), (off_t)at), (ssize_t)sizeof(buf));
		for (size_t i = 0; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0xee);
	}
}

static void test_layout(void **state)
{
	(void)state;
	/* slot k's lease: 1 MiB aligned, after the SPM lease and the index, and
	 * the last one ends where a 128 MiB leases LV does */
	assert_int_equal(lease_index_slot_offset(BASE, 0), BASE + (2u << 20));
	assert_int_equal(lease_index_slot_offset(BASE, 5), BASE + (7u << 20));
	assert_int_equal(lease_index_slot_offset(0, LEASE_INDEX_SLOTS - 1) + (1u << 20), 128u << 20);
	assert_int_equal(LEASE_INDEX_AREA_SIZE, 128u << 20);
	/* the records fit the index's 1 MiB */
	assert_true((1 + LEASE_INDEX_SLOTS) * LEASE_INDEX_SECTOR <= (1u << 20));
}

static void test_record_checks(void **state)
{
	(void)state;
	uint8_t rec[LEASE_INDEX_SECTOR];
	struct lease_slot s;

	lease_index_record_out(7, VOL_A, IMG, rec);
	lease_index_record_in(rec, 7, &s);
	assert_int_equal(s.state, LEASE_SLOT_USED);
	assert_string_equal(s.volume, VOL_A);
	assert_string_equal(s.image, IMG);

	/* a record read at another slot's place (a misdirected write) */
	lease_index_record_in(rec, 8, &s);
	assert_int_equal(s.state, LEASE_SLOT_BAD);
	/* any flipped byte: bad, never another volume */
	for (size_t i = 0; i < LEASE_INDEX_SECTOR; i += 7) {
		uint8_t bad[LEASE_INDEX_SECTOR];
		memcpy(bad, rec, sizeof(bad));
		bad[i] ^= 0x20;
		lease_index_record_in(bad, 7, &s);
		assert_int_equal(s.state, LEASE_SLOT_BAD);
		assert_string_equal(s.volume, "");
	}
	/* freeing writes zeros: free */
	lease_index_record_out(7, NULL, NULL, rec);
	for (size_t i = 0; i < sizeof(rec); i++)
		assert_int_equal(rec[i], 0);
	lease_index_record_in(rec, 7, &s);
	assert_int_equal(s.state, LEASE_SLOT_FREE);
}

static void test_allocate_find_free(void **state)
{
	(void)state;
	struct lease_index ix;

	/* a fresh area: unformatted, every slot free */
	assert_int_equal(lease_index_read(T.file, BASE, &ix), 0);
	assert_false(ix.formatted);
	assert_int_equal(lease_index_pick(&ix), 0);
	assert_int_equal(lease_index_find(&ix, VOL_A), -SP_E_NOT_FOUND);

	assert_int_equal(lease_index_format(T.file, BASE), 0);
	assert_int_equal(lease_index_write(T.file, BASE, 0, VOL_A, IMG), 0);
	assert_int_equal(lease_index_write(T.file, BASE, 1, VOL_B, IMG), 0);
	assert_int_equal(lease_index_read(T.file, BASE, &ix), 0);
	assert_true(ix.formatted);
	assert_int_equal(lease_index_find(&ix, VOL_A), 0);
	assert_int_equal(lease_index_find(&ix, VOL_B), 1);
	assert_int_equal(lease_index_pick(&ix), 2);

	/* formatting again leaves the records alone */
	assert_int_equal(lease_index_format(T.file, BASE), 0);
	assert_int_equal(lease_index_read(T.file, BASE, &ix), 0);
	assert_int_equal(lease_index_find(&ix, VOL_B), 1);

	/* a freed slot is the next one picked */
	assert_int_equal(lease_index_write(T.file, BASE, 0, NULL, NULL), 0);
	assert_int_equal(lease_index_read(T.file, BASE, &ix), 0);
	assert_int_equal(lease_index_find(&ix, VOL_A), -SP_E_NOT_FOUND);
	assert_int_equal(lease_index_pick(&ix), 0);
	assert_int_equal(lease_index_write(T.file, BASE, LEASE_INDEX_SLOTS, VOL_C, IMG), -SP_E_BAD_REQUEST);
	assert_before_base_untouched();
}

static void test_torn_record_and_full_index(void **state)
{
	(void)state;
	struct lease_index ix;
	_cleanup_close_ int fd = open(T.file, O_RDWR);

	for (unsigned k = 0; k < LEASE_INDEX_SLOTS; k++) {
		char vol[UUID_STR_LEN];
		snprintf(vol, sizeof(vol), "%08x-0000-4000-8000-000000000000", k);
		assert_int_equal(lease_index_write(T.file, BASE, k, vol, IMG), 0);
	}
	assert_int_equal(lease_index_read(T.file, BASE, &ix), 0);
	assert_int_equal(lease_index_pick(&ix), -ENOSPC);

	/* slot 9's record half overwritten (a torn write of another record) */
	uint8_t half[LEASE_INDEX_SECTOR / 2];
	memset(half, 0x5a, sizeof(half));
	uint64_t at = BASE + LEASE_INDEX_OFFSET + (1 + 9) * LEASE_INDEX_SECTOR;
	assert_int_equal(pwrite(fd, half, sizeof(half), (off_t)at), (ssize_t)sizeof(half));
	assert_int_equal(lease_index_read(T.file, BASE, &ix), 0);
	assert_int_equal(ix.slot[9].state, LEASE_SLOT_BAD);
	assert_int_equal(lease_index_find(&ix, "00000009-0000-4000-8000-000000000000"), -SP_E_NOT_FOUND);
	/* bad slots are reused only when none is free */
	assert_int_equal(lease_index_pick(&ix), 9);
	assert_int_equal(lease_index_write(T.file, BASE, 20, NULL, NULL), 0);
	assert_int_equal(lease_index_read(T.file, BASE, &ix), 0);
	assert_int_equal(lease_index_pick(&ix), 20);
	assert_before_base_untouched();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_record_checks),
		cmocka_unit_test_setup_teardown(test_allocate_find_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_record_and_full_index, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
