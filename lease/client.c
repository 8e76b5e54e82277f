/* What every lease/ file shares: checking names and places, sanlock's codes
 * turned into the project's, and the registered connection of this process
 * to its sanlock daemon. */
#include "lease/lease_priv.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sanlock_resource.h>
#include <sanlock_rv.h>

#include "lib/util/xalloc.h"

bool lease_name_is_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n >= 1 && n <= SANLK_NAME_LEN && !strchr(s, ':');
}

bool lease_path_is_valid(const char *s)
{
	return s && s[0] == '/' && strlen(s) < SANLK_PATH_LEN / 2; /* room for escapes */
}

int lease_res_fill(struct lease_res1 *r, const struct lease_ref *ref)
{
	if (!ref)
		return sp_bad_field("lease", "no lease given");
	if (!lease_name_is_valid(ref->lockspace))
		return sp_bad_field("lockspace", "invalid lockspace name '%s' (1..48 bytes, no ':')",
				    ref->lockspace ? ref->lockspace : "");
	if (!lease_name_is_valid(ref->name))
		return sp_bad_field("name", "invalid lease name '%s' (1..48 bytes, no ':')",
				    ref->name ? ref->name : "");
	if (!lease_path_is_valid(ref->path))
		return sp_bad_field("path", "invalid lease path '%s' (absolute, shorter than 512)",
				    ref->path ? ref->path : "");
	if (ref->offset % LEASE_AREA_SIZE)
		return sp_bad_field("offset", "lease offset %llu is not a multiple of 1 MiB",
				    (unsigned long long)ref->offset);

	memset(r, 0, sizeof(*r));
	memcpy(r->res.lockspace_name, ref->lockspace, strlen(ref->lockspace));
	memcpy(r->res.name, ref->name, strlen(ref->name));
	r->res.flags = SANLK_RES_ALIGN1M | SANLK_RES_SECTOR512;
	r->res.num_disks = 1;
	snprintf(r->disk.path, sizeof(r->disk.path), "%s", ref->path);
	r->disk.offset = ref->offset;
	return 0;
}

int lease_error(int rv, const char *fmt, ...)
{
	char what[512];
	const char *kind = "lease_error";
	const char *reason;
	int code;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);

	switch (rv) {
	case SANLK_ACQUIRE_IDLIVE:
	case SANLK_ACQUIRE_OWNED:
	case SANLK_ACQUIRE_OWNED_RETRY:
	case SANLK_ACQUIRE_OTHER:
		code = -SP_E_LEASE_HELD;
		kind = "lease_held";
		break;
	case SANLK_LEADER_MAGIC:
	case SANLK_LEADER_VERSION:
	case SANLK_LEADER_SECTORSIZE:
	case SANLK_LEADER_LOCKSPACE:
	case SANLK_LEADER_RESOURCE:
	case SANLK_LEADER_NUMHOSTS:
	case SANLK_LEADER_CHECKSUM:
	case SANLK_DBLOCK_CHECKSUM:
		code = -SP_E_CORRUPT;
		kind = "lease_corrupt";
		break;
	case SANLK_AIO_TIMEOUT:
		code = -ETIMEDOUT;
		break;
	case SANLK_ACQUIRE_LOCKSPACE:
		code = -SP_E_CONFLICT;
		kind = "conflict";
		break;
	default:
		code = rv <= -200 ? -EIO : (rv < 0 ? rv : -EIO);
		break;
	}
	reason = rv <= -200 ? sanlock_strerror(rv) : strerror(-rv);
	return sp_error_set(code, kind, "", "%s: %s (sanlock %d)", what, reason, rv);
}

double lease_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------ */

int lease_client_open(struct lease_client **ret)
{
	struct lease_client *c;
	int sock;

	sock = sanlock_register();
	if (sock < 0)
		return lease_error(sock, "cannot register with the sanlock daemon");
	c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->sock = sock;
	*ret = c;
	return 0;
}

void lease_client_close(struct lease_client *c)
{
	if (!c)
		return;
	if (c->sock >= 0)
		close(c->sock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

