/* lib/metrics: what GET /metrics shows, in the Prometheus text format 0.0.4.
 * The registry is process-wide: each test uses names of its own. */
#include "testutil.h"

#include <pthread.h>

#include "lib/metrics.h"

/* The rendered text (allocated). */
static char *render(void)
{
	size_t len;
	char *s = metrics_render(&len);
	assert_int_equal(strlen(s), len);
	return s;
}

/* The line of the exposition that starts with prefix ("name{labels} "), its value as text. */
static const char *value_of(const char *text, const char *prefix)
{
	static char v[64];
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			const char *s = p + strlen(prefix);
			snprintf(v, sizeof(v), "%.*s", (int)strcspn(s, "\n"), s);
			return v;
		}
	}
	return NULL;
}

static void test_counter_and_gauge(void **state)
{
	(void)state;
	struct metric *c = metric_counter("t_requests_total", "Requests\nseen \\ so far", "");
	struct metric *g = metric_gauge("t_depth", "Queue depth", "queue=\"a\"");

	metric_add(c, 2);
	metric_add(metric_counter("t_requests_total", "ignored: the first help stays", ""), 3);
	metric_set(g, 7);
	metric_set(g, -4);
	char *s = render();
	/* HELP escapes backslash and newline; one HELP and TYPE per name */
	assert_non_null(strstr(s, "# HELP t_requests_total Requests\\nseen \\\\ so far\n"
				  "# TYPE t_requests_total counter\nt_requests_total 5\n"));
	assert_string_equal(value_of(s, "t_depth{queue=\"a\"} "), "-4");
	assert_non_null(strstr(s, "# TYPE t_depth gauge\n"));
	free(s);
}

static void test_histogram_buckets_are_cumulative(void **state)
{
	(void)state;
	struct metric *h = metric_histogram("t_latency_seconds", "Latency", "op=\"x\"");

	metric_observe_ns(h, 100000);      /* 0.1 ms: first bucket */
	metric_observe_ns(h, 1000000);     /* exactly 1 ms: le is inclusive */
	metric_observe_ns(h, 3000000000);  /* 3 s */
	metric_observe_ns(h, 120000000000); /* 2 min: only +Inf */
	char *s = render();
	assert_string_equal(value_of(s, "t_latency_seconds_bucket{op=\"x\",le=\"0.0005\"} "), "1");
	assert_string_equal(value_of(s, "t_latency_seconds_bucket{op=\"x\",le=\"0.001\"} "), "2");
	assert_string_equal(value_of(s, "t_latency_seconds_bucket{op=\"x\",le=\"2.5\"} "), "2");
	assert_string_equal(value_of(s, "t_latency_seconds_bucket{op=\"x\",le=\"5\"} "), "3");
	assert_string_equal(value_of(s, "t_latency_seconds_bucket{op=\"x\",le=\"60\"} "), "3");
	assert_string_equal(value_of(s, "t_latency_seconds_bucket{op=\"x\",le=\"+Inf\"} "), "4");
	assert_string_equal(value_of(s, "t_latency_seconds_count{op=\"x\"} "), "4");
	assert_string_equal(value_of(s, "t_latency_seconds_sum{op=\"x\"} "), "123.001100000");
	assert_non_null(strstr(s, "# TYPE t_latency_seconds histogram\n"));
	free(s);
}

static void test_label_values_escaped(void **state)
{
	(void)state;
	char *l = metric_labels("a", "x\"y", "b", "back\\slash", "c", "new\nline", NULL);
	assert_string_equal(l, "a=\"x\\\"y\",b=\"back\\\\slash\",c=\"new\\nline\"");
	free(l);
}

/* A name keeps its first type: a counter asked as a gauge is never shown as one. */
static void test_type_conflict_not_rendered(void **state)
{
	(void)state;
	metric_add(metric_counter("t_conflict", "A counter", ""), 1);
	metric_set(metric_gauge("t_conflict", "Now a gauge", "k=\"v\""), 99);
	char *s = render();
	assert_string_equal(value_of(s, "t_conflict "), "1");
	assert_null(strstr(s, "t_conflict{k=\"v\"}"));
	assert_null(strstr(s, "Now a gauge"));
	free(s);
}

#define THREADS 4
#define ADDS 100000

static void *adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < ADDS; i++) {
		metric_add(metric_counter("t_racy_total", "Concurrent adds", ""), 1);
		metric_observe_ns(metric_histogram("t_racy_seconds", "Concurrent observations", ""), 1000);
	}
	return NULL;
}

/* Updates from many threads are all counted (atomics, not a lost update). */
static void test_concurrent_updates_all_counted(void **state)
{
	(void)state;
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, adder, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	char *s = render();
	assert_string_equal(value_of(s, "t_racy_total "), "400000");
	assert_string_equal(value_of(s, "t_racy_seconds_count "), "400000");
	free(s);
}

static void test_http_requests_by_route_and_class(void **state)
{
	(void)state;
	static const char route[] = "/v1/things/{thing}";
	metrics_http_request("GET", route, 200, 1000);
	metrics_http_request("GET", route, 204, 1000);
	metrics_http_request("GET", route, 404, 1000);
	metrics_http_request("DELETE", route, 202, 1000);
	metrics_http_request("GET", NULL, 404, 1000);
	/* any token a client sends as a method is one label value: no unbounded growth */
	metrics_http_request("BREW", NULL, 405, 1000);
	metrics_http_request("WHEN", NULL, 405, 1000);
	char *s = render();
	assert_string_equal(
		value_of(s, "sanpool_http_requests_total{method=\"GET\",route=\"/v1/things/{thing}\",code=\"2xx\"} "),
		"2");
	assert_string_equal(
		value_of(s, "sanpool_http_requests_total{method=\"GET\",route=\"/v1/things/{thing}\",code=\"4xx\"} "),
		"1");
	assert_string_equal(
		value_of(s, "sanpool_http_requests_total{method=\"DELETE\",route=\"/v1/things/{thing}\",code=\"2xx\"} "),
		"1");
	assert_string_equal(value_of(s, "sanpool_http_requests_total{method=\"GET\",route=\"unmatched\",code=\"4xx\"} "),
			    "1");
	assert_string_equal(
		value_of(s, "sanpool_http_requests_total{method=\"other\",route=\"unmatched\",code=\"4xx\"} "), "2");
	assert_null(strstr(s, "BREW"));
	assert_string_equal(
		value_of(s, "sanpool_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/things/{thing}\"} "),
		"3");
	free(s);
}

/* The hooks left for the lease and extend code: exactly one state reads 1. */
static void test_lease_state_and_extend_hooks(void **state)
{
	(void)state;
	metrics_lease_state("ls1", "", "acquiring");
	metrics_lease_state("ls1", "", "held");
	metrics_extend("dom1", "mailbox", 2000000);
	char *s = render();
	assert_string_equal(value_of(s, "sanpool_lease_state{lockspace=\"ls1\",resource=\"\",state=\"held\"} "), "1");
	assert_string_equal(value_of(s, "sanpool_lease_state{lockspace=\"ls1\",resource=\"\",state=\"acquiring\"} "),
			    "0");
	assert_string_equal(value_of(s, "sanpool_extend_duration_seconds_count{domain=\"dom1\",via=\"mailbox\"} "), "1");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_and_gauge),
		cmocka_unit_test(test_histogram_buckets_are_cumulative),
		cmocka_unit_test(test_label_values_escaped),
		cmocka_unit_test(test_type_conflict_not_rendered),
		cmocka_unit_test(test_concurrent_updates_all_counted),
		cmocka_unit_test(test_http_requests_by_route_and_class),
		cmocka_unit_test(test_lease_state_and_extend_hooks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
