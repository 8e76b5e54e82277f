#include "lib/metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/util/cleanup.h"
#include "lib/util/hashmap.h"
#include "lib/util/xalloc.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* Upper bounds in seconds (le), as nanoseconds; the +Inf bucket is implied. */
static const uint64_t bucket_ns[] = { 500000,    1000000,   2500000,    5000000,    10000000,
				      25000000,  50000000,  100000000,  250000000,  500000000,
				      1000000000, 2500000000, 5000000000, 10000000000, 30000000000,
				      60000000000 };
#define NBUCKETS (sizeof(bucket_ns) / sizeof(bucket_ns[0]))

struct metric {
	char *labels;
	_Atomic int64_t value;               /* counter or gauge */
	_Atomic uint64_t buckets[NBUCKETS + 1]; /* histogram, not cumulative; last is +Inf */
	_Atomic uint64_t sum_ns, count;
};

struct family {
	char *name, *help;
	enum metric_type type;
	struct metric **series;
	size_t n;
};

static struct {
	pthread_mutex_t lock;
	struct hashmap *index; /* "name{labels}" -> struct metric *, not owned */
	struct family **families;
	size_t n;
} reg = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* A series of the wrong type: updates land here and are never shown. */
static struct metric discarded;


static struct family *family_get(const char *name, const char *help, enum metric_type type)
{
	for (size_t i = 0; i < reg.n; i++)
		if (strcmp(reg.families[i]->name, name) == 0)
			return reg.families[i];
	struct family *f = xcalloc(1, sizeof(*f));
	f->name = xstrdup(name);
	f->help = xstrdup(help);
	f->type = type;
	reg.families = xrealloc(reg.families, (reg.n + 1) * sizeof(*reg.families));
	reg.families[reg.n++] = f;
	return f;
}

static struct metric *series_get(const char *name, const char *help, const char *labels, enum metric_type type)
{
	_cleanup_free_ char *key = xasprintf("%s{%s}", name, labels);
	MUTEX_SCOPE(&reg.lock);

	if (!reg.index)
		reg.index = hashmap_new(NULL);
	struct metric *m = hashmap_get(reg.index, key);
	if (m)
		return m;
	struct family *f = family_get(name, help, type);
	if (f->type != type)
		return &discarded;
	m = xcalloc(1, sizeof(*m));
	m->labels = xstrdup(labels);
	f->series = xrealloc(f->series, (f->n + 1) * sizeof(*f->series));
	f->series[f->n++] = m;
	hashmap_put(reg.index, key, m);
	return m;
}

struct metric *metric_counter(const char *name, const char *help, const char *labels)
{
	return series_get(name, help, labels, METRIC_COUNTER);
}

struct metric *metric_gauge(const char *name, const char *help, const char *labels)
{
	return series_get(name, help, labels, METRIC_GAUGE);
}

struct metric *metric_histogram(const char *name, const char *help, const char *labels)
{
	return series_get(name, help, labels, METRIC_HISTOGRAM);
}

void metric_add(struct metric *m, uint64_t n) { atomic_fetch_add_explicit(&m->value, (int64_t)n, memory_order_relaxed); }

void metric_set(struct metric *m, int64_t v) { atomic_store_explicit(&m->value, v, memory_order_relaxed); }

void metric_observe_ns(struct metric *m, uint64_t ns)
{
	size_t b = 0;
	while (b < NBUCKETS && ns > bucket_ns[b])
		b++;
	atomic_fetch_add_explicit(&m->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum_ns, ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
}

uint64_t metric_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What c is written as in exposition text, or NULL for itself: \\ and \n
 * always, and \" in label values (HELP text leaves quotes as they are). */
static const char *escaped(char c, bool quotes)
{
	return c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '"' && quotes ? "\\\"" : NULL;
}

static void put_escaped(FILE *f, const char *s, bool quotes)
{
	for (; *s; s++) {
		const char *e = escaped(*s, quotes);
		if (e)
			fputs(e, f);
		else
			fputc(*s, f);
	}
}

/* A growing string. metric_labels runs for every request, in many threads at
 * once: there, open_memstream + fclose crashed ASan builds under load (its
 * fclose interceptor drops a stream's metadata only after the real fclose has
 * freed it, and another thread's open_memstream given the same address fails
 * the "CHECK" in SetInterceptorMetadata). */
struct strbuf {
	char *s;
	size_t len, cap;
};

static void sb_puts(struct strbuf *b, const char *s)
{
	size_t n = strlen(s);
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

char *metric_labels(const char *key, ...)
{
	struct strbuf b = { 0 };
	va_list ap;

	sb_puts(&b, "");
	va_start(ap, key);
	for (const char *k = key; k; k = va_arg(ap, const char *)) {
		const char *v = va_arg(ap, const char *);
		sb_puts(&b, k == key ? "" : ",");
		sb_puts(&b, k);
		sb_puts(&b, "=\"");
		for (v = v ? v : ""; *v; v++) {
			const char *e = escaped(*v, true);
			sb_puts(&b, e ? e : (char[2]){ *v, '\0' });
		}
		sb_puts(&b, "\"");
	}
	va_end(ap);
	return b.s;
}

static const char *type_str(enum metric_type t)
{
	return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

/* name{labels,extra} with the braces left out when both are empty. */
static void put_series(FILE *f, const char *name, const char *suffix, const char *labels, const char *extra)
{
	fprintf(f, "%s%s", name, suffix);
	if (*labels || *extra)
		fprintf(f, "{%s%s%s}", labels, *labels && *extra ? "," : "", extra);
	fputc(' ', f);
}

static void render_histogram(FILE *f, const char *name, const struct metric *m)
{
	uint64_t cum = 0;
	char le[48];

	for (size_t b = 0; b <= NBUCKETS; b++) {
		cum += atomic_load_explicit(&m->buckets[b], memory_order_relaxed);
		if (b < NBUCKETS)
			snprintf(le, sizeof(le), "le=\"%g\"", (double)bucket_ns[b] / 1e9);
		else
			snprintf(le, sizeof(le), "le=\"+Inf\"");
		put_series(f, name, "_bucket", m->labels, le);
		fprintf(f, "%" PRIu64 "\n", cum);
	}
	put_series(f, name, "_sum", m->labels, "");
	fprintf(f, "%.9f\n", (double)atomic_load_explicit(&m->sum_ns, memory_order_relaxed) / 1e9);
	/* the count is the +Inf bucket, read once, so the two always agree */
	put_series(f, name, "_count", m->labels, "");
	fprintf(f, "%" PRIu64 "\n", cum);
}

char *metrics_render(size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort(); /* out of memory, as in xmalloc */
	{
		MUTEX_SCOPE(&reg.lock);
		for (size_t i = 0; i < reg.n; i++) {
			const struct family *fam = reg.families[i];
			fprintf(f, "# HELP %s ", fam->name);
			put_escaped(f, fam->help, false);
			fprintf(f, "\n# TYPE %s %s\n", fam->name, type_str(fam->type));
			for (size_t k = 0; k < fam->n; k++) {
				const struct metric *m = fam->series[k];
				if (fam->type == METRIC_HISTOGRAM) {
					render_histogram(f, fam->name, m);
					continue;
				}
				put_series(f, fam->name, "", m->labels, "");
				fprintf(f, "%" PRId64 "\n", atomic_load_explicit(&m->value, memory_order_relaxed));
			}
		}
	}
	fclose(f);
	*ret_len = len;
	return buf;
}

/* ---- what the agent measures ---- */

/* The series of one (method, route, status class), as a connection's thread
 * last used them: a request then costs two atomic adds and no lock, which
 * keeps the API's request rate where it was (bench/api_get.py). route is a
 * pattern from the route tables, so its address identifies it. */
struct http_series {
	const char *route;
	const char *method; /* one of methods[] below, or "other" */
	int class;
	struct metric *count, *duration;
};
static __thread struct http_series http_cache[16];
static __thread unsigned http_cache_next;

static struct http_series *http_series_get(const char *method, const char *route, int class)
{
	/* a client may send any token as a method: the label takes only the
	 * standard ones, so no client can grow the registry without bound */
	static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS" };
	size_t m = 0;
	while (m < sizeof(methods) / sizeof(methods[0]) && strcmp(methods[m], method) != 0)
		m++;
	method = m < sizeof(methods) / sizeof(methods[0]) ? methods[m] : "other";
	for (size_t i = 0; i < sizeof(http_cache) / sizeof(http_cache[0]); i++) {
		struct http_series *c = &http_cache[i];
		if (c->count && c->route == route && c->class == class && c->method == method)
			return c;
	}
	char code[4] = { (char)('0' + class), 'x', 'x', '\0' };
	const char *r = route ? route : "unmatched";
	_cleanup_free_ char *l = metric_labels("method", method, "route", r, "code", code, NULL);
	_cleanup_free_ char *lr = metric_labels("method", method, "route", r, NULL);
	struct http_series s = {
		.route = route,
		.method = method,
		.class = class,
		.count = metric_counter("sanpool_http_requests_total",
					"API requests answered, by method, route pattern and status class", l),
		.duration = metric_histogram("sanpool_http_request_duration_seconds",
					     "Time from a complete API request to its queued response", lr),
	};
	struct http_series *c = &http_cache[http_cache_next++ % (sizeof(http_cache) / sizeof(http_cache[0]))];
	*c = s;
	return c;
}

void metrics_http_request(const char *method, const char *route, int status, uint64_t ns)
{
	struct http_series *c = http_series_get(method, route, (status / 100) % 10);
	metric_add(c->count, 1);
	metric_observe_ns(c->duration, ns);
}

void metrics_lvm_command(const char *cmd, uint64_t ns)
{
	_cleanup_free_ char *l = metric_labels("command", cmd, NULL);
	metric_observe_ns(metric_histogram("sanpool_lvm_command_duration_seconds",
					   "Time of one LVM command through liblvm2cmd, by command", l),
			  ns);
}

void metrics_extend(const char *domain, const char *via, uint64_t ns)
{
	_cleanup_free_ char *l = metric_labels("domain", domain, "via", via, NULL);
	metric_observe_ns(metric_histogram("sanpool_extend_duration_seconds",
					   "Time to extend a thin volume's LV, from request to done", l),
			  ns);
}

void metrics_extends_waiting(int64_t n)
{
	metric_set(metric_gauge("sanpool_extends_waiting", "Extend requests on this host not answered yet", ""), n);
}

void metrics_lease_state(const char *lockspace, const char *resource, const char *state)
{
	static const char *const states[] = { "free", "acquiring", "held", "releasing", "lost" };
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		_cleanup_free_ char *l = metric_labels("lockspace", lockspace, "resource", resource, "state",
						       states[i], NULL);
		metric_set(metric_gauge("sanpool_lease_state",
					"1 for the state a lease is in (lockspace, resource \"\" for the host id)", l),
			   strcmp(states[i], state) == 0);
	}
}
