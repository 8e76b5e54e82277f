/* Host device reports (lib/host_report.c): HOST_REPORT_SLOT_SIZE-byte
 * records each host writes into the hosts area of a pool's master domain
 * and every other host reads (torn writes, another version, garbage from an
 * earlier life of the LUN). Input: one slot (shorter input is zero padded,
 * as the rest of a slot is).
 *
 * A random slot almost never passes its CRC, so each input is decoded twice:
 * as it is, and with the checksum its header and list would have, so the
 * checks after the checksum get fuzzed too.
 *
 * Property: a report accepted is written back (host_report_out) and read
 * again to the same host, sequence, time, pool and WWIDs. */
#include "fuzz/fuzz.h"

#include "lib/host_report.h"
#include "lib/slot_journal.h" /* slot_crc32c */

static uint8_t slot[HOST_REPORT_SLOT_SIZE], again[HOST_REPORT_SLOT_SIZE];

static void decode(void)
{
	struct host_report r, r2;
	int e = host_report_in(slot, &r);

	FUZZ_ASSERT(e == 0 || e == 1 || (e < -HOST_REPORT_E_BASE && e >= -HOST_REPORT_E_LIST));
	if (e != 0)
		return;
	FUZZ_ASSERT(host_report_out(&r, again) == 0);
	FUZZ_ASSERT(host_report_in(again, &r2) == 0);
	FUZZ_ASSERT(r.host_id == r2.host_id && r.seq == r2.seq && r.time == r2.time && strcmp(r.pool, r2.pool) == 0);
	FUZZ_ASSERT(r.n == r2.n);
	for (size_t i = 0; i < r.n; i++)
		FUZZ_ASSERT(strcmp(r.wwids[i], r2.wwids[i]) == 0);
	host_report_clear(&r);
	host_report_clear(&r2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_quiet();
	memset(slot, 0, sizeof(slot));
	memcpy(slot, data, size < sizeof(slot) ? size : sizeof(slot));
	decode();

	uint32_t length = slot[76] | slot[77] << 8 | slot[78] << 16 | (uint32_t)slot[79] << 24;
	if (length <= HOST_REPORT_LIST_MAX) {
		/* the checksum as the module computes it: header with the field zero, then the list */
		uint8_t header[HOST_REPORT_HEADER_SIZE];
		memcpy(header, slot, sizeof(header));
		memset(header + 8, 0, 4);
		uint32_t crc = slot_crc32c(slot_crc32c(0, header, sizeof(header)), slot + HOST_REPORT_HEADER_SIZE, length);
		for (int i = 0; i < 4; i++)
			slot[8 + i] = (uint8_t)(crc >> (8 * i));
		decode();
	}
	return 0;
}
