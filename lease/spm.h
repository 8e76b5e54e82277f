/* Pool roles: which host is the Storage Pool Manager (SPM) of each pool.
 *
 * The SPM of a pool is the holder of the "SPM" resource lease in the leases
 * area of the pool's master domain, in the master's lockspace; its lease
 * version is the SPM generation, written into the pool's record when a host
 * becomes SPM. Every host joins the lockspace of each domain of the pools it
 * is connected to (its host id from the configuration), asynchronously.
 *
 * Only the SPM changes a pool's storage: the store's write guard (lib/store.h)
 * refuses every metadata write on a pool this host is not SPM of, LVM refuses
 * changes of those pools' VGs (lvm_vg_set_read_only), and the API answers 409
 * with the SPM's host id. A monitor thread follows the lockspaces and the
 * lease: when either is lost the host stops writing at once (role "none").
 *
 * With leases disabled (configuration "sanlock = no": a single host, as the
 * embedded default of `make run`), this host manages every pool it knows
 * alone: role "local", no lockspace, no lease.
 *
 * Functions return >= 0 or -errno / -SP_E_* with the detail recorded
 * (lib/util/error.h); a refusal because another host is SPM is
 * -SP_E_NOT_SPM or -SP_E_LEASE_HELD with its host id in the error record. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>

struct spm_settings {
	bool enabled;        /* sanlock in use */
	unsigned host_id;    /* 1..2000 */
	unsigned io_timeout; /* seconds, stamped into new lockspaces (0: sanlock's default) */
};

/* Opens the connection to sanlock, installs the store's write guard, makes
 * every known pool's VGs read-only and starts joining their lockspaces, and
 * starts the monitor thread. After store_open. */
int spm_service_start(const struct spm_settings *s);
/* Releases the SPM leases this host holds (another host may take them at
 * once), stops the monitor; lockspaces stay joined (they are the sanlock
 * daemon's, and the next start finds them). Before store_close. */
void spm_service_stop(void);

/* A pool was created here: formats its master's lockspace and SPM lease and
 * joins the lockspace. */
int spm_pool_created(const char *pool);
/* This host connected to a pool (store_pool_connect): joins its lockspaces. */
int spm_pool_connected(const char *pool);
/* A domain was added to a pool (by its SPM, this host): formats and joins its lockspace. */
int spm_domain_added(const char *domain);
/* Disconnects from a pool: refused (-SP_E_CONFLICT) while SPM; leaves its
 * lockspaces, then store_pool_disconnect. */
int spm_pool_disconnect(const char *pool);

/* Becomes SPM: acquires the lease without waiting, reads the pool's domains
 * again, records the generation, replays their task journals and removes
 * leftovers; only then accepts work. Already SPM: 0. -SP_E_LEASE_HELD if
 * another host holds the lease; -SP_E_CONFLICT if the master's lockspace is
 * not joined yet (the message says how far the join is). */
int spm_start(const char *pool);
/* Stops being SPM: -SP_E_CONFLICT while tasks are queued or running on the
 * pool's domains; not SPM: 0. */
int spm_stop(const char *pool);

/* Whether this host has joined the domain's lockspace (its leases can be held). */
bool spm_domain_joined(const char *domain);
/* 0 if this host may change the pool's storage now, else -SP_E_NOT_SPM (recorded). */
int spm_check_write(const char *pool);
/* Before answering a read of the domain's images: a host that is not the
 * pool's SPM reads the domain's metadata again if its copy is over a second old. */
void spm_before_read(const char *domain);
/* {"role": "spm" | "starting" | "none" | "local", "generation", "spm_host",
 *  "lockspaces": [{"domain", "state", "progress", "host_id", ...}]} */
json_object *spm_pool_status(const char *pool);
