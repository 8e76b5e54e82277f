/* The thin monitor's extend requests, coalesced per volume.
 *
 * libvirt sends many events for one need: a block-threshold event, then one
 * I/O error event per write that failed with ENOSPC (every request in flight
 * when the VM paused). Each volume has at most one entry: events for it merge
 * their flags into the entry while it waits, and while a worker extends it
 * they wait beside it (xq_take lets the worker absorb them, xq_done queues
 * what is left). So one need gives one extend, and two workers never extend
 * the same volume at once. Thread-safe. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "lib/util/uuid.h"

enum {
	XQ_THRESHOLD = 1 << 0, /* the write high-water mark passed the threshold */
	XQ_ENOSPC = 1 << 1,    /* a write failed for lack of space: the VM paused */
};

struct xq_item {
	char domain[UUID_STR_LEN];
	char image[UUID_STR_LEN];
	char volume[UUID_STR_LEN];
	unsigned flags;
	int64_t first_event_ms; /* monotonic time of the oldest event merged into it */
};

struct extend_queue;

struct extend_queue *xq_new(void);
/* Frees the queue and whatever is still in it (NULL: nothing). */
void xq_free(struct extend_queue *q);
/* Adds an event for a volume at monotonic time now_ms. Returns 0 if it made a
 * new entry, 1 if it merged into one waiting or in flight. */
int xq_push(struct extend_queue *q, const char *domain, const char *image, const char *volume, unsigned flags,
	    int64_t now_ms);
/* Takes the oldest waiting entry, which is in flight until xq_done. Waits up
 * to timeout_ms (< 0: until there is one or xq_stop). -EAGAIN on timeout,
 * -ECANCELED once stopped. */
int xq_pop(struct extend_queue *q, int timeout_ms, struct xq_item *ret);
/* The flags that arrived for an in-flight volume since it was popped (or the
 * last xq_take); they are cleared. */
unsigned xq_take(struct extend_queue *q, const char *volume);
/* Ends the volume's flight: what arrived meanwhile waits again as a new entry. */
void xq_done(struct extend_queue *q, const char *volume);
/* Wakes every xq_pop for good. */
void xq_stop(struct extend_queue *q);
/* Counts for the monitor's state: entries waiting, in flight, events merged so far. */
void xq_counts(struct extend_queue *q, unsigned *ret_waiting, unsigned *ret_in_flight, uint64_t *ret_merged);
