#include "lib/thin_policy.h"

uint64_t thin_next_size(uint64_t cur, uint64_t min_size, uint64_t chunk, uint64_t max)
{
	uint64_t want;
	if (min_size)
		want = min_size;
	else
		want = cur > UINT64_MAX - chunk ? UINT64_MAX : cur + chunk;
	if (want > max)
		want = max;
	return want > cur ? want : cur;
}

uint64_t thin_threshold(uint64_t lv_size, uint64_t chunk, unsigned watermark_percent)
{
	if (watermark_percent > 100)
		watermark_percent = 100;
	/* chunk / 100 first would lose up to 99 bytes; chunk * 100 overflows only
	 * past 184 PB */
	uint64_t free_min = chunk / 100 * (100 - watermark_percent) + chunk % 100 * (100 - watermark_percent) / 100;
	return lv_size > free_min ? lv_size - free_min : 0;
}

bool thin_enospc_has_room(uint64_t lv_size, uint64_t allocation, uint64_t chunk, uint64_t retried_at)
{
	if (retried_at != THIN_NOT_RETRIED && allocation <= retried_at)
		return false;
	/* half a chunk: far from both cases (a few MiB in flight; a chunk) */
	return allocation <= lv_size && lv_size - allocation > chunk / 2;
}
