/* Extending thin volumes from any host: the one entry point that the API and
 * the libvirt watcher (block-threshold events) call.
 *
 * On the pool's SPM (or a host managing its pools alone, "sanlock = no") the
 * LV is extended here; on any other host the request goes to the SPM through
 * the pool's mailbox on shared storage (lib/mailbox.h) and this host waits
 * for the answer, then refreshes the LV. Requests for one volume made while
 * one is in flight wait for it and are served by it when it is enough. */
#pragma once
#include <stdint.h>

struct extend_result {
	uint64_t from;       /* LV size before, bytes */
	uint64_t to;         /* LV size after, bytes (== from if nothing needed growing) */
	uint64_t latency_us; /* from the call to the refreshed LV on this host */
};
/* Blocks until the thin volume's LV is at least min_size bytes (0: its current size plus the
 * configured chunk), never past what the full capacity needs (qemu-img measure), and this host
 * sees the new size (LV refreshed). On the pool's SPM (or a "local" host) it extends directly;
 * on any other host it asks the SPM through the pool's mailbox on shared storage. Concurrent
 * requests for one volume coalesce (one extend serves them). The extend is recorded in the
 * volume's history. -SP_E_* / -errno with the detail recorded. */
int extend_volume(const char *domain, const char *image, const char *volume,
		  uint64_t min_size, struct extend_result *ret);

/* Works out now what an extend of the volume needs and keeps (the largest
 * size its LV may reach: qemu-img measure of its capacity, remembered), so
 * that its first extend does not wait for it: ~2 s in the cluster guests,
 * one extend in fifty there. For the thin monitor, when it starts watching
 * a drive. Errors are left to the extend itself. */
void extend_prepare(const char *domain, const char *image, const char *volume);

/* "Its current size" is the size this host last read (its device's size, all
 * a writer here can have used): no LVM command is run before asking.
 *
 * ---- for the agent's start-up, the SPM's mailbox poller and the API ---- */

struct json_object;
struct mailbox_request;
struct mailbox_reply;

struct extend_settings {
	uint64_t chunk;           /* growth when no size is asked (thin_extend_chunk_mib) */
	unsigned watermark_percent; /* thin_watermark_percent (lib/thin_policy.h) */
};
/* Before any thread starts. */
void extend_configure(const struct extend_settings *s);
const struct extend_settings *extend_settings(void);
/* Runs a request read from pool's mailbox on this host, its SPM: grows the LV
 * of a volume of the pool to at least q->size (capped), fills a's result,
 * size and error (the mailbox_handler of lib/mailbox.h). */
void extend_serve(const char *pool, const struct mailbox_request *q, struct mailbox_reply *a);
/* The volume's last extends asked on this host (kept in memory, the newest
 * EXTEND_HISTORY_MAX), oldest first: [{"time_ms", "from", "to",
 * "latency_ms", "via": "direct"|"mailbox", "host", "error" (failures
 * only)}]. A new reference. */
struct json_object *extend_history_json(const char *volume);
#define EXTEND_HISTORY_MAX 32
