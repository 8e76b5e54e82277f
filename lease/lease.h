/* sanlock leases: lockspaces (host ids) and resource leases (the SPM lease,
 * volume leases), wrapping libsanlock (sanlock 3.8).
 *
 * Returns: >= 0 on success, -errno or -SP_E_* on failure, the detail (which
 * lockspace or lease, sanlock's own code) in the thread's error record
 * (lib/util/error.h). A lease held by another owner is -SP_E_LEASE_HELD, the
 * owner's host id in the message (and in ret_owner where asked).
 *
 * Threads. Every function here is a blocking round trip to the sanlock
 * daemon over its unix socket; those marked DISK also wait for sanlock's disk
 * I/O (bounded by the io_timeout). They are meant to be called from ONE
 * thread, the agent's lease thread, which owns the lockspaces and the
 * registered connection; other threads ask it and read its published state.
 * Two calls are nevertheless safe from another thread, and say so below:
 * lockspace_poll() and lease_read() only open their own short connection
 * and read the daemon's memory (poll) or one lease area (read). A registered
 * connection (struct lease_client) is serialised by its own mutex, since
 * libsanlock requires calls on one registered socket to be serialised.
 *
 * Which daemon. libsanlock connects to the daemon's socket in
 * /run/sanlock, or in $SANLOCK_RUN_DIR, which it reads once, at this
 * process's first call, and keeps (seen with 3.8.5: changing it afterwards
 * has no effect). A process therefore talks to one sanlock daemon, its
 * host's; tests that simulate several hosts switch what that path points to
 * (see tests/unit/test_lease.c).
 *
 * On-disk format. Lockspace and lease areas are written 512-byte-sector and
 * 1 MiB-aligned (up to 2000 hosts): a file of at least offset + 1 MiB, or an
 * LV on a 512-byte-sector device. 4K-sector devices need 8 MiB areas: not
 * supported yet. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "lib/util/error.h"

#define LEASE_NAME_MAX 48        /* lockspace and lease names: 1..48 bytes */
#define LEASE_AREA_SIZE (1u << 20) /* bytes taken by one lockspace or lease area */
#define LEASE_HOST_ID_MAX 2000
#define LEASE_IO_TIMEOUT_DEFAULT 10 /* seconds, sanlock's own default */

/* ------------------------------------------------------------------------
 * Lockspaces: this host's id in a domain's `ids` area (delta lease).
 */

enum lockspace_state {
	LOCKSPACE_IDLE,    /* not joined (never, or left) */
	LOCKSPACE_JOINING, /* add_lockspace in progress in the daemon */
	LOCKSPACE_JOINED,  /* host id held and renewed */
	LOCKSPACE_FAILED,  /* the join did not succeed */
	LOCKSPACE_LOST,    /* was joined, now gone (renewal failed, removed, daemon gone) */
};

struct lockspace_status {
	enum lockspace_state state;
	unsigned host_id;
	unsigned io_timeout;
	/* While joining: an estimate from the time sanlock needs to join a free
	 * host id (2 * io_timeout + 1 s), capped at 99; 100 once joined. */
	unsigned progress;
	double elapsed;     /* seconds since the join started (0 when idle) */
	double join_time;   /* seconds the join took, once joined */
	int error;          /* FAILED/LOST: sanlock's answer that said so */
};

struct lockspace;

/* Describes a lockspace; nothing is done on storage or in the daemon.
 * name: 1..48 bytes; path: the ids file or LV; offset: a multiple of 1 MiB;
 * host_id: 1..2000; io_timeout: seconds, 0 for the default (10).
 * Returns 0 and *ret, or -SP_E_BAD_REQUEST naming the bad field. */
int lockspace_new(const char *name, const char *path, uint64_t offset,
		  unsigned host_id, unsigned io_timeout, struct lockspace **ret);
/* Frees the description (does not leave the lockspace). Accepts NULL. */
void lockspace_free(struct lockspace *ls);
static inline void lockspace_freep(struct lockspace **ls) { lockspace_free(*ls); }

/* DISK. Initialises the lockspace area (all 2000 host records), stamping the
 * io_timeout into it. Destroys any lockspace there: only when creating a
 * domain. Returns 0 or -errno/-SP_E_*. */
int lockspace_format(struct lockspace *ls);

/* Starts joining (sanlock_add_lockspace_timeout with SANLK_ADD_ASYNC) and
 * returns at once; follow it with lockspace_poll(). Joining an already joined
 * lockspace is not an error. Returns 0 or -errno/-SP_E_*. */
int lockspace_join(struct lockspace *ls);

/* Asks the daemon where the lockspace stands and fills *ret; the state moves
 * JOINING -> JOINED | FAILED and JOINED -> LOST as the daemon reports.
 * A daemon that cannot be reached makes a joined lockspace LOST.
 * Safe from another thread than the owner's (see above): the lockspace keeps
 * its state under a mutex. Returns 0, or -EINVAL for a NULL argument. */
int lockspace_poll(struct lockspace *ls, struct lockspace_status *ret);

/* DISK. Leaves the lockspace (sanlock_rem_lockspace): sanlock first kills any
 * process still holding a lease in it. Blocks until done (a few seconds).
 * Leaving a lockspace that is not joined (or was lost) is not an error.
 * Returns 0 or -errno/-SP_E_*. */
int lockspace_leave(struct lockspace *ls);

const char *lockspace_state_name(enum lockspace_state s);

/* The host ids that hold a delta lease in the lockspace named name, as this
 * host's daemon last saw them (sanlock_get_hosts): live, not yet seen
 * renewing (sanlock's "unknown": a host that just joined, or one that died
 * before this host joined) and failing (not renewed lately, not yet dead).
 * Hosts that left (free) or are dead are not. Ascending, in *ret_ids
 * (allocated), count in *ret_n. Needs the lockspace joined on this host
 * (-ENOENT otherwise). Safe from another thread (own connection). */
int lockspace_live_hosts(const char *name, unsigned **ret_ids, size_t *ret_n);

/* ------------------------------------------------------------------------
 * Resource leases (paxos leases): exclusive ownership of a named resource by
 * one process on one host. The lease version (sanlock's lver) grows by one at
 * each new owner: it is the generation (for the SPM lease, the SPM generation).
 */

struct lease_ref {
	const char *lockspace; /* the lockspace the lease belongs to, 1..48 bytes */
	const char *name;      /* the resource name, 1..48 bytes */
	const char *path;      /* the leases file or LV */
	uint64_t offset;       /* a multiple of 1 MiB */
};

struct lease_info {
	uint64_t generation;      /* lease version on disk (0: never acquired) */
	bool held;                /* an owner is recorded (it may be dead) */
	unsigned owner_host_id;   /* when held */
	uint64_t owner_host_generation; /* the owner's lockspace generation */
};

/* DISK. Initialises a lease area (generation 0, no owner). Destroys any lease
 * there: only when creating a domain or a volume lease.
 * Returns 0 or -errno/-SP_E_*. */
int lease_format(const struct lease_ref *ref);

/* DISK. Reads the lease from storage: generation and recorded owner.
 * Safe from another thread (own connection, read only).
 * Returns 0 and *ret, -SP_E_CORRUPT if no lease is initialised there, or
 * -errno/-SP_E_*. */
int lease_read(const struct lease_ref *ref, struct lease_info *ret);

/* A registered connection of this process to its sanlock daemon
 * (sanlock_register). Leases acquired through it belong to this process:
 * when the process exits (or the connection is closed), sanlock releases
 * them, so another host can take them at once. If the lockspace is lost
 * while leases are held, sanlock kills the holding process (the agent is
 * expected to be restarted by systemd). */
struct lease_client;

/* Returns 0 and *ret, or -errno (daemon not running: -ECONNREFUSED/-ENOENT). */
int lease_client_open(struct lease_client **ret);
/* Closes the connection: sanlock releases every lease it holds. Accepts NULL. */
void lease_client_close(struct lease_client *c);
static inline void lease_client_closep(struct lease_client **c) { lease_client_close(*c); }

/* DISK. Acquires the lease exclusively for this process, never waiting for
 * a previous owner's host to time out. Returns 0 with *ret_generation (the
 * new lease version; may be NULL), -SP_E_LEASE_HELD when another live owner
 * holds it or its host has not yet timed out (*ret_owner gets its host id
 * when known, else 0; may be NULL), -EEXIST if this connection already holds
 * it, -ENOENT/-SP_E_CONFLICT if the lockspace is not joined on this host,
 * or -errno/-SP_E_*. */
int lease_acquire(struct lease_client *c, const struct lease_ref *ref, uint64_t *ret_generation,
		  unsigned *ret_owner);

/* DISK. Releases a lease held through c. Returns 0, -ENOENT if c does not
 * hold it, or -errno/-SP_E_*. */
int lease_release(struct lease_client *c, const struct lease_ref *ref);

/* The generation of a lease held through c, from the daemon's memory
 * (sanlock_inquire). Returns 0 and *ret_generation, -ENOENT if not held. */
int lease_held_generation(struct lease_client *c, const struct lease_ref *ref,
			  uint64_t *ret_generation);
