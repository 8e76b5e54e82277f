/* lib/multipath: parsers of multipathd's output (recorded from the cluster
 * guests: tests/fixtures/multipath/) and the configuration drop-in. */
#include "testutil.h"

#include "lib/multipath.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"

#define WWID1 "360000000000000000e00000000010001"
#define WWID2 "360000000000000000e00000000020001"

static char *fixture(const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/multipath/%s", FIXTURES_DIR, name);
	char *data = NULL;
	size_t len;
	assert_int_equal(read_file(path, 1 << 20, &data, &len), 0);
	return data;
}

static void test_maps_two_paths(void **state)
{
	(void)state;
	_cleanup_free_ char *text = fixture("show-maps-json-2paths.json");
	struct mp_map *m = NULL;
	size_t n = 0;

	assert_int_equal(multipath_parse_maps(text, &m, &n), 1);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].wwid, WWID1);
	assert_string_equal(m[0].name, WWID1);
	assert_string_equal(m[0].sysfs, "dm-0");
	assert_string_equal(m[0].vendor, "IET");
	assert_string_equal(m[0].product, "VIRTUAL-DISK");
	assert_string_equal(m[0].queueing, "on");
	assert_int_equal(m[0].n_paths, 2);
	/* failover: one path per group, in group order */
	assert_string_equal(m[0].paths[0].dev, "sdb");
	assert_int_equal(m[0].paths[0].group, 1);
	assert_string_equal(m[0].paths[0].group_state, "active");
	assert_string_equal(m[0].paths[1].dev, "sda");
	assert_string_equal(m[0].paths[1].group_state, "enabled");
	assert_string_equal(m[0].paths[1].dev_t, "8:0");
	assert_int_equal(m[0].paths[1].group, 2);
	assert_string_equal(m[0].paths[1].target, "iqn.2026-11.org.sanpool.test:lun");
	assert_string_equal(m[0].paths[1].check_state, "ready");
	assert_string_equal(m[0].paths[1].dev_state, "running");
	assert_int_equal(m[0].paths[1].priority, 1);
	assert_int_equal(multipath_map_usable_paths(&m[0]), 2);
	multipath_maps_free(m, n);
}

/* group_by_prio over an ALUA LUN (LIO, two target port groups of two portals
 * each; sanpool's drop-in in force): the optimized group's paths first, in the
 * active group, the other group standing by. */
static void test_maps_alua(void **state)
{
	(void)state;
	_cleanup_free_ char *text = fixture("show-maps-json-alua.json");
	struct mp_map *m = NULL;
	size_t n = 0;

	assert_int_equal(multipath_parse_maps(text, &m, &n), 1);
	assert_string_equal(m[0].vendor, "LIO-ORG");
	assert_string_equal(m[0].queueing, "12 chk");
	assert_int_equal(m[0].n_paths, 4);
	const char *devs[] = { "sda", "sdd", "sdb", "sdc" };
	for (size_t i = 0; i < 4; i++) {
		const struct mp_path *p = &m[0].paths[i];
		assert_string_equal(p->dev, devs[i]);
		assert_int_equal(p->group, i < 2 ? 1 : 2);
		assert_string_equal(p->group_state, i < 2 ? "active" : "enabled");
		assert_int_equal(p->priority, i < 2 ? 50 : 10);
	}
	assert_int_equal(multipath_map_usable_paths(&m[0]), 4);
	multipath_maps_free(m, n);
}

static void test_maps_two_maps(void **state)
{
	(void)state;
	_cleanup_free_ char *text = fixture("show-maps-json-2maps.json");
	struct mp_map *m = NULL;
	size_t n = 0;

	assert_int_equal(multipath_parse_maps(text, &m, &n), 2);
	assert_string_equal(m[0].wwid, WWID1);
	assert_string_equal(m[1].wwid, WWID2);
	assert_int_equal(m[1].n_paths, 1);
	assert_string_equal(m[1].paths[0].dev, "sdc");
	assert_string_equal(m[1].paths[0].target, "iqn.2026-11.org.sanpool.test:chap");
	multipath_maps_free(m, n);
}

static void test_maps_degraded(void **state)
{
	(void)state;
	_cleanup_free_ char *text = fixture("show-maps-json-degraded.json");
	struct mp_map *m = NULL;
	size_t n = 0;

	assert_int_equal(multipath_parse_maps(text, &m, &n), 2);
	/* sanpool's drop-in was in force: bounded queueing */
	assert_string_equal(m[0].queueing, "12 chk");
	assert_int_equal(m[0].n_paths, 2);
	assert_int_equal(multipath_map_usable_paths(&m[0]), 1);
	const struct mp_path *sda = strcmp(m[0].paths[0].dev, "sda") == 0 ? &m[0].paths[0] : &m[0].paths[1];
	assert_string_equal(sda->dev, "sda");
	assert_string_equal(sda->dm_state, "failed");
	assert_string_equal(sda->check_state, "faulty");
	assert_string_equal(sda->dev_state, "offline");
	assert_int_equal(multipath_map_usable_paths(&m[1]), 1);
	multipath_maps_free(m, n);
}

static void test_maps_malformed(void **state)
{
	(void)state;
	struct mp_map *m = NULL;
	size_t n = 0;
	assert_int_equal(multipath_parse_maps("", &m, &n), -SP_E_TOOL_FAILED);
	assert_int_equal(multipath_parse_maps("{\"maps\": 3}", &m, &n), -SP_E_TOOL_FAILED);
	assert_int_equal(multipath_parse_maps("{\"maps\": [{\"name\": \"x\"}]}", &m, &n), -SP_E_TOOL_FAILED);
	assert_int_equal(multipath_parse_maps("{\"maps\": [{\"name\": \"x\", \"uuid\": \"x\", \"path_groups\": [{}]}]}",
					      &m, &n),
			 -SP_E_TOOL_FAILED);
	assert_int_equal(multipath_parse_maps("{\"maps\": []}", &m, &n), 0);
	multipath_maps_free(m, n);
}

static void test_paths_raw(void **state)
{
	(void)state;
	_cleanup_free_ char *text = fixture("show-paths-raw-degraded.txt");
	_cleanup_free_ struct mp_path_line *l = NULL;
	size_t n = 0;

	assert_int_equal(multipath_parse_paths(text, &l, &n), 3);
	assert_string_equal(l[0].wwid, WWID1);
	assert_string_equal(l[0].path.dev, "sda");
	assert_string_equal(l[0].path.dev_t, "8:0");
	assert_string_equal(l[0].path.dm_state, "failed");
	assert_string_equal(l[0].path.check_state, "faulty");
	assert_string_equal(l[0].path.dev_state, "offline");
	assert_string_equal(l[1].path.check_state, "ready");
	assert_string_equal(l[2].wwid, WWID2);
	assert_int_equal(l[2].path.priority, 1);
}

static void test_paths_raw_recorded_format(void **state)
{
	(void)state;
	/* recorded with MP_PATHS_FORMAT on a guest with both paths up */
	_cleanup_free_ char *text = fixture("show-paths-raw.txt");
	_cleanup_free_ struct mp_path_line *l = NULL;
	size_t n = 0;
	assert_int_equal(multipath_parse_paths(text, &l, &n), 2);
	assert_string_equal(l[1].path.dev, "sda");
	free(l);
	l = NULL;
	/* the ALUA LUN's four paths: the array's priorities (50 optimized, 10 not) */
	_cleanup_free_ char *alua = fixture("show-paths-raw-alua.txt");
	assert_int_equal(multipath_parse_paths(alua, &l, &n), 4);
	assert_string_equal(l[0].path.dev, "sdb");
	assert_int_equal(l[0].path.priority, 10);
	assert_string_equal(l[1].path.dev, "sda");
	assert_int_equal(l[1].path.priority, 50);
	assert_string_equal(l[3].wwid, "360014055a1f0000a1a00001000000000");
	free(l);
	l = NULL;
	assert_int_equal(multipath_parse_paths("a|b|c\n", &l, &n), -SP_E_TOOL_FAILED);
	assert_int_equal(multipath_parse_paths("", &l, &n), 0);
}

static void test_conf_render(void **state)
{
	(void)state;
	const char *wwids[] = { WWID1, WWID2 };
	const bool alua[] = { false, true };
	_cleanup_free_ char *text = multipath_conf_render(wwids, alua, 2);

	assert_non_null(strstr(text, "multipaths {"));
	assert_non_null(strstr(text, "wwid \"" WWID1 "\""));
	assert_non_null(strstr(text, "alias \"" WWID2 "\""));
	/* the host's other devices keep their settings: no defaults/devices/overrides sections */
	assert_null(strstr(text, "defaults"));
	assert_null(strstr(text, "overrides"));
	assert_null(strstr(text, "devices {"));
	/* per LUN: bounded queueing, grouping by priority, names by WWID */
	const char *p = text;
	int entries = 0;
	while ((p = strstr(p, "no_path_retry 12")))
		entries++, p++;
	assert_int_equal(entries, 2);
	assert_non_null(strstr(text, "path_grouping_policy group_by_prio"));
	assert_non_null(strstr(text, "failback immediate"));
	assert_non_null(strstr(text, "user_friendly_names no"));
	assert_null(strstr(text, "queue\n"));
	/* the array's ALUA priorities on the LUN that has them, the host's choice on the other */
	const char *second = strstr(text, "wwid \"" WWID2 "\"");
	assert_non_null(strstr(second, "prio alua\n"));
	assert_true(strstr(text, "prio alua\n") == strstr(second, "prio alua\n"));
	_cleanup_free_ char *plain = multipath_conf_render(wwids, NULL, 2);
	assert_null(strstr(plain, "prio alua"));
	_cleanup_free_ char *none = multipath_conf_render(NULL, NULL, 0);
	assert_null(strstr(none, "multipath {"));
}

static void test_conf_apply_refuses_bad_wwid(void **state)
{
	(void)state;
	char *dir = test_mkdtemp();
	_cleanup_free_ char *path = xasprintf("%s/conf.d/sanpool.conf", dir);
	const char *bad[] = { "36000\"\n}\ndefaults {" };
	assert_int_equal(multipath_conf_apply(path, bad, NULL, 1), -SP_E_BAD_REQUEST);
	assert_false(path_exists(path));
	test_rmdtemp(dir);
}

static void test_wwid_valid(void **state)
{
	(void)state;
	assert_true(multipath_wwid_is_valid(WWID1));
	assert_true(multipath_wwid_is_valid("eui.0025385b71b07e2f"));
	assert_false(multipath_wwid_is_valid(""));
	assert_false(multipath_wwid_is_valid(NULL));
	assert_false(multipath_wwid_is_valid("a b"));
	assert_false(multipath_wwid_is_valid("a/../b"));
	assert_false(multipath_wwid_is_valid("x\""));
}

/* The sharing thread's view: maps from sysfs, not from a multipathd command. */
static void test_map_wwids_from_sysfs(void **state)
{
	(void)state;
	char *root = test_mkdtemp();
	const char *const uuids[][2] = {
		{ "dm-0", "mpath-" WWID1 "\n" },
		{ "dm-1", "LVM-Q2f3TzWbYe1sJ5mHkD4gE9vXcA0uNrPiLo8KjHgFdSaQwErTyUiOpAsDfGhJkLzX\n" }, /* an LV */
		{ "dm-2", "mpath-" WWID2 "\n" },
		{ "dm-3", "mpath-\n" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(uuids); i++) {
		_cleanup_free_ char *dir = xasprintf("%s/block/%s/dm", root, uuids[i][0]);
		_cleanup_free_ char *file = xasprintf("%s/uuid", dir);
		assert_int_equal(mkdir_p(dir, 0755), 0);
		assert_int_equal(atomic_write_file(file, uuids[i][1], strlen(uuids[i][1])), 0);
	}
	_cleanup_free_ char *sda = xasprintf("%s/block/sda", root); /* a path: no dm/ */
	assert_int_equal(mkdir_p(sda, 0755), 0);

	char **w = multipath_map_wwids(root);
	assert_non_null(w);
	assert_non_null(w[0]);
	assert_non_null(w[1]);
	assert_null(w[2]);
	bool first = strcmp(w[0], WWID1) == 0;
	assert_string_equal(w[first ? 0 : 1], WWID1);
	assert_string_equal(w[first ? 1 : 0], WWID2);
	for (size_t i = 0; w[i]; i++)
		free(w[i]);
	free(w);

	_cleanup_free_ char *none = xasprintf("%s/absent", root); /* no sysfs: no maps */
	w = multipath_map_wwids(none);
	assert_non_null(w);
	assert_null(w[0]);
	free(w);
	test_rmdtemp(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maps_two_paths),
		cmocka_unit_test(test_maps_alua),
		cmocka_unit_test(test_maps_two_maps),
		cmocka_unit_test(test_maps_degraded),
		cmocka_unit_test(test_maps_malformed),
		cmocka_unit_test(test_paths_raw),
		cmocka_unit_test(test_paths_raw_recorded_format),
		cmocka_unit_test(test_conf_render),
		cmocka_unit_test(test_conf_apply_refuses_bad_wwid),
		cmocka_unit_test(test_wwid_valid),
		cmocka_unit_test(test_map_wwids_from_sysfs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
