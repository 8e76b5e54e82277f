/* Extending thin volumes: direct on the SPM, through the mailbox elsewhere;
 * coalescing, retries and the per-host history. */
#include "lib/extend.h"

#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "lib/domain.h"
#include "lib/mailbox.h"
#include "lib/metrics.h"
#include "lib/store.h"
#include "lib/task.h"
#include "lib/thin_policy.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/hashmap.h"
#include "lib/util/log.h"
#include "lib/util/xalloc.h"

/* An extend that failed for a reason that may pass (I/O, an LVM or qemu-img
 * failure) is tried this many times in all. */
#define ATTEMPTS 3
#define RETRY_PAUSE_MS 200

static struct extend_settings settings = { .chunk = 1ULL << 30, .watermark_percent = 20 };

void extend_configure(const struct extend_settings *s) { settings = *s; }

const struct extend_settings *extend_settings(void) { return &settings; }

/* ---- history ---- */

struct history_entry {
	uint64_t time_ms, from, to, latency_us;
	const char *via;
	unsigned host;
	char *error; /* NULL on success */
};

struct history {
	struct history_entry e[EXTEND_HISTORY_MAX];
	size_t n, next;
};

/* Volumes with a history before those of volumes gone are dropped. */
#define HISTORY_SWEEP_AT 1024

static pthread_mutex_t history_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hashmap *histories; /* volume uuid -> struct history */
static size_t sweep_at = HISTORY_SWEEP_AT;

static void history_free(void *v)
{
	struct history *h = v;
	for (size_t i = 0; i < EXTEND_HISTORY_MAX; i++)
		free(h->e[i].error);
	free(h);
}

/* Drops the histories of volumes that no longer exist, so that the map
 * follows the volumes there are, not every volume ever extended. The store
 * is asked without history_lock held (no order between the two locks). */
static void history_sweep(void)
{
	size_t pos = 0, n = 0, k = 0;
	const char *key;
	struct volume_meta m;
	char(*keys)[UUID_STR_LEN];
	{
		MUTEX_SCOPE(&history_lock);
		keys = xcalloc(hashmap_size(histories) + 1, UUID_STR_LEN);
		while (hashmap_next(histories, &pos, &key, NULL) == 0)
			snprintf(keys[n++], UUID_STR_LEN, "%s", key);
	}
	for (size_t i = 0; i < n; i++)
		if (store_get_volume(keys[i], &m) < 0)
			memcpy(keys[k++], keys[i], UUID_STR_LEN);
	sp_error_clear();
	MUTEX_SCOPE(&history_lock);
	for (size_t i = 0; i < k; i++)
		hashmap_remove(histories, keys[i]);
	free(keys);
	size_t left = hashmap_size(histories);
	sweep_at = left * 2 > HISTORY_SWEEP_AT ? left * 2 : HISTORY_SWEEP_AT;
}

/* Takes e's error. */
static void history_add(const char *volume, struct history_entry *e)
{
	bool sweep;
	{
		MUTEX_SCOPE(&history_lock);
		if (!histories)
			histories = hashmap_new(history_free);
		sweep = !hashmap_get(histories, volume) && hashmap_size(histories) >= sweep_at;
	}
	if (sweep)
		history_sweep();
	MUTEX_SCOPE(&history_lock);
	struct history *h = hashmap_get(histories, volume);
	if (!h) {
		h = xcalloc(1, sizeof(*h));
		hashmap_put(histories, volume, h);
	}
	free(h->e[h->next].error);
	h->e[h->next] = *e;
	e->error = NULL;
	h->next = (h->next + 1) % EXTEND_HISTORY_MAX;
	if (h->n < EXTEND_HISTORY_MAX)
		h->n++;
}

json_object *extend_history_json(const char *volume)
{
	json_object *a = json_object_new_array();
	MUTEX_SCOPE(&history_lock);
	struct history *h = histories ? hashmap_get(histories, volume) : NULL;
	for (size_t i = 0; h && i < h->n; i++) {
		const struct history_entry *e = &h->e[(h->next + EXTEND_HISTORY_MAX - h->n + i) % EXTEND_HISTORY_MAX];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "time_ms", json_object_new_int64((int64_t)e->time_ms));
		json_object_object_add(o, "from", json_object_new_int64((int64_t)e->from));
		json_object_object_add(o, "to", json_object_new_int64((int64_t)e->to));
		json_object_object_add(o, "latency_ms", json_object_new_double((double)e->latency_us / 1000.0));
		json_object_object_add(o, "via", json_object_new_string(e->via));
		json_object_object_add(o, "host", json_object_new_int((int)e->host));
		if (e->error)
			json_object_object_add(o, "error", json_object_new_string(e->error));
		json_object_array_add(a, o);
	}
	return a;
}

/* ---- growing the LV where this host may write (the SPM) ---- */

/* One grow at a time on this host: two requests for one LV (the API and the
 * mailbox poller) read its size and extend in one step, never interleaved. */
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;

static int volume_lookup(const char *domain, const char *image, const char *volume, struct domain *ret_d,
			 struct volume_meta *ret_m)
{
	int r;
	if ((r = store_get_domain(domain, ret_d)) < 0)
		return r;
	/* a volume the SPM made since this host last read the domain: read it again */
	if (store_get_volume(volume, ret_m) < 0 && store_domain_rescan(domain) == 0)
		sp_error_clear();
	if (store_get_volume(volume, ret_m) < 0 || strcmp(ret_m->image, image) != 0 || strcmp(ret_m->domain, domain) != 0)
		return sp_not_found("volume %s not found in image %s of domain %s", volume, image, domain);
	if (!ret_d->ops->volume_max_size)
		return sp_conflict("volume %s is a file on domain %s: it grows by itself, there is no LV to extend", volume,
				   domain);
	return 0;
}

void extend_prepare(const char *domain, const char *image, const char *volume)
{
	struct domain d;
	struct volume_meta m;
	uint64_t max;
	if (volume_lookup(domain, image, volume, &d, &m) == 0)
		(void)d.ops->volume_max_size(&d, &m, &max);
	sp_error_clear();
}

static uint64_t round_up_512(uint64_t v) { return (v + 511) / 512 * 512; }

/* Grows the LV to at least min_size (0: by a chunk), capped at its maximum.
 * *ret_from, *ret_to: its size before and after. */
static int grow_here(struct domain *d, const struct volume_meta *m, uint64_t min_size, uint64_t *ret_from,
		     uint64_t *ret_to)
{
	uint64_t from, max, to;
	bool active;
	int r;

	if (!m->legal)
		return sp_conflict("volume %s is ILLEGAL", m->uuid);
	MUTEX_SCOPE(&grow_lock);
	if ((r = d->ops->volume_max_size(d, m, &max)) < 0 || (r = d->ops->volume_state(d, m->uuid, &active, &from)) < 0)
		return r;
	uint64_t target = thin_next_size(from, min_size ? round_up_512(min_size) : 0, settings.chunk, max);
	if (target > from) {
		if ((r = d->ops->volume_extend(d, m, target, &to)) < 0)
			return r;
		log_info("domain %s: volume %s extended from %" PRIu64 " to %" PRIu64 " bytes", d->uuid, m->uuid, from, to);
	} else {
		to = from;
	}
	*ret_from = from;
	*ret_to = to;
	return 0;
}

/* Copies as much of src as fits (the mailbox's fields are shorter than an
 * error record's). */
static void copy_text(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void reply_error(struct mailbox_reply *a, int r)
{
	const struct sp_error *e = sp_error_last();
	a->result = r;
	copy_text(a->kind, sizeof(a->kind), e->code ? e->kind : "internal");
	copy_text(a->field, sizeof(a->field), e->code ? e->field : "");
	copy_text(a->message, sizeof(a->message), e->code ? e->message : "extend failed");
}

void extend_serve(const char *pool, const struct mailbox_request *q, struct mailbox_reply *a)
{
	struct domain d = { 0 };
	struct volume_meta m;
	uint64_t from = 0, to = 0;
	bool active;
	int r;

	sp_error_clear();
	if ((r = volume_lookup(q->domain, q->image, q->volume, &d, &m)) == 0 && strcmp(d.pool, pool) != 0)
		r = sp_not_found("domain %s is not in pool %s", q->domain, pool); /* only the pool's own volumes */
	if (r < 0 || (r = store_check_writer(&d)) < 0 || (r = grow_here(&d, &m, q->size, &from, &to)) < 0) {
		reply_error(a, r);
		if (d.ops && d.ops->volume_state(&d, q->volume, &active, &to) == 0)
			a->size = to;
		sp_error_clear();
		return;
	}
	a->result = 0;
	a->size = to;
}

/* ---- asking the SPM ---- */

/* The size of the LV's device here, if it is active here (its path opens):
 * what this host's writer sees, read without an LVM command. */
static bool device_size(const struct domain *d, const struct volume_meta *m, uint64_t *ret)
{
	_cleanup_free_ char *path = d->ops->volume_path(d, m->image, m->uuid);
	_cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) : -1;
	return fd >= 0 && ioctl(fd, BLKGETSIZE64, ret) == 0 && *ret > 0;
}

/* Asks the SPM to grow the LV to at least min_size (0: a chunk more than this
 * host sees), capped. *ret_active: whether the LV is active here. */
static int grow_by_mailbox(struct domain *d, const struct volume_meta *m, uint64_t min_size, uint64_t *ret_from,
			   uint64_t *ret_to, bool *ret_active)
{
	const struct mailbox_settings *ms = mailbox_settings();
	struct mailbox_reply a;
	uint64_t from, max;
	int r;

	if (!m->legal)
		return sp_conflict("volume %s is ILLEGAL", m->uuid);
	/* the size this host sees: its active device's (no LVM command: each
	 * costs a second in an emulated guest), else as it last read the LV; if
	 * another host grew the LV since, asking for a chunk more than this host
	 * saw is still what its writer needs */
	if ((r = d->ops->volume_max_size(d, m, &max)) < 0)
		return r;
	if (device_size(d, m, &from))
		*ret_active = true;
	else if ((r = d->ops->volume_state(d, m->uuid, ret_active, &from)) < 0)
		return r;
	/* the request names an absolute size, so running it twice changes nothing */
	uint64_t target = thin_next_size(from, min_size ? round_up_512(min_size) : 0, settings.chunk, max);
	*ret_from = from;
	if (target <= from) {
		*ret_to = from;
		return 0;
	}
	struct mailbox_request q = { .host_id = ms->host_id, .kind = MAILBOX_KIND_EXTEND, .size = target,
				     .time_ms = (uint64_t)now_ms() };
	memcpy(q.domain, d->uuid, UUID_STR_LEN);
	memcpy(q.image, m->image, UUID_STR_LEN);
	memcpy(q.volume, m->uuid, UUID_STR_LEN);
	if ((r = mailbox_ask(d->pool, &q, ms->poll_ms, ms->timeout_ms, &a)) < 0)
		return r;
	if (a.result < 0) {
		r = sp_error_set(a.result, a.kind[0] ? a.kind : "internal", a.field, "SPM (host %u): %s", a.spm_host,
				 a.message);
		sp_error_set_spm_host(a.spm_host);
		return r;
	}
	d->ops->forget_cache(d); /* the next read shows the SPM's change */
	*ret_to = a.size;
	return 0;
}

/* One attempt: direct where this host may write, else through the mailbox;
 * then the LV refreshed here if it is active. */
static int extend_once(const char *domain, const char *image, const char *volume, uint64_t min_size,
		       struct extend_result *ret, const char **ret_via)
{
	struct domain d;
	struct volume_meta m;
	bool active = false;
	int r;

	if ((r = volume_lookup(domain, image, volume, &d, &m)) < 0)
		return r;
	r = store_check_writer(&d);
	if (r == 0) {
		*ret_via = "direct";
		return grow_here(&d, &m, min_size, &ret->from, &ret->to);
	}
	if (r != -SP_E_NOT_SPM)
		return r;
	sp_error_clear();
	*ret_via = "mailbox";
	if ((r = grow_by_mailbox(&d, &m, min_size, &ret->from, &ret->to, &active)) < 0)
		return r;
	/* the SPM's own lvextend resized its active LV; here the device keeps
	 * its old size until refreshed */
	if (active && (r = d.ops->volume_refresh(&d, image, volume)) < 0)
		return r;
	return 0;
}

/* Not -ETIMEDOUT: the request stays in the mailbox for the next SPM, and
 * asking again would only wait as long once more. */
static bool worth_retrying(int r)
{
	return r == -SP_E_TOOL_FAILED || r == -EIO || r == -EAGAIN;
}

/* ---- coalescing ---- */

/* An extend in flight for a volume: requests made meanwhile wait for it and,
 * when it gives them what they asked, take its result. */
struct inflight {
	pthread_cond_t done_cv;
	bool done;
	int refs;
	int result;
	struct sp_error error;
	struct extend_result res;
};

static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hashmap *inflight; /* volume uuid -> struct inflight */

static void inflight_put(struct inflight *f)
{
	if (--f->refs == 0) {
		pthread_cond_destroy(&f->done_cv);
		free(f);
	}
}

/* extend_volume calls in progress, and the gauge set to it: under one lock,
 * so that the last value set is the count */
static pthread_mutex_t waiting_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t waiting;

static void waiting_add(int64_t n)
{
	MUTEX_SCOPE(&waiting_lock);
	waiting += n;
	metrics_extends_waiting(waiting);
}

/* The extend itself, coalesced with one in flight for the same volume. */
static int extend_coalesced(const char *domain, const char *image, const char *volume, uint64_t min_size,
			    struct extend_result *ret)
{
	uint64_t t0 = metric_now_ns();
	struct inflight *f;

	pthread_mutex_lock(&inflight_lock);
	if (!inflight)
		inflight = hashmap_new(NULL);
	while ((f = hashmap_get(inflight, volume))) {
		f->refs++;
		while (!f->done)
			pthread_cond_wait(&f->done_cv, &inflight_lock);
		bool served = min_size == 0 || (f->result == 0 && f->res.to >= min_size);
		if (served) {
			int r = f->result;
			if (r < 0)
				sp_error_set(f->error.code, f->error.kind, f->error.field, "%s", f->error.message);
			else
				*ret = (struct extend_result){ f->res.from, f->res.to, (metric_now_ns() - t0) / 1000 };
			inflight_put(f);
			pthread_mutex_unlock(&inflight_lock);
			return r;
		}
		inflight_put(f); /* not enough for this request: run its own */
	}
	f = xcalloc(1, sizeof(*f));
	pthread_cond_init(&f->done_cv, NULL);
	f->refs = 1;
	hashmap_put(inflight, volume, f);
	pthread_mutex_unlock(&inflight_lock);

	struct extend_result res = { 0 };
	const char *via = NULL; /* set once the volume is found */
	int r = 0;
	for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
		sp_error_clear();
		r = extend_once(domain, image, volume, min_size, &res, &via);
		if (r >= 0 || !worth_retrying(r) || attempt == ATTEMPTS)
			break;
		log_warning("volume %s: extend attempt %d failed (trying again): %s", volume, attempt,
			    sp_error_last()->message);
		nanosleep(&(struct timespec){ 0, RETRY_PAUSE_MS * 1000000L }, NULL);
	}
	uint64_t ns = metric_now_ns() - t0;
	res.latency_us = ns / 1000;

	struct history_entry e = { .time_ms = (uint64_t)now_ms(), .from = res.from, .to = r < 0 ? res.from : res.to,
				   .latency_us = res.latency_us, .via = via, .host = mailbox_settings()->host_id };
	if (r < 0) {
		e.error = xstrdup(sp_error_last()->message);
		log_error("volume %s: extend failed: %s", volume, e.error); /* reported here, and in the history */
	} else if (via && res.to != res.from) {
		metrics_extend(domain, via, ns);
	}
	if (via && (r < 0 || res.to != res.from))
		history_add(volume, &e);
	free(e.error);

	pthread_mutex_lock(&inflight_lock);
	f->result = r < 0 ? r : 0;
	if (r < 0)
		sp_error_copy(&f->error);
	f->res = res;
	f->done = true;
	hashmap_remove(inflight, volume);
	pthread_cond_broadcast(&f->done_cv);
	inflight_put(f);
	pthread_mutex_unlock(&inflight_lock);
	if (r >= 0)
		*ret = res;
	return r < 0 ? r : 0;
}

int extend_volume(const char *domain, const char *image, const char *volume, uint64_t min_size,
		  struct extend_result *ret)
{
	waiting_add(1);
	int r = extend_coalesced(domain, image, volume, min_size, ret);
	waiting_add(-1);
	return r;
}
