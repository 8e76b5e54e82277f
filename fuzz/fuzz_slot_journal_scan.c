/* The task journal as a new SPM reads it (lib/slot_journal.c): open and scan
 * a region of slots, where a task may be found in more than one slot (a move
 * to a new slot cut short by a crash) and any slot may be damaged. Input:
 * consecutive slots, SLOT_SIZE bytes each, the last zero padded. Each slot
 * gets the checksum its bytes would have (as in fuzz_slot_journal), so the
 * scan sees records rather than checksum failures.
 *
 * Properties: the scan reports each task once, as many tasks as the journal
 * counts as used; a second scan reports the same; a new record still fits
 * while a slot is free. */
#include "fuzz/fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

#include "lib/slot_journal.h"

#define MAX_SLOTS 4

struct seen {
	char task[MAX_SLOTS][UUID_STR_LEN];
	size_t n;
};

static int collect(const char *task, json_object *record, void *userdata)
{
	struct seen *s = userdata;
	FUZZ_ASSERT(json_object_is_type(record, json_type_object));
	for (size_t i = 0; i < s->n; i++)
		FUZZ_ASSERT(strcmp(s->task[i], task) != 0);
	FUZZ_ASSERT(s->n < MAX_SLOTS);
	snprintf(s->task[s->n++], UUID_STR_LEN, "%s", task);
	return 0;
}

static void fix_checksum(uint8_t *slot)
{
	static const uint8_t zero[4];
	struct slot_header h;

	slot_header_in(slot, &h);
	if (h.length < 1 || h.length > SLOT_PAYLOAD_MAX)
		return;
	uint32_t crc = slot_crc32c(0, slot, 12);
	crc = slot_crc32c(crc, zero, 4);
	crc = slot_crc32c(crc, slot + 16, SLOT_HEADER_SIZE - 16);
	h.checksum = slot_crc32c(crc, slot + SLOT_HEADER_SIZE, h.length);
	slot_header_out(&h, slot);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static uint8_t region[MAX_SLOTS * SLOT_SIZE];
	size_t nslots = size / SLOT_SIZE + 1;
	char path[64];

	fuzz_quiet();
	if (nslots > MAX_SLOTS)
		return 0;
	if (fd < 0)
		fd = memfd_create("fuzz_slot_journal_scan", MFD_CLOEXEC);
	FUZZ_ASSERT(fd >= 0);
	memset(region, 0, sizeof(region));
	memcpy(region, data, size);
	for (size_t i = 0; i < nslots; i++)
		fix_checksum(region + i * SLOT_SIZE);
	FUZZ_ASSERT(ftruncate(fd, 0) == 0);
	FUZZ_ASSERT(pwrite(fd, region, nslots * SLOT_SIZE, 0) == (ssize_t)(nslots * SLOT_SIZE));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	struct slot_journal *j = NULL;
	FUZZ_ASSERT(slot_journal_open(path, 0, nslots * SLOT_SIZE, &j) == 0);
	struct seen first = { .n = 0 }, second = { .n = 0 };
	FUZZ_ASSERT(slot_journal_scan(j, collect, &first) == 0);
	FUZZ_ASSERT(first.n == slot_journal_used(j));
	FUZZ_ASSERT(slot_journal_scan(j, collect, &second) == 0);
	FUZZ_ASSERT(first.n == second.n);
	for (size_t i = 0; i < first.n; i++)
		FUZZ_ASSERT(strcmp(first.task[i], second.task[i]) == 0);

	/* a task none of the slots can name (its version nibble is 0) */
	json_object *rec = json_object_new_object();
	int r = slot_journal_write(j, "00000000-0000-0000-8000-000000000000", rec);
	json_object_put(rec);
	FUZZ_ASSERT(r == 0 || (r == -ENOSPC && slot_journal_used(j) == nslots));
	slot_journal_close(j);
	return 0;
}
