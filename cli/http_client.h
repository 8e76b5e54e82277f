/* A small HTTP/1.1 client over libcurl: one connection reused for every
 * request of a run (a task is polled many times). */
#pragma once

struct http_client;

/* How to reach the daemon besides its URL; every field may be NULL. */
struct http_transport {
	const char *unix_socket; /* connect here instead of the URL's host and port */
	const char *cert, *key;  /* client certificate and key (PEM) for mutual TLS */
	const char *cacert;      /* CA (PEM) the server's certificate must chain to */
};

/* Returns 0 with a client for base_url ("http://127.0.0.1:7447",
 * "https://host:7447", or "http://localhost" over a unix socket), or -errno. */
int http_client_new(const char *base_url, const struct http_transport *transport, struct http_client **ret);
void http_client_free(struct http_client *h);
static inline void http_client_freep(struct http_client **h) { http_client_free(*h); }

/* Sends method base_url+path with an optional JSON body and waits at most
 * timeout_ms for the whole exchange. Returns 0 with the HTTP status and the
 * NUL-terminated response body (owned by the caller), or -errno when no
 * answer came (reported on stderr). */
int http_request(struct http_client *h, const char *method, const char *path, const char *body, long timeout_ms,
		 long *ret_status, char **ret_body);
