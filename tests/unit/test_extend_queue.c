/* lib/extend_queue: the thin monitor's extend requests, one per volume however
 * many events libvirt sends for it. */
#include "testutil.h"

#include <pthread.h>

#include "lib/extend_queue.h"

#define D "11111111-1111-4111-8111-111111111111"
#define I "22222222-2222-4222-8222-222222222222"
#define V1 "33333333-3333-4333-8333-333333333333"
#define V2 "44444444-4444-4444-8444-444444444444"

static void test_events_for_one_volume_make_one_extend(void **state)
{
	(void)state;
	struct extend_queue *q = xq_new();
	struct xq_item it;

	/* a threshold event, then the ENOSPC of every write in flight when the VM paused */
	assert_int_equal(xq_push(q, D, I, V1, XQ_THRESHOLD, 100), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(xq_push(q, D, I, V1, XQ_ENOSPC, 200 + i), 1);
	assert_int_equal(xq_pop(q, 0, &it), 0);
	assert_string_equal(it.domain, D);
	assert_string_equal(it.image, I);
	assert_string_equal(it.volume, V1);
	assert_int_equal(it.flags, XQ_THRESHOLD | XQ_ENOSPC);
	assert_int_equal(it.first_event_ms, 100); /* latency counts from the first event */
	/* nothing else waits */
	assert_int_equal(xq_pop(q, 0, &it), -EAGAIN);
	xq_done(q, V1);
	assert_int_equal(xq_pop(q, 0, &it), -EAGAIN);

	unsigned waiting, in_flight;
	uint64_t merged;
	xq_counts(q, &waiting, &in_flight, &merged);
	assert_int_equal(waiting, 0);
	assert_int_equal(in_flight, 0);
	assert_int_equal(merged, 5);
	xq_free(q);
}

static void test_events_during_an_extend_wait_beside_it(void **state)
{
	(void)state;
	struct extend_queue *q = xq_new();
	struct xq_item it, it2;

	xq_push(q, D, I, V1, XQ_THRESHOLD, 1);
	assert_int_equal(xq_pop(q, 0, &it), 0);
	/* while it is extended: no second worker gets the same volume */
	assert_int_equal(xq_push(q, D, I, V1, XQ_ENOSPC, 2), 1);
	assert_int_equal(xq_pop(q, 0, &it2), -EAGAIN);
	/* the worker absorbs what came meanwhile: served by this extend */
	assert_int_equal(xq_take(q, V1), XQ_ENOSPC);
	assert_int_equal(xq_take(q, V1), 0);
	xq_done(q, V1);
	assert_int_equal(xq_pop(q, 0, &it2), -EAGAIN);

	/* what it did not absorb waits again once it is done */
	xq_push(q, D, I, V1, XQ_THRESHOLD, 3);
	assert_int_equal(xq_pop(q, 0, &it), 0);
	xq_push(q, D, I, V1, XQ_THRESHOLD, 4);
	xq_done(q, V1);
	assert_int_equal(xq_pop(q, 0, &it2), 0);
	assert_string_equal(it2.volume, V1);
	assert_int_equal(it2.flags, XQ_THRESHOLD);
	assert_int_equal(it2.first_event_ms, 4);
	xq_done(q, V1);
	xq_free(q);
}

static void test_volumes_are_independent_and_in_order(void **state)
{
	(void)state;
	struct extend_queue *q = xq_new();
	struct xq_item a, b;

	xq_push(q, D, I, V1, XQ_THRESHOLD, 1);
	xq_push(q, D, I, V2, XQ_ENOSPC, 2);
	xq_push(q, D, I, V1, XQ_ENOSPC, 3);
	assert_int_equal(xq_pop(q, 0, &a), 0);
	assert_int_equal(xq_pop(q, 0, &b), 0);
	assert_string_equal(a.volume, V1);
	assert_int_equal(a.flags, XQ_THRESHOLD | XQ_ENOSPC);
	assert_string_equal(b.volume, V2);
	assert_int_equal(b.flags, XQ_ENOSPC);

	unsigned waiting, in_flight;
	uint64_t merged;
	xq_counts(q, &waiting, &in_flight, &merged);
	assert_int_equal(waiting, 0);
	assert_int_equal(in_flight, 2);
	xq_done(q, V2);
	xq_done(q, V1);
	xq_counts(q, &waiting, &in_flight, &merged);
	assert_int_equal(in_flight, 0);
	xq_free(q); /* frees what is left: nothing here */
}

struct popper {
	struct extend_queue *q;
	int r;
	struct xq_item it;
};

static void *pop_forever(void *arg)
{
	struct popper *p = arg;
	p->r = xq_pop(p->q, -1, &p->it);
	return NULL;
}

static void test_a_waiting_worker_wakes(void **state)
{
	(void)state;
	struct extend_queue *q = xq_new();
	struct popper p = { .q = q, .r = 1 }, p2 = { .q = q, .r = 1 };
	pthread_t t, t2;

	/* a push wakes a worker waiting without a deadline */
	assert_int_equal(pthread_create(&t, NULL, pop_forever, &p), 0);
	xq_push(q, D, I, V1, XQ_THRESHOLD, 1);
	pthread_join(t, NULL);
	assert_int_equal(p.r, 0);
	assert_string_equal(p.it.volume, V1);
	xq_done(q, V1);

	/* stop wakes it for good */
	assert_int_equal(pthread_create(&t2, NULL, pop_forever, &p2), 0);
	xq_stop(q);
	pthread_join(t2, NULL);
	assert_int_equal(p2.r, -ECANCELED);
	xq_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events_for_one_volume_make_one_extend),
		cmocka_unit_test(test_events_during_an_extend_wait_beside_it),
		cmocka_unit_test(test_volumes_are_independent_and_in_order),
		cmocka_unit_test(test_a_waiting_worker_wakes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
