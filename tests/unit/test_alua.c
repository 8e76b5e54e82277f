/* lib/alua: the target port group and ALUA state of a path, from sysfs as the
 * kernel shows it. tests/fixtures/alua/sysfs is a copy of a cluster host
 * guest's sysfs files (vpd_pg83, access_state, preferred_path) for the four
 * paths of one LUN of Linux's LIO target with two ALUA target port groups
 * (tests/cluster/lio-array.sh): sda, sdd to group 1 (controller A),
 * sdb, sdc to group 2 (B). */
#include "testutil.h"

#include "lib/alua.h"
#include "lib/util/cleanup.h"

#define SYSFS FIXTURES_DIR "/alua/sysfs"

static void test_recorded_paths(void **state)
{
	(void)state;
	struct alua_port p;

	assert_int_equal(alua_port_read(SYSFS, "sda", &p), 0);
	assert_int_equal(p.group, 1);
	assert_string_equal(p.access_state, "active/optimized");
	assert_false(p.preferred);
	int rel_a = p.relative_port;
	assert_true(rel_a > 0);

	assert_int_equal(alua_port_read(SYSFS, "sdb", &p), 0);
	assert_int_equal(p.group, 2);
	assert_string_equal(p.access_state, "active/non-optimized");
	assert_true(p.relative_port > 0);
	assert_int_not_equal(p.relative_port, rel_a);

	/* the second portal of each controller: the same target port */
	assert_int_equal(alua_port_read(SYSFS, "sdd", &p), 0);
	assert_int_equal(p.group, 1);
	assert_int_equal(p.relative_port, rel_a);
	assert_string_equal(p.access_state, "active/optimized");
	assert_int_equal(alua_port_read(SYSFS, "sdc", &p), 0);
	assert_int_equal(p.group, 2);
}

static void test_no_device(void **state)
{
	(void)state;
	struct alua_port p = { .group = 77 };
	assert_int_equal(alua_port_read(SYSFS, "sdz", &p), -ENOENT);
	assert_int_equal(alua_port_read(SYSFS, "../sda", &p), -EINVAL);
	assert_int_equal(p.group, 77);
}

/* Page 0x83 of a LUN without ALUA: an NAA designator of the LU only (the
 * layout tgt answers; made by hand, as the cluster's tgt LUN shows it). */
static void test_vpd_without_target_port_group(void **state)
{
	(void)state;
	const unsigned char page[] = {
		0x00, 0x83, 0x00, 0x14,
		0x01, 0x03, 0x00, 0x10, /* binary, LU association, NAA, 16 bytes */
		0x60, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01,
	};
	int group = -7, rel = -7;
	assert_int_equal(alua_parse_vpd83(page, sizeof(page), &group, &rel), -ENOENT);
	assert_int_equal(group, -7);
}

static void test_vpd_malformed(void **state)
{
	(void)state;
	_cleanup_free_ char *path = xasprintf("%s/block/sda/device/vpd_pg83", SYSFS);
	_cleanup_free_ char *page = NULL;
	size_t len = 0;
	int group, rel;

	assert_int_equal(read_file(path, 1 << 16, &page, &len), 0);
	const unsigned char *b = (const unsigned char *)page;
	assert_int_equal(alua_parse_vpd83(b, len, &group, &rel), 0);
	assert_int_equal(group, 1);
	/* cut anywhere inside the page: refused, never read past the end */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(alua_parse_vpd83(b, cut, &group, &rel), -EINVAL);
	/* another page */
	unsigned char other[64];
	memcpy(other, b, len < sizeof(other) ? len : sizeof(other));
	other[1] = 0x80;
	assert_int_equal(alua_parse_vpd83(other, len < sizeof(other) ? len : sizeof(other), &group, &rel), -EINVAL);
	/* a descriptor whose length runs past the page */
	const unsigned char bad[] = { 0x00, 0x83, 0x00, 0x08, 0x01, 0x15, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01 };
	assert_int_equal(alua_parse_vpd83(bad, sizeof(bad), &group, &rel), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded_paths),
		cmocka_unit_test(test_no_device),
		cmocka_unit_test(test_vpd_without_target_port_group),
		cmocka_unit_test(test_vpd_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
