/* CPU and I/O priority of the agent's latency-critical threads: the LVM
 * worker, the mailbox poller, the thin monitor's extend workers. */
#pragma once

/* Raises the calling thread's priorities (the thread's only, not its
 * process's), so that a thin extend is not starved by the VMs it serves on
 * the same host (docs/design.md, "Extends and the mailbox"):
 * - CPU: nice PRIO_NICE (the VMs' qemu runs at 0);
 * - I/O: the real-time class, level 0, where the device's scheduler honours
 *   priorities (mq-deadline, bfq), so its reads and writes pass queued VM
 *   writes on the same LUN; best-effort level 0 without CAP_SYS_ADMIN.
 * Returns 0 if both were set, else the first failure's -errno: without
 * privilege the nice stays and the I/O class is best-effort level 0; not an
 * error, the thread just runs with what it got. */
#define PRIO_NICE (-10)
int prio_raise_self(void);
