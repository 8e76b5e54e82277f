#include "api/http.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/body.h"
#include "api/route.h"
#include "lease/spm.h"
#include "lib/metrics.h"
#include "api/unix_socket.h"
#include "lib/store.h"
#include "lib/task.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/log.h"
#include "lib/util/uuid.h"
#include "lib/util/xalloc.h"

static const struct route *const route_tables[] = { host_routes, pool_routes, domain_routes, image_routes,
						    task_routes, metrics_routes, device_routes, connection_routes,
						    lease_routes };

static struct {
	struct MHD_Daemon *daemon;
	struct MHD_Daemon *local; /* on the unix socket */
	char local_path[108];
	size_t max_body;
	int port;
} srv;

struct host_facts api_host;

/* Per-request state kept by MHD between the calls of one request. */
struct upload {
	char *data;
	size_t len;
	bool too_large;
	struct task_hold held; /* tasks this request accepted, started once it is answered */
};

void reply_json(struct response *res, int status, json_object *body)
{
	json_object_put(res->body);
	res->status = status;
	res->body = body;
}

static int status_of(int code)
{
	switch (-code) {
	case SP_E_BAD_REQUEST: return MHD_HTTP_BAD_REQUEST;
	case SP_E_NOT_FOUND: return MHD_HTTP_NOT_FOUND;
	case SP_E_CONFLICT:
	case SP_E_NOT_SPM:
	case SP_E_LEASE_HELD: return MHD_HTTP_CONFLICT;
	case SP_E_TOO_LARGE: return MHD_HTTP_CONTENT_TOO_LARGE;
	case ENOSPC: return MHD_HTTP_INSUFFICIENT_STORAGE;
	case ETIMEDOUT: return MHD_HTTP_SERVICE_UNAVAILABLE; /* storage or the SPM did not answer in time */
	default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

void reply_error(struct response *res)
{
	const struct sp_error *e = sp_error_last();
	json_object *err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_string(e->kind[0] ? e->kind : "internal"));
	json_object_object_add(err, "message", json_object_new_string(e->message[0] ? e->message : "internal error"));
	json_object_object_add(err, "field", e->field[0] ? json_object_new_string(e->field) : NULL);
	if (e->spm_host)
		json_object_object_add(err, "spm_host", json_object_new_int((int)e->spm_host));
	_cleanup_json_ json_object *details = e->details[0] ? json_tokener_parse(e->details) : NULL;
	if (details && json_object_is_type(details, json_type_object)) {
		json_object_object_foreach(details, key, val)
			json_object_object_add(err, key, json_object_get(val));
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "error", err);
	reply_json(res, e->code ? status_of(e->code) : MHD_HTTP_INTERNAL_SERVER_ERROR, o);
}

void reply_task(struct response *res, int r, json_object *body)
{
	if (r < 0) {
		reply_error(res);
		return;
	}
	_cleanup_free_ char *href = xasprintf("/v1/tasks/%s", json_object_get_string(json_object_object_get(body, "task")));
	json_object_object_add(body, "href", json_object_new_string(href));
	reply_json(res, MHD_HTTP_ACCEPTED, body);
}

void reply_found(struct response *res, json_object *o)
{
	if (o)
		reply_json(res, MHD_HTTP_OK, o);
	else
		reply_error(res);
}

void reply_ended_task(struct response *res, const char *op, const char *domain, json_object *result)
{
	struct task *t = task_new(op, domain ? domain : "", NULL, NULL);
	t->state = TASK_FINISHED;
	atomic_store(&t->progress, 100);
	t->started_ms = t->ended_ms = now_ms();
	t->result = result;
	json_object *body = json_object_new_object();
	json_object_object_add(body, "task", json_object_new_string(t->uuid));
	task_add_ended(t);
	reply_task(res, 0, body);
}

const char *query_arg(const struct request *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* Matches url against pattern segment by segment; a "{name}" segment takes
 * any non-empty segment. Returns true on a match, with params filled. */
static bool match(const char *pattern, const char *url, const char *params[], char storage[][UUID_STR_LEN + 1],
		  char names[][32])
{
	int np = 0;
	const char *p = pattern, *u = url;

	while (*p == '/' && *u == '/') {
		p++, u++;
		const char *pe = strchrnul(p, '/'), *ue = strchrnul(u, '/');
		size_t plen = (size_t)(pe - p), ulen = (size_t)(ue - u);
		if (*p == '{' && ulen > 0 && np < ROUTE_MAX_PARAMS) {
			snprintf(names[np], 32, "%.*s", (int)plen - 2, p + 1);
			snprintf(storage[np], UUID_STR_LEN + 1, "%.*s", (int)(ulen > UUID_STR_LEN ? UUID_STR_LEN : ulen), u);
			params[np] = storage[np];
			np++;
		} else if (plen != ulen || strncmp(p, u, plen) != 0) {
			return false;
		}
		p = pe, u = ue;
	}
	return *p == '\0' && *u == '\0';
}

/* Path parameters are all UUIDs: checked once here for every route. */
static int check_params(const struct request *req, char names[][32])
{
	for (int i = 0; i < ROUTE_MAX_PARAMS && req->params[i]; i++)
		if (!uuid_is_valid(req->params[i]))
			return sp_bad_field(names[i], "%s in the path is not a valid UUID", names[i]);
	return 0;
}

/* The pool whose storage a change touches through domain (NULL: none known). */
static int check_domain_writer(const char *domain)
{
	struct domain d;
	if (!domain || store_get_domain(domain, &d) < 0) {
		sp_error_clear(); /* an unknown domain is the handler's to answer */
		return 0;
	}
	return d.pool[0] ? spm_check_write(d.pool) : 0;
}

/* Only a pool's SPM changes its storage: a change of a domain (in the path,
 * or named by the body: a new domain's pool, a copy's destination) is refused
 * here on every other host, before the handler sees it. A read of a domain
 * first lets a host that is not SPM catch up with what the SPM changed. */
static int spm_gate(const struct route *r, const struct request *req)
{
	const char *domain = strncmp(r->pattern, "/v1/domains/{", 13) == 0 ? req->params[0] : NULL;
	int rc;

	if (strcmp(r->method, "GET") == 0) {
		if (domain)
			spm_before_read(domain);
		return 0;
	}
	if (r->host_local)
		return 0;
	if ((rc = check_domain_writer(domain)) < 0)
		return rc;
	const char *pool = strcmp(r->pattern, "/v1/domains") == 0 ? body_str(req->body, "pool") : NULL;
	if (pool && uuid_is_valid(pool) && (rc = spm_check_write(pool)) < 0)
		return rc;
	const char *dst = domain ? body_str(req->body, "domain") : NULL;
	return dst && uuid_is_valid(dst) ? check_domain_writer(dst) : 0;
}

static void dispatch(struct request *req, struct response *res, const char *body, size_t body_len)
{
	char storage[ROUTE_MAX_PARAMS][UUID_STR_LEN + 1], names[ROUTE_MAX_PARAMS][32];
	bool path_known = false;

	for (size_t t = 0; t < ARRAY_SIZE(route_tables); t++) {
		for (const struct route *r = route_tables[t]; r->method; r++) {
			memset(req->params, 0, sizeof(req->params));
			if (!match(r->pattern, req->url, req->params, storage, names))
				continue;
			path_known = true;
			if (strcmp(r->method, req->method) != 0)
				continue;
			req->route = r->pattern;
			if (check_params(req, names) < 0 ||
			    (body_len > 0 && body_parse(body, body_len, &req->body) < 0) || spm_gate(r, req) < 0) {
				reply_error(res);
				return;
			}
			r->fn(req, res);
			return;
		}
	}
	if (path_known)
		sp_error_set(-SP_E_NOT_FOUND, "method_not_allowed", "", "%s is not allowed on %s", req->method, req->url);
	else
		sp_not_found("no such resource: %s", req->url);
	reply_error(res);
	if (path_known)
		res->status = MHD_HTTP_METHOD_NOT_ALLOWED;
}

/* An answer this large (the task list, a domain of thousands of images) is
 * built from many small json-c allocations in the malloc arena of the
 * connection's thread; freed, they stay there, and every connection thread's
 * arena grows to the largest answer it built. They are given back after such
 * an answer (malloc_trim walks every arena: too costly for every request). */
#define TRIM_AFTER_BYTES (256 * 1024)

static enum MHD_Result send_response(struct MHD_Connection *conn, struct response *res, size_t *ret_len)
{
	struct MHD_Response *resp;
	size_t len = 0;
	if (res->raw) {
		len = res->raw_len;
		resp = MHD_create_response_from_buffer(res->raw_len, (void *)res->raw,
						       res->raw_owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	} else {
		const char *s = res->body ? json_object_to_json_string_length(res->body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len) : "";
		resp = MHD_create_response_from_buffer(len, (void *)s, MHD_RESPMEM_MUST_COPY);
	}
	MHD_add_response_header(resp, "Content-Type", res->content_type ? res->content_type : "application/json");
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)res->status, resp);
	MHD_destroy_response(resp);
	*ret_len = len;
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	(void)cls;
	(void)version;
	struct upload *up = *con_cls;

	if (!up) {
		*con_cls = xcalloc(1, sizeof(struct upload));
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!up->too_large && up->len + *upload_data_size <= srv.max_body) {
			up->data = xrealloc(up->data, up->len + *upload_data_size + 1);
			memcpy(up->data + up->len, upload_data, *upload_data_size);
			up->len += *upload_data_size;
		} else {
			up->too_large = true; /* keep reading, answer once at the end */
		}
		*upload_data_size = 0;
		return MHD_YES;
	}

	uint64_t start_ns = metric_now_ns();
	struct request req = { .method = method, .url = url, .conn = conn };
	struct response res = { .status = 500 };
	sp_error_clear();
	if (up->too_large) {
		sp_error_set(-SP_E_TOO_LARGE, "too_large", "body", "request body is over the limit of %zu bytes",
			     srv.max_body);
		reply_error(&res);
	} else {
		task_hold_begin(&up->held);
		dispatch(&req, &res, up->data, up->len);
		task_hold_end();
	}
	size_t len;
	enum MHD_Result ret = send_response(conn, &res, &len);
	metrics_http_request(method, req.route, res.status, metric_now_ns() - start_ns);
	if (res.status >= 400 && res.status != 404)
		log_info("%s %s -> %d: %s", method, url, res.status, sp_error_last()->message);
	else
		log_debug("%s %s -> %d", method, url, res.status);
	json_object_put(res.body);
	json_object_put(req.body);
	if (len >= TRIM_AFTER_BYTES)
		malloc_trim(0);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct upload *up = *con_cls;
	if (up) {
		task_hold_release(&up->held);
		free(up->data);
		free(up);
		*con_cls = NULL;
	}
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_warning("http: %s", line);
}

/* The same routes on the unix socket: a second MHD daemon, since one daemon
 * listens on one socket. No TLS there: the socket's mode is the access check. */
static int start_local(const char *path)
{
	int fd = unix_socket_listen(path);
	if (fd < 0)
		return fd;
	srv.local = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
					     MHD_USE_ERROR_LOG | MHD_USE_POLL,
				     0, NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL,
				     MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
				     on_completed, NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
	if (!srv.local) {
		close(fd);
		unlink(path);
		return log_error_errno(-EIO, "cannot serve the API on local_socket %s", path);
	}
	snprintf(srv.local_path, sizeof(srv.local_path), "%s", path);
	log_info("API on local_socket %s (mode 0600: root only)", path);
	return 0;
}

int api_start(const struct api_config *cfg)
{
	struct sockaddr_in6 sa6 = { 0 };
	struct sockaddr_in sa4 = { 0 };
	const struct sockaddr *sa;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG |
			 MHD_USE_POLL;

	if (inet_pton(AF_INET, cfg->address, &sa4.sin_addr) == 1) {
		sa4.sin_family = AF_INET;
		sa4.sin_port = htons((uint16_t)cfg->port);
		sa = (const struct sockaddr *)&sa4;
	} else if (inet_pton(AF_INET6, cfg->address, &sa6.sin6_addr) == 1) {
		sa6.sin6_family = AF_INET6;
		sa6.sin6_port = htons((uint16_t)cfg->port);
		sa = (const struct sockaddr *)&sa6;
		flags |= MHD_USE_IPv6;
	} else {
		return log_error_errno(-EINVAL, "listen_address %s is not a numeric IP address", cfg->address);
	}
	srv.max_body = cfg->max_body_bytes;
	api_host.host_id = cfg->host_id;
	api_host.hostname = cfg->hostname;
	api_host.started_ms = cfg->started_ms;
	struct MHD_OptionItem tls_opts[TLS_OPTIONS_MAX] = { { MHD_OPTION_END, 0, NULL } };
	if (cfg->tls) {
		if (tls_options(cfg->tls, tls_opts) < 0)
			return -EINVAL;
		flags |= MHD_USE_TLS;
	} else {
		log_warning("API on plain HTTP at %s (tls = no): no client authentication, loopback only",
			    cfg->address);
	}
	srv.daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, NULL,
				      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL, MHD_OPTION_SOCK_ADDR, sa,
				      MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_LIMIT,
				      (unsigned)512, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
				      MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
	if (!srv.daemon) {
		tls_release();
		return log_error_errno(-EADDRINUSE, "cannot listen on %s port %d", cfg->address, cfg->port);
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv.daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv.port = info ? info->port : cfg->port;
	if (cfg->local_socket && cfg->local_socket[0] && start_local(cfg->local_socket) < 0) {
		api_stop();
		return -EADDRINUSE;
	}
	return 0;
}

int api_port(void) { return srv.port; }

void api_stop(void)
{
	if (srv.daemon)
		MHD_stop_daemon(srv.daemon);
	srv.daemon = NULL;
	if (srv.local) {
		MHD_stop_daemon(srv.local); /* closes the listening socket */
		unlink(srv.local_path);
	}
	srv.local = NULL;
	tls_release();
}

void api_print_routes(void)
{
	for (size_t t = 0; t < ARRAY_SIZE(route_tables); t++)
		for (const struct route *r = route_tables[t]; r->method; r++)
			printf("%s %s\n", r->method, r->pattern);
}
