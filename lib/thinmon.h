/* The thin monitor: watches, through libvirt, the write high-water mark of
 * every running VM's drive that is a thin qcow2 volume on a block domain, and
 * grows the volume's LV before the guest fills it.
 *
 * A connection to libvirtd (thinmon_settings.uri) with libvirt's default event
 * loop in a thread of its own. On every such drive a block threshold is set
 * (virDomainSetBlockThreshold) at thin_threshold() of the LV's size; drives are
 * found at start-up, on VM lifecycle events (started, resumed, device added)
 * and when an image is prepared here. A BLOCK_THRESHOLD event, or an I/O error
 * with reason "enospc" (the VM paused: error_policy=stop), queues an extend of
 * the volume (lib/extend_queue.h: events for one volume coalesce); a worker
 * calls extend_volume() (lib/extend.h: directly on the SPM, through the mailbox
 * elsewhere), sets the next threshold and resumes the VM if it was paused for
 * ENOSPC on our volumes only. A poll of the drives' allocation every
 * 2 s catches what an event missed (libvirtd restarting).
 *
 * libvirtd absent or restarting never blocks the API: connecting happens in
 * the monitor's thread, the API reads a copy of the state under a lock. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

struct thinmon_settings {
	bool enabled;
	const char *uri;            /* "qemu:///system" */
	const char *run_dir;        /* where prepare makes its links (drive paths) */
	uint64_t chunk;             /* bytes an extend adds */
	unsigned watermark_percent; /* see thin_threshold() */
};

/* Starts the monitor's threads (nothing if !s->enabled). 0 or -errno. */
int thinmon_start(const struct thinmon_settings *s);
/* Stops and joins them; waits for an extend in progress. */
void thinmon_stop(void);
/* An image was prepared here: a VM may use it soon (or already does). */
void thinmon_image_prepared(const char *domain, const char *image);
/* {"enabled","uri","connected","last_error","drives":N,...}: the summary /v1/host shows. */
json_object *thinmon_summary_json(void);
/* The whole state: the summary plus every watched drive and the recent extends. */
json_object *thinmon_state_json(void);
/* Adds to a volume's JSON what qemu reports when a VM here writes it:
 * "qemu_allocation" (bytes, qemu's write high-water mark on the LV),
 * "block_threshold" (armed, 0: none) and "vm": {"uuid","name","drive"}.
 * Nothing if no VM here writes it. */
void thinmon_volume_json(json_object *o, const char *volume);
