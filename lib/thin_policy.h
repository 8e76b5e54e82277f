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
