/* The REST API server: libmicrohttpd on TCP (mutual TLS, or plain HTTP on
 * loopback) and on a local unix socket, JSON in and out, versioned under /v1. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/tls.h"

struct api_config {
	const char *address; /* numeric IPv4 or IPv6 */
	int port;            /* 0: pick a free port (see api_port) */
	size_t max_body_bytes;
	int host_id;
	const char *hostname;
	long long started_ms; /* when the daemon started, for uptime */
	const struct api_tls *tls; /* NULL: plain HTTP (the config allows it on loopback only) */
	const char *local_socket;  /* path of the root-only unix socket; NULL or "": none */
};

int api_start(const struct api_config *cfg);
/* The port actually bound. */
int api_port(void);
void api_stop(void);

/* Prints every route as "METHOD PATTERN" (for the OpenAPI coverage test). */
void api_print_routes(void);
