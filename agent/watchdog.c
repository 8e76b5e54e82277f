#include "agent/watchdog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "lib/task.h"
#include "lib/util/cleanup.h"
#include "lib/util/log.h"

static struct {
	struct sockaddr_storage sa;
	socklen_t sa_len;
	char where[128]; /* for the log */
	uint64_t period_us;
} wd;

/* Waits for fd to be ready for events until deadline_ms; 0, or -ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	for (;;) {
		int64_t left = deadline_ms - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		int n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* GET /v1/host through the real server, as a client would: it answers only
 * if an MHD thread accepts, the router runs and the task list's lock is free
 * (the answer counts tasks). Returns 0 on a 200 within timeout_ms. */
static int probe_api(int timeout_ms)
{
	static const char req[] = "GET /v1/host HTTP/1.0\r\nHost: localhost\r\n\r\n";
	int64_t deadline = now_ms() + timeout_ms;
	char buf[4096];
	size_t got = 0;
	_cleanup_close_ int fd = socket(wd.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&wd.sa, wd.sa_len) < 0) {
		if (errno != EINPROGRESS)
			return -errno;
		if (wait_fd(fd, POLLOUT, deadline) < 0)
			return -ETIMEDOUT;
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
			return -(err ? err : errno);
	}
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1))
		return -EIO;
	/* the status line is all we need */
	while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
		if (wait_fd(fd, POLLIN, deadline) < 0)
			return -ETIMEDOUT;
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 8, " 200 ", 5) == 0 ? 0 : -EPROTO;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = { .tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Every third of the watchdog period: probe, and ping only on success. A
 * probe gets a third too, so two pings are never more than 2/3 apart while
 * the API answers; when it does not, systemd restarts the agent. */
static void *pinger(void *arg)
{
	(void)arg;
	bool failing = false;
	uint64_t third = wd.period_us / 3;

	for (;;) {
		int r = wd.sa_len ? probe_api((int)(third / 1000) + 1) : 0;
		if (r == 0) {
			sd_notify(0, "WATCHDOG=1");
			if (failing)
				log_info("watchdog: the API answers again on %s", wd.where);
			failing = false;
		} else if (!failing) {
			failing = true;
			log_error_errno(r, "watchdog: the API does not answer on %s (%m): withholding the ping; systemd "
					   "restarts the agent if this lasts",
					wd.where);
		}
		sleep_us(third);
	}
	return NULL;
}

static int set_target(const struct watchdog_probe *probe)
{
	if (probe->unix_socket && probe->unix_socket[0]) {
		struct sockaddr_un *un = (struct sockaddr_un *)&wd.sa;
		if (strlen(probe->unix_socket) >= sizeof(un->sun_path))
			return -ENAMETOOLONG;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, probe->unix_socket, strlen(probe->unix_socket) + 1);
		wd.sa_len = sizeof(*un);
		snprintf(wd.where, sizeof(wd.where), "%s", probe->unix_socket);
	} else if (probe->address) {
		struct sockaddr_in *in4 = (struct sockaddr_in *)&wd.sa;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&wd.sa;
		if (inet_pton(AF_INET, probe->address, &in4->sin_addr) == 1) {
			in4->sin_family = AF_INET;
			in4->sin_port = htons((uint16_t)probe->port);
			wd.sa_len = sizeof(*in4);
		} else if (inet_pton(AF_INET6, probe->address, &in6->sin6_addr) == 1) {
			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons((uint16_t)probe->port);
			wd.sa_len = sizeof(*in6);
		} else {
			return -EINVAL;
		}
		snprintf(wd.where, sizeof(wd.where), "%s port %d", probe->address, probe->port);
	} else {
		log_warning("watchdog: no local_socket and TLS on TCP: pings do not probe the API");
	}
	return 0;
}

int watchdog_start(const struct watchdog_probe *probe)
{
	uint64_t usec = 0;
	pthread_t thread;
	int r = sd_watchdog_enabled(0, &usec);

	if (r <= 0)
		return r < 0 ? log_error_errno(r, "watchdog: bad WATCHDOG_USEC: %m") : 0;
	if (usec < 3000)
		return log_error_errno(-EINVAL, "watchdog: period of %llu us is too short", (unsigned long long)usec);
	wd.period_us = usec;
	if ((r = set_target(probe)) < 0)
		return log_error_errno(r, "watchdog: cannot probe the API: %m");
	if ((r = -pthread_create(&thread, NULL, pinger, NULL)) < 0)
		return log_error_errno(r, "watchdog: cannot start its thread: %m");
	pthread_detach(thread);
	log_info("watchdog: pinging every %llu ms while the API answers%s%s", (unsigned long long)(usec / 3000),
		 wd.sa_len ? " on " : "", wd.where);
	return 0;
}
