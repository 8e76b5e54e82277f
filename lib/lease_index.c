/* The volume-lease index (see lease_index.h): fixed-size sector records,
 * read and written with O_DIRECT at the leases area's offset on the PV (or in
 * the domain's dom_md/leases file). */
#include "lib/lease_index.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/slot_journal.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/le.h"
#include "lib/util/log.h"

#define HEADER_MAGIC 0x49584c53u /* "SLXI" little-endian */
#define RECORD_MAGIC 0x52584c53u /* "SLXR" */
#define FORMAT_VERSION 1u

/* Record: magic u32, version u32, slot u32, crc u32 (computed with it zero),
 * volume[40], image[40] (NUL padded), zero to the sector's end.
 * Header: magic u32, version u32, slots u32, crc u32, zero to the end. */
#define OFF_MAGIC 0
#define OFF_VERSION 4
#define OFF_SLOT 8
#define OFF_CRC 12
#define OFF_VOLUME 16
#define OFF_IMAGE 56
#define UUID_FIELD 40

static uint32_t sector_crc(const uint8_t *s)
{
	return slot_crc32c_record(s, LEASE_INDEX_SECTOR, OFF_CRC);
}

uint64_t lease_index_slot_offset(uint64_t base, unsigned slot)
{
	return base + (2ull + slot) * LEASE_INDEX_MIB;
}

void lease_index_record_out(unsigned slot, const char *volume, const char *image, uint8_t out[LEASE_INDEX_SECTOR])
{
	memset(out, 0, LEASE_INDEX_SECTOR);
	if (!volume)
		return; /* free: all zero */
	put_le32(out + OFF_MAGIC, RECORD_MAGIC);
	put_le32(out + OFF_VERSION, FORMAT_VERSION);
	put_le32(out + OFF_SLOT, slot);
	memcpy(out + OFF_VOLUME, volume, strnlen(volume, UUID_STR_LEN - 1));
	if (image)
		memcpy(out + OFF_IMAGE, image, strnlen(image, UUID_STR_LEN - 1));
	put_le32(out + OFF_CRC, sector_crc(out));
}

/* A NUL-padded uuid field. */
static bool uuid_field(const uint8_t *f, char out[UUID_STR_LEN])
{
	if (memchr(f, 0, UUID_FIELD) == NULL)
		return false;
	memcpy(out, f, UUID_STR_LEN - 1);
	out[UUID_STR_LEN - 1] = '\0';
	for (size_t i = strlen(out); i < UUID_FIELD; i++)
		if (f[i])
			return false;
	return uuid_is_valid(out);
}

void lease_index_record_in(const uint8_t in[LEASE_INDEX_SECTOR], unsigned slot, struct lease_slot *ret)
{
	memset(ret, 0, sizeof(*ret));
	bool zero = true;
	for (size_t i = 0; i < LEASE_INDEX_SECTOR && zero; i++)
		zero = in[i] == 0;
	if (zero) {
		ret->state = LEASE_SLOT_FREE;
		return;
	}
	ret->state = LEASE_SLOT_BAD;
	if (get_le32(in + OFF_MAGIC) != RECORD_MAGIC || get_le32(in + OFF_VERSION) != FORMAT_VERSION ||
	    get_le32(in + OFF_SLOT) != slot || get_le32(in + OFF_CRC) != sector_crc(in))
		return;
	char image[UUID_STR_LEN] = "";
	if (!uuid_field(in + OFF_VOLUME, ret->volume) || (in[OFF_IMAGE] && !uuid_field(in + OFF_IMAGE, image))) {
		ret->volume[0] = '\0';
		return;
	}
	memcpy(ret->image, image, UUID_STR_LEN);
	ret->state = LEASE_SLOT_USED;
}

/* O_DIRECT where the file system takes it (tmpfs before Linux 6.6 did not:
 * no cache to bypass there); O_DSYNC for every write. */
static int open_area(const char *path, int flags)
{
	int fd = open(path, flags | O_DIRECT | O_DSYNC | O_CLOEXEC);
	if (fd < 0 && errno == EINVAL)
		fd = open(path, flags | O_DSYNC | O_CLOEXEC);
	if (fd < 0)
		return sp_error_set(-errno, "io_error", "", "cannot open the lease area %s: %m", path);
	return fd;
}

static void *sector_alloc(size_t n)
{
	void *p = NULL;
	if (posix_memalign(&p, 4096, n) != 0)
		abort();
	memset(p, 0, n);
	return p;
}

int lease_index_read(const char *path, uint64_t base, struct lease_index *ret)
{
	const size_t len = (1 + LEASE_INDEX_SLOTS) * LEASE_INDEX_SECTOR;
	/* O_DIRECT reads whole logical blocks: round up to 4 KiB */
	const size_t rlen = (len + 4095) & ~(size_t)4095;
	_cleanup_close_ int fd = open_area(path, O_RDONLY);
	_cleanup_free_ uint8_t *buf = NULL;
	ssize_t n;

	if (fd < 0)
		return fd;
	buf = sector_alloc(rlen);
	n = pread(fd, buf, rlen, (off_t)(base + LEASE_INDEX_OFFSET));
	if (n < 0)
		return sp_error_set(-errno, "io_error", "", "cannot read the lease index in %s: %m", path);
	if ((size_t)n < rlen)
		memset(buf + n, 0, rlen - (size_t)n); /* a sparse file's end: zero, free */
	memset(ret, 0, sizeof(*ret));
	ret->formatted = get_le32(buf + OFF_MAGIC) == HEADER_MAGIC && get_le32(buf + OFF_VERSION) == FORMAT_VERSION &&
			 get_le32(buf + OFF_SLOT) == LEASE_INDEX_SLOTS && get_le32(buf + OFF_CRC) == sector_crc(buf);
	for (unsigned k = 0; k < LEASE_INDEX_SLOTS; k++)
		lease_index_record_in(buf + (1 + k) * LEASE_INDEX_SECTOR, k, &ret->slot[k]);
	return 0;
}

int lease_index_find(const struct lease_index *ix, const char *volume)
{
	for (unsigned k = 0; k < LEASE_INDEX_SLOTS; k++)
		if (ix->slot[k].state == LEASE_SLOT_USED && strcmp(ix->slot[k].volume, volume) == 0)
			return (int)k;
	return sp_error_set(-SP_E_NOT_FOUND, "no_lease", "", "volume %s has no lease", volume);
}

int lease_index_pick(const struct lease_index *ix)
{
	for (enum lease_slot_state want = LEASE_SLOT_FREE; want <= LEASE_SLOT_BAD; want += 2)
		for (unsigned k = 0; k < LEASE_INDEX_SLOTS; k++)
			if (ix->slot[k].state == want)
				return (int)k;
	return sp_error_set(-ENOSPC, "no_space", "", "every one of the %u volume lease slots is in use", LEASE_INDEX_SLOTS);
}

static int write_sector(const char *path, uint64_t at, const uint8_t *sector)
{
	_cleanup_close_ int fd = open_area(path, O_WRONLY);
	_cleanup_free_ uint8_t *buf = NULL;

	if (fd < 0)
		return fd;
	buf = sector_alloc(LEASE_INDEX_SECTOR);
	memcpy(buf, sector, LEASE_INDEX_SECTOR);
	ssize_t n = pwrite(fd, buf, LEASE_INDEX_SECTOR, (off_t)at);
	if (n != (ssize_t)LEASE_INDEX_SECTOR)
		return sp_error_set(n < 0 ? -errno : -EIO, "io_error", "", "cannot write the lease index in %s: %s", path,
				    n < 0 ? strerror(errno) : "short write");
	return 0;
}

int lease_index_format(const char *path, uint64_t base)
{
	struct lease_index ix;
	uint8_t h[LEASE_INDEX_SECTOR] = { 0 };
	int r;

	if ((r = lease_index_read(path, base, &ix)) < 0 || ix.formatted)
		return r;
	put_le32(h + OFF_MAGIC, HEADER_MAGIC);
	put_le32(h + OFF_VERSION, FORMAT_VERSION);
	put_le32(h + OFF_SLOT, LEASE_INDEX_SLOTS);
	put_le32(h + OFF_CRC, sector_crc(h));
	if ((r = write_sector(path, base + LEASE_INDEX_OFFSET, h)) < 0)
		return r;
	log_debug("lease index formatted in %s at %llu", path, (unsigned long long)(base + LEASE_INDEX_OFFSET));
	return 0;
}

int lease_index_write(const char *path, uint64_t base, unsigned slot, const char *volume, const char *image)
{
	uint8_t rec[LEASE_INDEX_SECTOR];

	if (slot >= LEASE_INDEX_SLOTS)
		return sp_bad_field("slot", "lease slot %u out of range 0..%u", slot, LEASE_INDEX_SLOTS - 1);
	lease_index_record_out(slot, volume, image, rec);
	return write_sector(path, base + LEASE_INDEX_OFFSET + (1ull + slot) * LEASE_INDEX_SECTOR, rec);
}
