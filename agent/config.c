#include "agent/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/cleanup.h"

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen_address, sizeof(c->listen_address), "127.0.0.1");
	c->port = 7447;
	snprintf(c->data_dir, sizeof(c->data_dir), "/var/lib/sanpool");
	c->log_level = LOG_LVL_INFO;
	c->task_workers = 4;
	c->host_id = 1;
	c->max_body_bytes = 64 * 1024;
	c->bootstrap_default = false;
	snprintf(c->run_dir, sizeof(c->run_dir), "/run/sanpool");
	c->lvm_activation = true;
	c->thin_initial_size = 1ULL << 30;
	c->thin_extend_chunk = 1ULL << 30;
	c->thin_watermark_percent = 20;
	c->mailbox_poll_ms = 10;
	c->mailbox_timeout_s = 60;
	c->lvm_timeout_s = 60;
	c->tasks_kept = 2000;
	c->sanlock = true;
	c->sanlock_io_timeout = 10;
	c->tls = true;
	snprintf(c->tls_cert, sizeof(c->tls_cert), "/etc/sanpool/pki/server.pem");
	snprintf(c->tls_key, sizeof(c->tls_key), "/etc/sanpool/pki/server.key");
	snprintf(c->tls_ca, sizeof(c->tls_ca), "/etc/sanpool/pki/ca.pem");
	snprintf(c->local_socket, sizeof(c->local_socket), "/run/sanpool/sanpoold.sock");
	c->libvirt = true;
	snprintf(c->libvirt_uri, sizeof(c->libvirt_uri), "qemu:///system");
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int parse_int(const char *v, long min, long max, long *ret)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *v == '\0' || *end != '\0' || n < min || n > max)
		return -EINVAL;
	*ret = n;
	return 0;
}

static int parse_bool(const char *v, bool *ret)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
		*ret = true;
	else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

static int set_path(char *dst, size_t size, const char *v)
{
	if (v[0] == '\0' || strlen(v) >= size)
		return -EINVAL;
	snprintf(dst, size, "%s", v);
	return 0;
}

static int set_key(struct config *c, const char *key, const char *v)
{
	long n;
	int r = 0;

	if (strcmp(key, "listen_address") == 0) {
		if (strlen(v) >= sizeof(c->listen_address))
			return -EINVAL;
		snprintf(c->listen_address, sizeof(c->listen_address), "%s", v);
	} else if (strcmp(key, "port") == 0) {
		if ((r = parse_int(v, 0, 65535, &n)) == 0)
			c->port = (int)n;
	} else if (strcmp(key, "data_dir") == 0) {
		if (strlen(v) == 0 || strlen(v) >= sizeof(c->data_dir) - 200)
			return -EINVAL;
		snprintf(c->data_dir, sizeof(c->data_dir), "%s", v);
	} else if (strcmp(key, "log_level") == 0) {
		r = log_level_from_string(v, &c->log_level);
	} else if (strcmp(key, "task_workers") == 0) {
		if ((r = parse_int(v, 1, 64, &n)) == 0)
			c->task_workers = (int)n;
	} else if (strcmp(key, "host_id") == 0) {
		if ((r = parse_int(v, 1, 2000, &n)) == 0)
			c->host_id = (int)n;
	} else if (strcmp(key, "max_body_bytes") == 0) {
		if ((r = parse_int(v, 1024, 16 * 1024 * 1024, &n)) == 0)
			c->max_body_bytes = (size_t)n;
	} else if (strcmp(key, "bootstrap_default") == 0) {
		r = parse_bool(v, &c->bootstrap_default);
	} else if (strcmp(key, "run_dir") == 0) {
		if (v[0] != '/' || strlen(v) >= sizeof(c->run_dir) - 200)
			return -EINVAL;
		snprintf(c->run_dir, sizeof(c->run_dir), "%s", v);
	} else if (strcmp(key, "lvm_activation") == 0) {
		r = parse_bool(v, &c->lvm_activation);
	} else if (strcmp(key, "thin_initial_size_mib") == 0) {
		if ((r = parse_int(v, 128, 1024 * 1024, &n)) == 0)
			c->thin_initial_size = (uint64_t)n << 20;
	} else if (strcmp(key, "thin_extend_chunk_mib") == 0) {
		if ((r = parse_int(v, 128, 1024 * 1024, &n)) == 0)
			c->thin_extend_chunk = (uint64_t)n << 20;
	} else if (strcmp(key, "thin_watermark_percent") == 0) {
		if ((r = parse_int(v, 0, 100, &n)) == 0)
			c->thin_watermark_percent = (int)n;
	} else if (strcmp(key, "mailbox_poll_ms") == 0) {
		if ((r = parse_int(v, 1, 1000, &n)) == 0)
			c->mailbox_poll_ms = (int)n;
	} else if (strcmp(key, "mailbox_timeout_s") == 0) {
		if ((r = parse_int(v, 1, 3600, &n)) == 0)
			c->mailbox_timeout_s = (int)n;
	} else if (strcmp(key, "tasks_kept") == 0) {
		if ((r = parse_int(v, 10, 1000000, &n)) == 0)
			c->tasks_kept = (int)n;
	} else if (strcmp(key, "lvm_timeout_s") == 0) {
		if ((r = parse_int(v, 1, 3600, &n)) == 0)
			c->lvm_timeout_s = (int)n;
	} else if (strcmp(key, "sanlock") == 0) {
		r = parse_bool(v, &c->sanlock);
	} else if (strcmp(key, "sanlock_io_timeout") == 0) {
		if ((r = parse_int(v, 1, 300, &n)) == 0)
			c->sanlock_io_timeout = (int)n;
	} else if (strcmp(key, "tls") == 0) {
		r = parse_bool(v, &c->tls);
	} else if (strcmp(key, "tls_cert") == 0) {
		r = set_path(c->tls_cert, sizeof(c->tls_cert), v);
	} else if (strcmp(key, "tls_key") == 0) {
		r = set_path(c->tls_key, sizeof(c->tls_key), v);
	} else if (strcmp(key, "tls_ca") == 0) {
		r = set_path(c->tls_ca, sizeof(c->tls_ca), v);
	} else if (strcmp(key, "local_socket") == 0) {
		/* "" turns it off */
		if (strlen(v) >= sizeof(c->local_socket))
			return -EINVAL;
		snprintf(c->local_socket, sizeof(c->local_socket), "%s", v);
	} else if (strcmp(key, "libvirt") == 0) {
		r = parse_bool(v, &c->libvirt);
	} else if (strcmp(key, "libvirt_uri") == 0) {
		r = set_path(c->libvirt_uri, sizeof(c->libvirt_uri), v);
	} else {
		return -ENOENT;
	}
	return r;
}

/* 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104: addresses no other host can reach. */
static bool is_loopback(const char *address)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, address, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, address, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

/* Rules between keys, checked once the whole file is read. */
static int check(const char *path, const struct config *c)
{
	if (!c->tls && !is_loopback(c->listen_address))
		return log_error_errno(-EINVAL,
				       "%s: tls = no with listen_address %s: plain HTTP is allowed on a loopback "
				       "address only (127.0.0.1, ::1); refusing to start",
				       path, c->listen_address);
	return 0;
}

int config_load(const char *path, struct config *c)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[4096];
	int lineno = 0;

	if (!f)
		return log_error_errno(-errno, "cannot open config %s: %m", path);
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq)
			return log_error_errno(-EINVAL, "%s:%d: expected key = value", path, lineno);
		*eq = '\0';
		char *key = trim(s), *value = trim(eq + 1);
		int r = set_key(c, key, value);
		if (r == -ENOENT)
			return log_error_errno(-EINVAL, "%s:%d: unknown key %s", path, lineno, key);
		if (r < 0)
			return log_error_errno(-EINVAL, "%s:%d: invalid value for %s: %s", path, lineno, key, value);
	}
	return check(path, c);
}
