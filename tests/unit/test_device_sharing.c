/* lib/device_sharing: a device is shared only when every host connected to
 * the pool sees it. */
#include "testutil.h"

#include "lib/device_sharing.h"

#define A "360000000000000000e00000000010001"
#define B "360000000000000000e00000000020001"
#define C "3600140500000000000000000000000c"

static void test_compute(void **state)
{
	(void)state;
	const char *h1[] = { B, A, C, A, NULL }, *h2[] = { A, C, NULL }, *h3[] = { C, A, NULL };
	struct host_wwids hosts[] = { { 1, h1 }, { 2, h2 }, { 3, h3 } };

	char **s = device_sharing_compute(hosts, 3);
	assert_non_null(s[0]);
	assert_string_equal(s[0], A); /* sorted, each once */
	assert_string_equal(s[1], C);
	assert_null(s[2]);
	device_sharing_free(s);
	assert_true(device_sharing_is_shared(hosts, 3, A));
	assert_false(device_sharing_is_shared(hosts, 3, B)); /* host 1 only */
	assert_false(device_sharing_is_shared(hosts, 3, "unknown"));

	/* the LUN exported to one host only is shared in a pool of that host alone */
	s = device_sharing_compute(hosts, 1);
	assert_string_equal(s[0], A);
	assert_string_equal(s[1], B);
	assert_string_equal(s[2], C);
	device_sharing_free(s);
}

static void test_compute_edges(void **state)
{
	(void)state;
	const char *none[] = { NULL }, *h1[] = { A, NULL };
	struct host_wwids one_blind[] = { { 1, h1 }, { 2, none } };
	struct host_wwids null_list[] = { { 1, h1 }, { 2, NULL } };

	char **s = device_sharing_compute(NULL, 0); /* no host: nothing is shared */
	assert_null(s[0]);
	device_sharing_free(s);
	assert_false(device_sharing_is_shared(NULL, 0, A));
	s = device_sharing_compute(one_blind, 2); /* a host that sees nothing */
	assert_null(s[0]);
	device_sharing_free(s);
	s = device_sharing_compute(null_list, 2);
	assert_null(s[0]);
	device_sharing_free(s);
}

#define P1 "11111111-1111-4111-8111-111111111111"
#define P2 "22222222-2222-4222-8222-222222222222"

static void test_registry(void **state)
{
	(void)state;
	const char *h1[] = { A, B, NULL }, *h2[] = { A, NULL }, *h2_later[] = { A, B, NULL }, *h3[] = { C, NULL };
	unsigned *missing = NULL;

	assert_int_equal(device_sharing_state(NULL, A, 1, h1, NULL), -ENODATA); /* in no pool yet */
	device_sharing_set_pool(P1, (struct host_wwids[]){ { 1, h1 }, { 2, h2 } }, 2);
	assert_int_equal(device_sharing_state(P1, A, 1, NULL, NULL), 1);
	assert_int_equal(device_sharing_state(P1, B, 1, NULL, &missing), 0);
	assert_int_equal(missing[0], 2); /* who does not see it */
	assert_int_equal(missing[1], 0);
	free(missing);
	assert_int_equal(device_sharing_state(P2, A, 1, NULL, NULL), -ENODATA); /* not a pool of this host */
	/* host 2 logged in to B's target: the pool's set is replaced as a whole */
	device_sharing_set_pool(P1, (struct host_wwids[]){ { 1, h1 }, { 2, h2_later } }, 2);
	assert_int_equal(device_sharing_state(P1, B, 1, NULL, NULL), 1);
	/* this host's fresh list wins over what it published */
	const char *h1_now[] = { A, NULL };
	missing = NULL;
	assert_int_equal(device_sharing_state(P1, B, 1, h1_now, &missing), 0);
	assert_int_equal(missing[0], 1);
	free(missing);

	/* in two pools: shared only when every host of both sees it; hosts named once, ascending */
	device_sharing_set_pool(P2, (struct host_wwids[]){ { 3, h3 }, { 1, h1 } }, 2);
	assert_int_equal(device_sharing_state(P2, C, 1, NULL, NULL), 0);
	missing = NULL;
	assert_int_equal(device_sharing_state(NULL, B, 1, NULL, &missing), 0);
	assert_int_equal(missing[0], 3);
	assert_int_equal(missing[1], 0);
	free(missing);
	assert_int_equal(device_sharing_state(P1, A, 1, NULL, NULL), 1);
	assert_int_equal(device_sharing_state(NULL, A, 1, NULL, NULL), 0); /* host 3 (pool 2) does not see A */

	/* a host leaves: the pool's set without it */
	device_sharing_set_pool(P2, (struct host_wwids[]){ { 1, h1 } }, 1);
	assert_int_equal(device_sharing_state(NULL, A, 1, NULL, NULL), 1);
	device_sharing_forget_pool(P1);
	device_sharing_forget_pool(P2);
	assert_int_equal(device_sharing_state(NULL, A, 1, NULL, NULL), -ENODATA);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compute),
		cmocka_unit_test(test_compute_edges),
		cmocka_unit_test(test_registry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
