#include "lib/util/prio.h"

#include <errno.h>
#include <linux/ioprio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Both calls take a thread id: Linux keeps nice and I/O priority per task,
 * and "who" 0 of ioprio_set is the caller. glibc wraps neither gettid use. */
static int set_io(int class, int level)
{
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_PRIO_VALUE(class, level)) < 0)
		return -errno;
	return 0;
}

int prio_raise_self(void)
{
	int r = 0;
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), PRIO_NICE) < 0)
		r = -errno;
	int q = set_io(IOPRIO_CLASS_RT, 0);
	if (q == -EPERM)
		q = set_io(IOPRIO_CLASS_BE, 0);
	return r < 0 ? r : q;
}
