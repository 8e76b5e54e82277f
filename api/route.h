/* What route handlers see and produce; one route_*.c file per resource. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/store.h"

#define ROUTE_MAX_PARAMS 4

struct request {
	const char *method;
	const char *url;
	/* path parameters in pattern order, each already checked to be a UUID */
	const char *params[ROUTE_MAX_PARAMS];
	json_object *body; /* parsed object, or NULL when the request had none */
	void *conn;        /* the MHD connection, for query arguments */
	const char *route; /* the pattern matched (metrics), NULL if none */
};

struct response {
	int status;
	json_object *body; /* owned */
	const char *raw;   /* alternatively a static document */
	size_t raw_len;
	bool raw_owned;           /* raw is malloc'd: freed once sent */
	const char *content_type; /* NULL: application/json */
};

typedef void (*route_fn)(const struct request *req, struct response *res);

struct route {
	const char *method;
	const char *pattern; /* segments "{name}" match one UUID segment */
	route_fn fn;
	/* A change that acts on this host only (prepare, pool connect, SPM
	 * start): not refused on hosts that are not the pool's SPM. Every other
	 * change of a domain in a pool is (api/http.c). */
	bool host_local;
};

/* Each resource's table ends with a { NULL } entry. */
extern const struct route host_routes[], pool_routes[], domain_routes[], image_routes[], task_routes[],
	metrics_routes[], lease_routes[];
extern const struct route device_routes[], connection_routes[];

/* Reads a checked body's "kind", "path", "devices", "name", "pool" into spec:
 * a file domain (under data_dir or in path) or a block domain on devices
 * (spec->devices is allocated: free it). -SP_E_BAD_REQUEST naming the field. */
int domain_location_parse(json_object *body, struct domain_spec *spec);

/* Shared by handlers. */
void reply_json(struct response *res, int status, json_object *body);
/* Replies with the thread's last recorded error, mapped to its HTTP status. */
void reply_error(struct response *res);
/* Replies 200 with o, or the recorded error when o is NULL (not found). */
void reply_found(struct response *res, json_object *o);
/* Replies 202 with a task body from lib/ops.h, or the error if r < 0. */
void reply_task(struct response *res, int r, json_object *body);
/* Replies 202 with a task of op on domain (NULL: of the host) that already
 * ended (a change done while the request waited), its result being result
 * (owned, may be NULL). */
void reply_ended_task(struct response *res, const char *op, const char *domain, json_object *result);
/* A query argument, or NULL. */
const char *query_arg(const struct request *req, const char *key);

/* Shared host facts for /v1/host. */
struct host_facts {
	int host_id;
	const char *hostname;
	long long started_ms;
};
extern struct host_facts api_host;
