/* GET /metrics: the registry of lib/metrics.h in the Prometheus text format
 * 0.0.4, with the values that are read at scrape time rather than counted:
 * tasks by state and each domain's space. Outside /v1: it is for Prometheus,
 * not the engine. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/route.h"
#include "lib/lvm.h"
#include "lib/metrics.h"
#include "lib/store.h"
#include "lib/task.h"
#include "lib/util/cleanup.h"

static void task_gauges(void)
{
	int counts[5];

	task_counts(counts);
	for (int i = 0; i < 5; i++) {
		_cleanup_free_ char *l = metric_labels("state", task_state_str((enum task_state)i), NULL);
		metric_set(metric_gauge("sanpool_tasks", "Tasks this host knows, by state", l), counts[i]);
	}
}

/* The LVM worker (block domains), once started: a command stuck on a device
 * that does not answer shows as a running time that keeps growing, with
 * calls waiting and, past lvm_timeout_s, calls that gave up. */
static void lvm_worker(FILE *out)
{
	struct lvm_worker_state w;

	lvm_worker_state(&w);
	if (!w.started)
		return;
	fprintf(out,
		"# HELP sanpool_lvm_running_seconds How long the LVM command running now has run (0: idle)\n"
		"# TYPE sanpool_lvm_running_seconds gauge\n"
		"sanpool_lvm_running_seconds %.3f\n"
		"# HELP sanpool_lvm_queued_calls LVM calls waiting for the worker\n"
		"# TYPE sanpool_lvm_queued_calls gauge\n"
		"sanpool_lvm_queued_calls %u\n"
		"# HELP sanpool_lvm_timeouts_total LVM calls that gave up waiting behind a command running past lvm_timeout_s\n"
		"# TYPE sanpool_lvm_timeouts_total counter\n"
		"sanpool_lvm_timeouts_total %llu\n",
		w.running_s, w.queued, (unsigned long long)w.timeouts);
}

/* Domains come and go: their lines are written per scrape, not registered,
 * so a removed domain leaves no stale series behind. */
struct space {
	FILE *total, *free;
};

static void domain_space(struct domain *d, void *userdata)
{
	struct space *s = userdata;
	uint64_t total, avail;

	if (d->ops->stats(d, &total, &avail) < 0)
		return;
	_cleanup_free_ char *l = metric_labels("domain", d->uuid, "name", d->name, "kind", d->ops->kind, NULL);
	fprintf(s->total, "sanpool_domain_total_bytes{%s} %llu\n", l, (unsigned long long)total);
	fprintf(s->free, "sanpool_domain_free_bytes{%s} %llu\n", l, (unsigned long long)avail);
}

static void get_metrics(const struct request *req, struct response *res)
{
	(void)req;
	_cleanup_free_ char *registered = NULL, *total = NULL, *avail = NULL;
	size_t registered_len, total_len = 0, avail_len = 0;
	char *buf = NULL;
	size_t len = 0;

	task_gauges();
	registered = metrics_render(&registered_len);
	struct space s = { open_memstream(&total, &total_len), open_memstream(&avail, &avail_len) };
	FILE *out = open_memstream(&buf, &len);
	if (!s.total || !s.free || !out)
		abort(); /* out of memory, as in xmalloc */
	store_foreach_domain(domain_space, &s);
	fclose(s.total);
	fclose(s.free);
	fwrite(registered, 1, registered_len, out);
	fputs("# HELP sanpool_domain_total_bytes Size of a storage domain\n"
	      "# TYPE sanpool_domain_total_bytes gauge\n", out);
	fwrite(total, 1, total_len, out);
	fputs("# HELP sanpool_domain_free_bytes Free space of a storage domain\n"
	      "# TYPE sanpool_domain_free_bytes gauge\n", out);
	fwrite(avail, 1, avail_len, out);
	lvm_worker(out);
	fclose(out);

	res->status = MHD_HTTP_OK;
	res->raw = buf;
	res->raw_len = len;
	res->raw_owned = true;
	res->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

const struct route metrics_routes[] = {
	{ "GET", "/metrics", get_metrics },
	{ NULL, NULL, NULL },
};
