/* lib/slot_journal.c: the on-disk record and its checks, the journal on a
 * plain file (O_DIRECT on the test directory's file system) and on a real
 * loop device when one can be made (root and losetup; skipped otherwise). */
#include "testutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "lib/slot_journal.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/run.h"
#include "lib/util/uuid.h"

#define OFFSET (2 * SLOT_SIZE) /* the region starts past bytes that are not the journal's */

static struct {
	char *dir;
	char *file;
	char *loop; /* attached loop device, detached in teardown */
} T;

static int test_run(const char *const argv[], char **ret_out);

/* Stands in for libc's open in this test executable (the journal, linked in
 * statically, calls it): a path containing "no-odirect" refuses O_DIRECT with
 * EINVAL, as tmpfs did before Linux 6.6 (newer kernels accept it there, so
 * no file system at hand refuses it). Every other open goes straight on. */
static atomic_int refused_direct, opened_marked;

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (strstr(path, "no-odirect")) {
		if (flags & O_DIRECT) {
			atomic_fetch_add(&refused_direct, 1);
			errno = EINVAL;
			return -1;
		}
		atomic_fetch_add(&opened_marked, 1);
	}
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

static int setup(void **state)
{
	(void)state;
	T.dir = test_mkdtemp();
	T.file = xasprintf("%s/journal", T.dir);
	/* bytes around the region: the journal must never touch them */
	_cleanup_close_ int fd = open(T.file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	uint8_t fill[SLOT_SIZE];
	memset(fill, 0xaa, sizeof(fill));
	assert_int_equal(pwrite(fd, fill, sizeof(fill), 0), SLOT_SIZE);
	assert_int_equal(pwrite(fd, fill, sizeof(fill), SLOT_SIZE), SLOT_SIZE);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (T.loop) {
		const char *detach[] = { "losetup", "-d", T.loop, NULL };
		if (test_run(detach, NULL) < 0)
			fprintf(stderr, "test_slot_journal: losetup -d %s failed\n", T.loop);
		free(T.loop);
		T.loop = NULL;
	}
	free(T.file);
	T.file = NULL;
	test_rmdtemp(T.dir);
	T.dir = NULL;
	return 0;
}

static char *new_uuid(void)
{
	char buf[UUID_STR_LEN];
	uuid_generate_str(buf);
	return xstrdup(buf);
}

static json_object *rec(const char *op, int n)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "op", json_object_new_string(op));
	json_object_object_add(o, "n", json_object_new_int(n));
	return o;
}

/* One scan's results. */
struct seen {
	size_t n;
	char tasks[64][UUID_STR_LEN];
	char ops[64][64];
	int nums[64];
};

static int collect(const char *task, json_object *record, void *userdata)
{
	struct seen *s = userdata;
	json_object *op, *n;
	assert_true(s->n < 64);
	assert_true(json_object_object_get_ex(record, "op", &op));
	snprintf(s->tasks[s->n], UUID_STR_LEN, "%s", task);
	snprintf(s->ops[s->n], sizeof(s->ops[0]), "%s", json_object_get_string(op));
	s->nums[s->n] = json_object_object_get_ex(record, "n", &n) ? json_object_get_int(n) : -1;
	s->n++;
	return 0;
}

static struct seen scan(struct slot_journal *j)
{
	struct seen s = { 0 };
	assert_int_equal(slot_journal_scan(j, collect, &s), 0);
	return s;
}

/* Reads slot i of the region straight from the file. */
static void read_slot(const char *path, uint64_t offset, size_t i, uint8_t out[SLOT_SIZE])
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, out, SLOT_SIZE, (off_t)(offset + i * SLOT_SIZE)), SLOT_SIZE);
}

static void write_raw(const char *path, uint64_t pos, const void *data, size_t len)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, len, (off_t)pos), (ssize_t)len);
	assert_int_equal(fsync(fd), 0);
}

static void check_outside_untouched(void)
{
	uint8_t b[2 * SLOT_SIZE];
	_cleanup_close_ int fd = open(T.file, O_RDONLY | O_CLOEXEC);
	assert_int_equal(pread(fd, b, sizeof(b), 0), sizeof(b));
	for (size_t i = 0; i < sizeof(b); i++)
		assert_int_equal(b[i], 0xaa);
}

/* ---- the record ---- */

static void test_crc32c(void **state)
{
	(void)state;
	/* the check value of CRC-32C */
	assert_int_equal(slot_crc32c(0, "123456789", 9), 0xe3069283u);
	/* continued over pieces */
	assert_int_equal(slot_crc32c(slot_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
	assert_int_equal(slot_crc32c(0, "", 0), 0);
}

static void test_record_format(void **state)
{
	(void)state;
	uint8_t slot[SLOT_SIZE], bad[SLOT_SIZE];
	const char *task = "6f1e8a38-5a8e-4c39-9c8f-0d4b2f0a1b2c";
	const char *payload = "{\"op\":\"create\",\"n\":1}";
	struct slot_header h;
	json_object *o = NULL;

	slot_record_out(task, 0x0102030405060708ull, payload, strlen(payload), slot);
	/* little-endian header at fixed offsets */
	assert_memory_equal(slot, "SPJR", 4);
	assert_int_equal(slot[4], 1);
	assert_int_equal(slot[8], strlen(payload));
	assert_int_equal(slot[16], 0x08);
	assert_int_equal(slot[23], 0x01);
	assert_memory_equal(slot + 24, task, 36);
	assert_memory_equal(slot + SLOT_HEADER_SIZE, payload, strlen(payload));
	assert_int_equal(slot[SLOT_HEADER_SIZE + strlen(payload)], 0);

	assert_int_equal(slot_record_in(slot, &h, &o), 0);
	assert_int_equal(h.magic, SLOT_MAGIC);
	assert_int_equal(h.seq, 0x0102030405060708ull);
	assert_string_equal(h.task, task);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "op")), "create");
	json_object_put(o);

	/* header conversions are inverse */
	uint8_t raw[SLOT_HEADER_SIZE];
	struct slot_header h2;
	slot_header_out(&h, raw);
	assert_memory_equal(raw, slot, SLOT_HEADER_SIZE);
	slot_header_in(raw, &h2);
	assert_memory_equal(&h, &h2, sizeof(h));

	/* free */
	memset(bad, 0, sizeof(bad));
	assert_int_equal(slot_record_in(bad, &h, &o), 1);

	/* each failed check has its own code */
	memcpy(bad, slot, SLOT_SIZE);
	bad[0] ^= 1;
	assert_int_equal(slot_record_in(bad, &h, &o), -SLOT_E_MAGIC);
	memcpy(bad, slot, SLOT_SIZE);
	bad[4] = 2;
	assert_int_equal(slot_record_in(bad, &h, &o), -SLOT_E_VERSION);
	memcpy(bad, slot, SLOT_SIZE);
	memset(bad + 8, 0, 4);
	assert_int_equal(slot_record_in(bad, &h, &o), -SLOT_E_LENGTH);
	memcpy(bad, slot, SLOT_SIZE);
	bad[9] = 0x10; /* 4096 + len */
	assert_int_equal(slot_record_in(bad, &h, &o), -SLOT_E_LENGTH);
	memcpy(bad, slot, SLOT_SIZE);
	bad[SLOT_HEADER_SIZE + 3] ^= 0x20;
	assert_int_equal(slot_record_in(bad, &h, &o), -SLOT_E_CHECKSUM);
	memcpy(bad, slot, SLOT_SIZE);
	bad[16] ^= 1; /* seq is covered too */
	assert_int_equal(slot_record_in(bad, &h, &o), -SLOT_E_CHECKSUM);
	memcpy(bad, slot, SLOT_SIZE);
	bad[12] ^= 1;
	assert_int_equal(slot_record_in(bad, &h, &o), -SLOT_E_CHECKSUM);
	/* checksum right, content wrong */
	slot_record_out("not-a-uuid", 1, payload, strlen(payload), bad);
	assert_int_equal(slot_record_in(bad, &h, &o), -SLOT_E_TASK);
	slot_record_out(task, 1, "[1,2]", 5, bad);
	assert_int_equal(slot_record_in(bad, &h, &o), -SLOT_E_PAYLOAD);
	slot_record_out(task, 1, "{\"a\":1} x", 9, bad);
	assert_int_equal(slot_record_in(bad, &h, &o), -SLOT_E_PAYLOAD);
	slot_record_out(task, 1, "{\"a\":", 5, bad);
	assert_int_equal(slot_record_in(bad, &h, &o), -SLOT_E_PAYLOAD);
	assert_non_null(strstr(slot_strerror(-SLOT_E_CHECKSUM), "checksum"));
}

/* ---- the journal on a file ---- */

static void roundtrip(const char *path, uint64_t offset)
{
	struct slot_journal *j = NULL;
	_cleanup_free_ char *a = new_uuid(), *b = new_uuid(), *c = new_uuid();

	assert_int_equal(slot_journal_open(path, offset, 16 * SLOT_SIZE, &j), 0);
	assert_int_equal(slot_journal_slots(j), 16);
	assert_int_equal(slot_journal_used(j), 0);
	assert_int_equal(scan(j).n, 0);

	_cleanup_json_ json_object *ra = rec("create", 1), *rb = rec("delete", 2), *rc = rec("copy", 3);
	assert_int_equal(slot_journal_write(j, a, ra), 0);
	assert_int_equal(slot_journal_write(j, b, rb), 0);
	assert_int_equal(slot_journal_write(j, c, rc), 0);
	assert_int_equal(slot_journal_used(j), 3);
	struct seen s = scan(j);
	assert_int_equal(s.n, 3);
	/* slot order = order of first write here */
	assert_string_equal(s.tasks[0], a);
	assert_string_equal(s.ops[0], "create");
	assert_string_equal(s.tasks[1], b);
	assert_int_equal(s.nums[1], 2);
	assert_string_equal(s.tasks[2], c);

	/* a rewrite goes to the task's own slot */
	_cleanup_json_ json_object *ra2 = rec("create", 10);
	assert_int_equal(slot_journal_write(j, a, ra2), 0);
	assert_int_equal(slot_journal_used(j), 3);
	s = scan(j);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.tasks[0], a);
	assert_int_equal(s.nums[0], 10);

	/* remove, and remove of an absent task */
	assert_int_equal(slot_journal_remove(j, b), 0);
	assert_int_equal(slot_journal_remove(j, b), 0);
	assert_int_equal(slot_journal_used(j), 2);
	s = scan(j);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.tasks[0], a);
	assert_string_equal(s.tasks[1], c);
	/* the freed slot is reused */
	_cleanup_free_ char *d = new_uuid();
	assert_int_equal(slot_journal_write(j, d, rb), 0);
	s = scan(j);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.tasks[1], d);
	slot_journal_close(j);

	/* reopen: the records are found */
	assert_int_equal(slot_journal_open(path, offset, 16 * SLOT_SIZE, &j), 0);
	assert_int_equal(slot_journal_used(j), 3);
	s = scan(j);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.tasks[0], a);
	assert_int_equal(s.nums[0], 10);
	assert_string_equal(s.tasks[1], d);
	assert_string_equal(s.tasks[2], c);
	/* and the task map with them: a rewrite and a removal find their slots */
	_cleanup_json_ json_object *rc2 = rec("copy", 30);
	assert_int_equal(slot_journal_write(j, c, rc2), 0);
	assert_int_equal(slot_journal_remove(j, a), 0);
	assert_int_equal(slot_journal_used(j), 2);
	slot_journal_close(j);
	assert_int_equal(slot_journal_open(path, offset, 16 * SLOT_SIZE, &j), 0);
	s = scan(j);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.tasks[0], d);
	assert_string_equal(s.tasks[1], c);
	assert_int_equal(s.nums[1], 30);
	assert_int_equal(slot_journal_remove(j, c), 0);
	assert_int_equal(slot_journal_remove(j, d), 0);
	assert_int_equal(scan(j).n, 0);
	slot_journal_close(j);
}

static void test_roundtrip_file(void **state)
{
	(void)state;
	struct statfs fs;
	assert_int_equal(statfs(T.dir, &fs), 0);
	/* O_DIRECT is really in use on this file system */
	_cleanup_close_ int fd = open(T.file, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "test_slot_journal: %s refuses O_DIRECT: the fallback is tested\n", T.dir);
	roundtrip(T.file, OFFSET);
	check_outside_untouched();
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct slot_journal *j = (struct slot_journal *)0x1;
	assert_int_equal(slot_journal_open(T.file, 100, 16 * SLOT_SIZE, &j), -EINVAL);
	assert_int_equal(slot_journal_open(T.file, OFFSET, SLOT_SIZE - 1, &j), -EINVAL);
	assert_int_equal(slot_journal_open(T.file, UINT64_MAX - SLOT_SIZE + 1, 2 * SLOT_SIZE, &j), -EINVAL);
	_cleanup_free_ char *missing = xasprintf("%s/missing", T.dir);
	assert_int_equal(slot_journal_open(missing, 0, SLOT_SIZE, &j), -ENOENT);
	assert_non_null(strstr(sp_error_last()->message, missing));
	assert_int_equal(slot_journal_open(T.dir, 0, SLOT_SIZE, &j), -EISDIR);
	assert_ptr_equal(j, (struct slot_journal *)0x1); /* not written on failure */

	assert_int_equal(slot_journal_open(T.file, OFFSET, 4 * SLOT_SIZE, &j), 0);
	_cleanup_json_ json_object *r = rec("x", 1), *arr = json_object_new_array();
	assert_int_equal(slot_journal_write(j, "not-a-uuid", r), -EINVAL);
	assert_string_equal(sp_error_last()->field, "task");
	assert_int_equal(slot_journal_write(j, NULL, r), -EINVAL);
	assert_int_equal(slot_journal_remove(j, "6F1E8A38-5A8E-4C39-9C8F-0D4B2F0A1B2C"), -EINVAL);
	_cleanup_free_ char *t = new_uuid();
	assert_int_equal(slot_journal_write(j, t, arr), -EINVAL);
	assert_int_equal(slot_journal_used(j), 0);
	slot_journal_close(j);
	slot_journal_close(NULL);
}

/* What another host wrote (a second handle on the same region) is known
 * after the next scan, not before: the block domain's ILLEGAL markers rely on
 * the scan to see the markers of a former SPM. */
static void test_has_follows_scan(void **state)
{
	(void)state;
	struct slot_journal *j1, *j2;
	_cleanup_free_ char *a = new_uuid();
	_cleanup_json_ json_object *r = rec("create", 1);

	assert_int_equal(slot_journal_open(T.file, OFFSET, 4 * SLOT_SIZE, &j1), 0);
	assert_int_equal(slot_journal_open(T.file, OFFSET, 4 * SLOT_SIZE, &j2), 0);
	assert_false(slot_journal_has(j1, a));
	assert_int_equal(slot_journal_write(j1, a, r), 0);
	assert_true(slot_journal_has(j1, a));
	assert_false(slot_journal_has(j2, a));
	assert_int_equal(scan(j2).n, 1);
	assert_true(slot_journal_has(j2, a));
	assert_int_equal(slot_journal_remove(j1, a), 0);
	assert_false(slot_journal_has(j1, a));
	assert_true(slot_journal_has(j2, a));
	assert_int_equal(scan(j2).n, 0);
	assert_false(slot_journal_has(j2, a));
	slot_journal_close(j1);
	slot_journal_close(j2);
}

static void test_full(void **state)
{
	(void)state;
	struct slot_journal *j;
	char *tasks[5];
	assert_int_equal(slot_journal_open(T.file, OFFSET, 4 * SLOT_SIZE, &j), 0);
	_cleanup_json_ json_object *r = rec("create", 1);
	for (int i = 0; i < 5; i++)
		tasks[i] = new_uuid();
	for (int i = 0; i < 4; i++)
		assert_int_equal(slot_journal_write(j, tasks[i], r), 0);
	sp_error_clear();
	assert_int_equal(slot_journal_write(j, tasks[4], r), -ENOSPC);
	assert_int_equal(sp_error_last()->code, -ENOSPC);
	assert_non_null(strstr(sp_error_last()->message, tasks[4]));
	assert_non_null(strstr(sp_error_last()->message, "full"));
	/* a task that has its slot can still be rewritten */
	assert_int_equal(slot_journal_write(j, tasks[2], r), 0);
	assert_int_equal(slot_journal_remove(j, tasks[1]), 0);
	assert_int_equal(slot_journal_write(j, tasks[4], r), 0);
	struct seen s = scan(j);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.tasks[1], tasks[4]);
	for (int i = 0; i < 5; i++) {
		slot_journal_remove(j, tasks[i]);
		free(tasks[i]);
	}
	slot_journal_close(j);
	check_outside_untouched();
}

static void test_too_large(void **state)
{
	(void)state;
	struct slot_journal *j;
	_cleanup_free_ char *t = new_uuid();
	/* {"x":"..."} is 8 bytes around the string */
	char big[SLOT_PAYLOAD_MAX];
	memset(big, 'a', sizeof(big));
	big[SLOT_PAYLOAD_MAX - 8] = '\0';
	_cleanup_json_ json_object *fits = json_object_new_object();
	json_object_object_add(fits, "x", json_object_new_string(big));
	big[SLOT_PAYLOAD_MAX - 8] = 'a';
	big[SLOT_PAYLOAD_MAX - 7] = '\0';
	_cleanup_json_ json_object *over = json_object_new_object();
	json_object_object_add(over, "x", json_object_new_string(big));

	assert_int_equal(slot_journal_open(T.file, OFFSET, 4 * SLOT_SIZE, &j), 0);
	sp_error_clear();
	assert_int_equal(slot_journal_write(j, t, over), -E2BIG);
	assert_non_null(strstr(sp_error_last()->message, t));
	assert_int_equal(slot_journal_used(j), 0);
	assert_int_equal(slot_journal_write(j, t, fits), 0); /* exactly one slot */
	slot_journal_close(j);
	assert_int_equal(slot_journal_open(T.file, OFFSET, 4 * SLOT_SIZE, &j), 0);
	assert_int_equal(slot_journal_used(j), 1);
	/* a record that grows past the slot leaves the old one in place */
	assert_int_equal(slot_journal_write(j, t, over), -E2BIG);
	uint8_t raw[SLOT_SIZE];
	struct slot_header h;
	json_object *o;
	read_slot(T.file, OFFSET, 0, raw);
	assert_int_equal(slot_record_in(raw, &h, &o), 0);
	assert_int_equal(h.length, SLOT_PAYLOAD_MAX);
	assert_int_equal(strlen(json_object_get_string(json_object_object_get(o, "x"))), SLOT_PAYLOAD_MAX - 8);
	json_object_put(o);
	assert_int_equal(slot_journal_remove(j, t), 0);
	slot_journal_close(j);
}

static void test_corrupt_slot(void **state)
{
	(void)state;
	struct slot_journal *j;
	char *tasks[3];
	_cleanup_json_ json_object *r = rec("create", 7);
	assert_int_equal(slot_journal_open(T.file, OFFSET, 4 * SLOT_SIZE, &j), 0);
	for (int i = 0; i < 3; i++) {
		tasks[i] = new_uuid();
		assert_int_equal(slot_journal_write(j, tasks[i], r), 0);
	}
	slot_journal_close(j);

	/* flip a byte of slot 1's payload */
	uint8_t raw[SLOT_SIZE];
	read_slot(T.file, OFFSET, 1, raw);
	raw[SLOT_HEADER_SIZE + 5] ^= 0x01;
	write_raw(T.file, OFFSET + SLOT_SIZE + SLOT_HEADER_SIZE + 5, raw + SLOT_HEADER_SIZE + 5, 1);

	assert_int_equal(slot_journal_open(T.file, OFFSET, 4 * SLOT_SIZE, &j), 0);
	assert_int_equal(slot_journal_used(j), 2);
	struct seen s = scan(j);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.tasks[0], tasks[0]);
	assert_string_equal(s.tasks[1], tasks[2]);
	assert_int_equal(s.nums[0], 7);
	assert_int_equal(s.nums[1], 7);
	/* its task is gone: removing it is a no-op that leaves the slot as it is */
	assert_int_equal(slot_journal_remove(j, tasks[1]), 0);
	read_slot(T.file, OFFSET, 1, raw);
	assert_int_equal(slot_record_in(raw, &(struct slot_header){ 0 }, &(json_object *){ NULL }),
			 -SLOT_E_CHECKSUM);

	/* new records take the free slot first, then the corrupted one */
	_cleanup_free_ char *n1 = new_uuid(), *n2 = new_uuid(), *n3 = new_uuid();
	assert_int_equal(slot_journal_write(j, n1, r), 0);
	s = scan(j);
	assert_string_equal(s.tasks[2], n1); /* slot 3 */
	assert_int_equal(slot_journal_write(j, n2, r), 0);
	s = scan(j);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.tasks[1], n2); /* slot 1, overwritten */
	assert_int_equal(slot_journal_write(j, n3, r), -ENOSPC);
	const char *all[] = { tasks[0], tasks[2], n1, n2 };
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		assert_int_equal(slot_journal_remove(j, all[i]), 0);
	slot_journal_close(j);
	for (int i = 0; i < 3; i++)
		free(tasks[i]);
	check_outside_untouched();
}

/* A write cut between sectors: half the slot new, half old. */
static void test_torn_slot(void **state)
{
	(void)state;
	struct slot_journal *j;
	_cleanup_free_ char *t = new_uuid(), *other = new_uuid();
	char text[3000];
	uint8_t old[SLOT_SIZE], new[SLOT_SIZE], torn[SLOT_SIZE];

	memset(text, 'o', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	_cleanup_json_ json_object *r1 = json_object_new_object(), *r2 = json_object_new_object();
	json_object_object_add(r1, "op", json_object_new_string(text));
	memset(text, 'n', sizeof(text) - 1);
	json_object_object_add(r2, "op", json_object_new_string(text));
	_cleanup_json_ json_object *ro = rec("other", 5);

	assert_int_equal(slot_journal_open(T.file, OFFSET, 4 * SLOT_SIZE, &j), 0);
	assert_int_equal(slot_journal_write(j, other, ro), 0);
	assert_int_equal(slot_journal_write(j, t, r1), 0);
	read_slot(T.file, OFFSET, 1, old);
	assert_int_equal(slot_journal_write(j, t, r2), 0);
	read_slot(T.file, OFFSET, 1, new);
	slot_journal_close(j);

	struct slot_header h;
	json_object *o = NULL;
	/* new header and first half, old second half */
	memcpy(torn, new, SLOT_SIZE / 2);
	memcpy(torn + SLOT_SIZE / 2, old + SLOT_SIZE / 2, SLOT_SIZE / 2);
	assert_int_equal(slot_record_in(torn, &h, &o), -SLOT_E_CHECKSUM);
	/* old header and first half, new second half */
	memcpy(torn, old, SLOT_SIZE / 2);
	memcpy(torn + SLOT_SIZE / 2, new + SLOT_SIZE / 2, SLOT_SIZE / 2);
	assert_int_equal(slot_record_in(torn, &h, &o), -SLOT_E_CHECKSUM);
	/* only the last sector old: the payload (3,000 bytes) ends before it, so
	 * the new record is whole and valid (the bytes past it are not covered) */
	memcpy(torn, new, SLOT_SIZE);
	memcpy(torn + 3584, old + 3584, 512);
	assert_int_equal(slot_record_in(torn, &h, &o), 0);
	assert_int_equal(json_object_get_string(json_object_object_get(o, "op"))[0], 'n');
	json_object_put(o);
	/* one sector old inside the payload */
	memcpy(torn, new, SLOT_SIZE);
	memcpy(torn + 2048, old + 2048, 512);
	assert_int_equal(slot_record_in(torn, &h, &o), -SLOT_E_CHECKSUM);

	/* on disk: the journal skips it, the other record is intact */
	memcpy(torn, new, SLOT_SIZE / 2);
	memcpy(torn + SLOT_SIZE / 2, old + SLOT_SIZE / 2, SLOT_SIZE / 2);
	write_raw(T.file, OFFSET + SLOT_SIZE, torn, SLOT_SIZE);
	assert_int_equal(slot_journal_open(T.file, OFFSET, 4 * SLOT_SIZE, &j), 0);
	struct seen s = scan(j);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.tasks[0], other);
	assert_int_equal(s.nums[0], 5);

	/* a torn removal reads as no record */
	assert_int_equal(slot_journal_write(j, t, r1), 0);
	slot_journal_close(j);
	read_slot(T.file, OFFSET, 1, old);
	memset(torn, 0, SLOT_SIZE);
	memcpy(torn, old, 512); /* header sector old, the rest zeroed */
	assert_int_equal(slot_record_in(torn, &h, &o), -SLOT_E_CHECKSUM);
	memcpy(torn, old, SLOT_SIZE);
	memset(torn, 0, 512); /* header sector zeroed, the rest old */
	assert_int_equal(slot_record_in(torn, &h, &o), 1);

	assert_int_equal(slot_journal_open(T.file, OFFSET, 4 * SLOT_SIZE, &j), 0);
	assert_int_equal(slot_journal_remove(j, t), 0);
	assert_int_equal(slot_journal_remove(j, other), 0);
	slot_journal_close(j);
}

/* Two slots naming one task (a record moved to a new slot, the old copy not
 * yet zeroed when the host died): the higher sequence number wins. */
static void test_duplicate_task(void **state)
{
	(void)state;
	struct slot_journal *j;
	const char *t = "6f1e8a38-5a8e-4c39-9c8f-0d4b2f0a1b2c";
	uint8_t slot[SLOT_SIZE];
	const char *older = "{\"op\":\"old\",\"n\":1}", *newer = "{\"op\":\"new\",\"n\":2}";

	slot_record_out(t, 50, newer, strlen(newer), slot);
	write_raw(T.file, OFFSET, slot, SLOT_SIZE);
	slot_record_out(t, 40, older, strlen(older), slot);
	write_raw(T.file, OFFSET + 2 * SLOT_SIZE, slot, SLOT_SIZE);

	assert_int_equal(slot_journal_open(T.file, OFFSET, 4 * SLOT_SIZE, &j), 0);
	assert_int_equal(slot_journal_used(j), 1);
	struct seen s = scan(j);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ops[0], "new");
	read_slot(T.file, OFFSET, 2, slot); /* the older copy was zeroed */
	assert_int_equal(slot_record_in(slot, &(struct slot_header){ 0 }, &(json_object *){ NULL }), 1);
	/* the write counter continues past what is on disk */
	_cleanup_free_ char *u = new_uuid();
	_cleanup_json_ json_object *r = rec("x", 1);
	assert_int_equal(slot_journal_write(j, u, r), 0);
	read_slot(T.file, OFFSET, 1, slot);
	struct slot_header h;
	json_object *o;
	assert_int_equal(slot_record_in(slot, &h, &o), 0);
	json_object_put(o);
	assert_true(h.seq > 50);
	assert_int_equal(slot_journal_remove(j, u), 0);
	assert_int_equal(slot_journal_remove(j, t), 0);
	slot_journal_close(j);

	/* the other order: the older copy in the lower slot */
	slot_record_out(t, 40, older, strlen(older), slot);
	write_raw(T.file, OFFSET, slot, SLOT_SIZE);
	slot_record_out(t, 50, newer, strlen(newer), slot);
	write_raw(T.file, OFFSET + 3 * SLOT_SIZE, slot, SLOT_SIZE);
	assert_int_equal(slot_journal_open(T.file, OFFSET, 4 * SLOT_SIZE, &j), 0);
	s = scan(j);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ops[0], "new");
	assert_int_equal(slot_journal_used(j), 1);
	assert_int_equal(slot_journal_remove(j, t), 0);
	assert_int_equal(scan(j).n, 0);
	slot_journal_close(j);
}

/* Callbacks run without the lock: recovery removes records as it goes. */
struct remove_ctx {
	struct slot_journal *j;
	size_t calls;
};

static int remove_cb(const char *task, json_object *record, void *userdata)
{
	struct remove_ctx *c = userdata;
	(void)record;
	c->calls++;
	assert_int_equal(slot_journal_remove(c->j, task), 0);
	return 0;
}

static int stop_cb(const char *task, json_object *record, void *userdata)
{
	(void)task, (void)record;
	(*(size_t *)userdata)++;
	return -EIO;
}

static void test_scan_callbacks(void **state)
{
	(void)state;
	struct slot_journal *j;
	_cleanup_json_ json_object *r = rec("x", 1);
	assert_int_equal(slot_journal_open(T.file, OFFSET, 8 * SLOT_SIZE, &j), 0);
	for (int i = 0; i < 5; i++) {
		_cleanup_free_ char *t = new_uuid();
		assert_int_equal(slot_journal_write(j, t, r), 0);
	}
	size_t calls = 0;
	assert_int_equal(slot_journal_scan(j, stop_cb, &calls), -EIO);
	assert_int_equal(calls, 1);
	struct remove_ctx c = { .j = j };
	assert_int_equal(slot_journal_scan(j, remove_cb, &c), 0);
	assert_int_equal(c.calls, 5);
	assert_int_equal(slot_journal_used(j), 0);
	assert_int_equal(scan(j).n, 0);
	slot_journal_close(j);
}

/* ---- threads ---- */

#define NTHREADS 4
#define PER_THREAD 12

struct writer {
	struct slot_journal *j;
	int id;
	char tasks[PER_THREAD][UUID_STR_LEN];
	int failures;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		uuid_generate_str(w->tasks[i]);
		json_object *r = rec("thread", w->id * 100 + i);
		if (slot_journal_write(w->j, w->tasks[i], r) < 0)
			w->failures++;
		json_object_put(r);
	}
	/* rewrite each, remove every third */
	for (int i = 0; i < PER_THREAD; i++) {
		json_object *r = rec("thread", w->id * 100 + i + 50);
		if (slot_journal_write(w->j, w->tasks[i], r) < 0)
			w->failures++;
		json_object_put(r);
		if (i % 3 == 0 && slot_journal_remove(w->j, w->tasks[i]) < 0)
			w->failures++;
	}
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	(void)state;
	struct slot_journal *j;
	struct writer w[NTHREADS] = { 0 };
	pthread_t th[NTHREADS];
	const size_t kept = NTHREADS * (PER_THREAD - PER_THREAD / 3);

	assert_int_equal(slot_journal_open(T.file, OFFSET, 64 * SLOT_SIZE, &j), 0);
	for (int i = 0; i < NTHREADS; i++) {
		w[i].j = j;
		w[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(slot_journal_used(j), kept);
	slot_journal_close(j);

	/* from disk: every kept task once, in its own slot, with its last record */
	assert_int_equal(slot_journal_open(T.file, OFFSET, 64 * SLOT_SIZE, &j), 0);
	struct seen s = scan(j);
	assert_int_equal(s.n, kept);
	for (size_t a = 0; a < s.n; a++)
		for (size_t b = a + 1; b < s.n; b++)
			assert_string_not_equal(s.tasks[a], s.tasks[b]);
	for (int t = 0; t < NTHREADS; t++)
		for (int i = 0; i < PER_THREAD; i++) {
			size_t k = 0;
			while (k < s.n && strcmp(s.tasks[k], w[t].tasks[i]))
				k++;
			if (i % 3 == 0) {
				assert_true(k == s.n);
				continue;
			}
			assert_true(k < s.n);
			assert_int_equal(s.nums[k], t * 100 + i + 50);
			assert_int_equal(slot_journal_remove(j, w[t].tasks[i]), 0);
		}
	assert_int_equal(slot_journal_used(j), 0);
	slot_journal_close(j);
}

/* ---- without O_DIRECT, on tmpfs, on a real block device ---- */

/* A file system that refuses O_DIRECT at open: the journal opens without it
 * and works the same (each write still O_DSYNC). */
static void test_no_odirect_fallback(void **state)
{
	(void)state;
	_cleanup_free_ char *path = xasprintf("%s/no-odirect-journal", T.dir);
	test_write(path, "");
	atomic_store(&refused_direct, 0);
	atomic_store(&opened_marked, 0);
	struct slot_journal *j;
	assert_int_equal(slot_journal_open(path, 0, 4 * SLOT_SIZE, &j), 0);
	assert_int_equal(atomic_load(&refused_direct), 1);
	assert_int_equal(atomic_load(&opened_marked), 1);
	slot_journal_close(j);
	roundtrip(path, 0);
	/* the retry's own error is the one reported */
	_cleanup_free_ char *missing = xasprintf("%s/no-odirect-missing", T.dir);
	assert_int_equal(slot_journal_open(missing, 0, SLOT_SIZE, &j), -ENOENT);
}

static void test_tmpfs(void **state)
{
	(void)state;
	struct statfs fs;
	if (statfs("/dev/shm", &fs) < 0 || fs.f_type != 0x01021994 /* TMPFS_MAGIC */)
		skip();
	char dir[] = "/dev/shm/sanpool-unit-XXXXXX";
	assert_non_null(mkdtemp(dir));
	_cleanup_free_ char *path = xasprintf("%s/journal", dir);
	test_write(path, "");
	roundtrip(path, 0);
	assert_int_equal(rm_rf(dir), 0);
}

static void test_loop_device(void **state)
{
	(void)state;
	_cleanup_free_ char *img = xasprintf("%s/loop.img", T.dir);
	char *dev = NULL;
	const char *trunc[] = { "truncate", "-s", "8M", img, NULL };
	const char *los[] = { "losetup", "-f", "--show", img, NULL };
	assert_int_equal(test_run(trunc, NULL), 0);
	if (geteuid() == 0 && test_run(los, &dev) == 0)
		T.loop = dev;
	if (!dev || strncmp(dev, "/dev/", 5)) {
		fprintf(stderr, "test_slot_journal: cannot create a loop device (root and losetup "
				"needed): skipping\n");
		skip();
	}
	struct slot_journal *j = NULL;
	/* a region past the device's end */
	assert_int_equal(slot_journal_open(dev, 4 << 20, 8 << 20, &j), -EINVAL);
	assert_non_null(strstr(sp_error_last()->message, "do not fit"));
	/* 1 MiB in, as an LV's first extent would be */
	roundtrip(dev, 1 << 20);
	/* the last slots of the device */
	assert_int_equal(slot_journal_open(dev, (8 << 20) - 4 * SLOT_SIZE, 4 * SLOT_SIZE, &j), 0);
	_cleanup_free_ char *t = new_uuid();
	_cleanup_json_ json_object *r = rec("end", 4);
	assert_int_equal(slot_journal_write(j, t, r), 0);
	slot_journal_close(j);
	assert_int_equal(slot_journal_open(dev, (8 << 20) - 4 * SLOT_SIZE, 4 * SLOT_SIZE, &j), 0);
	struct seen s = scan(j);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ops[0], "end");
	slot_journal_close(j);
	/* the bytes are where they were asked to be: the image file holds them */
	uint8_t raw[SLOT_SIZE];
	const char *detach[] = { "losetup", "-d", dev, NULL };
	assert_int_equal(test_run(detach, NULL), 0);
	free(T.loop);
	T.loop = NULL;
	read_slot(img, (8 << 20) - 4 * SLOT_SIZE, 0, raw);
	struct slot_header h;
	json_object *o;
	assert_int_equal(slot_record_in(raw, &h, &o), 0);
	assert_string_equal(h.task, t);
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_record_format),
		cmocka_unit_test_setup_teardown(test_roundtrip_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_has_follows_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_task, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_callbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_odirect_fallback, setup, teardown),
		cmocka_unit_test(test_tmpfs),
		cmocka_unit_test_setup_teardown(test_loop_device, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
