#include "cli/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "cli/report.h"
#include "lib/util/cleanup.h"
#include "lib/util/xalloc.h"

/* Connecting to a local daemon is quick; failing fast tells the user sooner
 * that it is not running. */
#define CONNECT_TIMEOUT_MS 10000L
/* Answers are small; a runaway body means we are not talking to sanpoold. */
#define MAX_BODY (64L << 20)

struct http_client {
	CURL *curl;
	char *base; /* without a trailing '/' */
	struct http_transport transport;
};

struct buffer {
	char *data;
	size_t len;
	bool too_large;
};

static void buffer_freep(struct buffer *b) { free(b->data); }

int http_client_new(const char *base_url, const struct http_transport *transport, struct http_client **ret)
{
	size_t len = strlen(base_url);
	CURL *curl = curl_easy_init();

	if (!curl)
		return -ENOMEM;
	struct http_client *h = xcalloc(1, sizeof(*h));
	while (len > 0 && base_url[len - 1] == '/')
		len--;
	h->curl = curl;
	h->base = xstrndup(base_url, len);
	if (transport)
		h->transport = *transport;
	*ret = h;
	return 0;
}

void http_client_free(struct http_client *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->curl);
	free(h->base);
	free(h);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buffer *b = userdata;
	size_t n = size * nmemb;

	if (b->len + n > (size_t)MAX_BODY) {
		b->too_large = true;
		return 0; /* makes curl fail the transfer */
	}
	b->data = xrealloc(b->data, b->len + n + 1);
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static void slist_freep(struct curl_slist **l) { curl_slist_free_all(*l); }

/* The handle is reset for each request but keeps its connection cache. */
static void setup(struct http_client *h, const char *method, const char *url, const char *body, long timeout_ms,
		  struct curl_slist *headers, struct buffer *b)
{
	CURL *c = h->curl;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	/* Only our own API is spoken to: never follow a redirect elsewhere. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* reset by curl_easy_reset, so set again for each request */
	if (h->transport.unix_socket)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, h->transport.unix_socket);
	if (h->transport.cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, h->transport.cert);
	if (h->transport.key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, h->transport.key);
	if (h->transport.cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->transport.cacert);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body ? (long)strlen(body) : 0L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
}

static int errno_of(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY: return -ENOMEM;
	default: return -EIO;
	}
}

int http_request(struct http_client *h, const char *method, const char *path, const char *body, long timeout_ms,
		 long *ret_status, char **ret_body)
{
	_cleanup_free_ char *url = xasprintf("%s%s", h->base, path);
	_cleanup_(slist_freep) struct curl_slist *headers = NULL;
	_cleanup_(buffer_freep) struct buffer b = { 0 };
	long status = 0;

	headers = curl_slist_append(headers, "Accept: application/json");
	/* No "Expect: 100-continue" round trip for our small bodies. */
	headers = curl_slist_append(headers, "Expect:");
	if (body)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	setup(h, method, url, body, timeout_ms, headers, &b);
	CURLcode rc = curl_easy_perform(h->curl);
	if (b.too_large)
		return report_error(-EMSGSIZE, "%s %s: response over %ld bytes", method, url, MAX_BODY);
	if (rc != CURLE_OK)
		return report_error(errno_of(rc), "%s %s: %s", method, url, curl_easy_strerror(rc));
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	*ret_status = status;
	*ret_body = b.data ? TAKE_PTR(b.data) : xstrdup("");
	return 0;
}
