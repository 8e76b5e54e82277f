/* Resource leases (sanlock paxos leases): format, read, acquire for this
 * process through its registered connection, release. The lease version
 * (lver) is the generation: sanlock bumps it at every new owner. */
#include "lease/lease_priv.h"

#include <stdlib.h>
#include <string.h>

#include <sanlock_admin.h>
#include <sanlock_resource.h>
#include <sanlock_rv.h>

#include "lib/util/cleanup.h"
#include "lib/util/log.h"

int lease_format(const struct lease_ref *ref)
{
	struct lease_res1 r;
	int rv = lease_res_fill(&r, ref);

	if (rv < 0)
		return rv;
	rv = sanlock_write_resource(&r.res, 0, 0, 0);
	if (rv < 0)
		return lease_error(rv, "cannot initialise lease %s/%s at %s:%llu", ref->lockspace,
				   ref->name, ref->path, (unsigned long long)ref->offset);
	log_debug("lease %s/%s initialised at %s:%llu", ref->lockspace, ref->name, ref->path,
		  (unsigned long long)ref->offset);
	return 0;
}

/* Reads the leader record and the owners: the daemon reads the area. */
static int read_owners(struct lease_res1 *r, struct lease_info *ret)
{
	struct sanlk_host *hosts = NULL;
	int n = 0, rv;

	/* no ALIGN/SECTOR flags: sanlock finds them in the leader record, and
	 * an area never initialised answers SANLK_LEADER_MAGIC (with the flags,
	 * a bare -EINVAL) */
	r->res.flags = 0;
	rv = sanlock_read_resource_owners(&r->res, 0, &hosts, &n);
	if (rv < 0) {
		free(hosts);
		return rv;
	}
	memset(ret, 0, sizeof(*ret));
	ret->generation = r->res.lver;
	if (n > 0 && hosts) {
		ret->held = true;
		ret->owner_host_id = (unsigned)hosts[0].host_id;
		ret->owner_host_generation = hosts[0].generation;
	}
	free(hosts);
	return 0;
}

int lease_read(const struct lease_ref *ref, struct lease_info *ret)
{
	struct lease_res1 r;
	struct lease_info info;
	int rv = lease_res_fill(&r, ref);

	if (rv < 0)
		return rv;
	rv = read_owners(&r, &info);
	if (rv == -EINVAL) {
		/* sanlock 3.8.5 answers a bare -EINVAL when the area holds no
		 * lease (it cannot find the sector size); the leader record alone
		 * says why */
		lease_res_fill(&r, ref);
		r.res.flags = 0;
		rv = sanlock_read_resource(&r.res, 0);
		if (rv == 0)
			rv = -EINVAL;
	}
	if (rv == SANLK_LEADER_MAGIC)
		return sp_error_set(-SP_E_CORRUPT, "lease_corrupt", "",
				    "no lease initialised at %s:%llu (lease %s/%s)", ref->path,
				    (unsigned long long)ref->offset, ref->lockspace, ref->name);
	if (rv < 0)
		return lease_error(rv, "cannot read lease %s/%s at %s:%llu", ref->lockspace, ref->name,
				   ref->path, (unsigned long long)ref->offset);
	*ret = info;
	return 0;
}

int lease_acquire(struct lease_client *c, const struct lease_ref *ref, uint64_t *ret_generation,
		  unsigned *ret_owner)
{
	struct lease_res1 r;
	struct sanlk_resource *args[1] = {&r.res};
	struct lease_info info;
	uint64_t gen = 0;
	int rv;

	if (!c)
		return sp_bad_field("client", "no sanlock connection");
	rv = lease_res_fill(&r, ref);
	if (rv < 0)
		return rv;

	/* OWNER_NOWAIT: a lease whose owner's host has not yet timed out is
	 * refused at once (-SANLK_ACQUIRE_OWNED_RETRY) instead of blocking the
	 * caller for up to the host-dead time (140 s at io_timeout 10). */
	pthread_mutex_lock(&c->lock);
	rv = sanlock_acquire(c->sock, -1, SANLK_ACQUIRE_OWNER_NOWAIT, 1, args, NULL);
	pthread_mutex_unlock(&c->lock);
	if (ret_owner)
		*ret_owner = 0;

	switch (rv) {
	case 0:
		break;
	case SANLK_ACQUIRE_IDLIVE:
	case SANLK_ACQUIRE_OWNED:
	case SANLK_ACQUIRE_OWNED_RETRY:
	case SANLK_ACQUIRE_OTHER:
		lease_res_fill(&r, ref);
		if (read_owners(&r, &info) == 0 && info.held) {
			if (ret_owner)
				*ret_owner = info.owner_host_id;
			return sp_error_set(-SP_E_LEASE_HELD, "lease_held", "",
					    "lease %s/%s is held by host %u (generation %llu, sanlock %d %s)",
					    ref->lockspace, ref->name, info.owner_host_id,
					    (unsigned long long)info.generation, rv, sanlock_strerror(rv));
		}
		return lease_error(rv, "lease %s/%s is held", ref->lockspace, ref->name);
	case -EEXIST:
		return sp_error_set(-EEXIST, "conflict", "", "lease %s/%s is already held by this process",
				    ref->lockspace, ref->name);
	case -ENOSPC:
	case -ENOENT:
		/* sanlock's answer when the lockspace is not joined on this host */
		return sp_error_set(-SP_E_CONFLICT, "conflict", "",
				    "cannot acquire lease %s/%s: lockspace %s not joined on this host (sanlock %d)",
				    ref->lockspace, ref->name, ref->lockspace, rv);
	default:
		return lease_error(rv, "cannot acquire lease %s/%s at %s:%llu", ref->lockspace,
				   ref->name, ref->path, (unsigned long long)ref->offset);
	}

	rv = lease_held_generation(c, ref, &gen);
	if (rv < 0)
		return rv;
	if (ret_generation)
		*ret_generation = gen;
	log_debug("lease %s/%s acquired, generation %llu", ref->lockspace, ref->name,
		  (unsigned long long)gen);
	return 0;
}

int lease_release(struct lease_client *c, const struct lease_ref *ref)
{
	struct lease_res1 r;
	struct sanlk_resource *args[1] = {&r.res};
	int rv;

	if (!c)
		return sp_bad_field("client", "no sanlock connection");
	rv = lease_res_fill(&r, ref);
	if (rv < 0)
		return rv;
	pthread_mutex_lock(&c->lock);
	rv = sanlock_release(c->sock, -1, 0, 1, args);
	pthread_mutex_unlock(&c->lock);
	if (rv == -EPERM || rv == -ENOENT) /* sanlock: no such lease on this connection */
		return sp_error_set(-ENOENT, "not_found", "", "lease %s/%s is not held by this process (sanlock %d)",
				    ref->lockspace, ref->name, rv);
	if (rv < 0)
		return lease_error(rv, "cannot release lease %s/%s", ref->lockspace, ref->name);
	log_debug("lease %s/%s released", ref->lockspace, ref->name);
	return 0;
}

int lease_held_generation(struct lease_client *c, const struct lease_ref *ref,
			  uint64_t *ret_generation)
{
	_cleanup_free_ char *state = NULL;
	struct sanlk_resource **res = NULL;
	int count = 0, n = 0, rv, found = -ENOENT;

	if (!c || !ref || !ref->lockspace || !ref->name)
		return sp_bad_field("lease", "no connection or lease given");
	pthread_mutex_lock(&c->lock);
	rv = sanlock_inquire(c->sock, -1, 0, &count, &state);
	pthread_mutex_unlock(&c->lock);
	if (rv < 0)
		return lease_error(rv, "cannot inquire the leases of this process");
	if (count > 0 && state) {
		rv = sanlock_state_to_args(state, &n, &res);
		if (rv < 0)
			return lease_error(rv, "cannot parse sanlock's lease state '%s'", state);
	}
	for (int i = 0; i < n; i++) {
		if (found < 0 && strncmp(res[i]->lockspace_name, ref->lockspace, SANLK_NAME_LEN) == 0 &&
		    strncmp(res[i]->name, ref->name, SANLK_NAME_LEN) == 0) {
			*ret_generation = res[i]->lver;
			found = 0;
		}
		free(res[i]);
	}
	free(res);
	if (found < 0)
		return sp_error_set(-ENOENT, "not_found", "", "lease %s/%s is not held by this process",
				    ref->lockspace, ref->name);
	return 0;
}
