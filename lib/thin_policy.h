/* Thin provisioning policy: pure arithmetic, no I/O.
 *
 * A thin qcow2 volume on a block domain lives in an LV smaller than its
 * capacity; the LV grows by chunks before the guest's writes reach its end.
 * The watermark says when: with chunk C and watermark W %, the LV is extended
 * once the guest has used W % of the last chunk's worth of space, i.e. once
 * the free space left in the LV falls under (100 - W) % of C. VDSM's
 * defaults are C = 2.5 GiB and W = 20 (extend when under 2 GiB is free);
 * sanpool's are C = 1 GiB (thin_extend_chunk_mib) and W = 20
 * (thin_watermark_percent): extend when under 819 MiB is free, so a guest
 * writing 1 GiB/s has ~0.8 s for the whole extend loop. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

/* The LV size to ask for: min_size when it grows the LV (0: the current size
 * plus one chunk), never past max (what the full capacity needs). Returns
 * cur when nothing needs growing (min_size <= cur, or cur >= max). */
uint64_t thin_next_size(uint64_t cur, uint64_t min_size, uint64_t chunk, uint64_t max);

/* The write offset (bytes, as libvirt's block threshold takes it) past which
 * an LV of lv_size bytes must be extended: lv_size minus (100 - watermark) %
 * of chunk. 0 when the LV is already under that free space (smaller than it):
 * the caller extends at once rather than set a threshold (libvirt reads 0 as
 * "no threshold"). watermark_percent above 100 counts as 100 (extend only
 * when full). */
uint64_t thin_threshold(uint64_t lv_size, uint64_t chunk, unsigned watermark_percent);

/* "Not resumed without an extend": thin_enospc_has_room's retried_at when the
 * VM was not. */
#define THIN_NOT_RETRIED UINT64_MAX

/* Whether an LV already has the room a VM paused for ENOSPC on it wanted, so
 * that resuming the VM is enough (asked for an ENOSPC with no threshold event
 * beside it: libvirt's I/O error event can reach the monitor after the extend
 * that made room). lv_size: the LV as the VM's qemu sees it now (refreshed);
 * allocation: qemu's write high-water mark on it. qcow2 allocates at its
 * image's end: when a write fails at the LV's end, the allocation is within
 * the writes in flight (a few MiB) of that end, and may pass it by as much
 * (writes that reached the LV after it grew); an extend since put a chunk
 * more past it. So with more than half a chunk free past the allocation, the
 * LV grew after the write failed. retried_at: the allocation when the VM was
 * last resumed without an extend (THIN_NOT_RETRIED: it was not); a VM that
 * paused again without writing past it needs more than a resume (qemu's
 * high-water mark starts at 0 with its process, so a low one can look like
 * room). */
bool thin_enospc_has_room(uint64_t lv_size, uint64_t allocation, uint64_t chunk, uint64_t retried_at);
