/* The agent's metrics, served by GET /metrics in the Prometheus text
 * exposition format 0.0.4.
 *
 * A series is one metric name with one set of labels. It is made on first
 * use and lives as long as the process: every label here comes from a
 * bounded set (route patterns, LVM command names, task states, domain UUIDs),
 * so the registry cannot grow without bound. Updating a series is a relaxed
 * atomic operation; finding or making one, and rendering, take one mutex.
 *
 * The named functions at the end are what the rest of the agent calls: the
 * metric names and labels live here, in one place. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct metric;

/* Finds or makes the series name{labels}. labels is the text between the
 * braces, already escaped (metric_labels), "" for none; help is used when
 * the name is first seen. A name keeps the type it was first made with: a
 * call with another type gets a series that is never rendered. Never NULL. */
struct metric *metric_counter(const char *name, const char *help, const char *labels);
struct metric *metric_gauge(const char *name, const char *help, const char *labels);
/* A latency histogram; buckets from 0.5 ms to 60 s. */
struct metric *metric_histogram(const char *name, const char *help, const char *labels);

void metric_add(struct metric *m, uint64_t n); /* counter */
void metric_set(struct metric *m, int64_t v);  /* gauge */
void metric_observe_ns(struct metric *m, uint64_t ns);

/* Monotonic clock in nanoseconds, for latencies. */
uint64_t metric_now_ns(void);

/* Formats label pairs (key, value, ..., NULL) as `k="v",...` with values
 * escaped as the format requires (\\, \", \n). Returns allocated text. */
char *metric_labels(const char *key, ...) __attribute__((sentinel));

/* Renders every series. Returns allocated text and its length. */
char *metrics_render(size_t *ret_len);

/* ---- what the agent measures ---- */

/* One API request: method, the route pattern it matched (NULL: none),
 * status, and how long it took. */
void metrics_http_request(const char *method, const char *route, int status, uint64_t ns);
/* One LVM command (cmd: its name, "lvcreate") and how long it took. */
void metrics_lvm_command(const char *cmd, uint64_t ns);
/* An extend of a thin volume's LV on domain (lib/extend.c), from request to
 * the refreshed LV on this host; via "direct" (this host is SPM) or "mailbox". */
void metrics_extend(const char *domain, const char *via, uint64_t ns);
/* Extend requests on this host not answered yet (running or waiting for one
 * in flight): stays up while no SPM answers. */
void metrics_extends_waiting(int64_t n);
/* The state of a lease: lockspace (a domain or pool UUID), resource ("" for
 * the host id lease itself), state one of "free", "acquiring", "held",
 * "releasing", "lost". Exactly one state of a lease reads 1. */
void metrics_lease_state(const char *lockspace, const char *resource, const char *state);
