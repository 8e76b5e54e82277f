/* api/body: request bodies are strict JSON objects checked field by field. */
#include "testutil.h"

#include "api/body.h"
#include "lib/util/error.h"

#define U1 "0123abcd-ef01-4567-89ab-cdef01234567"

static json_object *parse_ok(const char *s)
{
	json_object *o = NULL;
	sp_error_clear();
	if (body_parse(s, strlen(s), &o) != 0)
		fail_msg("rejected valid body %s: %s", s, sp_error_last()->message);
	assert_non_null(o);
	return o;
}

static void expect_bad_body(const char *data, size_t len)
{
	json_object *o = (json_object *)0x1; /* must stay untouched */
	sp_error_clear();
	if (body_parse(data, len, &o) != -SP_E_BAD_REQUEST)
		fail_msg("accepted body \"%.*s\"", (int)len, data);
	assert_ptr_equal(o, (json_object *)0x1);
	assert_string_equal(sp_error_last()->field, "body");
	assert_string_equal(sp_error_last()->kind, "invalid_field");
}

static void test_parse_valid(void **state)
{
	(void)state;
	json_object *o = parse_ok("{\"name\": \"disk\", \"capacity\": 1073741824}");
	assert_string_equal(body_str(o, "name"), "disk");
	assert_int_equal(body_int(o, "capacity", 0), 1073741824);
	json_object_put(o);
	json_object_put(parse_ok("{}"));
	json_object_put(parse_ok("  {}\r\n\t "));
	json_object_put(parse_ok("{\"a\":{\"b\":[1,2,3]}}"));
}

static void test_parse_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", " ", "{", "}", "{\"a\":}", "{\"a\":1,}", "{a:1}", "{\"a\":01}",
		"{\"a\":\"\\x\"}", "{\"a\" 1}", "nul", "{\"a\":tru}", "/* c */ {}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad_body(bad[i], strlen(bad[i]));
}

static void test_parse_trailing_garbage(void **state)
{
	(void)state;
	static const char *const bad[] = { "{} x", "{}{}", "{} {\"a\":1}", "{}]", "{},", "{} 1", "{}\n\n}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad_body(bad[i], strlen(bad[i]));
	/* bytes after the object are garbage even when they are NUL */
	expect_bad_body("{}\0", 3);
	expect_bad_body("{}\0\0\0\0", 6);
	expect_bad_body("{} \0 ", 5);
}

static void test_parse_length_is_respected(void **state)
{
	(void)state;
	json_object *o = NULL;
	/* only the first len bytes are the body */
	assert_int_equal(body_parse("{}garbage", 2, &o), 0);
	json_object_put(o);
	expect_bad_body("{\"a\":1}", 5);
}

static void test_parse_non_object(void **state)
{
	(void)state;
	static const char *const bad[] = { "[]", "[{}]", "\"{}\"", "[1] ", "true " };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_bad_body(bad[i], strlen(bad[i]));
		assert_non_null(strstr(sp_error_last()->message, "must be a JSON object"));
	}
	/* json-c gives no object at all for these: refused all the same */
	expect_bad_body("null", 4);
	expect_bad_body("42", 2);
	expect_bad_body("1.5", 3);
	expect_bad_body("true", 4);
}

static const struct field_spec spec[] = {
	{ "name", FIELD_NAME, true },
	{ "domain", FIELD_UUID, false },
	{ "format", FIELD_STRING, false },
	{ "capacity", FIELD_INT, false },
	{ "force", FIELD_BOOL, false },
};
#define NSPEC (sizeof(spec) / sizeof(spec[0]))

/* Checks text against spec: expects the error to name field (NULL: success). */
static void check(const char *text, const char *field)
{
	json_object *o = parse_ok(text);
	sp_error_clear();
	int r = body_check(o, spec, NSPEC);
	if (!field && r != 0)
		fail_msg("%s rejected: %s", text, sp_error_last()->message);
	if (field) {
		if (r != -SP_E_BAD_REQUEST)
			fail_msg("%s accepted", text);
		if (strcmp(sp_error_last()->field, field) != 0)
			fail_msg("%s: error names \"%s\", expected \"%s\"", text, sp_error_last()->field, field);
		/* the message names the field too, for people reading it */
		assert_non_null(strstr(sp_error_last()->message, field));
	}
	json_object_put(o);
}

static void test_check_accepts(void **state)
{
	(void)state;
	check("{\"name\":\"disk\"}", NULL);
	check("{\"name\":\"disk\",\"domain\":\"" U1 "\",\"format\":\"anything\",\"capacity\":-5,\"force\":false}", NULL);
}

static void test_check_unknown_field_named(void **state)
{
	(void)state;
	check("{\"name\":\"disk\",\"sise\":1}", "sise");
	check("{\"Name\":\"disk\"}", "Name");
	check("{\"name\":\"disk\",\"\":1}", "");
	/* an unknown field is reported before a missing required one */
	check("{\"bogus\":1}", "bogus");
	json_object *o = parse_ok("{\"x\":1}");
	assert_int_equal(body_check(o, NULL, 0), -SP_E_BAD_REQUEST);
	assert_string_equal(sp_error_last()->field, "x");
	json_object_put(o);
}

static void test_check_types(void **state)
{
	(void)state;
	/* FIELD_NAME */
	check("{\"name\":42}", "name");
	check("{\"name\":\"\"}", "name");
	check("{\"name\":\"../etc\"}", "name");
	check("{\"name\":\"a b\"}", "name");
	check("{\"name\":null}", "name");
	check("{\"name\":[\"disk\"]}", "name");
	/* FIELD_UUID */
	check("{\"name\":\"d\",\"domain\":\"0123ABCD-EF01-4567-89AB-CDEF01234567\"}", "domain");
	check("{\"name\":\"d\",\"domain\":\"x\"}", "domain");
	check("{\"name\":\"d\",\"domain\":1}", "domain");
	check("{\"name\":\"d\",\"domain\":null}", "domain");
	/* FIELD_STRING */
	check("{\"name\":\"d\",\"format\":1}", "format");
	check("{\"name\":\"d\",\"format\":{}}", "format");
	check("{\"name\":\"d\",\"format\":null}", "format");
	/* FIELD_INT */
	check("{\"name\":\"d\",\"capacity\":\"1G\"}", "capacity");
	check("{\"name\":\"d\",\"capacity\":1.5}", "capacity");
	check("{\"name\":\"d\",\"capacity\":1e9}", "capacity");
	check("{\"name\":\"d\",\"capacity\":true}", "capacity");
	check("{\"name\":\"d\",\"capacity\":null}", "capacity");
	/* FIELD_BOOL */
	check("{\"name\":\"d\",\"force\":\"true\"}", "force");
	check("{\"name\":\"d\",\"force\":1}", "force");
}

static void test_check_required(void **state)
{
	(void)state;
	check("{}", "name");
	check("{\"format\":\"raw\"}", "name");
	sp_error_clear();
	assert_int_equal(body_check(NULL, spec, NSPEC), -SP_E_BAD_REQUEST);
	assert_string_equal(sp_error_last()->field, "name");
	/* no body at all is fine when nothing is required */
	assert_int_equal(body_check(NULL, spec + 1, NSPEC - 1), 0);
	assert_int_equal(body_check(NULL, NULL, 0), 0);
}

static void test_accessors(void **state)
{
	(void)state;
	json_object *o = parse_ok("{\"s\":\"v\",\"n\":7}");
	assert_string_equal(body_str(o, "s"), "v");
	assert_null(body_str(o, "missing"));
	assert_null(body_str(NULL, "s"));
	assert_int_equal(body_int(o, "n", -1), 7);
	assert_int_equal(body_int(o, "missing", -1), -1);
	assert_int_equal(body_int(NULL, "n", 3), 3);
	json_object_put(o);
}

static void test_check_path(void **state)
{
	(void)state;
	static const char *const good[] = { "/", "/mnt/nfs", "/mnt/nfs/dom1", "/a/..b", "/a/b..", "/a/.b", "/srv/x-1" };
	static const char *const bad[] = { "", "mnt/nfs", "./x", "../x", "/a/../b", "/a/./b", "/a//b", "/a/..",
					   "/a/.", "/..", "/.", "//" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (body_check_path(good[i]) != 0)
			fail_msg("path %s rejected", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sp_error_clear();
		if (body_check_path(bad[i]) != -SP_E_BAD_REQUEST)
			fail_msg("path \"%s\" accepted", bad[i]);
		assert_string_equal(sp_error_last()->field, "path");
	}
	assert_int_equal(body_check_path(NULL), 0); /* absent: nothing to check */

	char *long_path = xmalloc(4000);
	long_path[0] = '/';
	memset(long_path + 1, 'a', 3998);
	long_path[3999] = '\0';
	assert_int_equal(body_check_path(long_path), -SP_E_BAD_REQUEST);
	free(long_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_trailing_garbage),
		cmocka_unit_test(test_parse_length_is_respected),
		cmocka_unit_test(test_parse_non_object),
		cmocka_unit_test(test_check_accepts),
		cmocka_unit_test(test_check_unknown_field_named),
		cmocka_unit_test(test_check_types),
		cmocka_unit_test(test_check_required),
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_check_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
