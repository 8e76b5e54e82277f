/* Task journal slots (lib/slot_journal.c): SLOT_SIZE-byte records on the
 * block domain's journal LV, which a new SPM on another host reads after a
 * crash (torn writes, another version, garbage). Input: one slot (shorter
 * input is zero padded, as the rest of a slot is).
 *
 * A random slot almost never passes its CRC, so each input is decoded twice:
 * as it is, and with the checksum its header and payload would have, so the
 * checks after the checksum and the JSON payload get fuzzed too.
 *
 * Property: a record accepted is written back (slot_record_out) and read
 * again to the same task, sequence number and record. */
#include "fuzz/fuzz.h"

#include "lib/slot_journal.h"

static void decode(const uint8_t slot[SLOT_SIZE])
{
	struct slot_header h;
	json_object *rec = NULL;
	int r = slot_record_in(slot, &h, &rec);

	FUZZ_ASSERT(r == 0 || r == 1 || (r < -SLOT_E_BASE && r >= -SLOT_E_PAYLOAD));
	if (r != 0)
		return;
	FUZZ_ASSERT(json_object_is_type(rec, json_type_object));

	size_t len;
	const char *text = json_object_to_json_string_length(rec, JSON_C_TO_STRING_PLAIN, &len);
	if (len >= 1 && len <= SLOT_PAYLOAD_MAX) {
		static uint8_t again[SLOT_SIZE];
		struct slot_header h2;
		json_object *rec2 = NULL;

		slot_record_out(h.task, h.seq, text, len, again);
		FUZZ_ASSERT(slot_record_in(again, &h2, &rec2) == 0);
		FUZZ_ASSERT(strcmp(h.task, h2.task) == 0 && h.seq == h2.seq);
		FUZZ_ASSERT(json_object_equal(rec, rec2));
		json_object_put(rec2);
	}
	json_object_put(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t slot[SLOT_SIZE];
	static const uint8_t zero[4];

	fuzz_quiet();
	memset(slot, 0, sizeof(slot));
	memcpy(slot, data, size < SLOT_SIZE ? size : SLOT_SIZE);
	decode(slot);

	struct slot_header h;
	slot_header_in(slot, &h);
	if (h.length >= 1 && h.length <= SLOT_PAYLOAD_MAX) {
		/* the checksum as the module computes it: header with the field zero, then payload */
		uint32_t crc = slot_crc32c(0, slot, 12);
		crc = slot_crc32c(crc, zero, 4);
		crc = slot_crc32c(crc, slot + 16, SLOT_HEADER_SIZE - 16);
		crc = slot_crc32c(crc, slot + SLOT_HEADER_SIZE, h.length);
		h.checksum = crc;
		slot_header_out(&h, slot);
		decode(slot);
	}
	return 0;
}
