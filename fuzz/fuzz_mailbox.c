/* Mailbox records (lib/mailbox.c): the slots other hosts write into a pool's
 * inbox, and the SPM into its outbox, read by the SPM's poller and by each
 * asking host (torn writes, another version, garbage, a hostile host). Input:
 * one record (shorter input is zero padded, as the rest of a slot is), decoded
 * both as a request and as a reply.
 *
 * A random record almost never passes its CRC, so each input is decoded
 * twice: as it is, and with the checksum its bytes would have, so the checks
 * after the checksum get fuzzed too.
 *
 * Property: a record accepted is canonical: encoding what was decoded gives
 * back the same bytes (every byte of a record is a field or must be zero). */
#include "fuzz/fuzz.h"

#include "lib/mailbox.h"
#include "lib/slot_journal.h"

static void decode(const uint8_t rec[MAILBOX_RECORD_SIZE])
{
	static uint8_t again[MAILBOX_RECORD_SIZE];
	struct mailbox_request q;
	struct mailbox_reply a;
	unsigned slot_host = (unsigned)(rec[6] | rec[7] << 8);

	int r = mailbox_request_in(rec, 0, &q);
	FUZZ_ASSERT(r == 0 || r == 1 || (r < -MAILBOX_E_BASE && r >= -MAILBOX_E_FIELD));
	FUZZ_ASSERT(mailbox_request_in(rec, slot_host, &q) == r);
	if (r == 0) {
		FUZZ_ASSERT(q.host_id >= 1 && q.host_id <= MAILBOX_HOSTS);
		mailbox_request_out(&q, again);
		FUZZ_ASSERT(memcmp(rec, again, MAILBOX_RECORD_SIZE) == 0);
	}
	r = mailbox_reply_in(rec, 0, &a);
	FUZZ_ASSERT(r == 0 || r == 1 || (r < -MAILBOX_E_BASE && r >= -MAILBOX_E_FIELD));
	if (r == 0) {
		FUZZ_ASSERT(a.result <= 0 && a.seq > 0);
		mailbox_reply_out(&a, again);
		FUZZ_ASSERT(memcmp(rec, again, MAILBOX_RECORD_SIZE) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t rec[MAILBOX_RECORD_SIZE];
	static const uint8_t zero[4];

	fuzz_quiet();
	memset(rec, 0, sizeof(rec));
	memcpy(rec, data, size < MAILBOX_RECORD_SIZE ? size : MAILBOX_RECORD_SIZE);
	decode(rec);

	/* the checksum as the module computes it: the record with the field zero */
	uint32_t crc = slot_crc32c(0, rec, 16);
	crc = slot_crc32c(crc, zero, 4);
	crc = slot_crc32c(crc, rec + 20, MAILBOX_RECORD_SIZE - 20);
	for (int i = 0; i < 4; i++)
		rec[16 + i] = (uint8_t)(crc >> (8 * i));
	decode(rec);
	return 0;
}
