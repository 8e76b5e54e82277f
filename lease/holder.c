/* Lease-holder processes (see holder.h): started by the agent, found again
 * by the agent after a restart (vlease.c records their pids in run_dir),
 * stopped by it at teardown or release. */
#include "lease/holder.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/log.h"
#include "lib/util/xalloc.h"

#define HOLDER_FLAG "--lease-holder"
#define ANSWER_TIMEOUT_MS 60000 /* acquiring is a few disk I/Os, bounded by sanlock's io_timeout */
#define STOP_TIMEOUT_MS 10000

/* ---- the holder process ---- */

int lease_holder_main(int argc, char **argv)
{
	_cleanup_(lease_client_closep) struct lease_client *c = NULL;
	uint64_t gen = 0;
	unsigned owner = 0;
	char *end = NULL;
	sigset_t set;
	int sig = 0, r;

	if (argc != 4)
		return fprintf(stderr, "usage: sanpoold %s LOCKSPACE NAME PATH OFFSET\n", HOLDER_FLAG), 2;
	struct lease_ref ref = { .lockspace = argv[0], .name = argv[1], .path = argv[2],
				 .offset = strtoull(argv[3], &end, 10) };
	if (!end || *end)
		return fprintf(stdout, "error %d invalid_field bad offset %s\n", -SP_E_BAD_REQUEST, argv[3]), 2;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((r = lease_client_open(&c)) < 0 || (r = lease_acquire(c, &ref, &gen, &owner)) < 0) {
		const struct sp_error *e = sp_error_last();
		if (r == -SP_E_LEASE_HELD)
			printf("held %u\n", owner);
		else
			printf("error %d %s %s\n", e->code, e->kind[0] ? e->kind : "lease_error", e->message);
		return 1;
	}
	printf("ok %" PRIu64 "\n", gen);
	fflush(stdout);
	/* the agent may go away: nothing more is written to its pipe */
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	char ack = 0;
	ssize_t n;
	while ((n = read(STDIN_FILENO, &ack, 1)) < 0 && errno == EINTR)
		;
	if (n != 1) {
		/* the agent did not record this holder (it died, or refused) */
		lease_release(c, &ref);
		return 1;
	}

	sigwait(&set, &sig);
	/* released explicitly (not only by exiting) so another host can take it
	 * the moment this process is gone */
	if (lease_release(c, &ref) < 0)
		log_warning("lease holder %s/%s: %s", ref.lockspace, ref.name, sp_error_last()->message);
	return 0;
}

/* ---- the agent's side ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the holder's one line (up to size - 1 bytes) until EOF, newline or the deadline. */
static int read_answer(int fd, char *buf, size_t size)
{
	size_t len = 0;
	int64_t deadline = mono_ms() + ANSWER_TIMEOUT_MS;

	while (len + 1 < size) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		ssize_t got = read(fd, buf + len, size - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
		if (memchr(buf, '\n', len))
			break;
	}
	buf[len] = '\0';
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	return (int)len;
}

int lease_holder_start(const struct lease_ref *ref, lease_holder_commit_fn commit, void *userdata, pid_t *ret_pid,
		       uint64_t *ret_generation, unsigned *ret_owner)
{
	char offset[32], answer[1200];
	int pipefd[2], ackfd[2];
	pid_t pid;

	snprintf(offset, sizeof(offset), "%" PRIu64, ref->offset);
	const char *argv[] = { "sanpoold", HOLDER_FLAG, ref->lockspace, ref->name, ref->path, offset, NULL };
	if (ret_owner)
		*ret_owner = 0;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return sp_error_set(-errno, "internal", "", "cannot make a pipe: %m");
	if (pipe2(ackfd, O_CLOEXEC) < 0) {
		int e = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return sp_error_set(e, "internal", "", "cannot make a pipe: %s", strerror(-e));
	}
	pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		close(ackfd[0]);
		close(ackfd[1]);
		return sp_error_set(e, "internal", "", "cannot start a lease holder: %s", strerror(-e));
	}
	if (pid == 0) {
		/* only async-signal-safe calls from here to exec */
		if (dup2(ackfd[0], STDIN_FILENO) < 0 || dup2(pipefd[1], STDOUT_FILENO) < 0)
			_exit(127);
		setsid(); /* its own session: a signal to the agent's group does not reach it */
		close_range(3, ~0u, 0);
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	close(ackfd[0]);
	int n = read_answer(pipefd[0], answer, sizeof(answer));
	close(pipefd[0]);

	uint64_t gen = 0;
	unsigned owner = 0;
	int code = 0;
	char kind[32] = "";
	int msg_at = 0;
	if (n > 0 && sscanf(answer, "ok %" SCNu64, &gen) == 1) {
		int r = commit ? commit(pid, gen, userdata) : 0;
		/* the acknowledgement: without it the holder lets go by itself */
		if (r >= 0 && write(ackfd[1], "", 1) != 1)
			r = sp_error_set(-errno, "internal", "", "lease %s/%s: cannot acknowledge holder %d: %m",
					 ref->lockspace, ref->name, (int)pid);
		close(ackfd[1]);
		if (r < 0) {
			struct sp_error cause;
			sp_error_copy(&cause);
			lease_holder_stop(pid, ref->name);
			return sp_error_set(cause.code, cause.kind, cause.field, "%s", cause.message);
		}
		*ret_pid = pid;
		if (ret_generation)
			*ret_generation = gen;
		log_debug("lease %s/%s: holder %d started, generation %" PRIu64, ref->lockspace, ref->name, (int)pid, gen);
		return 0;
	}
	/* it did not get the lease: it exits (or is made to) */
	close(ackfd[1]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (n > 0 && sscanf(answer, "held %u", &owner) == 1) {
		if (ret_owner)
			*ret_owner = owner;
		return sp_error_set(-SP_E_LEASE_HELD, "lease_held", "", "lease %s/%s is held by host %u", ref->lockspace,
				    ref->name, owner);
	}
	if (n > 0 && sscanf(answer, "error %d %31s %n", &code, kind, &msg_at) >= 2 && code < 0 && msg_at > 0)
		return sp_error_set(code, kind, "", "%s", answer + msg_at);
	return sp_error_set(n < 0 ? n : -EIO, "lease_error", "", "lease %s/%s: the lease holder gave no answer (%s)",
			    ref->lockspace, ref->name, n < 0 ? strerror(-n) : "it exited");
}

/* /proc/PID/cmdline names the holder of name; its state is not zombie. */
bool lease_holder_alive(pid_t pid, const char *name)
{
	char path[64], buf[2048], stat[512];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (pid <= 0)
		return false;
	if (waitpid(pid, NULL, WNOHANG) == pid)
		return false; /* our child, exited and now reaped */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || (n = read(fd, stat, sizeof(stat) - 1)) <= 0)
		return false;
	stat[n] = '\0';
	const char *st = strrchr(stat, ')');
	if (!st || st[1] != ' ' || st[2] == 'Z' || st[2] == 'X')
		return false;
	close(fd);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return false;
	buf[n] = '\0';
	/* argv: sanpoold --lease-holder LOCKSPACE NAME PATH OFFSET */
	const char *arg[4] = { NULL };
	size_t at = 0;
	for (int i = 0; i < 4 && at < (size_t)n; i++) {
		arg[i] = buf + at;
		at += strlen(buf + at) + 1;
	}
	return arg[1] && arg[3] && strcmp(arg[1], HOLDER_FLAG) == 0 && strcmp(arg[3], name) == 0;
}

int lease_holder_stop(pid_t pid, const char *name)
{
	if (!lease_holder_alive(pid, name))
		return 0;
	kill(pid, SIGTERM);
	int64_t start = mono_ms();
	bool killed = false;
	while (lease_holder_alive(pid, name)) {
		if (!killed && mono_ms() - start > STOP_TIMEOUT_MS) {
			log_warning("lease holder %d of %s did not stop: killing it", (int)pid, name);
			kill(pid, SIGKILL);
			killed = true;
		}
		struct timespec pause = { 0, 1000000 }; /* 1 ms: it releases in a few */
		nanosleep(&pause, NULL);
	}
	return 0;
}
