/* Which devices a host sees, published on shared storage: one fixed-size
 * record per host (its "report") in a hosts area of the pool's master domain,
 * so every host of the pool can tell which LUNs all of them see
 * (lib/device_sharing.h computes that, lease/sharing.c keeps the reports
 * fresh).
 *
 * The hosts area holds HOST_REPORT_HOSTS slots of HOST_REPORT_SLOT_SIZE
 * bytes; host id N writes only slot N-1, so hosts never write the same bytes
 * and need no lock between them. A block domain keeps the area in its
 * `journal` LV (after the task journal and the pool record), read and written
 * on the PV at the LV's offset; a file domain in `dom_md/hosts`. Reads and
 * writes are one pread/pwrite of a slot, O_DIRECT|O_DSYNC (as the journal),
 * so no host reads a stale page cache.
 *
 * Functions return >= 0 on success, -errno or -SP_E_* with the detail in the
 * thread's error record (lib/util/error.h). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util/uuid.h"

#define HOST_REPORT_SLOT_SIZE 16384u
#define HOST_REPORT_HOSTS 2000u /* sanlock's host ids: 1..2000 */
#define HOST_REPORT_AREA_SIZE ((uint64_t)HOST_REPORT_SLOT_SIZE * HOST_REPORT_HOSTS)
#define HOST_REPORT_WWID_MAX 128u /* bytes of one WWID */

struct host_report {
	unsigned host_id;
	uint64_t seq;  /* this host's write counter: grows with each report */
	int64_t time;  /* when written, seconds since the epoch (for operators) */
	char pool[UUID_STR_LEN];
	char **wwids;  /* n WWIDs, each once */
	size_t n;
};

void host_report_clear(struct host_report *r);

/* ---- on-disk format (for the module, its tests and the fuzz harness) ----
 *
 * offset size  field
 *      0    4  magic      HOST_REPORT_MAGIC ("SPHR" in byte order)
 *      4    4  version    HOST_REPORT_VERSION
 *      8    4  checksum   CRC-32C of the header with this field zero, then
 *                         of the list (as the task journal's slots)
 *     12    4  host_id    1..2000, the slot's own host (slot host_id - 1)
 *     16    8  seq
 *     24    8  time       signed
 *     32   40  pool       pool UUID, 36 characters, NUL padded
 *     72    4  count      number of WWIDs
 *     76    4  length     bytes of the list, 0..HOST_REPORT_LIST_MAX
 *     80    -  list       the WWIDs, each followed by a NUL; the rest of the
 *                         slot is zero
 * All integers little-endian. A slot whose first 80 bytes are zero is free. */
#define HOST_REPORT_MAGIC 0x52485053u /* 'S' 'P' 'H' 'R' */
#define HOST_REPORT_VERSION 1u
#define HOST_REPORT_HEADER_SIZE 80u
#define HOST_REPORT_LIST_MAX (HOST_REPORT_SLOT_SIZE - HOST_REPORT_HEADER_SIZE)

/* Why a slot fails its checks: one code per check, returned (negative) by
 * host_report_in only. Above the journal's SLOT_E_* range. */
enum {
	HOST_REPORT_E_BASE = 10300,
	HOST_REPORT_E_MAGIC,    /* not a report */
	HOST_REPORT_E_VERSION,  /* a version this code does not read */
	HOST_REPORT_E_LENGTH,   /* list length over HOST_REPORT_LIST_MAX */
	HOST_REPORT_E_CHECKSUM, /* torn write or corruption */
	HOST_REPORT_E_HOST,     /* host id out of range */
	HOST_REPORT_E_POOL,     /* pool field is not a NUL-padded UUID */
	HOST_REPORT_E_LIST,     /* list is not count valid, distinct WWIDs */
};
/* A short description of a HOST_REPORT_E_* code (negative or positive). */
const char *host_report_strerror(int code);

/* Whether s can be a WWID in a report: 1..HOST_REPORT_WWID_MAX printable
 * bytes, no space. */
bool host_report_wwid_is_valid(const char *s);

/* Encodes r into slot (HOST_REPORT_SLOT_SIZE bytes, zero padded). Returns 0;
 * -E2BIG when the WWIDs do not fit, -EINVAL for a bad host id, pool or WWID
 * (nothing recorded: for the caller to say). */
int host_report_out(const struct host_report *r, uint8_t *slot);
/* Decodes and checks a slot. Returns 0 and *ret (free with
 * host_report_clear); 1 for a free slot; -HOST_REPORT_E_* for the first
 * check that fails. Nothing recorded. */
int host_report_in(const uint8_t *slot, struct host_report *ret);

/* ---- the hosts area: path (a block device or a file) from offset ---- */

/* Writes r into the slot of r->host_id, durably. */
int host_report_write(const char *path, uint64_t offset, const struct host_report *r);
/* Reads host_id's slot: 0 and *ret; -ENOENT when the slot is free;
 * -SP_E_CORRUPT when it fails a check (the check named in the message). */
int host_report_read(const char *path, uint64_t offset, unsigned host_id, struct host_report *ret);
/* Zeroes host_id's slot, durably (a host leaving the pool). */
int host_report_erase(const char *path, uint64_t offset, unsigned host_id);
