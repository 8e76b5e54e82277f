/* Lockspaces: this host's id (sanlock delta lease) in a domain's ids area.
 * Joined asynchronously; lockspace_poll() follows the join and notices loss. */
#include "lease/lease_priv.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanlock_admin.h>
#include <sanlock_rv.h>

#include "lib/util/log.h"
#include "lib/util/xalloc.h"

struct lockspace {
	char name[SANLK_NAME_LEN + 1];
	char path[SANLK_PATH_LEN];
	uint64_t offset;
	unsigned host_id;
	unsigned io_timeout;

	pthread_mutex_t lock; /* guards what follows (poll may run on another thread) */
	enum lockspace_state state;
	double join_started;  /* monotonic seconds, 0 when idle */
	double join_time;     /* seconds the join took */
	int error;
};

static const char *const state_names[] = {
	[LOCKSPACE_IDLE] = "idle",     [LOCKSPACE_JOINING] = "joining", [LOCKSPACE_JOINED] = "joined",
	[LOCKSPACE_FAILED] = "failed", [LOCKSPACE_LOST] = "lost",
};

const char *lockspace_state_name(enum lockspace_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) && state_names[s]
		       ? state_names[s]
		       : "unknown";
}

int lockspace_new(const char *name, const char *path, uint64_t offset,
		  unsigned host_id, unsigned io_timeout, struct lockspace **ret)
{
	struct lockspace *ls;

	if (!lease_name_is_valid(name))
		return sp_bad_field("lockspace", "invalid lockspace name '%s' (1..48 bytes, no ':')",
				    name ? name : "");
	if (!lease_path_is_valid(path))
		return sp_bad_field("path", "invalid lockspace path '%s' (absolute, shorter than 512)",
				    path ? path : "");
	if (offset % LEASE_AREA_SIZE)
		return sp_bad_field("offset", "lockspace offset %llu is not a multiple of 1 MiB",
				    (unsigned long long)offset);
	if (host_id < 1 || host_id > LEASE_HOST_ID_MAX)
		return sp_bad_field("host_id", "host id %u out of range 1..%d", host_id,
				    LEASE_HOST_ID_MAX);
	if (io_timeout > 300)
		return sp_bad_field("io_timeout", "io_timeout %u s out of range 0..300", io_timeout);

	ls = xcalloc(1, sizeof(*ls));
	snprintf(ls->name, sizeof(ls->name), "%s", name);
	snprintf(ls->path, sizeof(ls->path), "%s", path);
	ls->offset = offset;
	ls->host_id = host_id;
	ls->io_timeout = io_timeout ? io_timeout : LEASE_IO_TIMEOUT_DEFAULT;
	pthread_mutex_init(&ls->lock, NULL);
	ls->state = LOCKSPACE_IDLE;
	*ret = ls;
	return 0;
}

void lockspace_free(struct lockspace *ls)
{
	if (!ls)
		return;
	pthread_mutex_destroy(&ls->lock);
	free(ls);
}

static void to_sanlk(const struct lockspace *ls, struct sanlk_lockspace *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->name, ls->name, strlen(ls->name));
	s->host_id = ls->host_id;
	s->flags = SANLK_LSF_ALIGN1M | SANLK_LSF_SECTOR512;
	snprintf(s->host_id_disk.path, sizeof(s->host_id_disk.path), "%s", ls->path);
	s->host_id_disk.offset = ls->offset;
}

int lockspace_format(struct lockspace *ls)
{
	struct sanlk_lockspace s;
	int rv;

	to_sanlk(ls, &s);
	s.host_id = 0;
	rv = sanlock_write_lockspace(&s, 0, 0, ls->io_timeout);
	if (rv < 0)
		return lease_error(rv, "cannot initialise lockspace %s at %s:%llu", ls->name, ls->path,
				   (unsigned long long)ls->offset);
	log_debug("lockspace %s initialised at %s:%llu (io_timeout %u s)", ls->name, ls->path,
		  (unsigned long long)ls->offset, ls->io_timeout);
	return 0;
}

static void set_state(struct lockspace *ls, enum lockspace_state st, int error)
{
	if (ls->state != st)
		log_debug("lockspace %s host id %u: %s -> %s (%d)", ls->name, ls->host_id,
			  lockspace_state_name(ls->state), lockspace_state_name(st), error);
	ls->state = st;
	ls->error = error;
}

int lockspace_join(struct lockspace *ls)
{
	struct sanlk_lockspace s;
	int rv;

	to_sanlk(ls, &s);
	rv = sanlock_add_lockspace_timeout(&s, SANLK_ADD_ASYNC, ls->io_timeout);
	pthread_mutex_lock(&ls->lock);
	switch (rv) {
	case 0:
	case -EINPROGRESS:
		ls->join_started = lease_now();
		ls->join_time = 0;
		set_state(ls, LOCKSPACE_JOINING, 0);
		rv = 0;
		break;
	case -EEXIST:
		if (ls->state != LOCKSPACE_JOINED) {
			ls->join_started = lease_now();
			set_state(ls, LOCKSPACE_JOINED, 0);
		}
		rv = 0;
		break;
	default:
		set_state(ls, LOCKSPACE_FAILED, rv);
		break;
	}
	pthread_mutex_unlock(&ls->lock);
	if (rv < 0)
		return lease_error(rv, "cannot join lockspace %s with host id %u at %s:%llu", ls->name,
				   ls->host_id, ls->path, (unsigned long long)ls->offset);
	return 0;
}

/* sanlock joins a free host id in about 2 * io_timeout + 1 s (21 s at 10 s). */
static unsigned join_progress(const struct lockspace *ls, double elapsed)
{
	double expected = 2.0 * ls->io_timeout + 1.0;
	double p = 100.0 * elapsed / expected;

	return p >= 99.0 ? 99 : (unsigned)p;
}

int lockspace_poll(struct lockspace *ls, struct lockspace_status *ret)
{
	struct sanlk_lockspace s;
	double now;
	int rv;

	if (!ls || !ret)
		return -EINVAL;
	to_sanlk(ls, &s);
	rv = sanlock_inq_lockspace(&s, 0);
	now = lease_now();

	pthread_mutex_lock(&ls->lock);
	switch (ls->state) {
	case LOCKSPACE_JOINING:
		if (rv == 0) {
			ls->join_time = now - ls->join_started;
			set_state(ls, LOCKSPACE_JOINED, 0);
			log_debug("lockspace %s joined with host id %u in %.1f s", ls->name, ls->host_id,
				  ls->join_time);
		} else if (rv != -EINPROGRESS) {
			/* the add ended without the lockspace: failed (sanlock's
			 * reason is in its log; -ENOENT here), or the daemon went */
			set_state(ls, LOCKSPACE_FAILED, rv);
		}
		break;
	case LOCKSPACE_JOINED:
		/* -EINPROGRESS now means it is being removed */
		if (rv != 0)
			set_state(ls, LOCKSPACE_LOST, rv);
		break;
	case LOCKSPACE_IDLE:
	case LOCKSPACE_FAILED:
	case LOCKSPACE_LOST:
		break;
	}

	memset(ret, 0, sizeof(*ret));
	ret->state = ls->state;
	ret->host_id = ls->host_id;
	ret->io_timeout = ls->io_timeout;
	ret->error = ls->error;
	ret->elapsed = ls->join_started ? now - ls->join_started : 0;
	ret->join_time = ls->join_time;
	if (ls->state == LOCKSPACE_JOINED)
		ret->progress = 100;
	else if (ls->state == LOCKSPACE_JOINING)
		ret->progress = join_progress(ls, ret->elapsed);
	pthread_mutex_unlock(&ls->lock);
	return 0;
}

int lockspace_leave(struct lockspace *ls)
{
	struct sanlk_lockspace s;
	int rv;

	to_sanlk(ls, &s);
	rv = sanlock_rem_lockspace(&s, 0);
	if (rv == -ENOENT)
		rv = 0; /* not joined, or already lost */
	pthread_mutex_lock(&ls->lock);
	if (rv == 0) {
		set_state(ls, LOCKSPACE_IDLE, 0);
		ls->join_started = 0;
		ls->join_time = 0;
	}
	pthread_mutex_unlock(&ls->lock);
	if (rv < 0)
		return lease_error(rv, "cannot leave lockspace %s (host id %u)", ls->name, ls->host_id);
	log_debug("lockspace %s left (host id %u)", ls->name, ls->host_id);
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

int lockspace_live_hosts(const char *name, unsigned **ret_ids, size_t *ret_n)
{
	struct sanlk_host *hss = NULL;
	int count = 0;

	if (!lease_name_is_valid(name))
		return sp_bad_field("lockspace", "invalid lockspace name '%s'", name ? name : "");
	int rv = sanlock_get_hosts(name, 0, &hss, &count, 0);
	if (rv < 0)
		return lease_error(rv, "cannot list the hosts of lockspace %s", name);
	unsigned *ids = xcalloc((size_t)count + 1, sizeof(*ids));
	size_t n = 0;
	for (int i = 0; i < count; i++) {
		uint32_t state = hss[i].flags & SANLK_HOST_MASK;
		if (hss[i].host_id >= 1 && hss[i].host_id <= LEASE_HOST_ID_MAX &&
		    (state == SANLK_HOST_LIVE || state == SANLK_HOST_UNKNOWN || state == SANLK_HOST_FAIL))
			ids[n++] = (unsigned)hss[i].host_id;
	}
	free(hss);
	qsort(ids, n, sizeof(*ids), cmp_id);
	*ret_ids = ids;
	*ret_n = n;
	return 0;
}
