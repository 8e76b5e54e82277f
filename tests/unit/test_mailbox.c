/* lib/mailbox.c and lib/mailbox_server.c: the records and their checks (one
 * code per check), and the SPM's poller on real files: each request run once,
 * a re-sent one answered and not run again, a new SPM answering what was left
 * pending but not what an old one answered, and the asking host's sequence
 * numbers. */
#include "testutil.h"

#include <fcntl.h>
#include <unistd.h>

#include "lib/mailbox_priv.h"
#include "lib/slot_journal.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"

#define DOM "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f"
#define IMG "1b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f"
#define VOL "2b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f"

static struct mailbox_request request(unsigned host, uint64_t seq, uint64_t size)
{
	struct mailbox_request q = { .host_id = host, .seq = seq, .kind = MAILBOX_KIND_EXTEND, .size = size,
				     .time_ms = 1700000000000ULL };
	snprintf(q.domain, sizeof(q.domain), DOM);
	snprintf(q.image, sizeof(q.image), IMG);
	snprintf(q.volume, sizeof(q.volume), VOL);
	return q;
}

/* The record's checksum again after a test changed a byte (as lib/mailbox.c makes it). */
static void reseal(uint8_t rec[MAILBOX_RECORD_SIZE])
{
	static const uint8_t zero[4];
	uint32_t crc = slot_crc32c(0, rec, 16);
	crc = slot_crc32c(crc, zero, 4);
	crc = slot_crc32c(crc, rec + 20, MAILBOX_RECORD_SIZE - 20);
	for (int i = 0; i < 4; i++)
		rec[16 + i] = (uint8_t)(crc >> (8 * i));
}

static void test_request_round_trip_and_layout(void **state)
{
	(void)state;
	uint8_t rec[MAILBOX_RECORD_SIZE];
	struct mailbox_request q = request(7, 42, 3ULL << 30), back;

	mailbox_request_out(&q, rec);
	/* little-endian on disk, where the header says */
	assert_memory_equal(rec, "SMBQ", 4);
	assert_int_equal(rec[6], 7);
	assert_int_equal(rec[8], 42);
	assert_memory_equal(rec + 40, DOM, 36);
	assert_int_equal(mailbox_request_in(rec, 7, &back), 0);
	assert_int_equal(mailbox_request_in(rec, 0, &back), 0);
	assert_int_equal(back.host_id, 7);
	assert_int_equal(back.seq, 42);
	assert_int_equal(back.kind, MAILBOX_KIND_EXTEND);
	assert_int_equal(back.size, 3ULL << 30);
	assert_int_equal(back.time_ms, 1700000000000ULL);
	assert_string_equal(back.domain, DOM);
	assert_string_equal(back.image, IMG);
	assert_string_equal(back.volume, VOL);
	/* an announcement: seq 0 and nothing else */
	mailbox_request_out(&(struct mailbox_request){ .host_id = 9 }, rec);
	assert_int_equal(mailbox_request_in(rec, 9, &back), 0);
	assert_int_equal(back.seq, 0);
	/* an empty slot */
	memset(rec, 0, sizeof(rec));
	assert_int_equal(mailbox_request_in(rec, 9, &back), 1);
	assert_int_equal(mailbox_reply_in(rec, 9, &(struct mailbox_reply){ 0 }), 1);
}

static void test_reply_round_trip(void **state)
{
	(void)state;
	uint8_t rec[MAILBOX_RECORD_SIZE];
	struct mailbox_reply a = { .host_id = 2000, .seq = 5, .result = -SP_E_BAD_REQUEST, .size = 1ULL << 30,
				   .spm_host = 1 }, back;
	snprintf(a.kind, sizeof(a.kind), "invalid_field");
	snprintf(a.field, sizeof(a.field), "size");
	snprintf(a.message, sizeof(a.message), "size is bad");

	mailbox_reply_out(&a, rec);
	assert_memory_equal(rec, "SMBR", 4);
	assert_int_equal(mailbox_reply_in(rec, 2000, &back), 0);
	assert_int_equal(back.result, -SP_E_BAD_REQUEST);
	assert_int_equal(back.seq, 5);
	assert_int_equal(back.size, 1ULL << 30);
	assert_int_equal(back.spm_host, 1);
	assert_string_equal(back.kind, "invalid_field");
	assert_string_equal(back.field, "size");
	assert_string_equal(back.message, "size is bad");
	/* a request is not a reply, and the other way round */
	assert_int_equal(mailbox_request_in(rec, 2000, &(struct mailbox_request){ 0 }), -MAILBOX_E_MAGIC);
}

static void test_each_failed_check_has_its_code(void **state)
{
	(void)state;
	uint8_t good[MAILBOX_RECORD_SIZE], rec[MAILBOX_RECORD_SIZE];
	struct mailbox_request q = request(3, 1, 1ULL << 30), back;
	mailbox_request_out(&q, good);

	memcpy(rec, good, sizeof(rec));
	rec[0] ^= 1;
	assert_int_equal(mailbox_request_in(rec, 3, &back), -MAILBOX_E_MAGIC);

	memcpy(rec, good, sizeof(rec));
	rec[4] = 2; /* version 2 */
	reseal(rec);
	assert_int_equal(mailbox_request_in(rec, 3, &back), -MAILBOX_E_VERSION);

	memcpy(rec, good, sizeof(rec));
	rec[25] ^= 0x10; /* the size, checksum not updated: a torn write */
	assert_int_equal(mailbox_request_in(rec, 3, &back), -MAILBOX_E_CHECKSUM);

	/* host ids out of 1..2000, or not the slot's */
	for (unsigned host = 0; host <= 2001; host += 2001) {
		q.host_id = host;
		mailbox_request_out(&q, rec);
		assert_int_equal(mailbox_request_in(rec, 0, &back), -MAILBOX_E_HOST);
	}
	assert_int_equal(mailbox_request_in(good, 4, &back), -MAILBOX_E_HOST);
	q.host_id = 3;

	/* fields: a UUID that is not one, a kind, a size of 0, bytes past the end */
	memcpy(rec, good, sizeof(rec));
	rec[80] = 'X';
	reseal(rec);
	assert_int_equal(mailbox_request_in(rec, 3, &back), -MAILBOX_E_FIELD);
	memcpy(rec, good, sizeof(rec));
	memset(rec + 120, 'a', 40); /* no NUL */
	reseal(rec);
	assert_int_equal(mailbox_request_in(rec, 3, &back), -MAILBOX_E_FIELD);
	q.kind = 2;
	mailbox_request_out(&q, rec);
	assert_int_equal(mailbox_request_in(rec, 3, &back), -MAILBOX_E_FIELD);
	q.kind = MAILBOX_KIND_EXTEND;
	q.size = 0;
	mailbox_request_out(&q, rec);
	assert_int_equal(mailbox_request_in(rec, 3, &back), -MAILBOX_E_FIELD);
	memcpy(rec, good, sizeof(rec));
	rec[MAILBOX_RECORD_SIZE - 1] = 1;
	reseal(rec);
	assert_int_equal(mailbox_request_in(rec, 3, &back), -MAILBOX_E_FIELD);
	/* an announcement that names a volume */
	q = request(3, 0, 0);
	q.kind = 0;
	mailbox_request_out(&q, rec);
	assert_int_equal(mailbox_request_in(rec, 3, &back), -MAILBOX_E_FIELD);

	/* replies: a positive result, seq 0, an SPM host out of range */
	struct mailbox_reply a = { .host_id = 3, .seq = 1, .result = 1, .size = 1, .spm_host = 1 }, ab;
	mailbox_reply_out(&a, rec);
	assert_int_equal(mailbox_reply_in(rec, 3, &ab), -MAILBOX_E_FIELD);
	a.result = 0;
	a.seq = 0;
	mailbox_reply_out(&a, rec);
	assert_int_equal(mailbox_reply_in(rec, 3, &ab), -MAILBOX_E_FIELD);
	a.seq = 1;
	a.spm_host = 2001;
	mailbox_reply_out(&a, rec);
	assert_int_equal(mailbox_reply_in(rec, 3, &ab), -MAILBOX_E_FIELD);
	assert_string_equal(mailbox_strerror(-MAILBOX_E_CHECKSUM), "checksum mismatch (torn write or corruption)");
}

/* ---- the poller on files ---- */

static struct {
	char *dir, *inbox, *outbox;
	int calls;
	int result; /* what the handler answers */
} T;

static void handler(const char *pool, const struct mailbox_request *q, struct mailbox_reply *a)
{
	assert_string_equal(pool, "test-pool");
	T.calls++;
	a->result = T.result;
	a->size = q->size;
}

static int setup(void **state)
{
	(void)state;
	T.dir = test_mkdtemp();
	T.inbox = xasprintf("%s/inbox", T.dir);
	T.outbox = xasprintf("%s/outbox", T.dir);
	for (int i = 0; i < 2; i++) {
		_cleanup_close_ int fd = open(i ? T.outbox : T.inbox, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)(MAILBOX_AREA_SIZE + MAILBOX_SLOT_SIZE)), 0);
	}
	T.calls = 0;
	T.result = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(T.inbox);
	free(T.outbox);
	test_rmdtemp(T.dir);
	return 0;
}

static struct mailbox *open_box(void)
{
	struct mailbox *mb;
	/* the inbox one slot into its file: offsets are honoured */
	assert_int_equal(mailbox_open_at("test", T.inbox, MAILBOX_SLOT_SIZE, T.outbox, 0, &mb), 0);
	return mb;
}

static void post_request(struct mailbox *mb, struct mailbox_request q)
{
	uint8_t rec[MAILBOX_RECORD_SIZE];
	mailbox_request_out(&q, rec);
	assert_int_equal(mailbox_write(mb, MAILBOX_INBOX, q.host_id, rec), 0);
}

static uint64_t answered(struct mailbox *mb, unsigned host, struct mailbox_reply *ret)
{
	_cleanup_free_ uint8_t *buf = mailbox_buf(1);
	struct mailbox_reply a;
	assert_int_equal(mailbox_read(mb, MAILBOX_OUTBOX, host, 1, buf), 0);
	if (mailbox_reply_in(buf, host, &a) != 0)
		return 0;
	if (ret)
		*ret = a;
	return a.seq;
}

static void test_each_request_is_run_once_and_a_new_spm_does_not_rerun_it(void **state)
{
	(void)state;
	_cleanup_(mailbox_closep) struct mailbox *mb = open_box();
	struct mailbox_poll ps = { .name = "test", .pool = "test-pool", .mb = mb, .handler = handler, .spm_host = 1 };
	struct mailbox_reply a;

	post_request(mb, request(2, 1, 2ULL << 30));
	assert_int_equal(mailbox_poll_start(&ps), 0);
	assert_int_equal(T.calls, 1);
	assert_int_equal(answered(mb, 2, &a), 1);
	assert_int_equal((int)a.result, 0);
	assert_int_equal(a.size, 2ULL << 30);
	assert_int_equal(a.spm_host, 1);
	assert_int_equal(ps.high, 2);
	/* polled again, and re-sent with the same sequence number: answered already */
	assert_int_equal(mailbox_poll_scan(&ps, ps.high), 0);
	post_request(mb, request(2, 1, 4ULL << 30));
	assert_int_equal(mailbox_poll_scan(&ps, ps.high), 0);
	assert_int_equal(T.calls, 1);
	/* a new SPM knows from the outbox */
	struct mailbox_poll ps2 = { .name = "test", .pool = "test-pool", .mb = mb, .handler = handler, .spm_host = 3 };
	assert_int_equal(mailbox_poll_start(&ps2), 0);
	assert_int_equal(T.calls, 1);
	/* the next request runs */
	post_request(mb, request(2, 2, 3ULL << 30));
	assert_int_equal(mailbox_poll_scan(&ps2, ps2.high), 0);
	assert_int_equal(T.calls, 2);
	assert_int_equal(answered(mb, 2, &a), 2);
	assert_int_equal(a.spm_host, 3);
	/* a slot that fails its checks is skipped, the others still served */
	uint8_t junk[MAILBOX_RECORD_SIZE];
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(mailbox_write(mb, MAILBOX_INBOX, 1, junk), 0);
	post_request(mb, request(4, 1, 1ULL << 30));
	assert_int_equal(mailbox_poll_scan(&ps2, MAILBOX_HOSTS), 0);
	assert_int_equal(T.calls, 3);
	assert_int_equal(answered(mb, 4, NULL), 1);
	assert_int_equal(answered(mb, 1, NULL), 0);
	mailbox_poll_free(&ps);
	mailbox_poll_free(&ps2);
}

static void test_a_request_left_pending_is_answered_by_the_next_spm(void **state)
{
	(void)state;
	_cleanup_(mailbox_closep) struct mailbox *mb = open_box();
	struct mailbox_poll ps = { .name = "test", .pool = "test-pool", .mb = mb, .handler = handler, .spm_host = 1 };

	/* this SPM is losing its role: the handler says so, nothing is answered */
	T.result = -SP_E_NOT_SPM;
	post_request(mb, request(1999, 7, 1ULL << 30));
	assert_int_equal(mailbox_poll_start(&ps), 0);
	assert_int_equal(T.calls, 1);
	assert_int_equal(answered(mb, 1999, NULL), 0);
	assert_int_equal(mailbox_poll_scan(&ps, ps.high), 0); /* not tried again by this poller */
	assert_int_equal(T.calls, 1);
	T.result = 0;
	struct mailbox_poll ps2 = { .name = "test", .pool = "test-pool", .mb = mb, .handler = handler, .spm_host = 2 };
	assert_int_equal(mailbox_poll_start(&ps2), 0);
	assert_int_equal(T.calls, 2);
	assert_int_equal(answered(mb, 1999, NULL), 7);
	/* an error is an answer too: not run again */
	T.result = -SP_E_CONFLICT;
	post_request(mb, request(1999, 8, 1ULL << 30));
	assert_int_equal(mailbox_poll_scan(&ps2, ps2.high), 0);
	assert_int_equal(mailbox_poll_scan(&ps2, ps2.high), 0);
	assert_int_equal(T.calls, 3);
	struct mailbox_reply a;
	assert_int_equal(answered(mb, 1999, &a), 8);
	assert_int_equal(a.result, -SP_E_CONFLICT);
	mailbox_poll_free(&ps);
	mailbox_poll_free(&ps2);
}

static void test_sequence_numbers_go_past_what_the_slots_hold(void **state)
{
	(void)state;
	_cleanup_(mailbox_closep) struct mailbox *mb = open_box();
	struct mailbox_poll ps = { .name = "test", .pool = "test-pool", .mb = mb, .handler = handler, .spm_host = 1 };
	uint64_t seq;

	assert_int_equal(mailbox_next_seq(mb, 5, 0, &seq), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(mailbox_next_seq(mb, 5, 10, &seq), 0);
	assert_int_equal(seq, 11);
	/* a restarted agent (last 0) continues after its request... */
	post_request(mb, request(5, 20, 1ULL << 30));
	assert_int_equal(mailbox_next_seq(mb, 5, 0, &seq), 0);
	assert_int_equal(seq, 21);
	/* ...and after the answer, should the request slot have been overwritten */
	assert_int_equal(mailbox_poll_start(&ps), 0);
	post_request(mb, request(5, 3, 1ULL << 30));
	assert_int_equal(mailbox_next_seq(mb, 5, 0, &seq), 0);
	assert_int_equal(seq, 21);
	/* slots out of range are refused */
	uint8_t rec[MAILBOX_RECORD_SIZE] = { 0 };
	assert_int_equal(mailbox_write(mb, MAILBOX_INBOX, 0, rec), -EINVAL);
	assert_int_equal(mailbox_write(mb, MAILBOX_INBOX, MAILBOX_HOSTS + 1, rec), -EINVAL);
	mailbox_poll_free(&ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_round_trip_and_layout),
		cmocka_unit_test(test_reply_round_trip),
		cmocka_unit_test(test_each_failed_check_has_its_code),
		cmocka_unit_test_setup_teardown(test_each_request_is_run_once_and_a_new_spm_does_not_rerun_it, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_request_left_pending_is_answered_by_the_next_spm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequence_numbers_go_past_what_the_slots_hold, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
