/* lib/block_tags: a block volume's metadata as LV tags. */
#include "testutil.h"

#include "lib/block_tags.h"
#include "lib/lvm.h"
#include "lib/util/error.h"

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
	m.alloc = VOL_ALLOC_SPARSE;
	m.capacity = 10ULL << 40;
	m.legal = true;
	m.generation = 7;
	m.ctime = 1700000000;
	return m;
}

/* The tags as lvm_lvs returns them: a NULL-terminated array. */
static char **as_list(const struct block_tags *t, char **out)
{
	for (size_t i = 0; i < t->n; i++)
		out[i] = (char *)t->v[i];
	out[t->n] = NULL;
	return out;
}

static void test_round_trip_every_field(void **state)
{
	(void)state;
	for (int with_parent = 0; with_parent < 2; with_parent++) {
		struct volume_meta m = sample(with_parent), back;
		struct block_tags t;
		char *list[BLOCK_TAGS_MAX + 1];
		block_tags_from_meta(&m, &t);
		for (size_t i = 0; i < t.n; i++)
			assert_true(lvm_tag_is_valid(t.v[i])); /* LVM must accept every tag */
		assert_int_equal(block_tags_to_meta(U_DOM, U_VOL, as_list(&t, list), &back), 0);
		assert_memory_equal(&m, &back, sizeof(m));
	}
}

static void test_not_a_volume(void **state)
{
	(void)state;
	char *tags[] = { "other=1", NULL };
	struct volume_meta m;
	assert_int_equal(block_tags_to_meta(U_DOM, "journal", tags, &m), -ENOENT);
	assert_int_equal(block_tags_to_meta(U_DOM, "journal", (char *[]){ NULL }, &m), -ENOENT);
}

/* Each damaged tag is refused and named; nothing half-parsed is returned. */
static void test_corrupt_tags(void **state)
{
	(void)state;
	static const struct {
		const char *key, *value;
	} bad[] = {
		{ "sp.i", "not-a-uuid" }, { "sp.p", "xyz" }, { "sp.f", "vmdk" }, { "sp.a", "x" }, { "sp.c", "0" },
		{ "sp.c", "12abc" }, { "sp.l", "MAYBE" }, { "sp.s", "2" }, { "sp.g", "-1" }, { "sp.t", "" },
		{ "sp.n", "../x" },
		/* over INT64_MAX: the API and the JSON metadata would show it negative (found by fuzz_block_tags) */
		{ "sp.c", "13421772800000000000" }, { "sp.g", "9223372036854775808" }, { "sp.t", "18446744073709551615" },
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct volume_meta m = sample(true), out;
		memset(&out, 0xab, sizeof(out));
		struct volume_meta untouched = out;
		struct block_tags t;
		char *list[BLOCK_TAGS_MAX + 1];
		block_tags_from_meta(&m, &t);
		for (size_t i = 0; i < t.n; i++)
			if (strncmp(t.v[i], bad[k].key, strlen(bad[k].key)) == 0 && t.v[i][strlen(bad[k].key)] == '=')
				snprintf(t.v[i], BLOCK_TAG_LEN, "%s=%s", bad[k].key, bad[k].value);
		assert_int_equal(block_tags_to_meta(U_DOM, U_VOL, as_list(&t, list), &out), -SP_E_CORRUPT);
		assert_string_equal(sp_error_last()->field, bad[k].key + 3);
		assert_memory_equal(&out, &untouched, sizeof(out));
	}
	/* a parent without its image */
	struct volume_meta m = sample(true), out;
	struct block_tags t;
	char *list[BLOCK_TAGS_MAX + 1];
	block_tags_from_meta(&m, &t);
	for (size_t i = 0; i < t.n; i++)
		if (strncmp(t.v[i], "sp.pi=", 6) == 0)
			snprintf(t.v[i], BLOCK_TAG_LEN, "sp.x=1");
	assert_int_equal(block_tags_to_meta(U_DOM, U_VOL, as_list(&t, list), &out), -SP_E_CORRUPT);
}

/* A metadata change is the tags that differ, nothing else: one small lvchange. */
static void test_diff(void **state)
{
	(void)state;
	struct volume_meta a = sample(false), b = a;
	struct block_tags ta, tb;
	const char *add[BLOCK_TAGS_MAX + 1], *del[BLOCK_TAGS_MAX + 1];

	b.legal = false;
	b.generation++;
	block_tags_from_meta(&a, &ta);
	block_tags_from_meta(&b, &tb);
	block_tags_diff(&ta, &tb, add, del);
	assert_string_equal(add[0], "sp.l=I");
	assert_string_equal(add[1], "sp.g=8");
	assert_null(add[2]);
	assert_string_equal(del[0], "sp.l=L");
	assert_string_equal(del[1], "sp.g=7");
	assert_null(del[2]);

	block_tags_diff(&ta, &ta, add, del);
	assert_null(add[0]);
	assert_null(del[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_field),
		cmocka_unit_test(test_not_a_volume),
		cmocka_unit_test(test_corrupt_tags),
		cmocka_unit_test(test_diff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
