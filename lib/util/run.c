#include "lib/util/run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/log.h"
#include "lib/util/xalloc.h"

static run_observer_fn observer;

void run_set_observer(run_observer_fn fn) { observer = fn; }

void run_result_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

struct buf {
	char *data;
	size_t len, cap;
	size_t line_start; /* where the next undelivered line begins */
};

static void buf_append(struct buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->data = xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* qemu-img -p ends progress lines with '\r', so either ends a line. */
static void deliver_lines(struct buf *b, const struct run_opts *o)
{
	if (!o || !o->on_line)
		return;
	for (size_t i = b->line_start; i < b->len; i++) {
		if (b->data[i] != '\n' && b->data[i] != '\r')
			continue;
		_cleanup_free_ char *line = xstrndup(b->data + b->line_start, i - b->line_start);
		o->on_line(line, o->userdata);
		b->line_start = i + 1;
	}
}

static bool aborted(const struct run_opts *o) { return o && o->abort && atomic_load(o->abort); }

/* Starts argv[0] (searched in PATH) with stdin from /dev/null and stdout,
 * stderr on out_fd, err_fd; -errno if it could not be executed. The child
 * gets an empty signal mask and default dispositions (the daemon blocks
 * SIGTERM for its sigwait thread and ignores SIGPIPE: an aborted child must
 * still die of SIGTERM), and is killed when the thread that started it dies:
 * a qemu-img must not outlive a sanpoold killed with -9 and go on writing
 * while recovery rolls its task back. Only async-signal-safe calls between
 * fork and exec. */
static int spawn(const char *const argv[], int out_fd, int err_fd, pid_t *ret_pid)
{
	pid_t parent = getpid();
	int errp[2], err = 0;

	if (pipe2(errp, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		err = errno;
		close(errp[0]);
		close(errp[1]);
		return -err;
	}
	if (pid == 0) {
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		sigset_t none;
		int null;

		sigemptyset(&none);
		sigaction(SIGPIPE, &dfl, NULL);
		sigaction(SIGTERM, &dfl, NULL);
		sigaction(SIGINT, &dfl, NULL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
			err = errno;
		else
			execvp(argv[0], (char *const *)argv);
		err = err ? err : errno;
		while (write(errp[1], &err, sizeof(err)) < 0 && errno == EINTR)
			;
		_exit(127);
	}
	close(errp[1]);
	/* the pipe closes on exec (no data) or carries the child's errno */
	ssize_t n;
	while ((n = read(errp[0], &err, sizeof(err))) < 0 && errno == EINTR)
		;
	close(errp[0]);
	if (n == sizeof(err)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return -err;
	}
	*ret_pid = pid;
	return 0;
}

char *run_argv_display(const char *const argv[], const struct run_opts *opts)
{
	char *s = xstrdup("");
	for (unsigned i = 0; argv[i]; i++) {
		bool secret = opts && i < 32 && (opts->secret_args & (1u << i));
		char *next = xasprintf("%s%s%s", s, i ? " " : "", secret ? "********" : argv[i]);
		free(s);
		s = next;
	}
	return s;
}

int run_argv(const char *const argv[], const struct run_opts *opts, struct run_result *ret)
{
	int outp[2], errp[2];
	pid_t pid = -1;

	if (log_get_level() >= LOG_LVL_DEBUG) {
		_cleanup_free_ char *shown = run_argv_display(argv, opts);
		log_debug("run: %s", shown);
	}
	if (observer)
		observer(argv);
	if (pipe2(outp, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(errp, O_CLOEXEC) < 0) {
		close(outp[0]);
		close(outp[1]);
		return -errno;
	}
	int r = spawn(argv, outp[1], errp[1], &pid);
	close(outp[1]);
	close(errp[1]);
	if (r < 0) {
		close(outp[0]);
		close(errp[0]);
		return r;
	}

	struct buf out = { 0 }, err = { 0 };
	struct pollfd pfd[2] = { { outp[0], POLLIN, 0 }, { errp[0], POLLIN, 0 } };
	int open_fds = 2;
	bool killed = false;
	buf_append(&out, "", 0);
	buf_append(&err, "", 0);
	while (open_fds > 0) {
		if (!killed && aborted(opts)) {
			kill(pid, SIGTERM);
			killed = true;
		}
		int n = poll(pfd, 2, 100);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2 && n > 0; i++) {
			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char chunk[4096];
			ssize_t got = read(pfd[i].fd, chunk, sizeof(chunk));
			if (got > 0) {
				buf_append(i == 0 ? &out : &err, chunk, (size_t)got);
				if (i == 0)
					deliver_lines(&out, opts);
			} else if (got == 0 || errno != EINTR) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_fds--;
			}
		}
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ret->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	ret->out = out.data;
	ret->err = err.data;
	if (killed) {
		run_result_free(ret);
		return sp_error_set(-SP_E_ABORTED, "aborted", "", "%s aborted by request", argv[0]);
	}
	return 0;
}
