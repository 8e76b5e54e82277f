/* lease/: lockspaces and resource leases against REAL sanlock daemons, one
 * per simulated host (hosts 1, 2, 3), each with its own SANLOCK_RUN_DIR and
 * SANLOCK_PRIVILEGED=0, leases on plain files in a temporary directory.
 * A short io_timeout keeps the whole run to well under a minute (~15 s).
 *
 * The tests are steps of one scenario and run in order, sharing `world`.
 * Measured times are printed as `figure NAME VALUE UNIT` lines on stdout.
 * Every daemon is killed (process group, and PR_SET_PDEATHSIG should this
 * process die) and the directory removed, whatever the outcome
 * (SANPOOL_TEST_KEEP=1 keeps it, with each daemon's log, for debugging). */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sanlock.h>
#include <sanlock_admin.h>

#include "lease/lease.h"
#include "lib/util/error.h"

#define NHOSTS 3
/* sanlock's io_timeout in seconds (SANPOOL_TEST_IO_TIMEOUT, default 2): a
 * join takes 2 * io_timeout + 1 s; 1 s works too but leaves little slack
 * for renewals when the machine is busy with other tests */
static unsigned io_timeout = 2;
#define IO_TIMEOUT io_timeout
#define LS_NAME "sp-test"
#define RES_NAME "SDM"

struct host {
	char *run_dir;
	pid_t daemon; /* also its process group */
	struct lockspace *ls;
};

static struct {
	char *dir;
	char *ids;    /* lockspace area */
	char *leases; /* SPM lease at 0, an unused area at 1 MiB */
	char *run_link; /* SANLOCK_RUN_DIR of this process: a link to a host's run dir */
	struct host h[NHOSTS + 1]; /* 1-based: h[1..3] */
	pid_t holder;              /* host 1's lease-holding process */
	uint64_t gen1, gen2;       /* generations seen by the first two owners */
	struct lease_client *c2;   /* host 2's connection (this process) */
} world;

static void figure(const char *name, double value, const char *unit)
{
	printf("figure %s %.3f %s\n", name, value, unit);
	fflush(stdout);
}

static struct lease_ref spm_ref(void)
{
	return (struct lease_ref){.lockspace = LS_NAME, .name = RES_NAME, .path = world.leases, .offset = 0};
}

/* ------------------------------------------------------------------------
 * Simulated hosts: one sanlock daemon each.
 */

static void kill_group(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(-*pid, SIGKILL);
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = 0;
}

static void cleanup_world(void)
{
	kill_group(&world.holder);
	lease_client_close(world.c2);
	world.c2 = NULL;
	for (int i = 1; i <= NHOSTS; i++) {
		kill_group(&world.h[i].daemon);
		lockspace_free(world.h[i].ls);
		world.h[i].ls = NULL;
		free(world.h[i].run_dir);
		world.h[i].run_dir = NULL;
	}
	if (world.dir && !getenv("SANPOOL_TEST_KEEP"))
		rm_rf(world.dir);
	free(world.dir);
	free(world.ids);
	free(world.leases);
	free(world.run_link);
	world.dir = world.ids = world.leases = world.run_link = NULL;
}

/* Which host this process speaks for. libsanlock reads SANLOCK_RUN_DIR once
 * and keeps it, so it names a symbolic link, <dir>/run, that is pointed at
 * host i's run directory (atomically: a new link renamed over the old one).
 * Each connection to the daemon resolves it; a registered connection stays
 * with the daemon it was opened to. */
static void use_host(int i)
{
	char *tmp = xasprintf("%s/run.new", world.dir);

	unlink(tmp);
	assert_int_equal(symlink(world.h[i].run_dir, tmp), 0);
	assert_int_equal(rename(tmp, world.run_link), 0);
	free(tmp);
}

static pid_t start_daemon(int i)
{
	char *log = xasprintf("%s/daemon.log", world.h[i].run_dir);
	char name[16];
	pid_t pid;

	snprintf(name, sizeof(name), "host%d", i);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setenv("SANLOCK_RUN_DIR", world.h[i].run_dir, 1);
		setenv("SANLOCK_PRIVILEGED", "0", 1);
		/* -w 0: no watchdog (no wdmd here); -l 0: no mlockall (the memlock
		 * limit); -U/-G root: stay root, the files are ours */
		execlp("sanlock", "sanlock", "daemon", "-D", "-w", "0", "-l", "0", "-U", "root", "-G",
		       "root", "-e", name, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	free(log);
	return pid;
}

static bool daemon_ready(int i)
{
	uint32_t version = 0, proto = 0;

	use_host(i);
	return sanlock_version(0, &version, &proto) == 0;
}

static void make_area(const char *path, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char *zero = xcalloc(1, size);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, zero, size), (ssize_t)size);
	assert_int_equal(fsync(fd), 0);
	close(fd);
	free(zero);
}

static int group_setup(void **state)
{
	(void)state;
	if (getenv("SANPOOL_TEST_IO_TIMEOUT"))
		io_timeout = (unsigned)strtoul(getenv("SANPOOL_TEST_IO_TIMEOUT"), NULL, 10);
	if (io_timeout < 1 || io_timeout > 10)
		io_timeout = 2;
	atexit(cleanup_world);
	world.dir = test_mkdtemp();
	world.ids = xasprintf("%s/ids", world.dir);
	world.leases = xasprintf("%s/leases", world.dir);
	world.run_link = xasprintf("%s/run", world.dir);
	setenv("SANLOCK_RUN_DIR", world.run_link, 1);
	make_area(world.ids, LEASE_AREA_SIZE);
	make_area(world.leases, 2 * LEASE_AREA_SIZE);
	for (int i = 1; i <= NHOSTS; i++) {
		world.h[i].run_dir = xasprintf("%s/host%d", world.dir, i);
		if (mkdir(world.h[i].run_dir, 0700) < 0)
			return -1;
		world.h[i].daemon = start_daemon(i);
	}
	for (int i = 1; i <= NHOSTS; i++) {
		double t0 = test_now();
		while (!daemon_ready(i)) {
			if (test_now() - t0 > 10) {
				fprintf(stderr, "sanlock daemon of host %d did not start (see %s/daemon.log)\n",
					i, world.h[i].run_dir);
				return -1;
			}
			usleep(20 * 1000);
		}
	}
	figure("lease_io_timeout", IO_TIMEOUT, "s");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cleanup_world();
	return 0;
}

/* ------------------------------------------------------------------------ */

static void test_bad_arguments(void **state)
{
	struct lockspace *ls = NULL;
	struct lease_ref bad = spm_ref();
	struct lease_info info;

	(void)state;
	assert_int_equal(lockspace_new(LS_NAME, world.ids, 0, 0, 1, &ls), -SP_E_BAD_REQUEST);
	assert_string_equal(sp_error_last()->field, "host_id");
	assert_int_equal(lockspace_new(LS_NAME, world.ids, 0, 2001, 1, &ls), -SP_E_BAD_REQUEST);
	assert_int_equal(lockspace_new(LS_NAME, world.ids, 4096, 1, 1, &ls), -SP_E_BAD_REQUEST);
	assert_string_equal(sp_error_last()->field, "offset");
	assert_int_equal(lockspace_new("a:b", world.ids, 0, 1, 1, &ls), -SP_E_BAD_REQUEST);
	assert_int_equal(lockspace_new(LS_NAME, "relative", 0, 1, 1, &ls), -SP_E_BAD_REQUEST);
	assert_null(ls);
	bad.name = "0123456789012345678901234567890123456789012345678"; /* 49 */
	assert_int_equal(lease_read(&bad, &info), -SP_E_BAD_REQUEST);
	assert_string_equal(sp_error_last()->field, "name");
}

static void test_join_lockspace_three_hosts(void **state)
{
	struct lease_ref ref = spm_ref();
	struct lease_ref unused = spm_ref();
	struct lease_info info;
	struct lockspace_status st;
	bool joined[NHOSTS + 1] = {false};
	bool saw_progress = false;
	unsigned last_progress[NHOSTS + 1] = {0};
	double t0, slowest = 0;
	int n_joined = 0;

	(void)state;
	for (int i = 1; i <= NHOSTS; i++) {
		assert_int_equal(lockspace_new(LS_NAME, world.ids, 0, (unsigned)i, IO_TIMEOUT,
					       &world.h[i].ls),
				 0);
		use_host(i);
		assert_int_equal(lockspace_poll(world.h[i].ls, &st), 0);
		assert_int_equal(st.state, LOCKSPACE_IDLE);
	}

	/* host 1 creates the domain: lockspace and lease areas */
	use_host(1);
	if (lockspace_format(world.h[1].ls) < 0)
		fail_msg("%s", sp_error_last()->message);
	assert_int_equal(lease_format(&ref), 0);
	use_host(2);
	assert_int_equal(lease_read(&ref, &info), 0);
	assert_int_equal(info.generation, 0);
	assert_false(info.held);
	unused.offset = LEASE_AREA_SIZE; /* never initialised */
	assert_int_equal(lease_read(&unused, &info), -SP_E_CORRUPT);
	printf("# uninitialised area: %s\n", sp_error_last()->message);

	t0 = test_now();
	for (int i = 1; i <= NHOSTS; i++) {
		use_host(i);
		assert_int_equal(lockspace_join(world.h[i].ls), 0);
	}
	/* joining again while in progress is not an error */
	assert_int_equal(lockspace_join(world.h[NHOSTS].ls), 0);

	while (n_joined < NHOSTS) {
		assert_true(test_now() - t0 < 10 * IO_TIMEOUT + 10);
		for (int i = 1; i <= NHOSTS; i++) {
			if (joined[i])
				continue;
			use_host(i);
			assert_int_equal(lockspace_poll(world.h[i].ls, &st), 0);
			if (st.state == LOCKSPACE_JOINING) {
				assert_true(st.progress < 100);
				if (st.progress > 0 && st.progress != last_progress[i]) {
					saw_progress = true;
					if (st.progress / 25 != last_progress[i] / 25)
						printf("# host %d joining: %u%% after %.1f s\n", i, st.progress,
						       st.elapsed);
				}
				last_progress[i] = st.progress;
				continue;
			}
			assert_int_equal(st.state, LOCKSPACE_JOINED);
			assert_int_equal(st.progress, 100);
			assert_int_equal(st.host_id, i);
			printf("# host %d joined in %.2f s\n", i, st.join_time);
			if (st.join_time > slowest)
				slowest = st.join_time;
			joined[i] = true;
			n_joined++;
		}
		usleep(100 * 1000);
	}
	assert_true(saw_progress);
	figure("lease_lockspace_join", slowest, "s");

	/* each join went to its own daemon: each daemon knows only its host id */
	for (int i = 1; i <= NHOSTS; i++) {
		for (int j = 1; j <= NHOSTS; j++) {
			struct sanlk_lockspace s = {.host_id = (uint64_t)j};

			memcpy(s.name, LS_NAME, strlen(LS_NAME));
			snprintf(s.host_id_disk.path, sizeof(s.host_id_disk.path), "%s", world.ids);
			use_host(i);
			assert_int_equal(sanlock_inq_lockspace(&s, 0), i == j ? 0 : -ENOENT);
		}
	}
}

/* The process holding host 1's lease: acquires, reports, waits to be killed. */
static void holder_main(int wfd)
{
	struct lease_client *c = NULL;
	struct lease_ref ref = spm_ref();
	uint64_t gen = 0;
	double t0;
	int rv;
	char msg[2048];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	rv = lease_client_open(&c); /* the parent pointed the link at host 1 */
	t0 = test_now();
	if (rv == 0)
		rv = lease_acquire(c, &ref, &gen, NULL);
	snprintf(msg, sizeof(msg), "%d %llu %.6f %s", rv, (unsigned long long)gen, test_now() - t0,
		 rv < 0 ? sp_error_last()->message : "");
	if (write(wfd, msg, strlen(msg) + 1) < 0)
		_exit(1);
	close(wfd);
	for (;;)
		pause();
}

static void test_acquire_then_refused_with_owner(void **state)
{
	struct lease_ref ref = spm_ref();
	struct lease_info info;
	char msg[2048] = "";
	int pfd[2], rv = 0;
	unsigned long long gen = 0;
	double acquire_s = 0, t0;
	unsigned owner = 0;
	ssize_t n;

	(void)state;
	assert_non_null(world.h[1].ls);
	fflush(stdout);
	use_host(1);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	world.holder = fork();
	assert_true(world.holder >= 0);
	if (world.holder == 0) {
		close(pfd[0]);
		holder_main(pfd[1]);
	}
	close(pfd[1]);
	n = read(pfd[0], msg, sizeof(msg) - 1);
	close(pfd[0]);
	assert_true(n > 0);
	assert_int_equal(sscanf(msg, "%d %llu %lf", &rv, &gen, &acquire_s), 3);
	if (rv != 0)
		fail_msg("host 1 could not acquire: %s", msg);
	assert_true(gen >= 1);
	world.gen1 = gen;
	printf("# host 1 (pid %d) holds %s/%s, generation %llu\n", world.holder, LS_NAME, RES_NAME, gen);
	figure("lease_acquire_free", acquire_s * 1000, "ms");

	/* host 2 is refused at once, host 1 named */
	use_host(2);
	assert_int_equal(lease_client_open(&world.c2), 0);
	for (int round = 1; round <= 2; round++) {
		double took;

		t0 = test_now();
		rv = lease_acquire(world.c2, &ref, NULL, &owner);
		took = test_now() - t0;
		assert_int_equal(rv, -SP_E_LEASE_HELD);
		assert_int_equal(owner, 1);
		assert_non_null(strstr(sp_error_last()->message, "held by host 1"));
		assert_string_equal(sp_error_last()->kind, "lease_held");
		printf("# host 2 refused in %.1f ms: %s\n", took * 1000, sp_error_last()->message);
		/* the first look at a new owner host can take one io_timeout
		 * (sanlock watches its delta lease renew); never a host-dead time */
		figure(round == 1 ? "lease_refused_held_first" : "lease_refused_held", took * 1000, "ms");
		assert_true(took < IO_TIMEOUT + 1.0);
	}

	/* every host reads the same owner and generation from storage */
	use_host(3);
	assert_int_equal(lease_read(&ref, &info), 0);
	assert_true(info.held);
	assert_int_equal(info.owner_host_id, 1);
	assert_int_equal(info.generation, world.gen1);
}

static void test_takeover_after_holder_process_exits(void **state)
{
	struct lease_ref ref = spm_ref();
	struct lease_info info;
	uint64_t gen = 0, held = 0;
	unsigned owner = 0;
	double t0, took;
	int rv, tries = 0;

	(void)state;
	assert_true(world.holder > 0 && world.c2);
	/* host 1's agent dies; its sanlock daemon lives on and frees the lease */
	t0 = test_now();
	kill_group(&world.holder);
	use_host(2);
	for (;;) {
		tries++;
		rv = lease_acquire(world.c2, &ref, &gen, &owner);
		if (rv == 0)
			break;
		assert_int_equal(rv, -SP_E_LEASE_HELD);
		if (test_now() - t0 > 10)
			fail_msg("host 2 could not take the lease within 10 s: %s", sp_error_last()->message);
		usleep(5 * 1000);
	}
	took = test_now() - t0;
	printf("# host 2 took the lease after %d tries, generation %llu\n", tries,
	       (unsigned long long)gen);
	figure("lease_takeover_after_process_exit", took * 1000, "ms");
	assert_true(gen > world.gen1);
	world.gen2 = gen;
	assert_int_equal(lease_held_generation(world.c2, &ref, &held), 0);
	assert_int_equal(held, gen);
	use_host(1);
	assert_int_equal(lease_read(&ref, &info), 0);
	assert_int_equal(info.owner_host_id, 2);
	assert_int_equal(info.generation, gen);
	/* acquiring twice on one connection */
	assert_int_equal(lease_acquire(world.c2, &ref, NULL, NULL), -EEXIST);
}

static void test_release_and_next_owner(void **state)
{
	struct lease_ref ref = spm_ref();
	struct lease_ref other = spm_ref();
	struct lease_client *c3 = NULL, *c1 = NULL;
	struct lease_info info;
	uint64_t gen3 = 0, x = 0;
	unsigned owner = 0;

	(void)state;
	assert_non_null(world.c2);
	assert_int_equal(lease_release(world.c2, &ref), 0);
	assert_int_equal(lease_held_generation(world.c2, &ref, &x), -ENOENT);
	assert_int_equal(lease_release(world.c2, &ref), -ENOENT);
	printf("# release of a lease not held: %s\n", sp_error_last()->message);
	use_host(3);
	assert_int_equal(lease_read(&ref, &info), 0);
	printf("# after release: generation %llu held %d owner %u\n",
	       (unsigned long long)info.generation, info.held, info.owner_host_id);
	assert_int_equal(info.generation, world.gen2);

	/* host 3 takes it: the generation grows again; host 1 is refused, 3 named */
	assert_int_equal(lease_client_open(&c3), 0);
	assert_int_equal(lease_acquire(c3, &ref, &gen3, NULL), 0);
	assert_true(gen3 > world.gen2);
	use_host(1);
	assert_int_equal(lease_client_open(&c1), 0);
	assert_int_equal(lease_acquire(c1, &ref, NULL, &owner), -SP_E_LEASE_HELD);
	assert_int_equal(owner, 3);

	/* a lease of a lockspace this host has not joined */
	other.lockspace = "not-joined";
	assert_int_not_equal(lease_acquire(c1, &other, NULL, NULL), 0);
	printf("# lockspace not joined: %d %s\n", sp_error_last()->code, sp_error_last()->message);

	assert_int_equal(lease_release(c3, &ref), 0);
	lease_client_close(c3);
	lease_client_close(c1);
	lease_client_close(world.c2);
	world.c2 = NULL;
}

static void wait_state(int host, enum lockspace_state want, double limit, double *ret_took)
{
	struct lockspace *ls = world.h[host].ls;
	struct lockspace_status st;
	double t0 = test_now();

	use_host(host);
	for (;;) {
		assert_int_equal(lockspace_poll(ls, &st), 0);
		if (st.state == want)
			break;
		if (test_now() - t0 > limit)
			fail_msg("lockspace still %s after %.0f s (wanted %s)",
				 lockspace_state_name(st.state), limit, lockspace_state_name(want));
		usleep(50 * 1000);
	}
	*ret_took = test_now() - t0;
}

static void test_lockspace_loss(void **state)
{
	struct lockspace_status st;
	double took;
	char zero[512] = {0};
	int fd;

	(void)state;
	for (int i = 1; i <= NHOSTS; i++) {
		assert_non_null(world.h[i].ls);
		use_host(i);
		assert_int_equal(lockspace_poll(world.h[i].ls, &st), 0);
		assert_int_equal(st.state, LOCKSPACE_JOINED);
	}

	/* host 2 can no longer renew its host id: its delta lease record
	 * (sector host_id - 1 of the ids area) is overwritten under it */
	fd = open(world.ids, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, zero, sizeof(zero), 1 * 512), (ssize_t)sizeof(zero));
	assert_int_equal(fsync(fd), 0);
	close(fd);
	wait_state(2, LOCKSPACE_LOST, 20 * IO_TIMEOUT + 10, &took);
	assert_int_equal(lockspace_poll(world.h[2].ls, &st), 0);
	printf("# host 2 lost its lockspace (error %d) %.2f s after its record was destroyed\n",
	       st.error, took);
	figure("lease_lockspace_lost_renewal", took, "s");

	/* host 3's sanlock daemon dies */
	kill_group(&world.h[3].daemon);
	wait_state(3, LOCKSPACE_LOST, 5, &took);
	assert_int_equal(lockspace_poll(world.h[3].ls, &st), 0);
	printf("# host 3 lost its lockspace (error %d) %.3f s after its daemon was killed\n", st.error,
	       took);
	figure("lease_lockspace_lost_daemon", took * 1000, "ms");

	/* host 1 still holds its id, and leaves cleanly */
	use_host(1);
	assert_int_equal(lockspace_poll(world.h[1].ls, &st), 0);
	assert_int_equal(st.state, LOCKSPACE_JOINED);
	assert_int_equal(lockspace_leave(world.h[1].ls), 0);
	assert_int_equal(lockspace_poll(world.h[1].ls, &st), 0);
	assert_int_equal(st.state, LOCKSPACE_IDLE);
	assert_int_equal(lockspace_leave(world.h[1].ls), 0); /* not joined: fine */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_join_lockspace_three_hosts),
		cmocka_unit_test(test_acquire_then_refused_with_owner),
		cmocka_unit_test(test_takeover_after_holder_process_exits),
		cmocka_unit_test(test_release_and_next_owner),
		cmocka_unit_test(test_lockspace_loss),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
