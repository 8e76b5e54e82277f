#include "lib/extend_queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/util/cleanup.h"
#include "lib/util/hashmap.h"
#include "lib/util/xalloc.h"

struct entry {
	struct xq_item item; /* item.flags: what waits */
	bool in_flight;
	bool queued; /* in the FIFO */
};

struct extend_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct hashmap *entries; /* volume -> struct entry */
	char (*fifo)[UUID_STR_LEN];
	size_t n, cap;
	bool stopped;
	unsigned in_flight;
	uint64_t merged;
};

struct extend_queue *xq_new(void)
{
	struct extend_queue *q = xcalloc(1, sizeof(*q));
	pthread_condattr_t a;

	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &a);
	pthread_condattr_destroy(&a);
	q->entries = hashmap_new(free);
	return q;
}

void xq_free(struct extend_queue *q)
{
	if (!q)
		return;
	hashmap_free(q->entries);
	free(q->fifo);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

static void enqueue_locked(struct extend_queue *q, struct entry *e)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 8;
		q->fifo = xrealloc(q->fifo, q->cap * sizeof(*q->fifo));
	}
	snprintf(q->fifo[q->n++], UUID_STR_LEN, "%s", e->item.volume);
	e->queued = true;
	pthread_cond_signal(&q->cond);
}

int xq_push(struct extend_queue *q, const char *domain, const char *image, const char *volume, unsigned flags,
	    int64_t now_ms)
{
	MUTEX_SCOPE(&q->lock);
	struct entry *e = hashmap_get(q->entries, volume);
	if (e) {
		if (!e->item.flags)
			e->item.first_event_ms = now_ms;
		e->item.flags |= flags;
		q->merged++;
		return 1;
	}
	e = xcalloc(1, sizeof(*e));
	snprintf(e->item.domain, sizeof(e->item.domain), "%s", domain);
	snprintf(e->item.image, sizeof(e->item.image), "%s", image);
	snprintf(e->item.volume, sizeof(e->item.volume), "%s", volume);
	e->item.flags = flags;
	e->item.first_event_ms = now_ms;
	hashmap_put(q->entries, volume, e);
	enqueue_locked(q, e);
	return 0;
}

int xq_pop(struct extend_queue *q, int timeout_ms, struct xq_item *ret)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	MUTEX_SCOPE(&q->lock);
	while (!q->stopped && q->n == 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&q->cond, &q->lock);
		else if (pthread_cond_timedwait(&q->cond, &q->lock, &deadline) == ETIMEDOUT && !q->stopped && q->n == 0)
			return -EAGAIN;
	}
	if (q->stopped)
		return -ECANCELED;
	struct entry *e = hashmap_get(q->entries, q->fifo[0]);
	memmove(q->fifo, q->fifo + 1, (q->n - 1) * sizeof(*q->fifo));
	q->n--;
	e->queued = false;
	e->in_flight = true;
	q->in_flight++;
	*ret = e->item;
	e->item.flags = 0;
	return 0;
}

unsigned xq_take(struct extend_queue *q, const char *volume)
{
	MUTEX_SCOPE(&q->lock);
	struct entry *e = hashmap_get(q->entries, volume);
	if (!e)
		return 0;
	unsigned f = e->item.flags;
	e->item.flags = 0;
	return f;
}

void xq_done(struct extend_queue *q, const char *volume)
{
	MUTEX_SCOPE(&q->lock);
	struct entry *e = hashmap_get(q->entries, volume);
	if (!e || !e->in_flight)
		return;
	e->in_flight = false;
	q->in_flight--;
	if (e->item.flags)
		enqueue_locked(q, e);
	else
		hashmap_remove(q->entries, volume);
}

void xq_stop(struct extend_queue *q)
{
	MUTEX_SCOPE(&q->lock);
	q->stopped = true;
	pthread_cond_broadcast(&q->cond);
}

void xq_counts(struct extend_queue *q, unsigned *ret_waiting, unsigned *ret_in_flight, uint64_t *ret_merged)
{
	MUTEX_SCOPE(&q->lock);
	*ret_waiting = (unsigned)q->n;
	*ret_in_flight = q->in_flight;
	*ret_merged = q->merged;
}
