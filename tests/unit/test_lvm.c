/* lib/lvm.c on real loop devices (root needed; skipped otherwise): PVs, a VG
 * with a metadata area for 5,000 LVs, LVs with tags, reports, the cache, and
 * proof that a second VG (same name, another device) is never scanned. */
#include "testutil.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "lib/lvm.h"
#include "lib/lvm_priv.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/run.h"

#define DEV_SIZE "2G"
#define MDA_SIZE (128ull << 20) /* vdsm's size; test_vg_create checks it holds 5,000 LVs */
#define EXTENT (4ull << 20)
/* queued calls give up behind a command running this long (test_stuck_command) */
#define TIMEOUT_MS 1000

static struct {
	bool ready;
	char *dir;       /* scratch: backing files, lvm run dir */
	char *files[3];  /* backing files of loop devices A, B, C */
	char *devs[3];   /* /dev/loopN */
	char vg[64];     /* the domain's VG, on A (then also C) */
	bool vg_made, other_made;
	char cmdlines[16][2048];
	size_t ncmdlines;
	char *stall; /* SANPOOL_TEST_STALL: the stall fake's file */
} T;

static const char *const TAGS7[] = { "IU_6f1e8a38-5a8e-4c39-9c8f-0d4b2f0a1b2c",
				     "PU_00000000-0000-0000-0000-000000000000",
				     "FMT_qcow2", "ALLOC_sparse", "CAP_10737418240",
				     "LEGALITY_ILLEGAL", "GEN_0", NULL };

static int make_loop(int i)
{
	T.files[i] = xasprintf("%s/dev%d.img", T.dir, i);
	const char *trunc[] = { "truncate", "-s", DEV_SIZE, T.files[i], NULL };
	const char *los[] = { "losetup", "-f", "--show", T.files[i], NULL };
	if (test_run(trunc, NULL) < 0 || test_run(los, &T.devs[i]) < 0 || strncmp(T.devs[i], "/dev/", 5))
		return -1;
	return 0;
}

/* Runs the lvm command-line tool with the module's private lvm.conf
 * (LVM_SYSTEM_DIR is set by lvm_start) and a filter of the given device. */
static int lvm_cli(const char *cmd, const char *dev, const char *a1, const char *a2, char **ret_out)
{
	_cleanup_free_ char *filter =
		xasprintf("devices { filter = [ \"a|^%s$|\", \"r|.*|\" ] }", dev);
	const char *argv[] = { "lvm", cmd, "--config", filter, a1, a2, NULL };
	return test_run(argv, ret_out);
}

static void observe(const char *cmdline, void *userdata)
{
	(void)userdata;
	if (T.ncmdlines < ARRAY_SIZE(T.cmdlines))
		snprintf(T.cmdlines[T.ncmdlines++], sizeof(T.cmdlines[0]), "%s", cmdline);
}

static int group_setup(void **state)
{
	(void)state;
	T.dir = test_mkdtemp();
	snprintf(T.vg, sizeof(T.vg), "sptest%d", (int)getpid());
	if (geteuid() != 0 || make_loop(0) < 0 || make_loop(1) < 0 || make_loop(2) < 0) {
		fprintf(stderr, "test_lvm: cannot create loop devices (root and losetup needed): "
				"skipping\n");
		return 0;
	}
	_cleanup_free_ char *run_dir = xasprintf("%s/lvm", T.dir);
	/* set before the worker starts: it reads the environment at each command */
	T.stall = xasprintf("%s/stall", T.dir);
	setenv("SANPOOL_TEST_STALL", T.stall, 1);
	struct lvm_options o = { .run_dir = run_dir, .activation = false, .timeout_ms = TIMEOUT_MS };
	if (lvm_start(&o) < 0) {
		fprintf(stderr, "test_lvm: lvm_start: %s: skipping\n", sp_error_last()->message);
		return 0;
	}
	T.ready = true;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (T.stall)
		unlink(T.stall); /* a failed test_stuck_command leaves the worker stalled */
	if (T.ready) {
		lvm_set_read_only(false);
		if (T.vg_made && lvm_vgremove(T.vg) < 0)
			fprintf(stderr, "test_lvm: vgremove: %s\n", sp_error_last()->message);
		if (T.other_made && lvm_cli("vgremove", T.devs[1], "--force", T.vg, NULL) < 0)
			fprintf(stderr, "test_lvm: vgremove of the other VG failed\n");
		lvm_stop();
	}
	for (int i = 0; i < 3; i++) {
		if (T.devs[i]) {
			const char *argv[] = { "losetup", "-d", T.devs[i], NULL };
			if (test_run(argv, NULL) < 0)
				fprintf(stderr, "test_lvm: losetup -d %s failed\n", T.devs[i]);
		}
		free(T.devs[i]);
		free(T.files[i]);
	}
	test_rmdtemp(T.dir);
	free(T.stall);
	return 0;
}

#define NEED_LVM()                                                      \
	do {                                                            \
		if (!T.ready)                                           \
			skip();                                         \
	} while (0)

static bool has_tag(char **tags, const char *t)
{
	for (size_t i = 0; tags && tags[i]; i++)
		if (!strcmp(tags[i], t))
			return true;
	return false;
}

static const struct lvm_lv *find_lv(const struct lvm_lv *lvs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(lvs[i].name, name))
			return &lvs[i];
	return NULL;
}

static void test_validation(void **state)
{
	(void)state;
	NEED_LVM();
	uint64_t before = lvm_commands_run();
	const char *bad_names[] = { "a b", "a'b", "a\"b", "$(reboot)", "a;b", "a|b", "-x", ".x",
				    "#x", "a\tb", "a\nb", "a/b", "", "a*", "a`b`", "@tag" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_names); i++) {
		sp_error_clear();
		assert_int_equal(lvm_lvcreate(T.vg, bad_names[i], 1 << 20, NULL), -EINVAL);
		assert_string_equal(sp_error_last()->field, "lv");
		assert_int_equal(lvm_lvremove(bad_names[i], "lv1"), -EINVAL);
		assert_string_equal(sp_error_last()->field, "vg");
	}
	assert_int_equal(lvm_lvcreate(T.vg, NULL, 1 << 20, NULL), -EINVAL);
	const char *bad_tags[] = { "a b", "a'b", "x\"", "$x", "a,b", "-t", "@t", "a/b", "" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_tags); i++) {
		const char *tags[] = { "ok", bad_tags[i], NULL };
		assert_int_equal(lvm_lvcreate(T.vg, "lv1", 1 << 20, tags), -EINVAL);
		assert_int_equal(lvm_lvchange_tags(T.vg, "lv1", NULL, tags), -EINVAL);
		assert_non_null(strstr(sp_error_last()->message, "invalid LVM tag"));
	}
	const char *bad_devs[] = { "/dev/loop0 /dev/sda", "/etc/passwd", "/dev/../etc/passwd",
				   "/dev/loop0'", "/dev/loop0\"", "/dev/a|b", "/dev/a$", "/dev/",
				   "/dev//loop0" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_devs); i++) {
		const char *devs[] = { bad_devs[i], NULL };
		assert_int_equal(lvm_pvcreate(devs, 0), -EINVAL);
		assert_int_equal(lvm_vgcreate("vgx", devs, 0, NULL), -EINVAL);
	}
	/* too many words for liblvm2cmd */
	const char *many[LVM_MAX_TAGS + 2];
	for (size_t i = 0; i < ARRAY_SIZE(many) - 1; i++)
		many[i] = "t";
	many[ARRAY_SIZE(many) - 1] = NULL;
	assert_int_equal(lvm_lvcreate(T.vg, "lv1", 1 << 20, many), -E2BIG);
	/* sizes LVM would silently round */
	assert_int_equal(lvm_lvcreate(T.vg, "lv1", 1000, NULL), -EINVAL);
	assert_true(lvm_name_is_valid("6f1e8a38-5a8e-4c39-9c8f-0d4b2f0a1b2c"));
	assert_true(lvm_tag_is_valid("PU_6f1e8a38:x=y+z.w"));
	/* nothing reached LVM */
	assert_int_equal(lvm_commands_run(), before);
}

static void test_vg_create(void **state)
{
	(void)state;
	NEED_LVM();
	const char *devs[] = { T.devs[0], NULL };
	const char *vgtags[] = { "MDT_SDUUID=6f1e8a38-5a8e-4c39-9c8f-0d4b2f0a1b2c", "MDT_CLASS=Data",
				 "MDT_VERSION=1", NULL };
	assert_int_equal(lvm_pvcreate(devs, MDA_SIZE), 0);
	assert_int_equal(lvm_vgcreate(T.vg, devs, EXTENT, vgtags), 0);
	T.vg_made = true;

	struct lvm_vg vg;
	assert_int_equal(lvm_vg_info(T.vg, devs, &vg), 0);
	assert_string_equal(vg.name, T.vg);
	assert_int_equal(vg.extent_size, EXTENT);
	assert_int_equal(vg.pv_count, 1);
	assert_int_equal(vg.lv_count, 0);
	assert_true(vg.mda_size >= MDA_SIZE - (1 << 20));
	assert_true(has_tag(vg.tags, "MDT_CLASS=Data"));
	assert_true(has_tag(vg.tags, "MDT_SDUUID=6f1e8a38-5a8e-4c39-9c8f-0d4b2f0a1b2c"));
	uint64_t free0 = vg.mda_free;
	lvm_vg_clear(&vg);

	/* Metadata text per LV with 7 tags, from the metadata area's free space:
	 * the area must hold 5,000 of them twice (LVM writes the new copy
	 * before the old one is released). */
	char name[64];
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "mda%02d", i);
		assert_int_equal(lvm_lvcreate(T.vg, name, EXTENT, TAGS7), 0);
	}
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), 0);
	uint64_t per_lv = (free0 - vg.mda_free) / 10;
	fprintf(stderr, "test_lvm: %" PRIu64 " bytes of metadata per LV with 7 tags; area %" PRIu64
			" bytes holds 5,000 twice: %s\n",
		per_lv, vg.mda_size, 2 * 5000 * per_lv < vg.mda_size ? "yes" : "no");
	assert_true(per_lv > 100 && per_lv < 2000);
	assert_true(2 * 5000 * per_lv < vg.mda_size);
	assert_int_equal(vg.lv_count, 10);
	lvm_vg_clear(&vg);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "mda%02d", i);
		assert_int_equal(lvm_lvremove(T.vg, name), 0);
	}
}

static void test_lvs_tags_report(void **state)
{
	(void)state;
	NEED_LVM();
	assert_int_equal(lvm_lvcreate(T.vg, "6f1e8a38-5a8e-4c39-9c8f-0d4b2f0a1b2c", 3 << 20, TAGS7), 0);
	assert_int_equal(lvm_lvcreate(T.vg, "lv-b", 10 << 20, NULL), 0);

	struct lvm_lv *lvs;
	size_t n;
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	assert_int_equal(n, 2);
	/* sorted by name */
	assert_string_equal(lvs[0].name, "6f1e8a38-5a8e-4c39-9c8f-0d4b2f0a1b2c");
	assert_int_equal(lvs[0].size, EXTENT); /* rounded up to one extent */
	assert_false(lvs[0].active);
	size_t nt = 0;
	while (lvs[0].tags[nt])
		nt++;
	assert_int_equal(nt, 7);
	for (size_t i = 0; TAGS7[i]; i++)
		assert_true(has_tag(lvs[0].tags, TAGS7[i]));
	assert_string_equal(lvs[1].name, "lv-b");
	assert_int_equal(lvs[1].size, 3 * EXTENT);
	assert_null(lvs[1].tags[0]);
	lvm_lvs_free(lvs, n);
}

static void test_report_parse(void **state)
{
	(void)state;
	struct lvm_lv *lvs;
	size_t n;
	const char *text =
		"{\n\"report\": [\n{\n\"lv\": [\n"
		"{\"lv_name\":\"b\", \"lv_size\":\"8388608\", \"lv_tags\":\"x,y=1\", \"lv_active\":\"active\"},\n"
		"{\"lv_name\":\"a\", \"lv_size\":\"4194304\", \"lv_tags\":\"\", \"lv_active\":\"unknown\"}\n"
		"]\n}\n]\n}\n";
	assert_int_equal(lvm_report_parse_lvs(text, &lvs, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(lvs[0].name, "a");
	assert_false(lvs[0].active);
	assert_null(lvs[0].tags[0]);
	assert_true(lvs[1].active);
	assert_int_equal(lvs[1].size, 8388608);
	assert_string_equal(lvs[1].tags[1], "y=1");
	lvm_lvs_free(lvs, n);

	assert_int_equal(lvm_report_parse_lvs("{\"report\": [", &lvs, &n), -SP_E_CORRUPT);
	assert_int_equal(lvm_report_parse_lvs("{\"report\": [{\"lv\": [{\"lv_name\":\"a\", "
					      "\"lv_size\":\"-1\", \"lv_tags\":\"\"}]}]}",
					      &lvs, &n),
			 -SP_E_CORRUPT);
	assert_int_equal(lvm_report_parse_lvs("{\"report\": [{\"vg\": []}]}", &lvs, &n), -SP_E_CORRUPT);
	/* json_std: numbers as numbers */
	assert_int_equal(lvm_report_parse_lvs("{\"report\": [{\"lv\": [{\"lv_name\":\"a\", "
					      "\"lv_size\":4194304, \"lv_tags\":\"t\"}]}]}",
					      &lvs, &n),
			 0);
	assert_int_equal(lvs[0].size, 4194304);
	lvm_lvs_free(lvs, n);
}

static void test_tags_atomic(void **state)
{
	(void)state;
	NEED_LVM();
	struct lvm_vg vg;
	const char *lv = "6f1e8a38-5a8e-4c39-9c8f-0d4b2f0a1b2c";
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), 0);
	uint64_t seqno = vg.seqno;
	lvm_vg_clear(&vg);

	const char *add[] = { "LEGALITY_LEGAL", "GEN_1", NULL };
	const char *del[] = { "LEGALITY_ILLEGAL", "GEN_0", NULL };
	T.ncmdlines = 0;
	lvm_set_cmd_observer(observe, NULL);
	assert_int_equal(lvm_lvchange_tags(T.vg, lv, add, del), 0);
	lvm_set_cmd_observer(NULL, NULL);
	/* one command, one metadata commit */
	assert_int_equal(T.ncmdlines, 1);
	assert_non_null(strstr(T.cmdlines[0], "--deltag LEGALITY_ILLEGAL --deltag GEN_0 "
					      "--addtag LEGALITY_LEGAL --addtag GEN_1"));
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), 0);
	assert_int_equal(vg.seqno, seqno + 1);
	lvm_vg_clear(&vg);

	struct lvm_lv *lvs;
	size_t n;
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	const struct lvm_lv *l = find_lv(lvs, n, lv);
	assert_non_null(l);
	assert_true(has_tag(l->tags, "LEGALITY_LEGAL"));
	assert_true(has_tag(l->tags, "GEN_1"));
	assert_false(has_tag(l->tags, "LEGALITY_ILLEGAL"));
	assert_false(has_tag(l->tags, "GEN_0"));
	assert_true(has_tag(l->tags, "FMT_qcow2"));
	lvm_lvs_free(lvs, n);
}

static void test_extend_remove(void **state)
{
	(void)state;
	NEED_LVM();
	struct lvm_lv *lvs;
	size_t n;
	assert_int_equal(lvm_lvextend(T.vg, "lv-b", 20 << 20), 0);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	assert_int_equal(find_lv(lvs, n, "lv-b")->size, 20 << 20);
	lvm_lvs_free(lvs, n);

	assert_int_equal(lvm_lvremove(T.vg, "lv-b"), 0);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	assert_int_equal(n, 1);
	assert_null(find_lv(lvs, n, "lv-b"));
	lvm_lvs_free(lvs, n);
}

static void test_cache(void **state)
{
	(void)state;
	NEED_LVM();
	struct lvm_lv *lvs;
	struct lvm_vg vg;
	size_t n;
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	lvm_lvs_free(lvs, n);
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), 0);
	lvm_vg_clear(&vg);
	uint64_t c = lvm_commands_run();

	/* valid cache: no command */
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	size_t n0 = n;
	lvm_lvs_free(lvs, n);
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), 0);
	uint64_t free0 = vg.free;
	lvm_vg_clear(&vg);
	assert_int_equal(lvm_commands_run(), c);

	/* a change invalidates both */
	assert_int_equal(lvm_lvcreate(T.vg, "cached", 8 << 20, NULL), 0);
	assert_int_equal(lvm_commands_run(), c + 1);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	assert_int_equal(n, n0 + 1);
	assert_non_null(find_lv(lvs, n, "cached"));
	lvm_lvs_free(lvs, n);
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), 0);
	assert_int_equal(vg.free, free0 - (8 << 20));
	lvm_vg_clear(&vg);
	assert_int_equal(lvm_commands_run(), c + 3);

	/* so does a failed change (it may have done part of its work) */
	assert_true(lvm_lvcreate(T.vg, "cached", 8 << 20, NULL) < 0);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	lvm_lvs_free(lvs, n);
	assert_int_equal(lvm_commands_run(), c + 5);

	/* explicit invalidation (another host changed the VG) */
	lvm_vg_invalidate(T.vg);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	lvm_lvs_free(lvs, n);
	assert_int_equal(lvm_commands_run(), c + 6);
	assert_int_equal(lvm_lvremove(T.vg, "cached"), 0);

	/* an lvextend to whole extents keeps the LV list with the new size (a
	 * thin extend's next one needs no lvs); the VG's space is read again */
	assert_int_equal(lvm_lvcreate(T.vg, "grown", 8 << 20, NULL), 0);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	lvm_lvs_free(lvs, n);
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), 0);
	free0 = vg.free;
	uint64_t extent = vg.extent_size;
	lvm_vg_clear(&vg);
	c = lvm_commands_run();
	assert_int_equal(lvm_lvextend(T.vg, "grown", 16 << 20), 0);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	assert_int_equal(find_lv(lvs, n, "grown")->size, 16 << 20);
	lvm_lvs_free(lvs, n);
	assert_int_equal(lvm_commands_run(), c + 1);
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), 0);
	assert_int_equal(vg.free, free0 - (8 << 20));
	lvm_vg_clear(&vg);
	assert_int_equal(lvm_commands_run(), c + 2);
	/* LVM's own report says the same */
	lvm_vg_invalidate(T.vg);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	assert_int_equal(find_lv(lvs, n, "grown")->size, 16 << 20);
	lvm_lvs_free(lvs, n);
	/* a size LVM rounds up to an extent: the list is read again */
	c = lvm_commands_run();
	assert_int_equal(lvm_lvextend(T.vg, "grown", (16 << 20) + extent / 2), 0);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	assert_int_equal(find_lv(lvs, n, "grown")->size, (16 << 20) + extent);
	lvm_lvs_free(lvs, n);
	assert_int_equal(lvm_commands_run(), c + 2);
	assert_int_equal(lvm_lvremove(T.vg, "grown"), 0);
}

static void test_report_parse_pvsegs(void **state)
{
	(void)state;
	struct lvm_pvseg *segs;
	size_t n;
	const char *text =
		"{\"report\": [{\"pvseg\": [\n"
		"{\"vg_name\":\"vg1\", \"pv_name\":\"/dev/loop1\", \"pe_start\":\"1048576\", "
		"\"vg_extent_size\":\"4194304\", \"pvseg_start\":\"0\", \"pvseg_size\":\"2\", \"lv_name\":\"journal\"},\n"
		"{\"vg_name\":\"vg1\", \"pv_name\":\"/dev/loop1\", \"pe_start\":\"1048576\", "
		"\"vg_extent_size\":\"4194304\", \"pvseg_start\":\"2\", \"pvseg_size\":\"10\", \"lv_name\":\"\"},\n"
		"{\"vg_name\":\"\", \"pv_name\":\"/dev/loop2\", \"pe_start\":\"0\", "
		"\"vg_extent_size\":\"0\", \"pvseg_start\":\"0\", \"pvseg_size\":\"0\", \"lv_name\":\"\"}\n"
		"]}]}\n";
	assert_int_equal(lvm_report_parse_pvsegs(text, "vg1", &segs, &n), 0);
	assert_int_equal(n, 2); /* the orphan PV's row is not vg1's */
	assert_string_equal(segs[0].dev, "/dev/loop1");
	assert_string_equal(segs[0].lv, "journal");
	assert_int_equal(segs[0].pe_start, 1048576);
	assert_int_equal(segs[0].extent_size, 4194304);
	assert_int_equal(segs[0].count, 2);
	assert_int_equal(segs[1].start, 2);
	assert_string_equal(segs[1].lv, "");
	free(segs);
	assert_int_equal(lvm_report_parse_pvsegs("{\"report\": [{\"pvseg\": [{\"vg_name\":\"vg1\", "
						 "\"pv_name\":\"/dev/loop1\"}]}]}",
						 "vg1", &segs, &n),
			 -SP_E_CORRUPT);
}

/* Reads the first line of `lvm <args...>` run with a filter of dev alone. */
static char *lvm_cli_line(const char *dev, const char *const args[])
{
	_cleanup_free_ char *filter =
		xasprintf("devices { filter = [ \"a|^%s$|\", \"r|.*|\" ] }", dev);
	const char *argv[16] = { "lvm", args[0], "--config", filter };
	size_t n = 4;
	for (size_t i = 1; args[i] && n < ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	char *out = NULL;
	assert_int_equal(test_run(argv, &out), 0);
	return out;
}

/* pwrite/pread of one aligned block on the PV, as the slot journal does. */
static void pv_write_block(const char *dev, uint64_t offset, char fill)
{
	_cleanup_close_ int fd = open(dev, O_RDWR | O_DIRECT | O_DSYNC | O_CLOEXEC);
	void *buf = NULL;
	assert_true(fd >= 0);
	assert_int_equal(posix_memalign(&buf, 4096, 4096), 0);
	memset(buf, fill, 4096);
	assert_int_equal(pwrite(fd, buf, 4096, (off_t)offset), 4096);
	free(buf);
}

static void pv_check_block(const char *dev, uint64_t offset, char fill)
{
	_cleanup_close_ int fd = open(dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
	unsigned char *buf = NULL;
	assert_true(fd >= 0);
	assert_int_equal(posix_memalign((void **)&buf, 4096, 4096), 0);
	assert_int_equal(pread(fd, buf, 4096, (off_t)offset), 4096);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(buf[i], (unsigned char)fill);
	free(buf);
}

/* The journal LV: created contiguous, located on its PV, written there. */
static void test_lv_location(void **state)
{
	(void)state;
	NEED_LVM();
	T.ncmdlines = 0;
	lvm_set_cmd_observer(observe, NULL);
	assert_int_equal(lvm_lvcreate_contiguous(T.vg, "journal", 2 * EXTENT, NULL), 0);
	lvm_set_cmd_observer(NULL, NULL);
	assert_int_equal(T.ncmdlines, 1);
	assert_non_null(strstr(T.cmdlines[0], " --alloc=contiguous "));
	assert_int_equal(lvm_lvcreate(T.vg, "neighbour", EXTENT, NULL), 0);

	_cleanup_free_ char *dev = NULL, *ndev = NULL;
	uint64_t off, size, noff, nsize;
	assert_int_equal(lvm_lv_location(T.vg, "journal", &dev, &off, &size), 0);
	assert_string_equal(dev, T.devs[0]);
	assert_int_equal(size, 2 * EXTENT);
	uint64_t c = lvm_commands_run();
	assert_int_equal(lvm_lv_location(T.vg, "neighbour", &ndev, &noff, &nsize), 0);
	assert_int_equal(lvm_commands_run(), c); /* one report served both */
	assert_int_equal(nsize, EXTENT);

	/* against LVM's own tool: pe_start + start extent * extent size */
	const char *pvs[] = { "pvs", "--noheadings", "--units=b", "--nosuffix", "--options=pe_start",
			      T.devs[0], NULL };
	_cleanup_free_ char *pe_start_s = lvm_cli_line(T.devs[0], pvs);
	_cleanup_free_ char *lvname = xasprintf("%s/journal", T.vg);
	const char *lvs[] = { "lvs", "--noheadings", "--options=seg_pe_ranges", lvname, NULL };
	_cleanup_free_ char *ranges = lvm_cli_line(T.devs[0], lvs);
	unsigned long long pe_start = strtoull(pe_start_s, NULL, 10), first, last;
	_cleanup_free_ char *fmt = xasprintf(" %s:%%llu-%%llu", T.devs[0]);
	assert_int_equal(sscanf(ranges, fmt, &first, &last), 2);
	fprintf(stderr, "test_lvm: journal at %s+%" PRIu64 " (pe_start %llu, extents %llu-%llu), "
			"size %" PRIu64 "\n",
		dev, off, pe_start, first, last, size);
	assert_true(pe_start > 0);
	assert_int_equal(off, pe_start + first * EXTENT);
	assert_int_equal(size, (last - first + 1) * EXTENT);
	assert_true(noff >= off + size || noff + nsize <= off);

	/* the bytes are the LV's: write its first and last blocks and the
	 * neighbour's first through the PV; each reads back intact and LVM's
	 * metadata (before pe_start) is untouched */
	pv_write_block(dev, off, 'J');
	pv_write_block(dev, off + size - 4096, 'K');
	pv_write_block(dev, noff, 'N');
	pv_check_block(dev, off, 'J');
	pv_check_block(dev, off + size - 4096, 'K');
	pv_check_block(dev, noff, 'N');
	struct lvm_lv *lvs_out;
	size_t n;
	lvm_vg_invalidate(T.vg);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs_out, &n), 0);
	assert_non_null(find_lv(lvs_out, n, "journal"));
	lvm_lvs_free(lvs_out, n);

	/* errors */
	char *d2 = NULL;
	uint64_t o2 = 7, s2 = 7;
	assert_int_equal(lvm_lv_location(T.vg, "no-such-lv", &d2, &o2, &s2), -SP_E_NOT_FOUND);
	assert_non_null(strstr(sp_error_last()->message, "no-such-lv"));
	assert_null(d2);
	assert_int_equal(o2, 7);
	assert_int_equal(lvm_lv_location("unknownvg", "journal", &d2, &o2, &s2), -SP_E_NOT_FOUND);
	assert_int_equal(lvm_lv_location(T.vg, "a b", &d2, &o2, &s2), -EINVAL);
	/* two segments: seg-a is extended past seg-b */
	assert_int_equal(lvm_lvcreate(T.vg, "seg-a", EXTENT, NULL), 0);
	assert_int_equal(lvm_lvcreate(T.vg, "seg-b", EXTENT, NULL), 0);
	assert_int_equal(lvm_lvextend(T.vg, "seg-a", 2 * EXTENT), 0);
	sp_error_clear();
	assert_int_equal(lvm_lv_location(T.vg, "seg-a", &d2, &o2, &s2), -EINVAL);
	assert_string_equal(sp_error_last()->field, "lv");
	assert_non_null(strstr(sp_error_last()->message, "2 segments"));
	assert_null(d2);

	const char *mine[] = { "journal", "neighbour", "seg-a", "seg-b" };
	for (size_t i = 0; i < ARRAY_SIZE(mine); i++)
		assert_int_equal(lvm_lvremove(T.vg, mine[i]), 0);
	/* removed: the cached segments went with the change */
	assert_int_equal(lvm_lv_location(T.vg, "journal", &d2, &o2, &s2), -SP_E_NOT_FOUND);
}

static void test_lvm_error(void **state)
{
	(void)state;
	NEED_LVM();
	const char *lv = "6f1e8a38-5a8e-4c39-9c8f-0d4b2f0a1b2c";
	sp_error_clear();
	assert_int_equal(lvm_lvcreate(T.vg, lv, 8 << 20, NULL), -SP_E_TOOL_FAILED);
	const struct sp_error *e = sp_error_last();
	assert_int_equal(e->code, -SP_E_TOOL_FAILED);
	assert_string_equal(e->kind, "tool_failed");
	assert_non_null(strstr(e->message, lv));
	assert_non_null(strstr(e->message, "already exists")); /* LVM's own words */
	fprintf(stderr, "test_lvm: error reported: %s\n", e->message);

	assert_int_equal(lvm_lvremove(T.vg, "no-such-lv"), -SP_E_TOOL_FAILED);
	assert_non_null(strstr(sp_error_last()->message, "no-such-lv"));
	/* a full VG is no_space (HTTP 507), with LVM's words */
	assert_int_equal(lvm_lvextend(T.vg, lv, 1ull << 40), -ENOSPC);
	assert_string_equal(sp_error_last()->kind, "no_space");
	assert_non_null(strstr(sp_error_last()->message, "Insufficient free space"));
	assert_int_equal(lvm_lvcreate(T.vg, "too-large", 1ull << 40, NULL), -ENOSPC);
	assert_non_null(strstr(sp_error_last()->message, "insufficient free space"));

	/* a VG the module does not know */
	assert_int_equal(lvm_lvcreate("unknownvg", "x", 8 << 20, NULL), -SP_E_NOT_FOUND);
}

/* While a device is suspended (extends) LVM pins what its mlock_filter does
 * not match: LVM itself must read the private lvm.conf as pinning nothing,
 * and the filter ":" must match every mapping line of this process after
 * its permissions (what LVM compares), as it does the daemon's. */
static void test_no_memory_pinning(void **state)
{
	(void)state;
	NEED_LVM();
	_cleanup_free_ char *filter = NULL, *reserved = NULL;
	const char *validate[] = { "lvm", "config", "--validate", NULL };
	assert_int_equal(test_run(validate, NULL), 0);
	const char *get_filter[] = { "lvm", "config", "activation/mlock_filter", NULL };
	const char *get_reserved[] = { "lvm", "config", "activation/reserved_memory", NULL };
	assert_int_equal(test_run(get_filter, &filter), 0);
	assert_int_equal(test_run(get_reserved, &reserved), 0);
	assert_string_equal(filter, "mlock_filter=\":\"");
	assert_string_equal(reserved, "reserved_memory=0");

	_cleanup_fclose_ FILE *f = fopen("/proc/self/maps", "re");
	assert_non_null(f);
	char line[4096];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		int pos = 0;
		char perms[5];
		assert_int_equal(sscanf(line, "%*x-%*x %4s%n", perms, &pos), 1);
		assert_non_null(strchr(line + pos, ':'));
		n++;
	}
	assert_true(n > 10);
}

/* A VG with the same name on device B: if any command for the domain's VG
 * scanned B, LVM would see two VGs named alike and the report would show
 * both (or the command would refuse to pick one). */
static void test_other_vg_never_scanned(void **state)
{
	(void)state;
	NEED_LVM();
	assert_int_equal(lvm_cli("pvcreate", T.devs[1], T.devs[1], NULL, NULL), 0);
	assert_int_equal(lvm_cli("vgcreate", T.devs[1], T.vg, T.devs[1], NULL), 0);
	T.other_made = true;
	assert_int_equal(lvm_cli("lvcreate", T.devs[1], "--size=8m", T.vg, NULL), 0);
	/* positive control: a scan of both devices does see the clash */
	{
		_cleanup_free_ char *filter = xasprintf(
			"devices { filter = [ \"a|^%s$|\", \"a|^%s$|\", \"r|.*|\" ] }", T.devs[0], T.devs[1]);
		const char *argv[] = { "lvm", "vgs", "--config", filter, "--noheadings", "-o", "vg_uuid",
				       T.vg, NULL };
		struct run_result res = { 0 };
		assert_int_equal(run_argv(argv, NULL, &res), 0);
		assert_non_null(strstr(res.err, "is used by VGs"));
		run_result_free(&res);
	}

	T.ncmdlines = 0;
	lvm_set_cmd_observer(observe, NULL);
	struct lvm_lv *lvs;
	size_t n;
	struct lvm_vg vg;
	lvm_vg_invalidate(T.vg);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	assert_int_equal(n, 1); /* B's LV (lvol0) is not there */
	assert_null(find_lv(lvs, n, "lvol0"));
	lvm_lvs_free(lvs, n);
	assert_int_equal(lvm_lvcreate(T.vg, "after-clash", 8 << 20, TAGS7), 0);
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), 0);
	assert_int_equal(vg.pv_count, 1);
	assert_int_equal(vg.lv_count, 2);
	lvm_vg_clear(&vg);
	assert_int_equal(lvm_lvremove(T.vg, "after-clash"), 0);
	lvm_set_cmd_observer(NULL, NULL);

	/* every command line named A alone in its filter */
	_cleanup_free_ char *filter = xasprintf("--config 'devices { filter = [ \"a|^%s$|\", \"r|.*|\" ] }'",
						 T.devs[0]);
	assert_int_equal(T.ncmdlines, 4);
	for (size_t i = 0; i < T.ncmdlines; i++) {
		assert_non_null(strstr(T.cmdlines[i], filter));
		assert_null(strstr(T.cmdlines[i], T.devs[1]));
	}
	/* and B's VG is untouched */
	_cleanup_free_ char *out = NULL;
	assert_int_equal(lvm_cli("lvs", T.devs[1], "--noheadings", T.vg, &out), 0);
	assert_non_null(strstr(out, "lvol0"));
	assert_int_equal(lvm_cli("vgremove", T.devs[1], "--force", T.vg, NULL), 0);
	T.other_made = false;
}

static void test_vgextend_pvresize(void **state)
{
	(void)state;
	NEED_LVM();
	const char *c[] = { T.devs[2], NULL };
	struct lvm_vg vg;
	assert_int_equal(lvm_pvcreate(c, MDA_SIZE), 0);
	assert_int_equal(lvm_vgextend(T.vg, T.devs[2]), 0);
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), 0);
	assert_int_equal(vg.pv_count, 2);
	uint64_t size0 = vg.size;
	lvm_vg_clear(&vg);

	/* the LUN grows */
	const char *grow[] = { "truncate", "-s", "+1G", T.files[2], NULL };
	const char *refresh[] = { "losetup", "-c", T.devs[2], NULL };
	assert_int_equal(test_run(grow, NULL), 0);
	assert_int_equal(test_run(refresh, NULL), 0);
	assert_int_equal(lvm_pvresize(T.vg, T.devs[2]), 0);
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), 0);
	assert_int_equal(vg.size, size0 + (1ull << 30));
	lvm_vg_clear(&vg);

	assert_int_equal(lvm_pvresize(T.vg, T.devs[1]), -EINVAL); /* not the VG's */
}

static void test_read_only(void **state)
{
	(void)state;
	NEED_LVM();
	lvm_set_read_only(true);
	uint64_t c = lvm_commands_run();
	assert_int_equal(lvm_lvcreate(T.vg, "ro", 8 << 20, NULL), -EROFS);
	assert_non_null(strstr(sp_error_last()->message, "ro"));
	const char *t[] = { "x", NULL };
	assert_int_equal(lvm_lvchange_tags(T.vg, "6f1e8a38-5a8e-4c39-9c8f-0d4b2f0a1b2c", t, NULL), -EROFS);
	assert_int_equal(lvm_vgremove(T.vg), -EROFS);
	assert_int_equal(lvm_commands_run(), c);

	/* reports still work, and carry metadata_read_only */
	struct lvm_lv *lvs;
	size_t n;
	T.ncmdlines = 0;
	lvm_set_cmd_observer(observe, NULL);
	lvm_vg_invalidate(T.vg);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	lvm_set_cmd_observer(NULL, NULL);
	lvm_lvs_free(lvs, n);
	assert_int_equal(T.ncmdlines, 1);
	assert_non_null(strstr(T.cmdlines[0], "global { metadata_read_only = 1 }"));
	lvm_set_read_only(false);
}

/* Activation, deactivation and refresh write no VG metadata: hosts that are
 * not SPM (read-only) run them. (Activation is off in this tier: lvm2 accepts
 * the commands and maps nothing.) */
static void test_activation_in_read_only_mode(void **state)
{
	(void)state;
	NEED_LVM();
	assert_int_equal(lvm_lvcreate(T.vg, "act", 8 << 20, NULL), 0);
	lvm_set_read_only(true);
	T.ncmdlines = 0;
	lvm_set_cmd_observer(observe, NULL);
	assert_int_equal(lvm_lv_activate(T.vg, "act", true), 0);
	assert_int_equal(lvm_lv_refresh(T.vg, "act"), 0);
	assert_int_equal(lvm_lv_activate(T.vg, "act", false), 0);
	lvm_set_cmd_observer(NULL, NULL);
	assert_int_equal(T.ncmdlines, 3);
	assert_non_null(strstr(T.cmdlines[0], "lvchange"));
	assert_non_null(strstr(T.cmdlines[0], "--activate=y"));
	assert_non_null(strstr(T.cmdlines[1], "--refresh"));
	assert_non_null(strstr(T.cmdlines[2], "--activate=n"));
	/* still no metadata change */
	assert_int_equal(lvm_lvremove(T.vg, "act"), -EROFS);
	/* refused before LVM: bad names, an unknown LV is LVM's own refusal */
	assert_int_equal(lvm_lv_activate(T.vg, "a b", true), -EINVAL);
	assert_int_equal(lvm_lv_refresh(T.vg, "nosuchlv"), -SP_E_TOOL_FAILED);
	lvm_set_read_only(false);
	/* the same for one VG read-only (a pool this host is not SPM of) */
	lvm_vg_set_read_only(T.vg, true);
	assert_int_equal(lvm_lv_activate(T.vg, "act", true), 0);
	assert_int_equal(lvm_lv_refresh(T.vg, "act"), 0);
	assert_int_equal(lvm_lv_activate(T.vg, "act", false), 0);
	assert_int_equal(lvm_lvextend(T.vg, "act", 16 << 20), -EROFS);
	lvm_vg_set_read_only(T.vg, false);
	assert_int_equal(lvm_lvremove(T.vg, "act"), 0);
	char *dev = lvm_lv_device(T.vg, "act");
	assert_string_equal(dev + strlen(dev) - 4, "/act");
	free(dev);
}

/* One VG read-only (a pool this host is not SPM of): its changes are refused
 * before any command runs; the module's other VGs and reports are not. */
static void test_vg_read_only(void **state)
{
	(void)state;
	NEED_LVM();
	lvm_vg_set_read_only(T.vg, true);
	uint64_t c = lvm_commands_run();
	assert_int_equal(lvm_lvcreate(T.vg, "ro", 8 << 20, NULL), -EROFS);
	assert_non_null(strstr(sp_error_last()->message, "not its SPM"));
	assert_int_equal(lvm_vgremove(T.vg), -EROFS);
	assert_int_equal(lvm_commands_run(), c);
	lvm_vg_set_read_only("another-vg", false);
	struct lvm_vg vg;
	lvm_vg_invalidate(T.vg);
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), 0);
	lvm_vg_clear(&vg);
	lvm_vg_set_read_only(T.vg, false);
	assert_int_equal(lvm_lvcreate(T.vg, "rw-again", 8 << 20, NULL), 0);
	assert_int_equal(lvm_lvremove(T.vg, "rw-again"), 0);
}

/* Which VG a set of devices holds, for attaching a domain another host made:
 * a device that is no PV is simply not reported. */
static void test_vgs_on(void **state)
{
	(void)state;
	NEED_LVM();
	char **names = NULL;
	const char *both[] = { T.devs[0], T.devs[1], NULL };
	assert_int_equal(lvm_vgs_on(both, &names), 0);
	assert_non_null(names[0]);
	assert_string_equal(names[0], T.vg);
	assert_null(names[1]);
	lvm_strv_free(names);

	assert_int_equal(lvm_report_parse_pv_vgs("{\"report\": [{\"pv\": [{\"pv_name\":\"/dev/a\", \"vg_name\":\"b\"},"
						 "{\"pv_name\":\"/dev/b\", \"vg_name\":\"a\"},"
						 "{\"pv_name\":\"/dev/c\", \"vg_name\":\"\"},"
						 "{\"pv_name\":\"/dev/d\", \"vg_name\":\"b\"}]}]}",
						 &names),
			 0);
	assert_string_equal(names[0], "a");
	assert_string_equal(names[1], "b");
	assert_null(names[2]);
	lvm_strv_free(names);
	assert_int_equal(lvm_report_parse_pv_vgs("{\"report\": [{\"pv\": [{\"pv_name\":\"/dev/a\"}]}]}", &names),
			 -SP_E_CORRUPT);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *stuck_lvcreate(void *arg)
{
	*(int *)arg = lvm_lvcreate(T.vg, "stuck", EXTENT, NULL);
	return NULL;
}

/* A command that does not return (the stall fake holds the worker before
 * lvm2_run, as I/O to a dead LUN would hold it inside): a call queued behind
 * it gives up once it has run TIMEOUT_MS, -ETIMEDOUT naming the VG and the
 * stuck command, and is never run; later calls give up at once; reports the
 * module holds are answered without waiting; a forgotten report is not
 * answered from the old one; the stuck call itself completes. */
static void test_stuck_command(void **state)
{
	(void)state;
	NEED_LVM();
	struct lvm_vg vg;
	struct lvm_lv *lvs;
	size_t n;
	struct lvm_worker_state w;
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), 0); /* held from here on */
	lvm_vg_clear(&vg);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	lvm_lvs_free(lvs, n);

	test_write(T.stall, "lvm.lvcreate\n");
	/* counted before the thread: the worker counts the stuck command when it
	 * reaches it, which may be after running_s turns non-zero */
	uint64_t ran = lvm_commands_run();
	pthread_t thread;
	int stuck_r = 1;
	assert_int_equal(pthread_create(&thread, NULL, stuck_lvcreate, &stuck_r), 0);
	double deadline = now_s() + 30;
	do {
		lvm_worker_state(&w);
		assert_true(now_s() < deadline);
	} while (w.running_s == 0);

	double t0 = now_s();
	assert_int_equal(lvm_lvcreate(T.vg, "queued", EXTENT, NULL), -ETIMEDOUT);
	double waited = now_s() - t0;
	const struct sp_error *e = sp_error_last();
	fprintf(stderr, "test_lvm: gave up after %.2f s: %s\n", waited, e->message);
	assert_true(waited < TIMEOUT_MS / 1000.0 + 2);
	assert_string_equal(e->kind, "storage_timeout");
	assert_non_null(strstr(e->message, "not answering"));
	_cleanup_free_ char *stuck = xasprintf("lvm lvcreate %s/stuck", T.vg);
	assert_non_null(strstr(e->message, stuck));
	_cleanup_free_ char *details = xasprintf("{\"domain\": \"%s\"}", T.vg);
	assert_string_equal(e->details, details);
	/* past the deadline already: at once */
	t0 = now_s();
	assert_int_equal(lvm_lvremove(T.vg, "stuck"), -ETIMEDOUT);
	assert_true(now_s() - t0 < 0.5);
	/* held reports answer; a forgotten one is not made up from the old */
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), 0);
	lvm_vg_clear(&vg);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	assert_null(find_lv(lvs, n, "queued"));
	lvm_lvs_free(lvs, n);
	lvm_vg_invalidate(T.vg);
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), -ETIMEDOUT);
	lvm_worker_state(&w);
	assert_true(w.started && w.queued == 0 && w.timeouts >= 3 && w.running_s >= TIMEOUT_MS / 1000.0);
	assert_int_equal(lvm_commands_run(), ran + 1); /* the stuck one; none of the others ran */

	assert_int_equal(unlink(T.stall), 0);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(stuck_r, 0);
	assert_int_equal(lvm_lvs(T.vg, NULL, &lvs, &n), 0);
	assert_non_null(find_lv(lvs, n, "stuck"));
	assert_null(find_lv(lvs, n, "queued"));
	lvm_lvs_free(lvs, n);
	assert_int_equal(lvm_lvremove(T.vg, "stuck"), 0);
	lvm_worker_state(&w);
	assert_true(w.running_s == 0 && w.queued == 0);
}

static void test_vgremove(void **state)
{
	(void)state;
	NEED_LVM();
	struct lvm_vg vg;
	assert_int_equal(lvm_vgremove(T.vg), 0);
	T.vg_made = false;
	assert_int_equal(lvm_vg_info(T.vg, NULL, &vg), -SP_E_NOT_FOUND); /* forgotten */
	const char *devs[] = { T.devs[0], T.devs[2], NULL };
	assert_int_equal(lvm_vg_info(T.vg, devs, &vg), -SP_E_TOOL_FAILED);
	assert_non_null(strstr(sp_error_last()->message, "not found"));
	/* the PV labels go too; a device that is no PV is LVM's refusal, naming it */
	assert_int_equal(lvm_pvremove(devs), 0);
	const char *one[] = { T.devs[0], NULL };
	assert_int_equal(lvm_pvremove(one), -SP_E_TOOL_FAILED);
	assert_non_null(strstr(sp_error_last()->message, T.devs[0]));
	const char *bad[] = { "/dev/a b", NULL };
	assert_int_equal(lvm_pvremove(bad), -EINVAL);
	assert_int_equal(lvm_pvremove((const char *[]){ NULL }), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_parse),
		cmocka_unit_test(test_report_parse_pvsegs),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_vg_create),
		cmocka_unit_test(test_lvs_tags_report),
		cmocka_unit_test(test_tags_atomic),
		cmocka_unit_test(test_extend_remove),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_lv_location),
		cmocka_unit_test(test_lvm_error),
		cmocka_unit_test(test_no_memory_pinning),
		cmocka_unit_test(test_other_vg_never_scanned),
		cmocka_unit_test(test_vgextend_pvresize),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_activation_in_read_only_mode),
		cmocka_unit_test(test_vg_read_only),
		cmocka_unit_test(test_vgs_on),
		cmocka_unit_test(test_stuck_command),
		cmocka_unit_test(test_vgremove),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
