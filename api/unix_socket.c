#include "api/unix_socket.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/util/cleanup.h"
#include "lib/util/fsutil.h"
#include "lib/util/log.h"

/* Is a daemon answering on the socket at sa? A connect alone is not
 * enough: after a kill -9, a child caught between fork and exec (it dies
 * with its parent, but not at once) still holds the listening socket, and
 * the kernel completes connections that nobody will ever accept. So the
 * probe asks for something and waits a little for an answer. */
#define PROBE_TIMEOUT_MS 5000

static bool socket_is_live(const struct sockaddr_un *sa)
{
	static const char probe[] = "GET /v1/host HTTP/1.0\r\n\r\n";
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		return false;
	if (send(fd, probe, sizeof(probe) - 1, MSG_NOSIGNAL) < 0)
		return false;
	return poll(&p, 1, PROBE_TIMEOUT_MS) == 1 && recv(fd, &c, 1, 0) == 1;
}

static int remove_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : log_error_errno(-errno, "local_socket %s: %m", path);
	if (!S_ISSOCK(st.st_mode))
		return log_error_errno(-EEXIST, "local_socket %s exists and is not a socket: not replacing it", path);
	if (socket_is_live(sa))
		return log_error_errno(-EADDRINUSE, "local_socket %s: another process serves it (another sanpoold?)",
				       path);
	if (unlink(path) < 0 && errno != ENOENT)
		return log_error_errno(-errno, "cannot remove the stale local_socket %s: %m", path);
	log_info("removed the stale local_socket %s", path);
	return 0;
}

int unix_socket_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_free_ char *dir = NULL;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_error_errno(-ENAMETOOLONG, "local_socket %s: path longer than %zu bytes", path,
				       sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	dir = path_dirname(path);
	if ((r = mkdir_p(dir, 0755)) < 0)
		return log_error_errno(r, "cannot create the directory of local_socket %s: %m", path);
	if ((r = remove_stale(path, &sa)) < 0)
		return r;
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_error_errno(-errno, "local_socket %s: socket: %m", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return log_error_errno(-errno, "cannot bind local_socket %s: %m", path);
	/* between bind and listen a connect is refused: the mode is right before
	 * anyone can get in, whatever the umask was */
	if (chmod(path, 0600) < 0) {
		r = log_error_errno(-errno, "cannot set the mode of local_socket %s: %m", path);
		unlink(path);
		return r;
	}
	if (listen(fd, 64) < 0) {
		r = log_error_errno(-errno, "cannot listen on local_socket %s: %m", path);
		unlink(path);
		return r;
	}
	return TAKE_FD(fd);
}
