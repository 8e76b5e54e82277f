/* lib/util/prio: the extend path's threads get the CPU and the LUN first, and
 * only they: the agent's other threads (the API) keep the VMs' priority. */
#include "testutil.h"

#include <errno.h>
#include <linux/ioprio.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/util/prio.h"

struct seen {
	int r, nice, ioprio;
};

static int my_nice(void)
{
	errno = 0;
	int n = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	assert_int_equal(errno, 0);
	return n;
}

static int my_ioprio(void)
{
	return (int)syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
}

static void *raise_and_look(void *arg)
{
	struct seen *s = arg;
	s->r = prio_raise_self();
	s->nice = my_nice();
	s->ioprio = my_ioprio();
	return NULL;
}

static void test_raises_the_calling_thread_only(void **state)
{
	(void)state;
	int nice_before = my_nice(), io_before = my_ioprio();
	struct seen s = { 0 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, raise_and_look, &s), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	if (geteuid() == 0) {
		/* as the daemon runs */
		assert_int_equal(s.r, 0);
		assert_int_equal(s.nice, PRIO_NICE);
		assert_int_equal(s.ioprio, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_RT, 0));
	} else {
		/* without privilege: the highest best-effort level, which
		 * needs none, and the nice left as it was */
		assert_true(s.r == -EACCES || s.r == -EPERM);
		assert_int_equal(s.nice, nice_before);
		assert_int_equal(s.ioprio, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 0));
	}
	/* this thread, as every other thread of the process, is untouched */
	assert_int_equal(my_nice(), nice_before);
	assert_int_equal(my_ioprio(), io_before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raises_the_calling_thread_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
