/* Volume-lease index records (lib/lease_index.c): 512-byte sectors in a
 * domain's leases area, which every host reads and whose content another
 * host (or a torn write, or garbage on a reused LUN) decides. Input: one
 * sector (shorter input is zero padded, as a sparse area reads).
 *
 * A random sector almost never passes its CRC, so each input is decoded
 * twice: as it is, and with the checksum it would need (bytes 12..15 zero
 * while it is computed), so the checks after the checksum get fuzzed too;
 * each time at the slot number the record names, as lease_index_read does.
 *
 * Property: a record is free, bad, or names a valid volume uuid (and an
 * image uuid or none); one that names a volume, written back
 * (lease_index_record_out), reads again to the same volume and image. */
#include "fuzz/fuzz.h"

#include "lib/lease_index.h"
#include "lib/slot_journal.h"

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void decode(const uint8_t sector[LEASE_INDEX_SECTOR])
{
	unsigned slot = le32(sector + 8);
	struct lease_slot s, again;
	static uint8_t out[LEASE_INDEX_SECTOR];

	lease_index_record_in(sector, slot, &s);
	FUZZ_ASSERT(s.state == LEASE_SLOT_FREE || s.state == LEASE_SLOT_BAD || s.state == LEASE_SLOT_USED);
	if (s.state != LEASE_SLOT_USED) {
		FUZZ_ASSERT(s.volume[0] == '\0');
		return;
	}
	FUZZ_ASSERT(uuid_is_valid(s.volume));
	FUZZ_ASSERT(s.image[0] == '\0' || uuid_is_valid(s.image));
	lease_index_record_out(slot, s.volume, s.image[0] ? s.image : NULL, out);
	lease_index_record_in(out, slot, &again);
	FUZZ_ASSERT(again.state == LEASE_SLOT_USED);
	FUZZ_ASSERT(strcmp(again.volume, s.volume) == 0 && strcmp(again.image, s.image) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t sector[LEASE_INDEX_SECTOR];
	static const uint8_t zero[4];

	fuzz_quiet();
	memset(sector, 0, sizeof(sector));
	memcpy(sector, data, size < sizeof(sector) ? size : sizeof(sector));
	decode(sector);

	uint32_t crc = slot_crc32c(0, sector, 12);
	crc = slot_crc32c(crc, zero, 4);
	crc = slot_crc32c(crc, sector + 16, LEASE_INDEX_SECTOR - 16);
	for (int i = 0; i < 4; i++)
		sector[12 + i] = (uint8_t)(crc >> (8 * i));
	decode(sector);
	return 0;
}
