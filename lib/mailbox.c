/* A pool's mailbox: records, I/O on the inbox and outbox, the asking side. */
#include "lib/mailbox_priv.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/domain.h"
#include "lib/slot_journal.h"
#include "lib/store.h"
#include "lib/metrics.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/hashmap.h"
#include "lib/util/le.h"
#include "lib/util/log.h"
#include "lib/util/xalloc.h"

#define UUID_FIELD 40u

/* ---- records ---- */

static uint32_t record_checksum(const uint8_t rec[MAILBOX_RECORD_SIZE])
{
	return slot_crc32c_record(rec, MAILBOX_RECORD_SIZE, 16);
}

/* A NUL-padded text field of size bytes from s (an array of s_size bytes);
 * the copy is truncated to fit. */
static void put_text(uint8_t *p, size_t size, const char *s, size_t s_size)
{
	memcpy(p, s, strnlen(s, size - 1 < s_size ? size - 1 : s_size));
}

/* Reads a NUL-padded text field: false unless it ends in a NUL and has no
 * byte after its end. */
static bool get_text(const uint8_t *p, size_t size, char *dst, size_t dst_size)
{
	size_t len = strnlen((const char *)p, size);
	if (len >= size || len >= dst_size || !all_zero(p + len, size - len))
		return false;
	memcpy(dst, p, len);
	dst[len] = '\0';
	return true;
}

static void header_out(uint8_t *out, uint32_t magic, unsigned host_id, uint64_t seq)
{
	memset(out, 0, MAILBOX_RECORD_SIZE);
	put_le32(out + 0, magic);
	put_le16(out + 4, MAILBOX_VERSION);
	put_le16(out + 6, (uint16_t)host_id);
	put_le64(out + 8, seq);
}

void mailbox_request_out(const struct mailbox_request *q, uint8_t out[MAILBOX_RECORD_SIZE])
{
	header_out(out, MAILBOX_REQUEST_MAGIC, q->host_id, q->seq);
	put_le32(out + 20, q->kind);
	put_le64(out + 24, q->size);
	put_le64(out + 32, q->time_ms);
	put_text(out + 40, UUID_FIELD, q->domain, sizeof(q->domain));
	put_text(out + 80, UUID_FIELD, q->image, sizeof(q->image));
	put_text(out + 120, UUID_FIELD, q->volume, sizeof(q->volume));
	put_le32(out + 16, record_checksum(out));
}

void mailbox_reply_out(const struct mailbox_reply *a, uint8_t out[MAILBOX_RECORD_SIZE])
{
	header_out(out, MAILBOX_REPLY_MAGIC, a->host_id, a->seq);
	put_le32(out + 20, (uint32_t)a->result);
	put_le64(out + 24, a->size);
	put_le32(out + 32, a->spm_host);
	put_text(out + 36, 32, a->kind, sizeof(a->kind));
	put_text(out + 68, 32, a->field, sizeof(a->field));
	put_text(out + 100, 256, a->message, sizeof(a->message));
	put_le32(out + 16, record_checksum(out));
}

/* The checks both records share, in the order of their codes. */
static int header_in(const uint8_t *in, uint32_t magic, unsigned slot_host, unsigned *ret_host, uint64_t *ret_seq)
{
	if (all_zero(in, MAILBOX_RECORD_SIZE))
		return 1;
	if (get_le32(in) != magic)
		return -MAILBOX_E_MAGIC;
	if (get_le16(in + 4) != MAILBOX_VERSION)
		return -MAILBOX_E_VERSION;
	if (get_le32(in + 16) != record_checksum(in))
		return -MAILBOX_E_CHECKSUM;
	unsigned host = get_le16(in + 6);
	if (host < 1 || host > MAILBOX_HOSTS || (slot_host && host != slot_host))
		return -MAILBOX_E_HOST;
	*ret_host = host;
	*ret_seq = get_le64(in + 8);
	return 0;
}

int mailbox_request_in(const uint8_t in[MAILBOX_RECORD_SIZE], unsigned slot_host, struct mailbox_request *ret)
{
	struct mailbox_request q = { 0 };
	int r = header_in(in, MAILBOX_REQUEST_MAGIC, slot_host, &q.host_id, &q.seq);
	if (r != 0)
		return r;
	q.kind = get_le32(in + 20);
	q.size = get_le64(in + 24);
	q.time_ms = get_le64(in + 32);
	if (!get_text(in + 40, UUID_FIELD, q.domain, sizeof(q.domain)) ||
	    !get_text(in + 80, UUID_FIELD, q.image, sizeof(q.image)) ||
	    !get_text(in + 120, UUID_FIELD, q.volume, sizeof(q.volume)) ||
	    !all_zero(in + 160, MAILBOX_RECORD_SIZE - 160))
		return -MAILBOX_E_FIELD;
	if (q.seq == 0) {
		/* an announcement: nothing else in it */
		if (q.kind || q.size || q.domain[0] || q.image[0] || q.volume[0])
			return -MAILBOX_E_FIELD;
	} else if (q.kind != MAILBOX_KIND_EXTEND || q.size == 0 || !uuid_is_valid(q.domain) ||
		   !uuid_is_valid(q.image) || !uuid_is_valid(q.volume)) {
		return -MAILBOX_E_FIELD;
	}
	*ret = q;
	return 0;
}

int mailbox_reply_in(const uint8_t in[MAILBOX_RECORD_SIZE], unsigned slot_host, struct mailbox_reply *ret)
{
	struct mailbox_reply a = { 0 };
	int r = header_in(in, MAILBOX_REPLY_MAGIC, slot_host, &a.host_id, &a.seq);
	if (r != 0)
		return r;
	a.result = (int)get_le32(in + 20);
	a.size = get_le64(in + 24);
	a.spm_host = get_le32(in + 32);
	if (a.result > 0 || a.seq == 0 || a.spm_host < 1 || a.spm_host > MAILBOX_HOSTS ||
	    !get_text(in + 36, 32, a.kind, sizeof(a.kind)) || !get_text(in + 68, 32, a.field, sizeof(a.field)) ||
	    !get_text(in + 100, 256, a.message, sizeof(a.message)) ||
	    !all_zero(in + 356, MAILBOX_RECORD_SIZE - 356))
		return -MAILBOX_E_FIELD;
	*ret = a;
	return 0;
}

const char *mailbox_strerror(int code)
{
	switch (code < 0 ? -code : code) {
	case MAILBOX_E_MAGIC: return "bad magic";
	case MAILBOX_E_VERSION: return "unknown version";
	case MAILBOX_E_CHECKSUM: return "checksum mismatch (torn write or corruption)";
	case MAILBOX_E_HOST: return "host id out of range or not the slot's";
	case MAILBOX_E_FIELD: return "a field out of its range";
	}
	return "unknown mailbox error";
}

/* ---- I/O ---- */

struct box {
	int fd;
	char *path;
	uint64_t offset;
};

struct mailbox {
	char name[64]; /* "pool <uuid>", for messages */
	struct box box[2];
};

uint8_t *mailbox_buf(unsigned n)
{
	void *p = NULL;
	if (posix_memalign(&p, MAILBOX_SLOT_SIZE, (size_t)n * MAILBOX_SLOT_SIZE) != 0)
		abort();
	memset(p, 0, (size_t)n * MAILBOX_SLOT_SIZE);
	return p;
}

static int box_open_at(const char *name, const char *which, const char *path, uint64_t offset, struct box *ret)
{
	if (offset % MAILBOX_SLOT_SIZE)
		return sp_error_set(-EINVAL, "invalid_field", "", "%s: the %s at %s+%" PRIu64 " is not aligned", name,
				    which, path, offset);
	int fd = open(path, O_RDWR | O_DIRECT | O_DSYNC | O_CLOEXEC);
	if (fd < 0 && errno == EINVAL) /* a file system without O_DIRECT (tmpfs): O_DSYNC still makes writes durable */
		fd = open(path, O_RDWR | O_DSYNC | O_CLOEXEC);
	if (fd < 0)
		return sp_error_set(-errno, "io_error", "", "%s: cannot open the %s at %s: %m", name, which, path);
	*ret = (struct box){ fd, xstrdup(path), offset };
	return 0;
}

int mailbox_open_at(const char *name, const char *inbox, uint64_t inbox_offset, const char *outbox,
		    uint64_t outbox_offset, struct mailbox **ret)
{
	struct mailbox *mb = xcalloc(1, sizeof(*mb));
	int r;
	snprintf(mb->name, sizeof(mb->name), "%s", name);
	mb->box[0].fd = mb->box[1].fd = -1;
	if ((r = box_open_at(name, "inbox", inbox, inbox_offset, &mb->box[MAILBOX_INBOX])) < 0 ||
	    (r = box_open_at(name, "outbox", outbox, outbox_offset, &mb->box[MAILBOX_OUTBOX])) < 0) {
		mailbox_close(mb);
		return r;
	}
	*ret = mb;
	return 0;
}

int mailbox_open(const char *pool, struct mailbox **ret)
{
	_cleanup_free_ char *inbox = NULL, *outbox = NULL;
	uint64_t inbox_offset, outbox_offset;
	struct pool p;
	struct domain d;
	int r;

	if ((r = store_get_pool(pool, &p)) < 0 || (r = store_get_domain(p.master, &d)) < 0 ||
	    (r = d.ops->lease_area(&d, "inbox", MAILBOX_AREA_SIZE, &inbox, &inbox_offset)) < 0 ||
	    (r = d.ops->lease_area(&d, "outbox", MAILBOX_AREA_SIZE, &outbox, &outbox_offset)) < 0)
		return r;
	_cleanup_free_ char *name = xasprintf("pool %s", pool);
	return mailbox_open_at(name, inbox, inbox_offset, outbox, outbox_offset, ret);
}

void mailbox_close(struct mailbox *mb)
{
	if (!mb)
		return;
	for (int i = 0; i < 2; i++) {
		if (mb->box[i].fd >= 0)
			close(mb->box[i].fd);
		free(mb->box[i].path);
	}
	free(mb);
}

static const char *box_name(enum mailbox_box box) { return box == MAILBOX_INBOX ? "inbox" : "outbox"; }

int mailbox_read(struct mailbox *mb, enum mailbox_box box, unsigned first, unsigned n, uint8_t *buf)
{
	const struct box *b = &mb->box[box];
	size_t want = (size_t)n * MAILBOX_SLOT_SIZE, got = 0;
	uint64_t pos = b->offset + (uint64_t)(first - 1) * MAILBOX_SLOT_SIZE;

	if (first < 1 || n > MAILBOX_HOSTS - first + 1)
		return sp_error_set(-EINVAL, "invalid_field", "", "mailbox: slots %u+%u out of range", first, n);
	while (got < want) {
		ssize_t k = pread(b->fd, buf + got, want - got, (off_t)(pos + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return sp_error_set(-errno, "io_error", "", "%s: cannot read the %s at %s: %m", mb->name,
					    box_name(box), b->path);
		if (k == 0)
			break; /* past the end of a file: empty slots */
		got += (size_t)k;
	}
	memset(buf + got, 0, want - got);
	return 0;
}

int mailbox_write(struct mailbox *mb, enum mailbox_box box, unsigned host, const uint8_t rec[MAILBOX_RECORD_SIZE])
{
	const struct box *b = &mb->box[box];
	_cleanup_free_ uint8_t *buf = mailbox_buf(1);

	if (host < 1 || host > MAILBOX_HOSTS)
		return sp_error_set(-EINVAL, "invalid_field", "", "mailbox: host id %u out of range", host);
	memcpy(buf, rec, MAILBOX_RECORD_SIZE);
	ssize_t k = pwrite(b->fd, buf, MAILBOX_SLOT_SIZE, (off_t)(b->offset + (uint64_t)(host - 1) * MAILBOX_SLOT_SIZE));
	if (k != (ssize_t)MAILBOX_SLOT_SIZE)
		return sp_error_set(k < 0 ? -errno : -EIO, "io_error", "", "%s: cannot write slot %u of the %s at %s: %m",
				    mb->name, host, box_name(box), b->path);
	return 0;
}

/* ---- settings ---- */

static struct mailbox_settings settings = { .poll_ms = 10, .timeout_ms = 60000, .host_id = 1 };

void mailbox_configure(const struct mailbox_settings *s) { settings = *s; }

const struct mailbox_settings *mailbox_settings(void) { return &settings; }

/* ---- the asking side ---- */

/* This host's side of one pool's mailbox; never freed while the agent runs. */
struct client {
	pthread_mutex_t lock; /* one request in flight */
	struct mailbox *mb;   /* opened at first use */
	uint64_t seq;         /* the last sequence number used */
};

static pthread_mutex_t clients_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hashmap *clients; /* pool uuid -> struct client */

static struct client *client_get(const char *pool)
{
	MUTEX_SCOPE(&clients_lock);
	if (!clients)
		clients = hashmap_new(NULL);
	struct client *c = hashmap_get(clients, pool);
	if (!c) {
		c = xcalloc(1, sizeof(*c));
		pthread_mutex_init(&c->lock, NULL);
		hashmap_put(clients, pool, c);
	}
	return c;
}

/* Opens the mailbox once. Under c->lock. */
static int client_open(struct client *c, const char *pool)
{
	if (c->mb)
		return 0;
	return mailbox_open(pool, &c->mb);
}

int mailbox_next_seq(struct mailbox *mb, unsigned host, uint64_t last, uint64_t *ret)
{
	struct mailbox_request q;
	struct mailbox_reply a;
	_cleanup_free_ uint8_t *buf = mailbox_buf(1);
	uint64_t seq = last;
	int r;

	if ((r = mailbox_read(mb, MAILBOX_INBOX, host, 1, buf)) < 0)
		return r;
	if (mailbox_request_in(buf, host, &q) == 0 && q.seq > seq)
		seq = q.seq;
	if ((r = mailbox_read(mb, MAILBOX_OUTBOX, host, 1, buf)) < 0)
		return r;
	if (mailbox_reply_in(buf, host, &a) == 0 && a.seq > seq)
		seq = a.seq;
	*ret = seq + 1;
	return 0;
}

int mailbox_announce(const char *pool, unsigned host)
{
	struct client *c = client_get(pool);
	struct mailbox_request q;
	uint8_t rec[MAILBOX_RECORD_SIZE];
	_cleanup_free_ uint8_t *buf = mailbox_buf(1);
	int r;

	if (pthread_mutex_trylock(&c->lock) != 0)
		return 0; /* a request in flight: the slot holds it */
	if ((r = client_open(c, pool)) < 0 || (r = mailbox_read(c->mb, MAILBOX_INBOX, host, 1, buf)) < 0 ||
	    mailbox_request_in(buf, host, &q) == 0) /* a request or an announcement is there already */
		goto out;
	mailbox_request_out(&(struct mailbox_request){ .host_id = host }, rec);
	r = mailbox_write(c->mb, MAILBOX_INBOX, host, rec);
out:
	pthread_mutex_unlock(&c->lock);
	return r < 0 ? r : 0;
}

void mailbox_forget(const char *pool)
{
	struct client *c;
	{
		MUTEX_SCOPE(&clients_lock);
		if (!clients || !(c = hashmap_get(clients, pool)))
			return;
	}
	MUTEX_SCOPE(&c->lock);
	mailbox_close(TAKE_PTR(c->mb));
}

static uint64_t monotonic_ms(void) { return metric_now_ns() / 1000000; }

int mailbox_ask(const char *pool, struct mailbox_request *q, unsigned poll_ms, unsigned timeout_ms,
		struct mailbox_reply *ret)
{
	struct client *c = client_get(pool);
	uint8_t rec[MAILBOX_RECORD_SIZE];
	_cleanup_free_ uint8_t *buf = mailbox_buf(1);
	struct timespec pause = { poll_ms / 1000, (long)(poll_ms % 1000) * 1000000L };
	int r;

	MUTEX_SCOPE(&c->lock);
	/* past what the host's slots hold, so that neither a restarted agent nor
	 * anything else that wrote there makes it reuse a sequence number */
	if ((r = client_open(c, pool)) < 0 || (r = mailbox_next_seq(c->mb, q->host_id, c->seq, &q->seq)) < 0)
		return r;
	c->seq = q->seq;
	mailbox_request_out(q, rec);
	if ((r = mailbox_write(c->mb, MAILBOX_INBOX, q->host_id, rec)) < 0)
		return r;
	log_debug("pool %s: mailbox request %" PRIu64 " of host %u: volume %s to %" PRIu64 " bytes", pool, q->seq,
		  q->host_id, q->volume, q->size);
	uint64_t deadline = monotonic_ms() + timeout_ms;
	for (;;) {
		struct mailbox_reply a;
		if ((r = mailbox_read(c->mb, MAILBOX_OUTBOX, q->host_id, 1, buf)) < 0)
			return r;
		if (mailbox_reply_in(buf, q->host_id, &a) == 0 && a.seq == q->seq) {
			*ret = a;
			return 0;
		}
		if (monotonic_ms() >= deadline)
			return sp_error_set(-ETIMEDOUT, "timeout", "",
					    "pool %s: no SPM answered extend request %" PRIu64 " of volume %s in %u ms "
					    "(it stays in the mailbox for the next SPM)",
					    pool, q->seq, q->volume, timeout_ms);
		nanosleep(&pause, NULL);
	}
}
