/* The SPM's side of a pool's mailbox: one poller thread per pool this host is
 * SPM of, reading the inbox and answering each request once. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/mailbox_priv.h"
#include "lib/metrics.h"
#include "lib/util/cleanup.h"
#include "lib/util/crashpoint.h"
#include "lib/util/error.h"
#include "lib/util/hashmap.h"
#include "lib/util/log.h"
#include "lib/util/prio.h"
#include "lib/util/xalloc.h"

struct server {
	char pool[UUID_STR_LEN];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	atomic_bool stop; /* set under lock (with a wake-up) */
};

static pthread_mutex_t servers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hashmap *servers; /* pool uuid -> struct server, while it runs */

static uint64_t monotonic_ms(void) { return metric_now_ns() / 1000000; }

/* Waits ms or until asked to stop; true when asked to stop. */
static bool pause_or_stop(struct server *s, unsigned ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	until.tv_sec += ms / 1000 + until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	MUTEX_SCOPE(&s->lock);
	if (!atomic_load(&s->stop))
		pthread_cond_timedwait(&s->wake, &s->lock, &until);
	return atomic_load(&s->stop);
}

static void answer(struct mailbox_poll *ps, const struct mailbox_request *q)
{
	struct mailbox_reply a = { .host_id = q->host_id, .seq = q->seq, .spm_host = ps->spm_host };
	uint8_t rec[MAILBOX_RECORD_SIZE];
	uint64_t t0 = monotonic_ms();

	ps->handler(ps->pool, q, &a);
	if (a.result == -SP_E_NOT_SPM) {
		/* no longer SPM (the poller is being stopped): the next SPM answers */
		log_debug("pool %s: request %" PRIu64 " of host %u left for the next SPM", ps->name, q->seq, q->host_id);
		ps->deferred[q->host_id] = q->seq;
		return;
	}
	crashpoint("mailbox.before_reply");
	mailbox_reply_out(&a, rec);
	if (mailbox_write(ps->mb, MAILBOX_OUTBOX, q->host_id, rec) < 0) {
		/* not marked served: the next poll tries again */
		log_error("pool %s: cannot answer request %" PRIu64 " of host %u: %s", ps->name, q->seq, q->host_id,
			  sp_error_last()->message);
		return;
	}
	ps->served[q->host_id] = q->seq;
	log_info("pool %s: extend request %" PRIu64 " of host %u for volume %s: %s, LV %" PRIu64 " bytes (%" PRIu64
		 " ms)", ps->name, q->seq, q->host_id, q->volume, a.result ? a.message : "done", a.size,
		 monotonic_ms() - t0);
}

int mailbox_poll_scan(struct mailbox_poll *ps, unsigned n)
{
	if (!ps->buf)
		ps->buf = mailbox_buf(MAILBOX_HOSTS);
	int r = mailbox_read(ps->mb, MAILBOX_INBOX, 1, n, ps->buf);
	if (r < 0)
		return r;
	for (unsigned h = 1; h <= n && !(ps->stop && atomic_load(ps->stop)); h++) {
		struct mailbox_request q;
		const uint8_t *slot = ps->buf + (size_t)(h - 1) * MAILBOX_SLOT_SIZE;
		r = mailbox_request_in(slot, h, &q);
		if (r < 0) /* maybe a write under way: read again at the next poll */
			log_debug("pool %s: inbox slot %u: %s", ps->name, h, mailbox_strerror(r));
		if (r == 1)
			continue;
		if (h > ps->high)
			ps->high = h;
		if (r == 0 && q.seq && q.seq != ps->served[h] && q.seq != ps->deferred[h])
			answer(ps, &q);
	}
	return 0;
}

int mailbox_poll_start(struct mailbox_poll *ps)
{
	int r;
	if (!ps->buf)
		ps->buf = mailbox_buf(MAILBOX_HOSTS);
	if ((r = mailbox_read(ps->mb, MAILBOX_OUTBOX, 1, MAILBOX_HOSTS, ps->buf)) < 0)
		return r;
	for (unsigned h = 1; h <= MAILBOX_HOSTS; h++) {
		struct mailbox_reply a;
		if (mailbox_reply_in(ps->buf + (size_t)(h - 1) * MAILBOX_SLOT_SIZE, h, &a) == 0)
			ps->served[h] = a.seq;
	}
	return mailbox_poll_scan(ps, MAILBOX_HOSTS);
}

void mailbox_poll_free(struct mailbox_poll *ps)
{
	free(ps->buf);
	ps->buf = NULL;
}

static void *poller(void *arg)
{
	struct server *s = arg;
	const struct mailbox_settings *cfg = mailbox_settings();
	struct mailbox_poll *ps = xcalloc(1, sizeof(*ps));
	*ps = (struct mailbox_poll){ .name = s->pool, .pool = s->pool, .handler = cfg->handler, .spm_host = cfg->host_id, .stop = &s->stop };
	bool failing = false;

	/* a request must not wait for the CPU or the LUN behind this host's
	 * VMs (lib/util/prio.h) */
	(void)prio_raise_self();
	/* until the mailbox opens and the first full scan works (storage trouble) */
	while ((!ps->mb && mailbox_open(s->pool, &ps->mb) < 0) || mailbox_poll_start(ps) < 0) {
		if (!failing)
			log_error("pool %s: cannot serve the mailbox (trying again): %s", s->pool, sp_error_last()->message);
		failing = true;
		if (pause_or_stop(s, 1000))
			goto out;
	}
	log_info("pool %s: serving the mailbox (hosts up to %u, every %u ms)", s->pool, ps->high, cfg->poll_ms);
	uint64_t next_full = monotonic_ms() + MAILBOX_FULL_SCAN_MS;
	failing = false;
	while (!pause_or_stop(s, cfg->poll_ms)) {
		bool full = monotonic_ms() >= next_full;
		if (full)
			next_full = monotonic_ms() + MAILBOX_FULL_SCAN_MS;
		int r = ps->high || full ? mailbox_poll_scan(ps, full ? MAILBOX_HOSTS : ps->high) : 0;
		if (r < 0 && !failing)
			log_error("pool %s: cannot read the inbox: %s", s->pool, sp_error_last()->message);
		failing = r < 0;
	}
out:
	mailbox_close(ps->mb);
	mailbox_poll_free(ps);
	free(ps);
	sp_error_clear();
	return NULL;
}

int mailbox_serve_start(const char *pool)
{
	MUTEX_SCOPE(&servers_lock);
	if (!servers)
		servers = hashmap_new(NULL);
	if (hashmap_get(servers, pool))
		return 0;
	struct server *s = xcalloc(1, sizeof(*s));
	snprintf(s->pool, sizeof(s->pool), "%s", pool);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	int r = -pthread_create(&s->thread, NULL, poller, s);
	if (r < 0) {
		pthread_cond_destroy(&s->wake);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return sp_error_set(r, "internal", "", "pool %s: cannot start the mailbox poller", pool);
	}
	hashmap_put(servers, pool, s);
	return 0;
}

static void server_stop(struct server *s)
{
	pthread_mutex_lock(&s->lock);
	atomic_store(&s->stop, true);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	log_info("pool %s: no longer serving the mailbox", s->pool);
	free(s);
}

void mailbox_serve_stop(const char *pool)
{
	struct server *s;
	{
		MUTEX_SCOPE(&servers_lock);
		if (!servers || !(s = hashmap_get(servers, pool)))
			return;
		hashmap_remove(servers, pool);
	}
	server_stop(s);
}

void mailbox_serve_stop_all(void)
{
	for (;;) {
		struct server *s = NULL;
		{
			MUTEX_SCOPE(&servers_lock);
			size_t pos = 0;
			void *v;
			if (!servers || hashmap_next(servers, &pos, NULL, &v) < 0)
				break;
			s = v;
			hashmap_remove(servers, s->pool);
		}
		server_stop(s);
	}
	MUTEX_SCOPE(&servers_lock);
	hashmap_free(servers);
	servers = NULL;
}
