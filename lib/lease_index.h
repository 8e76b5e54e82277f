/* The volume-lease index: which volume's sanlock lease sits in which slot of
 * a domain's `leases` area (VDSM's "xleases" layout). Every host computes a
 * volume's lease offset from it; only the SPM changes it.
 *
 * Layout, from the start ("base") of the domain's leases area:
 *
 *   0 MiB                 the SPM lease (used on a pool's master domain)
 *   1 MiB                 the index: sector 0 a header, sector 1 + k the record of slot k
 *   2 MiB + k MiB         the sanlock lease of slot k (k < LEASE_INDEX_SLOTS)
 *
 * 126 slots fill the 128 MiB `leases` LV of a block domain; a file domain's
 * dom_md/leases grows (sparse) to the same size.
 *
 * Each record is one 512-byte sector (little-endian: magic, version, slot
 * number, volume and image uuids, checksum), written with one O_DIRECT|O_DSYNC
 * pwrite: a sector write is atomic on the devices sanlock supports (512-byte
 * sectors), so a record is either the old or the new one. A record names one
 * volume: two volumes can never share a slot. An all-zero record is free; a
 * record failing a check is "bad" (never a volume's; reused only when no slot
 * is free). Reads use O_DIRECT too: another host's write must not hide behind
 * this host's page cache.
 *
 * Returns: >= 0 or -errno / -SP_E_* with the detail recorded. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "lib/util/uuid.h"

#define LEASE_INDEX_SLOTS 126u
#define LEASE_INDEX_MIB (1ull << 20)
#define LEASE_INDEX_OFFSET LEASE_INDEX_MIB /* from the leases area's base */
#define LEASE_INDEX_SECTOR 512u
/* bytes of the leases area the index and its slots need (from base) */
#define LEASE_INDEX_AREA_SIZE ((2ull + LEASE_INDEX_SLOTS) * LEASE_INDEX_MIB)

enum lease_slot_state {
	LEASE_SLOT_FREE, /* all-zero record */
	LEASE_SLOT_USED, /* a valid record naming a volume */
	LEASE_SLOT_BAD,  /* a record failing a check (torn write, corruption) */
};

struct lease_slot {
	enum lease_slot_state state;
	char volume[UUID_STR_LEN]; /* USED only */
	char image[UUID_STR_LEN];
};

struct lease_index {
	bool formatted; /* the header is valid */
	struct lease_slot slot[LEASE_INDEX_SLOTS];
};

/* Byte offset of slot's sanlock lease (1 MiB aligned). */
uint64_t lease_index_slot_offset(uint64_t base, unsigned slot);

/* Reads the header and every record in one read. */
int lease_index_read(const char *path, uint64_t base, struct lease_index *ret);
/* The slot whose record names volume, or -SP_E_NOT_FOUND (not recorded). */
int lease_index_find(const struct lease_index *ix, const char *volume);
/* A slot to allocate: the first free one, else the first bad one; -ENOSPC
 * (recorded) when every slot names a volume. */
int lease_index_pick(const struct lease_index *ix);
/* Writes the header if it is not valid (records are left alone). */
int lease_index_format(const char *path, uint64_t base);
/* Writes slot's record: volume and image (uuids), or volume NULL to free it. */
int lease_index_write(const char *path, uint64_t base, unsigned slot, const char *volume, const char *image);

/* On-disk conversions (tests): encodes a record into one sector; decodes and
 * checks one (expected slot number), filling *ret. */
void lease_index_record_out(unsigned slot, const char *volume, const char *image, uint8_t out[LEASE_INDEX_SECTOR]);
void lease_index_record_in(const uint8_t in[LEASE_INDEX_SECTOR], unsigned slot, struct lease_slot *ret);
