/* The slot journal (see slot_journal.h).
 *
 * Durability and torn writes. A slot is written with one pwrite of SLOT_SIZE
 * bytes on a descriptor opened O_DSYNC (and O_DIRECT): when the call returns,
 * the record is on stable storage. The write is not atomic, though: a crash
 * or a path failure can leave some of the slot's sectors new and the others
 * old. The checksum covers the header and the payload, so such a slot fails
 * it and is skipped: the new content and the old are both lost. Why that is
 * safe:
 *  - a task's record is written once, in op_submit, before the task is
 *    queued or acknowledged: a torn first write means the daemon died before
 *    answering 202 and before any step of the task ran, so there is nothing
 *    to replay;
 *  - a record rewritten in place replaces the state recovery replays by
 *    another state of the same task; replay from either is idempotent, and a
 *    torn rewrite loses the record as a whole (never a mix of the two is
 *    replayed: the checksum refuses it). The task is then not replayed: its
 *    objects stay as they were, an ILLEGAL volume stays ILLEGAL and is never
 *    reported LEGAL. (No caller rewrites in place today: each task's record
 *    is written once and removed at its end. A caller that must not lose a
 *    record across a rewrite should write the new state to another slot
 *    first: the higher sequence number wins at load, and the load zeroes the
 *    older copy.)
 *  - a removal zeroes the slot after the task's outcome is final on storage:
 *    a torn removal leaves an all-zero header (free) or a failed checksum
 *    (skipped), both read as "no record", which is what the removal meant.
 * A slot failing its checks is reused after the free ones, so a corrupted
 * slot stays readable for an operator until the journal needs the space. */
#include "lib/slot_journal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/hashmap.h"
#include "lib/util/le.h"
#include "lib/util/log.h"
#include "lib/util/xalloc.h"

/* Slots read per call at load: 1 MiB. */
#define LOAD_CHUNK_SLOTS 256u

enum slot_state {
	SLOT_FREE, /* all-zero header */
	SLOT_USED, /* a valid record; its task maps to it */
	SLOT_BAD,  /* failed a check: reused once no slot is free */
};

struct slot_journal {
	pthread_mutex_t lock;
	int fd;
	char *path;
	uint64_t offset;
	size_t nslots;
	bool direct;

	/* under lock */
	uint8_t *state;        /* enum slot_state per slot */
	struct hashmap *tasks; /* task uuid -> slot index + 1, as a pointer */
	size_t used;
	uint64_t seq;          /* sequence number of the next write */
	uint8_t *buf;          /* one slot, aligned for O_DIRECT */
};


/* O_DIRECT needs buffers aligned to the device's logical block size: a slot's
 * alignment serves every block size up to 4 KiB. Out of memory aborts, as in
 * xmalloc. */
static void *slot_alloc(size_t n)
{
	void *p = NULL;
	if (posix_memalign(&p, SLOT_SIZE, n) != 0)
		abort();
	memset(p, 0, n);
	return p;
}

/* ---- CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), as sanlock ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t slot_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

uint32_t slot_crc32c_record(const uint8_t *rec, size_t len, size_t crc_off)
{
	static const uint8_t zero[4];
	uint32_t crc = slot_crc32c(0, rec, crc_off);

	crc = slot_crc32c(crc, zero, sizeof(zero));
	return slot_crc32c(crc, rec + crc_off + sizeof(zero), len - crc_off - sizeof(zero));
}

/* ---- on-disk format ---- */

void slot_header_out(const struct slot_header *h, uint8_t out[SLOT_HEADER_SIZE])
{
	memset(out, 0, SLOT_HEADER_SIZE);
	put_le32(out + 0, h->magic);
	put_le32(out + 4, h->version);
	put_le32(out + 8, h->length);
	put_le32(out + 12, h->checksum);
	put_le64(out + 16, h->seq);
	memcpy(out + 24, h->task, strnlen(h->task, UUID_STR_LEN - 1));
}

void slot_header_in(const uint8_t in[SLOT_HEADER_SIZE], struct slot_header *h)
{
	memset(h, 0, sizeof(*h));
	h->magic = get_le32(in + 0);
	h->version = get_le32(in + 4);
	h->length = get_le32(in + 8);
	h->checksum = get_le32(in + 12);
	h->seq = get_le64(in + 16);
	memcpy(h->task, in + 24, UUID_STR_LEN - 1); /* NUL-terminated by the memset */
}

/* Checksum of a slot whose header is in place: header with a zero checksum
 * field, then length bytes of payload. */
static uint32_t slot_checksum(const uint8_t slot[SLOT_SIZE], uint32_t length)
{
	static const uint8_t zero[4];
	uint32_t crc = slot_crc32c(0, slot, 12);
	crc = slot_crc32c(crc, zero, 4);
	crc = slot_crc32c(crc, slot + 16, SLOT_HEADER_SIZE - 16);
	return slot_crc32c(crc, slot + SLOT_HEADER_SIZE, length);
}

void slot_record_out(const char *task, uint64_t seq, const char *payload, size_t len,
		     uint8_t slot[SLOT_SIZE])
{
	struct slot_header h = { .magic = SLOT_MAGIC, .version = SLOT_VERSION, .length = (uint32_t)len,
				 .seq = seq };
	snprintf(h.task, sizeof(h.task), "%s", task);
	memset(slot, 0, SLOT_SIZE);
	slot_header_out(&h, slot);
	memcpy(slot + SLOT_HEADER_SIZE, payload, len);
	put_le32(slot + 12, slot_checksum(slot, h.length));
}

const char *slot_strerror(int code)
{
	switch (code < 0 ? -code : code) {
	case SLOT_E_MAGIC: return "bad magic";
	case SLOT_E_VERSION: return "unknown version";
	case SLOT_E_LENGTH: return "bad payload length";
	case SLOT_E_CHECKSUM: return "checksum mismatch (torn write or corruption)";
	case SLOT_E_TASK: return "task field is not a UUID";
	case SLOT_E_PAYLOAD: return "payload is not a JSON object";
	}
	return "unknown slot error";
}

int slot_record_in(const uint8_t slot[SLOT_SIZE], struct slot_header *ret_h, json_object **ret_record)
{
	struct slot_header h;

	if (all_zero(slot, SLOT_HEADER_SIZE))
		return 1;
	slot_header_in(slot, &h);
	if (h.magic != SLOT_MAGIC)
		return -SLOT_E_MAGIC;
	if (h.version != SLOT_VERSION)
		return -SLOT_E_VERSION;
	if (h.length == 0 || h.length > SLOT_PAYLOAD_MAX)
		return -SLOT_E_LENGTH;
	if (slot_checksum(slot, h.length) != h.checksum)
		return -SLOT_E_CHECKSUM;
	if (!uuid_is_valid(h.task) || !all_zero(slot + 24 + UUID_STR_LEN - 1,
						 SLOT_TASK_BYTES - (UUID_STR_LEN - 1)))
		return -SLOT_E_TASK;

	json_tokener *tok = json_tokener_new();
	json_object *o = json_tokener_parse_ex(tok, (const char *)slot + SLOT_HEADER_SIZE, (int)h.length);
	bool complete = json_tokener_get_error(tok) == json_tokener_success &&
			json_tokener_get_parse_end(tok) == h.length;
	json_tokener_free(tok);
	if (!o || !complete || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -SLOT_E_PAYLOAD;
	}
	*ret_h = h;
	*ret_record = o;
	return 0;
}

/* ---- I/O ---- */

static int write_slot(struct slot_journal *j, size_t i, const uint8_t *buf)
{
	ssize_t n = pwrite(j->fd, buf, SLOT_SIZE, (off_t)(j->offset + (uint64_t)i * SLOT_SIZE));
	if (n < 0)
		return -errno;
	return n == SLOT_SIZE ? 0 : -EIO;
}

/* Reads count slots from slot first into buf; what lies past the end of a
 * file reads as zeros (free slots). */
static int read_slots(struct slot_journal *j, size_t first, size_t count, uint8_t *buf)
{
	size_t want = count * SLOT_SIZE, got = 0;
	uint64_t pos = j->offset + (uint64_t)first * SLOT_SIZE;
	while (got < want) {
		ssize_t n = pread(j->fd, buf + got, want - got, (off_t)(pos + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	memset(buf + got, 0, want - got);
	return 0;
}

/* Reads every slot and rebuilds the slot states and the task map. With recs
 * (nslots entries), hands back each valid record by slot. A task found in two
 * slots keeps the one with the higher sequence number; the other is zeroed
 * (what a move to a new slot interrupted by a crash leaves behind). Called
 * with the lock held; on failure the journal's state is unchanged. */
static int load(struct slot_journal *j, json_object **recs)
{
	_cleanup_free_ uint8_t *chunk = slot_alloc((size_t)LOAD_CHUNK_SLOTS * SLOT_SIZE);
	_cleanup_free_ uint8_t *state = xcalloc(j->nslots, 1);
	_cleanup_free_ uint64_t *seqs = xcalloc(j->nslots, sizeof(uint64_t));
	struct hashmap *tasks = hashmap_new(NULL);
	uint64_t max_seq = 0;
	size_t used = 0, bad = 0;

	for (size_t first = 0; first < j->nslots; first += LOAD_CHUNK_SLOTS) {
		size_t count = j->nslots - first < LOAD_CHUNK_SLOTS ? j->nslots - first : LOAD_CHUNK_SLOTS;
		int r = read_slots(j, first, count, chunk);
		if (r < 0) {
			hashmap_free(tasks);
			for (size_t i = 0; recs && i < j->nslots; i++) {
				json_object_put(recs[i]);
				recs[i] = NULL;
			}
			return sp_error_set(r, "io_error", "", "cannot read task journal %s+%" PRIu64 ": %s",
					    j->path, j->offset, strerror(-r));
		}
		for (size_t k = 0; k < count; k++) {
			size_t i = first + k;
			struct slot_header h;
			json_object *rec = NULL;
			int c = slot_record_in(chunk + k * SLOT_SIZE, &h, &rec);
			if (c == 1)
				continue; /* SLOT_FREE */
			if (c < 0) {
				log_warning("task journal %s+%" PRIu64 ": slot %zu skipped: %s", j->path,
					    j->offset, i, slot_strerror(c));
				state[i] = SLOT_BAD;
				bad++;
				continue;
			}
			if (h.seq > max_seq)
				max_seq = h.seq;
			uintptr_t prev = (uintptr_t)hashmap_get(tasks, h.task);
			if (prev) {
				/* the older copy goes: prev's slot, or this one */
				size_t older = seqs[prev - 1] < h.seq ? prev - 1 : i;
				memset(j->buf, 0, SLOT_SIZE);
				int w = write_slot(j, older, j->buf);
				log_warning("task journal %s+%" PRIu64 ": task %s in slots %zu and %zu; "
					    "slot %zu holds the older copy%s", j->path, j->offset, h.task,
					    prev - 1, i, older, w < 0 ? " and cannot be zeroed" : ", zeroed");
				state[older] = w < 0 ? SLOT_BAD : SLOT_FREE;
				bad += w < 0;
				if (older == i) {
					json_object_put(rec);
					continue;
				}
				used--;
				if (recs) {
					json_object_put(recs[older]);
					recs[older] = NULL;
				}
			}
			state[i] = SLOT_USED;
			seqs[i] = h.seq;
			used++;
			hashmap_put(tasks, h.task, (void *)(uintptr_t)(i + 1));
			if (recs)
				recs[i] = rec;
			else
				json_object_put(rec);
		}
	}
	free(j->state);
	j->state = TAKE_PTR(state);
	hashmap_free(j->tasks);
	j->tasks = tasks;
	j->used = used;
	if (max_seq + 1 > j->seq)
		j->seq = max_seq + 1;
	log_debug("task journal %s+%" PRIu64 ": %zu slots, %zu records, %zu unreadable", j->path,
		  j->offset, j->nslots, used, bad);
	return 0;
}

/* ---- the journal ---- */

int slot_journal_open(const char *path, uint64_t offset, uint64_t size, struct slot_journal **ret)
{
	struct stat st;
	bool direct = true;

	if (!path || !*path)
		return sp_error_set(-EINVAL, "invalid_field", "", "task journal: no path");
	if (offset % SLOT_SIZE || size < SLOT_SIZE || size > UINT64_MAX - offset)
		return sp_error_set(-EINVAL, "invalid_field", "",
				    "task journal %s: offset %" PRIu64 " and size %" PRIu64
				    " must be a multiple of %u and at least one slot", path, offset, size,
				    SLOT_SIZE);
	_cleanup_close_ int fd = open(path, O_RDWR | O_DIRECT | O_DSYNC | O_CLOEXEC);
	if (fd < 0 && errno == EINVAL) {
		/* The file system refuses O_DIRECT (tmpfs did, at open, before Linux
		 * 6.6): there is no cache below the page cache to bypass, and O_DSYNC
		 * still makes every write durable when it returns. Shared block
		 * storage never takes this path. */
		direct = false;
		fd = open(path, O_RDWR | O_DSYNC | O_CLOEXEC);
	}
	if (fd < 0)
		return sp_error_set(-errno, "io_error", "", "cannot open task journal %s: %m", path);
	if (fstat(fd, &st) < 0)
		return sp_error_set(-errno, "io_error", "", "cannot stat task journal %s: %m", path);
	if (S_ISBLK(st.st_mode)) {
		uint64_t dev_size = 0;
		if (ioctl(fd, BLKGETSIZE64, &dev_size) < 0)
			return sp_error_set(-errno, "io_error", "", "cannot get the size of %s: %m", path);
		if (offset + size > dev_size)
			return sp_error_set(-EINVAL, "invalid_field", "",
					    "task journal %s+%" PRIu64 ": %" PRIu64
					    " bytes do not fit the device (%" PRIu64 " bytes)",
					    path, offset, size, dev_size);
	} else if (!S_ISREG(st.st_mode)) {
		return sp_error_set(-EINVAL, "invalid_field", "",
				    "task journal %s is neither a block device nor a file", path);
	}

	struct slot_journal *j = xcalloc(1, sizeof(*j));
	pthread_mutex_init(&j->lock, NULL);
	j->fd = TAKE_FD(fd);
	j->path = xstrdup(path);
	j->offset = offset;
	j->nslots = size / SLOT_SIZE;
	j->direct = direct;
	j->seq = 1;
	j->buf = slot_alloc(SLOT_SIZE);
	int r = load(j, NULL);
	if (r < 0) {
		slot_journal_close(j);
		return r;
	}
	log_debug("task journal %s+%" PRIu64 " open%s", path, offset, direct ? "" : " (without O_DIRECT)");
	*ret = j;
	return 0;
}

void slot_journal_close(struct slot_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	hashmap_free(j->tasks);
	free(j->state);
	free(j->buf);
	free(j->path);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

static int check_task(const struct slot_journal *j, const char *task_uuid)
{
	if (!task_uuid || !uuid_is_valid(task_uuid))
		return sp_error_set(-EINVAL, "invalid_field", "task",
				    "task journal %s: \"%.64s\" is not a task UUID", j->path,
				    task_uuid ? task_uuid : "(null)");
	return 0;
}

/* The slot for a task without one: a free slot, else one that failed its
 * checks; SIZE_MAX if none. */
static size_t pick_slot(const struct slot_journal *j)
{
	size_t bad = SIZE_MAX;
	for (size_t i = 0; i < j->nslots; i++) {
		if (j->state[i] == SLOT_FREE)
			return i;
		if (j->state[i] == SLOT_BAD && bad == SIZE_MAX)
			bad = i;
	}
	return bad;
}

int slot_journal_write(struct slot_journal *j, const char *task_uuid, json_object *record)
{
	size_t len;
	int r;

	if ((r = check_task(j, task_uuid)) < 0)
		return r;
	if (!json_object_is_type(record, json_type_object))
		return sp_error_set(-EINVAL, "invalid_field", "", "task %s: journal record is not a JSON object",
				    task_uuid);
	const char *text = json_object_to_json_string_length(record, JSON_C_TO_STRING_PLAIN, &len);
	if (len > SLOT_PAYLOAD_MAX)
		return sp_error_set(-E2BIG, "too_large", "",
				    "task %s: journal record of %zu bytes does not fit a slot (%u bytes)",
				    task_uuid, len, SLOT_PAYLOAD_MAX);

	MUTEX_SCOPE(&j->lock);
	uintptr_t have = (uintptr_t)hashmap_get(j->tasks, task_uuid);
	size_t i = have ? have - 1 : pick_slot(j);
	if (i == SIZE_MAX)
		return sp_error_set(-ENOSPC, "no_space", "",
				    "task journal %s+%" PRIu64 " is full: %zu slots, all in use; task %s "
				    "not recorded", j->path, j->offset, j->nslots, task_uuid);
	slot_record_out(task_uuid, j->seq++, text, len, j->buf);
	r = write_slot(j, i, j->buf);
	if (r < 0) {
		if (!have)
			j->state[i] = SLOT_BAD; /* its content is now unknown */
		return sp_error_set(r, "io_error", "", "cannot write task %s to journal %s+%" PRIu64
				    " (slot %zu): %s", task_uuid, j->path, j->offset, i, strerror(-r));
	}
	if (!have) {
		j->state[i] = SLOT_USED;
		j->used++;
		hashmap_put(j->tasks, task_uuid, (void *)(uintptr_t)(i + 1));
	}
	return 0;
}

int slot_journal_remove(struct slot_journal *j, const char *task_uuid)
{
	int r;

	if ((r = check_task(j, task_uuid)) < 0)
		return r;
	MUTEX_SCOPE(&j->lock);
	uintptr_t have = (uintptr_t)hashmap_get(j->tasks, task_uuid);
	if (!have)
		return 0;
	size_t i = have - 1;
	memset(j->buf, 0, SLOT_SIZE);
	r = write_slot(j, i, j->buf);
	if (r < 0)
		return sp_error_set(r, "io_error", "", "cannot remove task %s from journal %s+%" PRIu64
				    " (slot %zu): %s", task_uuid, j->path, j->offset, i, strerror(-r));
	j->state[i] = SLOT_FREE;
	j->used--;
	hashmap_remove(j->tasks, task_uuid);
	return 0;
}

struct found {
	size_t slot;
	char task[UUID_STR_LEN];
	json_object *record;
};

static int cmp_found(const void *a, const void *b)
{
	size_t x = ((const struct found *)a)->slot, y = ((const struct found *)b)->slot;
	return x < y ? -1 : x > y;
}

int slot_journal_scan(struct slot_journal *j, journal_cb cb, void *userdata)
{
	_cleanup_free_ json_object **recs = xcalloc(j->nslots, sizeof(*recs));
	_cleanup_free_ struct found *found = NULL;
	size_t n = 0;
	int r;

	{
		MUTEX_SCOPE(&j->lock);
		if ((r = load(j, recs)) < 0)
			return r;
		/* copied out: cb runs unlocked and may change the map */
		found = xcalloc(j->used ? j->used : 1, sizeof(*found));
		const char *task;
		void *v;
		for (size_t pos = 0; hashmap_next(j->tasks, &pos, &task, &v) == 0;) {
			size_t i = (uintptr_t)v - 1;
			found[n].slot = i;
			snprintf(found[n].task, sizeof(found[n].task), "%s", task);
			found[n].record = TAKE_PTR(recs[i]);
			n++;
		}
	}
	for (size_t i = 0; i < j->nslots; i++)
		json_object_put(recs[i]); /* none is left: every record is a task's */
	qsort(found, n, sizeof(*found), cmp_found);
	for (size_t k = 0; k < n; k++) {
		if (r >= 0)
			r = cb(found[k].task, found[k].record, userdata);
		json_object_put(found[k].record);
	}
	return r < 0 ? r : 0;
}

bool slot_journal_has(struct slot_journal *j, const char *key)
{
	MUTEX_SCOPE(&j->lock);
	return hashmap_get(j->tasks, key) != NULL;
}

size_t slot_journal_slots(struct slot_journal *j)
{
	return j->nslots;
}

size_t slot_journal_used(struct slot_journal *j)
{
	MUTEX_SCOPE(&j->lock);
	return j->used;
}
