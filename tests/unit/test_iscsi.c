/* lib/iscsi: the parser of `iscsiadm -m session -P 3` (recorded on a cluster
 * guest: tests/fixtures/iscsi/), input checks, and that CHAP secrets given
 * to iscsiadm are masked in every shown command line. */
#include "testutil.h"

#include "lib/iscsi.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"

static void test_sessions_P3(void **state)
{
	(void)state;
	_cleanup_free_ char *path = xasprintf("%s/iscsi/session-P3.txt", FIXTURES_DIR);
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ struct iscsi_session *s = NULL;
	size_t len, n = 0;

	assert_int_equal(read_file(path, 1 << 20, &text, &len), 0);
	assert_int_equal(iscsi_parse_sessions(text, &s, &n), 3);
	assert_int_equal(s[0].sid, 1);
	assert_string_equal(s[0].target, "iqn.2026-11.org.sanpool.test:lun");
	assert_string_equal(s[0].portal, "10.0.2.2:38997");
	assert_string_equal(s[0].state, "LOGGED_IN");
	assert_int_equal(s[0].n_disks, 1);
	assert_string_equal(s[0].disks[0], "sda");
	assert_int_equal(s[1].sid, 2);
	assert_string_equal(s[1].portal, "10.0.2.2:58943");
	assert_string_equal(s[1].disks[0], "sdb");
	assert_int_equal(s[2].sid, 5);
	assert_string_equal(s[2].target, "iqn.2026-11.org.sanpool.test:chap");
	assert_string_equal(s[2].disks[0], "sdc");
	/* the CHAP user is in the report; the parser keeps nothing of it */
	assert_non_null(strstr(text, "username: spuser"));
}

static void test_sessions_empty_and_garbage(void **state)
{
	(void)state;
	_cleanup_free_ struct iscsi_session *s = NULL;
	size_t n = 7;
	assert_int_equal(iscsi_parse_sessions("", &s, &n), 0);
	assert_int_equal(n, 0);
	struct iscsi_session *g = NULL;
	assert_int_equal(iscsi_parse_sessions("iscsiadm: something else\n", &g, &n), -SP_E_TOOL_FAILED);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(iscsi_target_is_valid("iqn.2026-11.org.sanpool.test:lun"));
	assert_true(iscsi_target_is_valid("eui.02004567a425678d"));
	assert_false(iscsi_target_is_valid("IQN.2026-11.org.x:y"));
	assert_false(iscsi_target_is_valid("iqn.x y"));
	assert_false(iscsi_target_is_valid("-o"));
	assert_false(iscsi_target_is_valid(NULL));

	assert_true(iscsi_portal_is_valid("10.0.2.2:3260"));
	assert_true(iscsi_portal_is_valid("10.0.2.2"));
	assert_true(iscsi_portal_is_valid("[fe80::1]:3260"));
	assert_true(iscsi_portal_is_valid("san-a.example.org:860"));
	assert_false(iscsi_portal_is_valid("10.0.2.2:"));
	assert_false(iscsi_portal_is_valid("10.0.2.2:70000"));
	assert_false(iscsi_portal_is_valid("-p"));
	assert_false(iscsi_portal_is_valid("a b:1"));
	assert_false(iscsi_portal_is_valid("[]:1"));
	assert_false(iscsi_portal_is_valid(""));

	_cleanup_free_ char *a = iscsi_portal_normalize("10.0.2.2");
	_cleanup_free_ char *b = iscsi_portal_normalize("10.0.2.2:860");
	_cleanup_free_ char *c = iscsi_portal_normalize("[fe80::1]");
	assert_string_equal(a, "10.0.2.2:3260");
	assert_string_equal(b, "10.0.2.2:860");
	assert_string_equal(c, "[fe80::1]:3260");

	assert_true(iscsi_chap_user_is_valid("spuser"));
	assert_false(iscsi_chap_user_is_valid("sp user"));
	assert_true(iscsi_chap_secret_is_valid("twelve-chars"));
	assert_false(iscsi_chap_secret_is_valid("short"));
	assert_false(iscsi_chap_secret_is_valid("has a space in it"));
}

static void test_secret_masked(void **state)
{
	(void)state;
	const char *argv[] = { "iscsiadm", "-m", "node", "-o", "update", "-n", "node.session.auth.password",
			       "-v", "hunter2-secret", NULL };
	struct run_opts o = { .secret_args = 1u << 8 };
	_cleanup_free_ char *shown = run_argv_display(argv, &o);
	assert_string_equal(shown, "iscsiadm -m node -o update -n node.session.auth.password -v ********");
	_cleanup_free_ char *plain = run_argv_display(argv, NULL);
	assert_non_null(strstr(plain, "hunter2-secret"));

	/* the child itself gets the secret: printf shows what it received */
	const char *echo[] = { "printf", "%s", "hunter2-secret", NULL };
	struct run_opts eo = { .secret_args = 1u << 2 };
	struct run_result res = { 0 };
	assert_int_equal(run_argv(echo, &eo, &res), 0);
	assert_string_equal(res.out, "hunter2-secret");
	run_result_free(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sessions_P3),
		cmocka_unit_test(test_sessions_empty_and_garbage),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_secret_masked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
