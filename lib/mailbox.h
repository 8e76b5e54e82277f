/* A pool's mailbox: how a host that is not the SPM asks the SPM for an extend,
 * through shared storage only (no network path between agents is needed).
 *
 * Two areas on the pool's master domain, the inbox and the outbox (block: the
 * `inbox` and `outbox` LVs read and written on the PV at their offsets, like
 * the task journal and sanlock's areas, so no host activates them; file:
 * dom_md/inbox and dom_md/outbox), each with one MAILBOX_SLOT_SIZE slot per
 * host id 1..MAILBOX_HOSTS. Host h writes only inbox slot h (its request),
 * the SPM writes only outbox slot h (the answer): no two hosts ever write the
 * same block, so no lock is needed. Every I/O is one O_DIRECT|O_DSYNC pread
 * or pwrite of whole slots (4 KiB: safe on 4Kn devices too).
 *
 * A host has at most one request in flight per pool; each new request gets
 * the next sequence number of that host (continued from what its slots hold
 * after a restart). The SPM answers a request once: the reply carries the
 * request's sequence number, and an SPM (a new one after failover included)
 * never runs a request whose sequence number its outbox slot already
 * answers. Requests name an absolute LV size, so even running one twice
 * would change nothing.
 *
 * Functions return >= 0 or -errno / -SP_E_* with the detail recorded. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util/uuid.h"

#define MAILBOX_SLOT_SIZE 4096u
#define MAILBOX_HOSTS 2000u /* sanlock's host ids: 1..2000 */
#define MAILBOX_AREA_SIZE ((uint64_t)MAILBOX_SLOT_SIZE * MAILBOX_HOSTS) /* 7.8 MiB: fits a 128 MiB LV */

/* ---- records (for the module, its tests and the fuzz harness) ----
 *
 * Both records start a slot (the rest of the slot is zero); little-endian.
 * request (inbox slot h, written by host h):
 *   0   4  magic     MAILBOX_REQUEST_MAGIC
 *   4   2  version   MAILBOX_VERSION
 *   6   2  host_id   h (1..MAILBOX_HOSTS)
 *   8   8  seq       the host's request counter; 0: an announcement (no request)
 *  16   4  checksum  CRC-32C of the MAILBOX_RECORD_SIZE bytes with this field zero
 *  20   4  kind      MAILBOX_KIND_EXTEND, or 0 with seq 0
 *  24   8  size      LV size asked, bytes
 *  32   8  time_ms   when asked, ms since the epoch (logs only)
 *  40  40  domain    UUID, 36 characters, NUL padded
 *  80  40  image
 * 120  40  volume
 * reply (outbox slot h, written by the SPM):
 *   0   4  magic     MAILBOX_REPLY_MAGIC
 *   4   2  version
 *   6   2  host_id   h, whose request this answers
 *   8   8  seq       the request answered
 *  16   4  checksum
 *  20   4  result    0, or the negative error code (-errno or -SP_E_*)
 *  24   8  size      the LV's size after the request, bytes
 *  32   4  spm_host  the SPM's host id
 *  36  32  kind      error kind for the API ("" on success), NUL padded
 *  68  32  field     request field of the error, NUL padded
 * 100 256  message   the error's detail, NUL padded */
#define MAILBOX_RECORD_SIZE 512u
#define MAILBOX_REQUEST_MAGIC 0x51424d53u /* 'S' 'M' 'B' 'Q' */
#define MAILBOX_REPLY_MAGIC 0x52424d53u   /* 'S' 'M' 'B' 'R' */
#define MAILBOX_VERSION 1u
#define MAILBOX_KIND_EXTEND 1u

struct mailbox_request {
	unsigned host_id;
	uint64_t seq;
	unsigned kind;
	uint64_t size;
	uint64_t time_ms;
	char domain[UUID_STR_LEN];
	char image[UUID_STR_LEN];
	char volume[UUID_STR_LEN];
};

struct mailbox_reply {
	unsigned host_id;
	uint64_t seq;
	int result;
	uint64_t size;
	unsigned spm_host;
	char kind[32];
	char field[32];
	char message[256];
};

/* Why a record fails its checks: one code per check (negative), above the
 * project's other ranges. */
enum {
	MAILBOX_E_BASE = 10300,
	MAILBOX_E_MAGIC,    /* not a record of this box: bad magic */
	MAILBOX_E_VERSION,  /* a version this code does not read */
	MAILBOX_E_CHECKSUM, /* checksum mismatch: torn write or corruption */
	MAILBOX_E_HOST,     /* host id out of 1..MAILBOX_HOSTS, or not the slot's */
	MAILBOX_E_FIELD,    /* a field out of its domain: UUID, kind, size, text */
};
const char *mailbox_strerror(int code);

/* Encode into out (MAILBOX_RECORD_SIZE bytes), with the checksum. */
void mailbox_request_out(const struct mailbox_request *q, uint8_t out[MAILBOX_RECORD_SIZE]);
void mailbox_reply_out(const struct mailbox_reply *a, uint8_t out[MAILBOX_RECORD_SIZE]);
/* Decode and check the record at the start of a slot read from host slot_host's
 * slot (0: any host). 0 and *ret for a valid record; 1 for an empty slot
 * (all zero); -MAILBOX_E_* for the first check that fails. */
int mailbox_request_in(const uint8_t in[MAILBOX_RECORD_SIZE], unsigned slot_host, struct mailbox_request *ret);
int mailbox_reply_in(const uint8_t in[MAILBOX_RECORD_SIZE], unsigned slot_host, struct mailbox_reply *ret);

/* ---- the areas of one pool ---- */

enum mailbox_box { MAILBOX_INBOX, MAILBOX_OUTBOX };
struct mailbox;

/* Opens the pool's inbox and outbox on its master domain. */
int mailbox_open(const char *pool, struct mailbox **ret);
void mailbox_close(struct mailbox *mb);
static inline void mailbox_closep(struct mailbox **mb)
{
	mailbox_close(*mb);
	*mb = NULL;
}
/* Reads the slots of hosts first..first+n-1 of a box into buf (n slots,
 * aligned for O_DIRECT: mailbox_buf). */
int mailbox_read(struct mailbox *mb, enum mailbox_box box, unsigned first, unsigned n, uint8_t *buf);
/* Writes one record into host's slot of a box (durable when it returns). */
int mailbox_write(struct mailbox *mb, enum mailbox_box box, unsigned host, const uint8_t rec[MAILBOX_RECORD_SIZE]);
/* A zeroed buffer of n slots for mailbox_read (free() it). */
uint8_t *mailbox_buf(unsigned n);

/* ---- the asking side ---- */

/* Makes host's inbox slot non-empty (an announcement: a seq 0 record) unless
 * it holds a request already, so that the SPM polls it from now on. */
int mailbox_announce(const char *pool, unsigned host);
/* Sends q (its host_id set; its seq is assigned here, the next of the host's)
 * and waits for the SPM's answer to it, reading the outbox every poll_ms, up to
 * timeout_ms. One request per host and pool at a time (serialised here).
 * -ETIMEDOUT (recorded) when no answer came: the request stays in the inbox
 * and a later SPM still answers it, unless a newer request replaced it. */
int mailbox_ask(const char *pool, struct mailbox_request *q, unsigned poll_ms, unsigned timeout_ms,
		struct mailbox_reply *ret);

/* This host left the pool: closes its mailbox here (its devices may go),
 * after a request in flight. */
void mailbox_forget(const char *pool);

/* ---- the SPM side (lib/mailbox_server.c) ---- */

/* Runs a request read from pool's mailbox on its SPM: fills the reply's
 * result, size and error fields. */
typedef void (*mailbox_handler)(const char *pool, const struct mailbox_request *q, struct mailbox_reply *a);

struct mailbox_settings {
	unsigned poll_ms;         /* how often the SPM reads the inbox and a host its outbox slot */
	unsigned timeout_ms;      /* how long a host waits for an answer */
	unsigned host_id;         /* this host's */
	mailbox_handler handler;  /* runs the requests this host serves as SPM */
};
/* Before any thread starts. */
void mailbox_configure(const struct mailbox_settings *s);
const struct mailbox_settings *mailbox_settings(void);
/* Starts serving the pool's inbox (this host became its SPM): a poller thread
 * reads the inbox slots of the hosts that wrote there every poll_ms (every
 * slot every MAILBOX_FULL_SCAN_MS) and answers each new request. Already
 * serving: 0. */
int mailbox_serve_start(const char *pool);
/* Stops serving the pool (this host is no longer its SPM); waits for a
 * request being run. */
void mailbox_serve_stop(const char *pool);
/* Stops every poller (agent shutdown). */
void mailbox_serve_stop_all(void);
#define MAILBOX_FULL_SCAN_MS 5000u
