/* lib/host_report.c: the per-host device report, its on-disk checks (each
 * failure its own code) and its slot in a hosts area (a plain file here;
 * the block form is the same bytes at the journal LV's offset). */
#include "testutil.h"

#include <fcntl.h>
#include <unistd.h>

#include "lib/host_report.h"
#include "lib/slot_journal.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"

#define POOL "0b3c4c9e-52a3-4d33-8f0a-6f2f3a3c9d11"
#define W1 "360000000000000000e00000000010001"
#define W2 "360000000000000000e00000000020001"

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Rewrites the checksum after a test changed a field, so the field's own check is what fails. */
static void reseal(uint8_t *slot)
{
	uint32_t length = slot[76] | slot[77] << 8 | slot[78] << 16 | (uint32_t)slot[79] << 24;
	uint8_t header[HOST_REPORT_HEADER_SIZE];
	if (length > HOST_REPORT_LIST_MAX)
		length = 0;
	memcpy(header, slot, sizeof(header));
	put32(header + 8, 0);
	put32(slot + 8, slot_crc32c(slot_crc32c(0, header, sizeof(header)), slot + HOST_REPORT_HEADER_SIZE, length));
}

static void encode(uint8_t *slot, unsigned host, char **wwids, size_t n)
{
	struct host_report r = { .host_id = host, .seq = 7, .time = 1764500000, .wwids = wwids, .n = n };
	memcpy(r.pool, POOL, sizeof(r.pool));
	assert_int_equal(host_report_out(&r, slot), 0);
}

static void test_round_trip(void **state)
{
	(void)state;
	_cleanup_free_ uint8_t *slot = xcalloc(1, HOST_REPORT_SLOT_SIZE);
	char *w[] = { W1, W2 };
	struct host_report r;

	encode(slot, 3, w, 2);
	assert_int_equal(host_report_in(slot, &r), 0);
	assert_int_equal(r.host_id, 3);
	assert_int_equal(r.seq, 7);
	assert_int_equal(r.time, 1764500000);
	assert_string_equal(r.pool, POOL);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.wwids[0], W1);
	assert_string_equal(r.wwids[1], W2);
	host_report_clear(&r);

	encode(slot, 2000, NULL, 0); /* a host that sees nothing still reports */
	assert_int_equal(host_report_in(slot, &r), 0);
	assert_int_equal(r.n, 0);
	host_report_clear(&r);

	memset(slot, 0, HOST_REPORT_SLOT_SIZE);
	assert_int_equal(host_report_in(slot, &r), 1); /* free */
}

static void test_checks(void **state)
{
	(void)state;
	_cleanup_free_ uint8_t *slot = xcalloc(1, HOST_REPORT_SLOT_SIZE);
	char *w[] = { W1, W2 };
	struct host_report r;

	encode(slot, 3, w, 2);
	slot[0] ^= 1;
	assert_int_equal(host_report_in(slot, &r), -HOST_REPORT_E_MAGIC);

	encode(slot, 3, w, 2);
	put32(slot + 4, 2);
	reseal(slot);
	assert_int_equal(host_report_in(slot, &r), -HOST_REPORT_E_VERSION);

	encode(slot, 3, w, 2);
	slot[HOST_REPORT_HEADER_SIZE + 5] ^= 0x10; /* a torn or corrupted list */
	assert_int_equal(host_report_in(slot, &r), -HOST_REPORT_E_CHECKSUM);

	encode(slot, 3, w, 2);
	put32(slot + 76, HOST_REPORT_LIST_MAX + 1);
	assert_int_equal(host_report_in(slot, &r), -HOST_REPORT_E_LENGTH);

	encode(slot, 3, w, 2);
	put32(slot + 12, 2001);
	reseal(slot);
	assert_int_equal(host_report_in(slot, &r), -HOST_REPORT_E_HOST);

	encode(slot, 3, w, 2);
	slot[32] = 'x';
	reseal(slot);
	assert_int_equal(host_report_in(slot, &r), -HOST_REPORT_E_POOL);

	encode(slot, 3, w, 2);
	put32(slot + 72, 3); /* count says three, the list holds two */
	reseal(slot);
	assert_int_equal(host_report_in(slot, &r), -HOST_REPORT_E_LIST);

	encode(slot, 3, w, 2);
	memcpy(slot + HOST_REPORT_HEADER_SIZE + strlen(W1) + 1, W1, strlen(W1)); /* same length: W1 twice */
	reseal(slot);
	assert_int_equal(host_report_in(slot, &r), -HOST_REPORT_E_LIST);

	encode(slot, 3, w, 2);
	slot[HOST_REPORT_HEADER_SIZE + 3] = ' '; /* not a WWID */
	reseal(slot);
	assert_int_equal(host_report_in(slot, &r), -HOST_REPORT_E_LIST);

	/* each code its own description */
	assert_string_equal(host_report_strerror(-HOST_REPORT_E_CHECKSUM), "checksum mismatch");
	assert_string_not_equal(host_report_strerror(HOST_REPORT_E_MAGIC), host_report_strerror(HOST_REPORT_E_VERSION));
}

static void test_encode_refuses(void **state)
{
	(void)state;
	_cleanup_free_ uint8_t *slot = xcalloc(1, HOST_REPORT_SLOT_SIZE);
	char long_wwid[HOST_REPORT_WWID_MAX + 1];
	memset(long_wwid, 'a', HOST_REPORT_WWID_MAX);
	long_wwid[HOST_REPORT_WWID_MAX] = '\0';
	size_t n = HOST_REPORT_LIST_MAX / (HOST_REPORT_WWID_MAX + 1) + 1;
	char **many = xcalloc(n, sizeof(*many));
	for (size_t i = 0; i < n; i++)
		many[i] = long_wwid; /* duplicates do not matter for the size check */
	struct host_report r = { .host_id = 1, .wwids = many, .n = n };
	memcpy(r.pool, POOL, sizeof(r.pool));
	assert_int_equal(host_report_out(&r, slot), -E2BIG);
	free(many);

	char *bad[] = { "has space" };
	r = (struct host_report){ .host_id = 1, .wwids = bad, .n = 1 };
	memcpy(r.pool, POOL, sizeof(r.pool));
	assert_int_equal(host_report_out(&r, slot), -EINVAL);
	r.n = 0;
	r.host_id = 0;
	assert_int_equal(host_report_out(&r, slot), -EINVAL);
}

/* Slots of different hosts in one area: each host's own, erase frees it. */
static void test_area(void **state)
{
	(void)state;
	char *dir = test_mkdtemp();
	_cleanup_free_ char *path = xasprintf("%s/hosts", dir);
	char *w1[] = { W1 }, *w2[] = { W1, W2 };
	struct host_report a = { .host_id = 1, .seq = 1, .wwids = w1, .n = 1 }, b = { .host_id = 250, .seq = 1, .wwids = w2, .n = 2 };
	struct host_report r;
	memcpy(a.pool, POOL, sizeof(a.pool));
	memcpy(b.pool, POOL, sizeof(b.pool));

	assert_int_equal(host_report_read(path, 4096, 1, &r), -ENOENT); /* no area yet: nothing reported */
	assert_int_equal(host_report_write(path, 4096, &a), 0);
	assert_int_equal(host_report_write(path, 4096, &b), 0);
	assert_int_equal(host_report_read(path, 4096, 2, &r), -ENOENT); /* never written */
	assert_int_equal(host_report_read(path, 4096, 250, &r), 0);
	assert_int_equal(r.n, 2);
	host_report_clear(&r);
	assert_int_equal(host_report_read(path, 4096, 1, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.wwids[0], W1);
	host_report_clear(&r);

	/* a slot that fails a check reads as corrupt, naming the check */
	_cleanup_close_ int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 4096 + 249 * HOST_REPORT_SLOT_SIZE), 1);
	assert_int_equal(host_report_read(path, 4096, 250, &r), -SP_E_CORRUPT);
	assert_non_null(strstr(sp_error_last()->message, "bad magic"));

	assert_int_equal(host_report_erase(path, 4096, 1), 0);
	assert_int_equal(host_report_read(path, 4096, 1, &r), -ENOENT);
	assert_int_equal(host_report_read(path, 4096, 2001, &r), -SP_E_BAD_REQUEST);
	test_rmdtemp(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_area),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
