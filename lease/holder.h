/* Lease-holder processes: one small process per volume lease held on this
 * host (`sanpoold --lease-holder LOCKSPACE NAME PATH OFFSET`, the agent's own
 * binary started again). sanlock releases a process's leases when it exits,
 * so a lease acquired by the agent would go with an agent restart while the
 * VM keeps writing; the holder is registered with sanlock on its own, lives in
 * its own session (no death signal from the agent) and keeps the lease until
 * it is told to stop (SIGTERM: it releases the lease and exits). If the
 * lockspace is lost, sanlock kills it: the lease is gone, and the agent sees
 * the holder gone.
 *
 * Returns: >= 0 or -errno / -SP_E_* with the detail recorded. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lease/lease.h"

/* The holder process's main (argv from `--lease-holder` on). Writes one line
 * to stdout ("ok GEN", "held OWNER", "error CODE KIND MESSAGE"); once it holds
 * the lease it waits for the agent's acknowledgement on stdin (one byte):
 * end of file instead (the agent died before recording it) releases the
 * lease and exits, so no holder is ever left that the agent does not know.
 * Acknowledged, it waits for SIGTERM/SIGINT, releases the lease, exits 0. */
int lease_holder_main(int argc, char **argv);

/* Called once the holder holds the lease, before it is acknowledged: records
 * it (returns >= 0), or refuses it (< 0, recorded: the holder is stopped). */
typedef int (*lease_holder_commit_fn)(pid_t pid, uint64_t generation, void *userdata);

/* Starts a holder for ref and waits for its answer; commit (may be NULL)
 * runs before the holder is acknowledged. Returns 0 with *ret_pid and
 * *ret_generation (the lease version it got), -SP_E_LEASE_HELD with
 * *ret_owner (the holder's host id, 0 if unknown), the holder's error, or
 * commit's. */
int lease_holder_start(const struct lease_ref *ref, lease_holder_commit_fn commit, void *userdata, pid_t *ret_pid,
		       uint64_t *ret_generation, unsigned *ret_owner);

/* Whether pid is a live (not zombie) holder of the lease named name. Reaps
 * it if it is this process's child and has exited. */
bool lease_holder_alive(pid_t pid, const char *name);

/* Tells the holder to release and waits until it is gone (SIGKILL after
 * 10 s: its lease goes with it). Returns 0 (also when it was gone already). */
int lease_holder_stop(pid_t pid, const char *name);
