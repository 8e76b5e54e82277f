/* lib/volume: the metadata kept beside every volume, and user capacities. */
#include "testutil.h"

#include "lib/util/error.h"
#include "lib/volume.h"

#define U_VOL "11111111-1111-4111-8111-111111111111"
#define U_IMG "22222222-2222-4222-8222-222222222222"
#define U_DOM "33333333-3333-4333-8333-333333333333"
#define U_PAR "44444444-4444-4444-8444-444444444444"
#define U_PIMG "55555555-5555-4555-8555-555555555555"

static struct volume_meta sample(bool with_parent)
{
	struct volume_meta m = { 0 };
	snprintf(m.uuid, sizeof(m.uuid), U_VOL);
	snprintf(m.image, sizeof(m.image), U_IMG);
	snprintf(m.domain, sizeof(m.domain), U_DOM);
	if (with_parent) {
		snprintf(m.parent, sizeof(m.parent), U_PAR);
		snprintf(m.parent_image, sizeof(m.parent_image), U_PIMG);
	}
	snprintf(m.image_name, sizeof(m.image_name), "web-01.disk");
	m.format = VOL_FORMAT_QCOW2;
	m.alloc = VOL_ALLOC_PREALLOCATED;
	m.capacity = 10ULL << 40; /* beyond 32 bits */
	m.legal = true;
	m.shared = true;
	m.generation = 42;
	m.ctime = 1700000000;
	return m;
}

static void assert_meta_equal(const struct volume_meta *a, const struct volume_meta *b)
{
	assert_string_equal(a->uuid, b->uuid);
	assert_string_equal(a->image, b->image);
	assert_string_equal(a->domain, b->domain);
	assert_string_equal(a->parent, b->parent);
	assert_string_equal(a->parent_image, b->parent_image);
	assert_string_equal(a->image_name, b->image_name);
	assert_int_equal(a->format, b->format);
	assert_int_equal(a->alloc, b->alloc);
	assert_int_equal(a->capacity, b->capacity);
	assert_int_equal(a->legal, b->legal);
	assert_int_equal(a->shared, b->shared);
	assert_int_equal(a->generation, b->generation);
	assert_int_equal(a->ctime, b->ctime);
}

/* Through the text form, as it goes to disk and back. */
static void round_trip(const struct volume_meta *m)
{
	json_object *o = volume_meta_to_json(m);
	json_object *back = json_tokener_parse(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	struct volume_meta got;
	memset(&got, 0xa5, sizeof(got));
	assert_non_null(back);
	assert_int_equal(volume_meta_from_json(back, &got), 0);
	assert_meta_equal(&got, m);
	json_object_put(o);
	json_object_put(back);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct volume_meta m = sample(true);
	round_trip(&m);
	m = sample(false);
	m.format = VOL_FORMAT_RAW;
	m.alloc = VOL_ALLOC_SPARSE;
	m.legal = false;
	m.shared = false;
	m.generation = 0;
	m.image_name[0] = '\0'; /* unnamed image */
	m.capacity = VOL_MIN_CAPACITY;
	round_trip(&m);
}

static void test_json_form(void **state)
{
	(void)state;
	struct volume_meta m = sample(false);
	json_object *o = volume_meta_to_json(&m), *v;

	assert_true(json_object_object_get_ex(o, "parent", &v));
	assert_null(v); /* a base volume has a null parent */
	assert_string_equal(json_object_get_string(json_object_object_get(o, "format")), "qcow2");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "allocation")), "preallocated");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "legality")), "LEGAL");
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "capacity")), 10LL << 40);
	json_object_put(o);
}

/* One corruption of the on-disk form and the field the error must name. */
struct corruption {
	const char *key;
	const char *json; /* new value as JSON text, NULL to remove the key */
	const char *field;
};

static void test_every_corrupt_field_rejected(void **state)
{
	(void)state;
	static const struct corruption cases[] = {
		{ "uuid", NULL, "uuid" },
		{ "uuid", "42", "uuid" },
		{ "uuid", "null", "uuid" },
		{ "uuid", "\"not-a-uuid\"", "uuid" },
		{ "uuid", "\"11111111-1111-4111-8111-11111111111\"", "uuid" },
		{ "uuid", "\"11111111-1111-4111-8111-1111111111111111\"", "uuid" },
		{ "image", NULL, "image" },
		{ "image", "\"../../etc\"", "uuid" },
		{ "domain", NULL, "domain" },
		{ "domain", "\"33333333-3333-4333-8333-33333333333Z\"", "uuid" },
		{ "parent", NULL, "parent" },
		{ "parent", "7", "parent" },
		{ "parent", "\"bad\"", "uuid" },
		{ "parent", "null", "uuid" },      /* parent_image without parent */
		{ "parent_image", NULL, "parent_image" },
		{ "parent_image", "null", "uuid" }, /* parent without parent_image */
		{ "parent_image", "\"bad\"", "uuid" },
		{ "image_name", NULL, "image_name" },
		{ "image_name", "\"../etc\"", "image_name" },
		{ "image_name", "\"-rf\"", "image_name" },
		{ "image_name", "\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"", "image_name" },
		{ "image_name", "null", "image_name" },
		{ "format", NULL, "format" },
		{ "format", "\"vmdk\"", "format" },
		{ "format", "\"QCOW2\"", "format" },
		{ "format", "1", "format" },
		{ "allocation", NULL, "allocation" },
		{ "allocation", "\"thin\"", "format" },
		{ "legality", NULL, "legality" },
		{ "legality", "\"legal\"", "legality" },
		{ "legality", "true", "legality" },
		{ "capacity", NULL, "capacity" },
		{ "capacity", "0", "capacity" },
		{ "capacity", "-1048576", "capacity" },
		{ "capacity", "\"1048576\"", "capacity" },
		{ "capacity", "1048576.5", "capacity" },
		{ "generation", NULL, "generation" },
		{ "generation", "-1", "capacity" },
		{ "generation", "\"1\"", "generation" },
		{ "ctime", NULL, "ctime" },
		{ "ctime", "\"yesterday\"", "ctime" },
		{ "shared", NULL, "shared" },
		{ "shared", "\"false\"", "shared" },
		{ "shared", "0", "shared" },
		{ "shared", "null", "shared" },
	};
	struct volume_meta m = sample(true);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct corruption *c = &cases[i];
		json_object *o = volume_meta_to_json(&m);
		if (c->json) {
			json_object *v = json_tokener_parse(c->json);
			if (!v && strcmp(c->json, "null") != 0)
				fail_msg("bad test value %s", c->json);
			json_object_object_add(o, c->key, v);
		} else {
			json_object_object_del(o, c->key);
		}
		struct volume_meta got;
		memset(&got, 0x5a, sizeof(got));
		struct volume_meta before = got;
		sp_error_clear();
		int r = volume_meta_from_json(o, &got);
		if (r != -SP_E_CORRUPT)
			fail_msg("case %zu: %s = %s accepted (r = %d)", i, c->key, c->json ? c->json : "(missing)", r);
		if (strcmp(sp_error_last()->field, c->field) != 0)
			fail_msg("case %zu: %s = %s: error names \"%s\", expected \"%s\"", i, c->key,
				 c->json ? c->json : "(missing)", sp_error_last()->field, c->field);
		assert_int_equal(sp_error_last()->code, -SP_E_CORRUPT);
		assert_memory_equal(&got, &before, sizeof(got)); /* untouched on failure */
		json_object_put(o);
	}
}

static void test_not_an_object(void **state)
{
	(void)state;
	struct volume_meta got;
	json_object *a = json_object_new_array();
	json_object *s = json_object_new_string("{}");
	assert_int_equal(volume_meta_from_json(a, &got), -SP_E_CORRUPT);
	assert_int_equal(volume_meta_from_json(s, &got), -SP_E_CORRUPT);
	assert_int_equal(volume_meta_from_json(NULL, &got), -SP_E_CORRUPT);
	json_object_put(a);
	json_object_put(s);
}

static void test_capacity_checks(void **state)
{
	(void)state;
	static const uint64_t good[] = { VOL_MIN_CAPACITY, VOL_MIN_CAPACITY + 512, 10ULL << 30, VOL_MAX_CAPACITY };
	static const uint64_t bad[] = { 0, 512, VOL_MIN_CAPACITY - 512, VOL_MIN_CAPACITY + 1, (10ULL << 30) + 100,
					VOL_MAX_CAPACITY + 512, UINT64_MAX, (uint64_t)INT64_MAX };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(volume_check_capacity(good[i], "capacity"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sp_error_clear();
		if (volume_check_capacity(bad[i], "size") != -SP_E_BAD_REQUEST)
			fail_msg("capacity %llu accepted", (unsigned long long)bad[i]);
		assert_string_equal(sp_error_last()->field, "size");
		assert_string_equal(sp_error_last()->kind, "invalid_field");
	}
}

static void test_format_and_alloc_parse(void **state)
{
	(void)state;
	enum vol_format f = VOL_FORMAT_RAW;
	enum vol_alloc a = VOL_ALLOC_SPARSE;

	assert_int_equal(vol_format_parse("qcow2", &f), 0);
	assert_int_equal(f, VOL_FORMAT_QCOW2);
	assert_int_equal(vol_format_parse("raw", &f), 0);
	assert_int_equal(f, VOL_FORMAT_RAW);
	assert_true(vol_format_parse("Raw", &f) < 0);
	assert_true(vol_format_parse("", &f) < 0);
	assert_true(vol_format_parse("qcow", &f) < 0);
	assert_int_equal(vol_alloc_parse("preallocated", &a), 0);
	assert_int_equal(a, VOL_ALLOC_PREALLOCATED);
	assert_int_equal(vol_alloc_parse("sparse", &a), 0);
	assert_int_equal(a, VOL_ALLOC_SPARSE);
	assert_true(vol_alloc_parse("thin", &a) < 0);
	assert_string_equal(vol_format_str(VOL_FORMAT_QCOW2), "qcow2");
	assert_string_equal(vol_alloc_str(VOL_ALLOC_PREALLOCATED), "preallocated");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_json_form),
		cmocka_unit_test(test_every_corrupt_field_rejected),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_capacity_checks),
		cmocka_unit_test(test_format_and_alloc_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
