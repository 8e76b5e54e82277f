/* A task journal in fixed-size slots on a region of a block device (or a
 * file): the block domain's journal, kept in its "journal" LV and read and
 * written on the PV at the LV's offset (lvm_lv_location), so a new SPM on
 * another host can replay it whether or not the LV is active.
 *
 * One slot per task. A slot is SLOT_SIZE bytes; a record is a fixed
 * little-endian header and the record's JSON text, with a CRC-32C over both
 * (the format is below, in the style of sanlock's ondisk.c). A slot whose
 * header is all zeros is free.
 *
 * All functions are thread-safe (one mutex per journal) and return >= 0 on
 * success, -errno on failure with the detail in the thread's error record
 * (lib/util/error.h). */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/domain.h" /* journal_cb */
#include "lib/util/uuid.h"

struct slot_journal;

/* Opens the journal on path (a block device or a file) at byte offset, over
 * size bytes (size / SLOT_SIZE slots; offset must be a multiple of
 * SLOT_SIZE): O_RDWR|O_DIRECT|O_DSYNC, so every write is on stable storage
 * when it returns and no host reads a stale page cache. Reads every slot once
 * and remembers which task is in which slot; a slot that fails its checks is
 * logged and counted as free. The region of a block device must lie within
 * it; a file is extended by the writes. Returns 0 and *ret; -EINVAL (bad
 * offset or size), -errno from open or read. */
int slot_journal_open(const char *path, uint64_t offset, uint64_t size, struct slot_journal **ret);
/* Closes the journal (NULL is accepted). */
void slot_journal_close(struct slot_journal *j);
static inline void slot_journal_closep(struct slot_journal **j) { slot_journal_close(*j); }

/* Writes task_uuid's record durably, in one pwrite of one slot: the task's
 * slot if it has one (replaced in place), else a free one. Returns 0;
 * -EINVAL (task_uuid not a UUID), -E2BIG (the record's JSON text is over
 * SLOT_PAYLOAD_MAX bytes), -ENOSPC (every slot is taken), -errno from the
 * write; the error is recorded. */
int slot_journal_write(struct slot_journal *j, const char *task_uuid, json_object *record);
/* Zeroes task_uuid's slot (durably). Returns 0, also when the task has no
 * record; -EINVAL, -errno from the write (recorded). */
int slot_journal_remove(struct slot_journal *j, const char *task_uuid);
/* Reads every slot again and calls cb(task, record, userdata) for each valid
 * record, in slot order. A slot failing a check is logged and skipped, never
 * fatal. If two slots name the same task (not written by this module, but a
 * record moved to a new slot would leave one behind after a crash), the
 * record with the higher sequence number is the task's. cb runs without the
 * journal's lock held, so it may write or remove records; a cb returning < 0
 * stops the scan with that value. Returns 0, cb's error, or -errno from read. */
int slot_journal_scan(struct slot_journal *j, journal_cb cb, void *userdata);
/* Whether key has a record, as this host last read or wrote the journal
 * (open, scan, write, remove): records another host wrote since are seen
 * after the next scan. */
bool slot_journal_has(struct slot_journal *j, const char *key);
/* Number of slots, and of slots holding a task's record. */
size_t slot_journal_slots(struct slot_journal *j);
size_t slot_journal_used(struct slot_journal *j);

/* ---- on-disk format (for the module, its tests and dump tools) ----
 *
 * offset size  field
 *      0    4  magic       SLOT_MAGIC ("SPJR" in byte order)
 *      4    4  version     SLOT_VERSION
 *      8    4  length      bytes of payload, 1..SLOT_PAYLOAD_MAX
 *     12    4  checksum    CRC-32C (Castagnoli) of the header with this
 *                          field zero, then of the payload
 *     16    8  seq         the journal's write counter when written
 *     24   40  task        task UUID, 36 characters, NUL padded
 *     64    -  payload     the record as JSON text (an object), no NUL;
 *                          the rest of the slot is zero
 * All integers little-endian. */
#define SLOT_SIZE 4096u
#define SLOT_HEADER_SIZE 64u
#define SLOT_PAYLOAD_MAX (SLOT_SIZE - SLOT_HEADER_SIZE)
#define SLOT_MAGIC 0x524a5053u /* 'S' 'P' 'J' 'R' */
#define SLOT_VERSION 1u
#define SLOT_TASK_BYTES 40u

struct slot_header {
	uint32_t magic;
	uint32_t version;
	uint32_t length;
	uint32_t checksum;
	uint64_t seq;
	char task[UUID_STR_LEN];
};

/* Why a slot fails its checks: one code per check, returned (negative) by
 * slot_record_in only; the journal logs them and skips the slot. Above the
 * project's SP_E_* range so none can be mistaken for another. */
enum {
	SLOT_E_BASE = 10200,
	SLOT_E_MAGIC,    /* not a record: bad magic */
	SLOT_E_VERSION,  /* a version this code does not read */
	SLOT_E_LENGTH,   /* payload length 0 or over SLOT_PAYLOAD_MAX */
	SLOT_E_CHECKSUM, /* checksum mismatch: torn write or corruption */
	SLOT_E_TASK,     /* task field is not a NUL-padded UUID */
	SLOT_E_PAYLOAD,  /* payload is not a JSON object */
};
/* A short description of a SLOT_E_* code (negative or positive). */
const char *slot_strerror(int code);

/* Conversions between the header and its SLOT_HEADER_SIZE on-disk bytes. */
void slot_header_out(const struct slot_header *h, uint8_t out[SLOT_HEADER_SIZE]);
void slot_header_in(const uint8_t in[SLOT_HEADER_SIZE], struct slot_header *h);
/* CRC-32C, continuing from crc (0 to start). */
uint32_t slot_crc32c(uint32_t crc, const void *data, size_t len);
/* CRC-32C of a len-byte record that holds its own 4-byte CRC at crc_off,
 * counted as zero (the mailbox's and the lease index's records). */
uint32_t slot_crc32c_record(const uint8_t *rec, size_t len, size_t crc_off);

/* Encodes a record for task into slot (SLOT_SIZE bytes, zero padded), with
 * its checksum. payload is len bytes of JSON text, 1..SLOT_PAYLOAD_MAX. */
void slot_record_out(const char *task, uint64_t seq, const char *payload, size_t len,
		     uint8_t slot[SLOT_SIZE]);
/* Decodes and checks a slot. Returns 0 with *ret_h and *ret_record (a new
 * reference) for a valid record; 1 for a free slot (all-zero header);
 * -SLOT_E_* for the first check that fails. */
int slot_record_in(const uint8_t slot[SLOT_SIZE], struct slot_header *ret_h, json_object **ret_record);
