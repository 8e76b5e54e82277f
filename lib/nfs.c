#include "lib/nfs.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/fsutil.h"
#include "lib/util/log.h"
#include "lib/util/run.h"
#include "lib/util/xalloc.h"

static bool host_ok(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	if (s[0] == '[') {
		if (s[n - 1] != ']' || n < 3)
			return false;
		for (size_t i = 1; i + 1 < n; i++)
			if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
				return false;
		return true;
	}
	if (s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

bool nfs_export_is_valid(const char *s)
{
	if (!s || strlen(s) > 1024)
		return false;
	/* the path starts at the first ":/" (an IPv6 server is bracketed) */
	const char *sep = s[0] == '[' ? strstr(s, "]:/") : strstr(s, ":/");
	if (!sep)
		return false;
	if (s[0] == '[')
		sep++;
	if (!host_ok(s, (size_t)(sep - s)))
		return false;
	const char *path = sep + 1;
	for (const char *c = path; *c; c++)
		if (isspace((unsigned char)*c) || *c == ',' || !isprint((unsigned char)*c))
			return false;
	size_t n = strlen(path);
	return !strstr(path, "/../") && !strstr(path, "/./") && !strstr(path, "//") &&
	       !(n >= 3 && strcmp(path + n - 3, "/..") == 0) && !(n >= 2 && strcmp(path + n - 2, "/.") == 0);
}

static bool number(const char *v, long lo, long hi)
{
	if (!*v || strlen(v) > 9)
		return false;
	for (const char *c = v; *c; c++)
		if (!isdigit((unsigned char)*c))
			return false;
	long x = strtol(v, NULL, 10);
	return x >= lo && x <= hi;
}

static bool one_of(const char *v, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(v, list[i]) == 0)
			return true;
	return false;
}

static bool option_ok(const char *o)
{
	static const char *const flags[] = { "soft", "hard", "nolock", "noatime", "nodiratime", "nosharecache",
					     "sync", "tcp", "_netdev", NULL };
	static const char *const vers[] = { "3", "4", "4.0", "4.1", "4.2", NULL };
	static const char *const protos[] = { "tcp", "tcp6", "rdma", NULL };
	static const char *const secs[] = { "sys", "krb5", "krb5i", "krb5p", NULL };
	const char *eq = strchr(o, '=');
	if (!eq)
		return one_of(o, flags);
	_cleanup_free_ char *key = xstrndup(o, (size_t)(eq - o));
	const char *v = eq + 1;
	if (strcmp(key, "vers") == 0 || strcmp(key, "nfsvers") == 0)
		return one_of(v, vers);
	if (strcmp(key, "proto") == 0)
		return one_of(v, protos);
	if (strcmp(key, "sec") == 0)
		return one_of(v, secs);
	if (strcmp(key, "port") == 0)
		return number(v, 1, 65535);
	if (strcmp(key, "timeo") == 0)
		return number(v, 1, 6000);
	if (strcmp(key, "retrans") == 0)
		return number(v, 0, 100);
	if (strcmp(key, "actimeo") == 0)
		return number(v, 0, 3600);
	if (strcmp(key, "rsize") == 0 || strcmp(key, "wsize") == 0)
		return number(v, 1024, 1 << 20);
	return false;
}

bool nfs_options_are_valid(const char *s, char *ret_bad, unsigned size)
{
	if (!s || !*s)
		return true;
	if (strlen(s) > 512)
		return false;
	_cleanup_free_ char *copy = xstrdup(s);
	char *rest = copy, *o;
	while ((o = strsep(&rest, ","))) {
		if (!option_ok(o)) {
			if (ret_bad && size)
				snprintf(ret_bad, size, "%.*s", (int)size - 1, o);
			return false;
		}
	}
	return true;
}

char *nfs_effective_options(const char *opts)
{
	return opts && *opts ? xasprintf("%s,nosuid,nodev", opts) : xstrdup("nosuid,nodev");
}

bool nfs_is_mounted(const char *dir)
{
	/* findmnt answers for exactly this mount point (exit 1: nothing mounted there) */
	const char *argv[] = { "findmnt", "-n", "-M", dir, NULL };
	struct run_result res = { 0 };
	bool mounted = run_argv(argv, NULL, &res) == 0 && res.exit_status == 0;
	run_result_free(&res);
	return mounted;
}

int nfs_mount(const char *export_, const char *opts, const char *dir)
{
	int r;
	if (nfs_is_mounted(dir))
		return 0;
	if ((r = mkdir_p(dir, 0755)) < 0)
		return sp_error_set(r, "io_error", "", "cannot create %s: %s", dir, strerror(-r));
	_cleanup_free_ char *o = nfs_effective_options(opts);
	const char *argv[] = { "mount", "-t", "nfs", "-o", o, export_, dir, NULL };
	struct run_result res = { 0 };
	if ((r = run_argv(argv, NULL, &res)) < 0)
		return sp_error_set(r, "tool_failed", "", "cannot run mount: %s", strerror(-r));
	if (res.exit_status != 0)
		r = sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "", "mount -t nfs -o %s %s %s: exit %d: %s", o, export_, dir,
				 res.exit_status, res.err);
	else
		log_info("nfs: mounted %s on %s (%s)", export_, dir, o);
	run_result_free(&res);
	return r;
}

int nfs_umount(const char *dir)
{
	if (!nfs_is_mounted(dir))
		return 0;
	const char *argv[] = { "umount", dir, NULL };
	struct run_result res = { 0 };
	int r = run_argv(argv, NULL, &res);
	if (r < 0)
		return sp_error_set(r, "tool_failed", "", "cannot run umount: %s", strerror(-r));
	if (res.exit_status != 0)
		r = sp_error_set(-SP_E_CONFLICT, "conflict", "", "umount %s: exit %d: %s", dir, res.exit_status, res.err);
	else
		log_info("nfs: unmounted %s", dir);
	run_result_free(&res);
	return r;
}
