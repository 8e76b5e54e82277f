/* Host reports: encode, decode and slot I/O (see host_report.h). A report is
 * rewritten in place; a torn write fails the checksum and reads as "no
 * report" (the host counts as not reporting until its next write, at most a
 * refresh period later), never as a mix of two lists. */
#include "lib/host_report.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/slot_journal.h" /* slot_crc32c */
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/le.h"
#include "lib/util/xalloc.h"

void host_report_clear(struct host_report *r)
{
	for (size_t i = 0; r && i < r->n; i++)
		free(r->wwids[i]);
	if (r)
		free(r->wwids);
	if (r)
		*r = (struct host_report){ 0 };
}

const char *host_report_strerror(int code)
{
	switch (code < 0 ? -code : code) {
	case HOST_REPORT_E_MAGIC: return "bad magic";
	case HOST_REPORT_E_VERSION: return "unknown version";
	case HOST_REPORT_E_LENGTH: return "bad list length";
	case HOST_REPORT_E_CHECKSUM: return "checksum mismatch";
	case HOST_REPORT_E_HOST: return "bad host id";
	case HOST_REPORT_E_POOL: return "bad pool uuid";
	case HOST_REPORT_E_LIST: return "bad WWID list";
	default: return "unknown error";
	}
}

bool host_report_wwid_is_valid(const char *s)
{
	size_t n = s ? strnlen(s, HOST_REPORT_WWID_MAX + 1) : 0;
	if (n == 0 || n > HOST_REPORT_WWID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

static uint32_t checksum(const uint8_t *slot, uint32_t length)
{
	uint8_t header[HOST_REPORT_HEADER_SIZE];
	memcpy(header, slot, sizeof(header));
	put_le32(header + 8, 0);
	return slot_crc32c(slot_crc32c(0, header, sizeof(header)), slot + HOST_REPORT_HEADER_SIZE, length);
}

int host_report_out(const struct host_report *r, uint8_t *slot)
{
	size_t length = 0;

	if (r->host_id < 1 || r->host_id > HOST_REPORT_HOSTS || !uuid_is_valid(r->pool))
		return -EINVAL;
	for (size_t i = 0; i < r->n; i++) {
		if (!host_report_wwid_is_valid(r->wwids[i]))
			return -EINVAL;
		length += strlen(r->wwids[i]) + 1;
	}
	if (length > HOST_REPORT_LIST_MAX || r->n > UINT32_MAX)
		return -E2BIG;
	memset(slot, 0, HOST_REPORT_SLOT_SIZE);
	put_le32(slot, HOST_REPORT_MAGIC);
	put_le32(slot + 4, HOST_REPORT_VERSION);
	put_le32(slot + 12, r->host_id);
	put_le64(slot + 16, r->seq);
	put_le64(slot + 24, (uint64_t)r->time);
	memcpy(slot + 32, r->pool, UUID_STR_LEN - 1);
	put_le32(slot + 72, (uint32_t)r->n);
	put_le32(slot + 76, (uint32_t)length);
	uint8_t *p = slot + HOST_REPORT_HEADER_SIZE;
	for (size_t i = 0; i < r->n; i++) {
		size_t n = strlen(r->wwids[i]) + 1;
		memcpy(p, r->wwids[i], n);
		p += n;
	}
	put_le32(slot + 8, checksum(slot, (uint32_t)length));
	return 0;
}

int host_report_in(const uint8_t *slot, struct host_report *ret)
{
	struct host_report r = { 0 };

	if (all_zero(slot, HOST_REPORT_HEADER_SIZE))
		return 1;
	if (get_le32(slot) != HOST_REPORT_MAGIC)
		return -HOST_REPORT_E_MAGIC;
	if (get_le32(slot + 4) != HOST_REPORT_VERSION)
		return -HOST_REPORT_E_VERSION;
	uint32_t length = get_le32(slot + 76), count = get_le32(slot + 72);
	if (length > HOST_REPORT_LIST_MAX)
		return -HOST_REPORT_E_LENGTH;
	if (get_le32(slot + 8) != checksum(slot, length))
		return -HOST_REPORT_E_CHECKSUM;
	r.host_id = get_le32(slot + 12);
	if (r.host_id < 1 || r.host_id > HOST_REPORT_HOSTS)
		return -HOST_REPORT_E_HOST;
	/* 36 characters of a UUID, then only NULs */
	const uint8_t *pool = slot + 32;
	for (size_t i = UUID_STR_LEN - 1; i < 40; i++)
		if (pool[i])
			return -HOST_REPORT_E_POOL;
	memcpy(r.pool, pool, UUID_STR_LEN - 1);
	if (!uuid_is_valid(r.pool))
		return -HOST_REPORT_E_POOL;
	r.seq = get_le64(slot + 16);
	r.time = (int64_t)get_le64(slot + 24);

	/* count NUL-terminated, valid, distinct WWIDs filling exactly length bytes */
	const char *list = (const char *)slot + HOST_REPORT_HEADER_SIZE;
	if (count > length / 2 || (length > 0 && list[length - 1] != '\0'))
		return -HOST_REPORT_E_LIST;
	r.wwids = xcalloc(count + 1, sizeof(*r.wwids));
	size_t off = 0;
	for (; r.n < count && off < length; r.n++) {
		const char *w = list + off;
		bool dup = false;
		for (size_t j = 0; j < r.n && !dup; j++)
			dup = strcmp(r.wwids[j], w) == 0;
		if (dup || !host_report_wwid_is_valid(w) || strlen(w) + off >= length)
			break;
		r.wwids[r.n] = xstrdup(w);
		off += strlen(w) + 1;
	}
	if (r.n != count || off != length) {
		host_report_clear(&r);
		return -HOST_REPORT_E_LIST;
	}
	*ret = r;
	return 0;
}

/* ---- slot I/O ---- */

/* O_DIRECT needs an aligned buffer; out of memory aborts, as xmalloc. */
static uint8_t *slot_buf(void)
{
	void *p = NULL;
	if (posix_memalign(&p, 4096, HOST_REPORT_SLOT_SIZE) != 0)
		abort();
	memset(p, 0, HOST_REPORT_SLOT_SIZE);
	return p;
}

static int open_area(const char *path, int flags)
{
	int fd = open(path, flags | O_DIRECT | O_DSYNC | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EINVAL) /* a file system without O_DIRECT (tmpfs): O_DSYNC still makes writes durable */
		fd = open(path, flags | O_DSYNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return sp_error_set(-errno, "io_error", "", "cannot open the hosts area %s: %m", path);
	return fd;
}

static int slot_io(const char *path, uint64_t offset, unsigned host_id, uint8_t *buf, bool write)
{
	if (host_id < 1 || host_id > HOST_REPORT_HOSTS)
		return sp_bad_field("host_id", "host id %u out of range 1..%u", host_id, HOST_REPORT_HOSTS);
	/* a file domain's area is made by its first writer (a file, so O_CREAT is harmless on a device) */
	_cleanup_close_ int fd = open_area(path, write ? O_RDWR | O_CREAT : O_RDONLY);
	if (fd < 0)
		return fd;
	off_t at = (off_t)(offset + (uint64_t)(host_id - 1) * HOST_REPORT_SLOT_SIZE);
	ssize_t n = write ? pwrite(fd, buf, HOST_REPORT_SLOT_SIZE, at) : pread(fd, buf, HOST_REPORT_SLOT_SIZE, at);
	if (n < 0)
		return sp_error_set(-errno, "io_error", "", "cannot %s the report of host %u in %s: %m",
				    write ? "write" : "read", host_id, path);
	if (n != HOST_REPORT_SLOT_SIZE) {
		if (write)
			return sp_error_set(-EIO, "io_error", "", "short write of the report of host %u in %s", host_id, path);
		memset(buf + (n > 0 ? n : 0), 0, HOST_REPORT_SLOT_SIZE - (size_t)(n > 0 ? n : 0)); /* past a file's end: free */
	}
	return 0;
}

int host_report_write(const char *path, uint64_t offset, const struct host_report *r)
{
	_cleanup_free_ uint8_t *buf = slot_buf();
	int e = host_report_out(r, buf);
	if (e == -E2BIG)
		return sp_error_set(-E2BIG, "too_large", "", "host %u sees too many devices for its report (%zu WWIDs)",
				    r->host_id, r->n);
	if (e < 0)
		return sp_error_set(-EINVAL, "invalid", "", "host %u: a report needs a host id, a pool and valid WWIDs",
				    r->host_id);
	return slot_io(path, offset, r->host_id, buf, true);
}

int host_report_read(const char *path, uint64_t offset, unsigned host_id, struct host_report *ret)
{
	_cleanup_free_ uint8_t *buf = slot_buf();
	struct host_report r;
	int e = slot_io(path, offset, host_id, buf, false);
	if (e < 0)
		return e;
	e = host_report_in(buf, &r);
	if (e == 1)
		return -ENOENT;
	if (e < 0)
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "the report of host %u in %s: %s", host_id, path,
				    host_report_strerror(e));
	if (r.host_id != host_id) {
		unsigned named = r.host_id;
		host_report_clear(&r);
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "the report in the slot of host %u in %s names host %u",
				    host_id, path, named);
	}
	*ret = r;
	return 0;
}

int host_report_erase(const char *path, uint64_t offset, unsigned host_id)
{
	_cleanup_free_ uint8_t *buf = slot_buf();
	return slot_io(path, offset, host_id, buf, true);
}
