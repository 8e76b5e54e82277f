/* lib/devices: in-use detection on real loop devices (real mkfs, sfdisk,
 * LVM), the host's root device, and mountinfo parsing. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lib/devices.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"

static struct {
	char *dir, *file, *dev;
	bool ready;
} T;

static int group_setup(void **state)
{
	(void)state;
	T.dir = test_mkdtemp();
	T.file = xasprintf("%s/disk.img", T.dir);
	const char *trunc[] = { "truncate", "-s", "64M", T.file, NULL };
	const char *los[] = { "losetup", "-f", "--show", T.file, NULL };
	if (geteuid() != 0 || test_run(trunc, NULL) < 0 || test_run(los, &T.dev) < 0) {
		fprintf(stderr, "test_devices: cannot create a loop device (root and losetup needed): skipping\n");
		return 0;
	}
	T.ready = true;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (T.dev) {
		const char *argv[] = { "losetup", "-d", T.dev, NULL };
		if (test_run(argv, NULL) < 0)
			fprintf(stderr, "test_devices: losetup -d %s failed\n", T.dev);
	}
	free(T.dev);
	free(T.file);
	test_rmdtemp(T.dir);
	return 0;
}

#define NEED_LOOP()             \
	do {                    \
		if (!T.ready)   \
			skip(); \
	} while (0)

static void wipe(void)
{
	const char *argv[] = { "wipefs", "-a", "-q", T.dev, NULL };
	assert_int_equal(test_run(argv, NULL), 0);
}

static struct device_usage probe(void)
{
	struct device_usage u;
	assert_int_equal(device_usage_probe(T.dev, &u), 0);
	return u;
}

/* LVM's command-line tool limited to the loop device, metadata only. */
static int lvm(const char *cmd, const char *a1, const char *a2, const char *a3, const char *a4, const char *a5)
{
	_cleanup_free_ char *cfg = xasprintf("devices { filter = [ \"a|^%s$|\", \"r|.*|\" ] use_devicesfile = 0 "
					     "obtain_device_list_from_udev = 0 } activation { udev_sync = 0 udev_rules = 0 }",
					     T.dev);
	const char *argv[] = { "lvm", cmd, "--config", cfg, a1, a2, a3, a4, a5, NULL };
	return test_run(argv, NULL);
}

static void test_free_then_filesystem(void **state)
{
	(void)state;
	NEED_LOOP();
	wipe();
	struct device_usage u = probe();
	assert_int_equal(u.use, DEVICE_FREE);
	assert_int_equal(devices_check_unused((const char *[]){ T.dev, NULL }, false, "devices"), 0);

	const char *mkfs[] = { "mkfs.ext4", "-q", "-F", T.dev, NULL };
	assert_int_equal(test_run(mkfs, NULL), 0);
	u = probe();
	assert_int_equal(u.use, DEVICE_FILESYSTEM);
	assert_string_equal(u.detail, "ext4 signature");
	/* refused, naming the field and what uses it; forced: taken */
	assert_int_equal(devices_check_unused((const char *[]){ T.dev, NULL }, false, "devices"), -SP_E_CONFLICT);
	assert_string_equal(sp_error_last()->field, "devices");
	assert_string_equal(sp_error_last()->kind, "device_in_use");
	assert_non_null(strstr(sp_error_last()->message, "ext4"));
	assert_int_equal(devices_check_unused((const char *[]){ T.dev, NULL }, true, "devices"), 0);
}

static void test_partition_table(void **state)
{
	(void)state;
	NEED_LOOP();
	wipe();
	/* an MBR with one Linux partition (no sfdisk on every machine): the bytes fdisk writes */
	unsigned char mbr[512] = { 0 };
	const unsigned char entry[16] = { 0x00, 0x20, 0x21, 0x00, 0x83, 0x8a, 0x08, 0x00,
					  0x00, 0x08, 0x00, 0x00, 0x00, 0xf8, 0x01, 0x00 };
	memcpy(mbr + 446, entry, sizeof(entry));
	mbr[440] = 0x12, mbr[441] = 0x34; /* disk identifier */
	mbr[510] = 0x55, mbr[511] = 0xaa;
	_cleanup_close_ int fd = open(T.dev, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, mbr, sizeof(mbr), 0), (ssize_t)sizeof(mbr));
	assert_int_equal(fsync(fd), 0);
	struct device_usage u = probe();
	assert_int_equal(u.use, DEVICE_PARTITIONED);
	assert_string_equal(u.detail, "dos partition table");
}

static void test_lvm(void **state)
{
	(void)state;
	NEED_LOOP();
	wipe();
	assert_int_equal(lvm("pvcreate", "-q", T.dev, NULL, NULL, NULL), 0);
	struct device_usage u = probe();
	assert_int_equal(u.use, DEVICE_LVM_PV);
	assert_string_equal(u.detail, "LVM PV in no VG");

	_cleanup_free_ char *other = xasprintf("othervg%d", (int)getpid());
	assert_int_equal(lvm("vgcreate", "-q", other, T.dev, NULL, NULL), 0);
	u = probe();
	assert_int_equal(u.use, DEVICE_OTHER_VG);
	_cleanup_free_ char *want = xasprintf("PV of VG %s", other);
	assert_string_equal(u.detail, want);
	assert_int_equal(lvm("vgremove", "-q", "-f", other, NULL, NULL), 0);

	_cleanup_free_ char *ours = xasprintf("ourvg%d", (int)getpid());
	assert_int_equal(lvm("vgcreate", "-q", "--addtag", "sp.kind=block", ours, T.dev), 0);
	u = probe();
	assert_int_equal(u.use, DEVICE_OUR_VG);
	_cleanup_free_ char *want2 = xasprintf("PV of VG %s", ours);
	assert_string_equal(u.detail, want2);
	assert_int_equal(devices_check_unused((const char *[]){ T.dev, NULL }, false, "devices"), -SP_E_CONFLICT);
	assert_non_null(strstr(sp_error_last()->message, "sanpool_vg"));
	assert_int_equal(lvm("vgremove", "-q", "-f", ours, NULL, NULL), 0);
	assert_int_equal(lvm("pvremove", "-q", T.dev, NULL, NULL, NULL), 0);
	assert_int_equal(probe().use, DEVICE_FREE);
}

/* The device under this machine's / is the host's: refused even when forced. */
static void test_root_device(void **state)
{
	(void)state;
	_cleanup_free_ char *mountinfo = NULL;
	size_t len;
	dev_t devs[4];
	const char *cat[] = { "cat", "/proc/self/mountinfo", NULL };
	struct run_result res = { 0 };
	assert_int_equal(run_argv(cat, NULL, &res), 0);
	mountinfo = TAKE_PTR(res.out);
	run_result_free(&res);
	size_t n = mountinfo_host_devs(mountinfo, devs, 4);
	if (n == 0 || geteuid() != 0)
		skip(); /* / on a filesystem without a block device (overlay, 9p) */
	/* its node: DEVNAME in sysfs's uevent */
	_cleanup_free_ char *uevent = xasprintf("/sys/dev/block/%u:%u/uevent", major(devs[0]), minor(devs[0]));
	_cleanup_free_ char *data = NULL;
	if (read_file(uevent, 4096, &data, &len) < 0 || !strstr(data, "DEVNAME="))
		skip();
	char *name = strstr(data, "DEVNAME=") + 8;
	name[strcspn(name, "\n")] = '\0';
	_cleanup_free_ char *path = xasprintf("/dev/%s", name);
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode)) {
		/* a container without the node: make one (the same device) */
		free(path);
		path = xasprintf("%s/rootdev", T.dir);
		if (mknod(path, S_IFBLK | 0600, devs[0]) < 0)
			skip();
	}
	struct device_usage u;
	assert_int_equal(device_usage_probe(path, &u), 0);
	assert_int_equal(u.use, DEVICE_HOST);
	assert_int_equal(devices_check_unused((const char *[]){ path, NULL }, true, "devices"), -SP_E_CONFLICT);
}

static void test_mountinfo(void **state)
{
	(void)state;
	const char *text =
		"21 26 0:20 / /proc rw,relatime - proc proc rw\n"
		"26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
		"27 26 0:24 / /mnt/x ro - tmpfs t ro\n"
		"40 26 8:1 / /boot rw - ext4 /dev/sda1 rw\n"
		"41 40 8:2 / /boot/efi rw - vfat /dev/sda2 rw\n"
		"42 26 253:3 / /srv/data rw - xfs /dev/mapper/x rw\n"
		"garbage\n";
	dev_t d[4];
	assert_int_equal(mountinfo_host_devs(text, d, 4), 3);
	assert_true(d[0] == makedev(254, 0));
	assert_true(d[1] == makedev(8, 1));
	assert_true(d[2] == makedev(8, 2));
	assert_int_equal(mountinfo_host_devs(text, d, 1), 1);
	assert_true(mountinfo_has_dev(text, makedev(253, 3)));
	assert_false(mountinfo_has_dev(text, makedev(253, 4)));
	/* an overlay or 9p root has major 0: no host device */
	assert_int_equal(mountinfo_host_devs("1 0 0:30 / / rw - overlay o rw\n", d, 4), 0);
}

static void test_not_a_block_device(void **state)
{
	(void)state;
	struct device_usage u;
	assert_int_equal(device_usage_probe("/dev/null", &u), -SP_E_BAD_REQUEST);
	assert_string_equal(sp_error_last()->field, "devices");
}

/* GET /v1/devices on the recorded degraded map (one path failed) as written,
 * then with its ready path faulty too: with no usable path it answers at once
 * with the map failed and its use unknown, without reading the map (a read
 * would queue for no_path_retry x polling_interval, or for ever under
 * queue_if_no_path). The map's /dev/mapper node does not exist here, so a
 * probe shows as "not a block device". */
static json_object *list_one(const char *maps, const char *text, json_object **ret_list)
{
	test_write(maps, text);
	assert_int_equal(setenv("SANPOOL_TEST_MULTIPATH_MAPS", maps, 1), 0);
	*ret_list = devices_list_json(1);
	unsetenv("SANPOOL_TEST_MULTIPATH_MAPS");
	assert_non_null(*ret_list);
	json_object *d = json_object_array_get_idx(json_object_object_get(*ret_list, "devices"), 0);
	assert_non_null(d);
	return d;
}

static const char *field(json_object *o, const char *a, const char *b)
{
	json_object *v = json_object_object_get(o, a);
	return json_object_get_string(b ? json_object_object_get(v, b) : v);
}

static void test_list_map_without_usable_path(void **state)
{
	(void)state;
	_cleanup_free_ char *text = NULL, *dir = test_mkdtemp();
	_cleanup_free_ char *maps = xasprintf("%s/maps.json", dir);
	json_object *list;
	assert_int_equal(read_file(FIXTURES_DIR "/multipath/show-maps-json-degraded.json", 1 << 20, &text, NULL), 0);

	json_object *d = list_one(maps, text, &list);
	assert_string_equal(field(d, "status", NULL), "degraded");
	assert_non_null(strstr(field(d, "usage", "detail"), "not a block device")); /* probed */
	json_object_put(list);

	const char *ready = strstr(text, "\"chk_st\" : \"ready\"");
	assert_non_null(ready);
	_cleanup_free_ char *failed = xasprintf("%.*s\"chk_st\" : \"faulty\"%s", (int)(ready - text), text,
						ready + strlen("\"chk_st\" : \"ready\""));
	d = list_one(maps, failed, &list);
	assert_string_equal(field(d, "status", NULL), "failed");
	assert_string_equal(field(d, "usage", "reason"), "unknown");
	assert_null(json_object_object_get(json_object_object_get(d, "usage"), "in_use"));
	assert_non_null(strstr(field(d, "usage", "detail"), "has no usable path")); /* not probed */
	json_object_put(list);
	test_rmdtemp(TAKE_PTR(dir));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_then_filesystem),
		cmocka_unit_test(test_partition_table),
		cmocka_unit_test(test_lvm),
		cmocka_unit_test(test_root_device),
		cmocka_unit_test(test_mountinfo),
		cmocka_unit_test(test_not_a_block_device),
		cmocka_unit_test(test_list_map_without_usable_path),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
