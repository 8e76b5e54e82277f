/* lib/thin_drive: which sanpool volume a VM drive's source path names. */
#include "testutil.h"

#include <unistd.h>

#include "lib/thin_drive.h"
#include "lib/util/cleanup.h"

#define D "11111111-1111-4111-8111-111111111111"
#define I "22222222-2222-4222-8222-222222222222"
#define V "33333333-3333-4333-8333-333333333333"
/* LVM's device-mapper name of VG D, LV V: each '-' inside a name doubled */
#define DM "11111111--1111--4111--8111--111111111111-33333333--3333--4333--8333--333333333333"

static void expect(const char *run_dir, const char *sys, const char *path, const char *image)
{
	struct thin_drive_ref r;
	assert_int_equal(thin_drive_resolve(run_dir, sys, path, &r), 0);
	assert_string_equal(r.domain, D);
	assert_string_equal(r.image, image);
	assert_string_equal(r.volume, V);
}

static void refuse(const char *run_dir, const char *path)
{
	struct thin_drive_ref r;
	assert_int_equal(thin_drive_resolve(run_dir, "/nonexistent-sys", path, &r), -ENOENT);
}

static void test_forms(void **state)
{
	(void)state;
	/* the link prepare makes: names the image too */
	expect("/run/sanpool", "/nonexistent-sys", "/run/sanpool/storage/" D "/" I "/" V, I);
	/* the LV itself, both names */
	expect("/run/sanpool", "/nonexistent-sys", "/dev/" D "/" V, "");
	expect("/run/sanpool", "/nonexistent-sys", "/dev/mapper/" DM, "");
}

static void test_not_ours(void **state)
{
	(void)state;
	refuse("/run/sanpool", "/var/lib/libvirt/images/disk.qcow2");
	refuse("/run/sanpool", "/dev/sda");
	refuse("/run/sanpool", "/dev/vg0/root");
	refuse("/run/sanpool", "/dev/mapper/vg0-root");
	/* another run_dir's links */
	refuse("/run/other", "/run/sanpool/storage/" D "/" I "/" V);
	/* wrong depth, trailing parts, traversal, not uuids */
	refuse("/run/sanpool", "/run/sanpool/storage/" D "/" V);
	refuse("/run/sanpool", "/run/sanpool/storage/" D "/" I "/" V "/");
	refuse("/run/sanpool", "/run/sanpool/storage/" D "/" I "/" V "/x");
	refuse("/run/sanpool", "/run/sanpool/storage/" D "/../" I "/" V);
	refuse("/run/sanpool", "/run/sanpool/storage/" D "/" I "/33333333-3333-4333-8333-33333333333Z");
	refuse("/run/sanpool", "/dev/" D "/" V "x");
	refuse("/run/sanpool", "/dev/mapper/" DM "-x");
	refuse("/run/sanpool", "/dev/mapper/11111111-1111-4111-8111-111111111111");
	refuse("/run/sanpool", "");
}

static void test_through_symlinks_and_dm_minor(void **state)
{
	(void)state;
	char *dir = test_mkdtemp();
	_cleanup_free_ char *run = xasprintf("%s/run", dir);
	_cleanup_free_ char *links = xasprintf("%s/run/storage/%s/%s", dir, D, I);
	_cleanup_free_ char *target = xasprintf("%s/%s", links, V);
	_cleanup_free_ char *vm_link = xasprintf("%s/vm-disk", dir);
	_cleanup_free_ char *sys_dm = xasprintf("%s/sys/block/dm-7/dm", dir);
	_cleanup_free_ char *sys_name = xasprintf("%s/name", sys_dm);
	_cleanup_free_ char *sys = xasprintf("%s/sys", dir);

	/* a path of the VM's own that leads to the link prepare made */
	assert_int_equal(mkdir_p(links, 0755), 0);
	test_write(target, "");
	assert_int_equal(symlink(target, vm_link), 0);
	expect(run, "/nonexistent-sys", vm_link, I);

	/* /dev/dm-N: its name from sysfs */
	assert_int_equal(mkdir_p(sys_dm, 0755), 0);
	test_write(sys_name, DM "\n");
	expect(run, sys, "/dev/dm-7", "");
	struct thin_drive_ref r;
	assert_int_equal(thin_drive_resolve(run, sys, "/dev/dm-8", &r), -ENOENT);
	test_rmdtemp(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_through_symlinks_and_dm_minor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
