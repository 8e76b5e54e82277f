/* lib/nfs: what an NFS connection may ask for (the mount itself needs an NFS
 * server: not on this machine). */
#include "testutil.h"

#include "lib/nfs.h"
#include "lib/util/cleanup.h"

static void test_exports(void **state)
{
	(void)state;
	assert_true(nfs_export_is_valid("nfs.example.org:/exports/sanpool"));
	assert_true(nfs_export_is_valid("10.0.0.5:/"));
	assert_true(nfs_export_is_valid("[fd00::5]:/export"));
	assert_false(nfs_export_is_valid("nfs.example.org"));
	assert_false(nfs_export_is_valid("-o:/x"));
	assert_false(nfs_export_is_valid("srv:/a/../b"));
	assert_false(nfs_export_is_valid("srv:/a,b"));
	assert_false(nfs_export_is_valid("srv:/a b"));
	assert_false(nfs_export_is_valid("[fd00::5:/x"));
	assert_false(nfs_export_is_valid(NULL));
}

static void test_options(void **state)
{
	(void)state;
	char bad[32];
	assert_true(nfs_options_are_valid(NULL, bad, sizeof(bad)));
	assert_true(nfs_options_are_valid("", bad, sizeof(bad)));
	assert_true(nfs_options_are_valid("vers=4.2,soft,timeo=600,retrans=6,nosharecache", bad, sizeof(bad)));
	assert_true(nfs_options_are_valid("nfsvers=3,proto=tcp,port=2049,sec=krb5p,rsize=1048576", bad, sizeof(bad)));
	assert_false(nfs_options_are_valid("soft,ro", bad, sizeof(bad)));
	assert_string_equal(bad, "ro");
	assert_false(nfs_options_are_valid("vers=4.2,exec", bad, sizeof(bad)));
	assert_string_equal(bad, "exec");
	assert_false(nfs_options_are_valid("rsize=1", bad, sizeof(bad)));
	assert_false(nfs_options_are_valid("soft,", bad, sizeof(bad)));
	_cleanup_free_ char *a = nfs_effective_options("soft");
	_cleanup_free_ char *b = nfs_effective_options(NULL);
	assert_string_equal(a, "soft,nosuid,nodev");
	assert_string_equal(b, "nosuid,nodev");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exports),
		cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
