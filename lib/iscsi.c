#include "lib/iscsi.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/log.h"
#include "lib/util/run.h"
#include "lib/util/xalloc.h"

/* iscsiadm's exit codes (open-iscsi's iscsi_err.h) that are not failures here */
enum {
	ISCSI_ERR_SESS_EXISTS = 15,
	ISCSI_ERR_FATAL_LOGIN = 19, /* non-retryable: e.g. the target's ACL does not name this initiator */
	ISCSI_ERR_NO_OBJS_FOUND = 21,
	ISCSI_ERR_LOGIN_AUTH_FAILED = 24,
};

/* Copies src into dst[size], cut to fit, always terminated. */
static void set_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static const char *skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Copies the value after "key" (the line, trimmed) into dst; true if line starts with key. */
static bool take(const char *line, const char *key, char *dst, size_t size)
{
	size_t kl = strlen(key);
	if (strncmp(line, key, kl) != 0)
		return false;
	const char *v = skip_space(line + kl);
	size_t n = strcspn(v, " \t\r");
	snprintf(dst, size, "%.*s", (int)n, v);
	return true;
}

int iscsi_parse_sessions(const char *text, struct iscsi_session **ret, size_t *ret_n)
{
	_cleanup_free_ char *copy = xstrdup(text);
	struct iscsi_session *out = NULL;
	size_t n = 0;
	char target[224] = "", *rest = copy, *raw;
	bool seen_header = false;

	while ((raw = strsep(&rest, "\n"))) {
		const char *line = skip_space(raw);
		char value[256];
		if (strncmp(line, "iSCSI Transport Class", 21) == 0) {
			seen_header = true;
		} else if (take(line, "Target:", target, sizeof(target))) {
			/* "Target: iqn... (non-flash)": take() stopped at the space */
		} else if (take(line, "Current Portal:", value, sizeof(value))) {
			out = xrealloc(out, (n + 1) * sizeof(*out));
			struct iscsi_session *s = &out[n++];
			memset(s, 0, sizeof(*s));
			set_str(s->target, sizeof(s->target), target);
			value[strcspn(value, ",")] = '\0'; /* drop ",tpgt" */
			set_str(s->portal, sizeof(s->portal), value);
		} else if (n > 0 && take(line, "SID:", value, sizeof(value))) {
			out[n - 1].sid = (int)strtol(value, NULL, 10);
		} else if (n > 0 && take(line, "iSCSI Session State:", value, sizeof(value))) {
			set_str(out[n - 1].state, sizeof(out[n - 1].state), value);
		} else if (n > 0 && take(line, "Attached scsi disk", value, sizeof(value))) {
			struct iscsi_session *s = &out[n - 1];
			if (s->n_disks < ARRAY_SIZE(s->disks))
				set_str(s->disks[s->n_disks++], sizeof(s->disks[0]), value);
		}
	}
	if (!seen_header && n == 0 && *skip_space(text)) {
		free(out);
		return sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "", "iscsiadm -m session -P 3: unexpected output");
	}
	for (size_t i = 0; i < n; i++)
		if (!out[i].target[0] || !out[i].portal[0]) {
			free(out);
			return sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "", "iscsiadm -m session -P 3: session without target");
		}
	*ret = out ? out : xcalloc(1, sizeof(*out));
	*ret_n = n;
	return (int)n;
}

/* Runs iscsiadm; 0 with its exit status in *ret_status (and output in *res). */
static int iscsiadm(const char *const argv[], unsigned secret_args, struct run_result *res)
{
	struct run_opts o = { .secret_args = secret_args };
	int r = run_argv(argv, &o, res);
	if (r == -ENOENT)
		return sp_error_set(-ENOENT, "unavailable", "", "iscsiadm is not installed (open-iscsi)");
	if (r < 0)
		return sp_error_set(r, "tool_failed", "", "cannot run iscsiadm: %s", strerror(-r));
	return 0;
}

static int failed(const char *const argv[], unsigned secret_args, const struct run_result *res)
{
	struct run_opts o = { .secret_args = secret_args };
	_cleanup_free_ char *shown = run_argv_display(argv, &o);
	const char *msg = *res->err ? res->err : res->out;
	return sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "", "%s: exit %d: %s", shown, res->exit_status, msg);
}

int iscsi_sessions(struct iscsi_session **ret, size_t *ret_n)
{
	const char *argv[] = { "iscsiadm", "-m", "session", "-P", "3", NULL };
	struct run_result res = { 0 };
	int r = iscsiadm(argv, 0, &res);
	if (r < 0)
		return r;
	if (res.exit_status == ISCSI_ERR_NO_OBJS_FOUND) {
		run_result_free(&res);
		*ret = xcalloc(1, sizeof(**ret));
		*ret_n = 0;
		return 0;
	}
	r = res.exit_status ? failed(argv, 0, &res) : iscsi_parse_sessions(res.out, ret, ret_n);
	run_result_free(&res);
	return r;
}

/* One `iscsiadm -m node -T target -p portal ...` with extra arguments. */
static int node_cmd(const char *target, const char *portal, const char *const extra[], unsigned secret_extra,
		    struct run_result *res)
{
	const char *argv[16] = { "iscsiadm", "-m", "node", "-T", target, "-p", portal };
	size_t n = 7;
	for (size_t i = 0; extra[i] && n < ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	return iscsiadm(argv, secret_extra << 7, res);
}

static int node_ok(const char *target, const char *portal, const char *const extra[], unsigned secret_extra)
{
	struct run_result res = { 0 };
	int r = node_cmd(target, portal, extra, secret_extra, &res);
	if (r < 0)
		return r;
	if (res.exit_status != 0) {
		const char *argv[16] = { "iscsiadm", "-m", "node", "-T", target, "-p", portal };
		size_t n = 7;
		for (size_t i = 0; extra[i] && n < ARRAY_SIZE(argv) - 1; i++)
			argv[n++] = extra[i];
		r = failed(argv, secret_extra << 7, &res);
	}
	run_result_free(&res);
	return r;
}

static int node_set(const char *target, const char *portal, const char *name, const char *value, bool secret)
{
	const char *extra[] = { "-o", "update", "-n", name, "-v", value, NULL };
	return node_ok(target, portal, extra, secret ? 1u << 5 : 0);
}

int iscsi_login(const char *target, const char *portal, const struct iscsi_chap *chap)
{
	const char *create[] = { "-o", "new", NULL };
	const char *login[] = { "--login", NULL };
	bool use_chap = chap && chap->username;
	int r;

	if ((r = node_ok(target, portal, create, 0)) < 0 ||
	    (r = node_set(target, portal, "node.startup", "manual", false)) < 0 ||
	    (r = node_set(target, portal, "node.session.auth.authmethod", use_chap ? "CHAP" : "None", false)) < 0)
		return r;
	if (use_chap && ((r = node_set(target, portal, "node.session.auth.username", chap->username, false)) < 0 ||
			 (r = node_set(target, portal, "node.session.auth.password", chap->password, true)) < 0))
		return r;

	struct run_result res = { 0 };
	if ((r = node_cmd(target, portal, login, 0, &res)) < 0)
		return r;
	switch (res.exit_status) {
	case 0:
		log_info("iscsi: logged in to %s at %s%s", target, portal, use_chap ? " (CHAP)" : "");
		break;
	case ISCSI_ERR_SESS_EXISTS: /* already logged in: connecting again is a no-op */
		break;
	case ISCSI_ERR_LOGIN_AUTH_FAILED:
		r = sp_bad_field(use_chap ? "chap_password" : "chap_username",
				 "%s at %s refused the login: authorization failure (%s)", target, portal,
				 use_chap ? "wrong CHAP credentials" : "the target requires CHAP");
		break;
	case ISCSI_ERR_FATAL_LOGIN:
		r = sp_bad_field("target", "%s at %s refused the login (this host's initiator is not allowed, or there "
				 "is no such target)", target, portal);
		break;
	default: {
		const char *argv[] = { "iscsiadm", "-m", "node", "-T", target, "-p", portal, "--login", NULL };
		r = failed(argv, 0, &res);
	}
	}
	run_result_free(&res);
	return r;
}

int iscsi_logout(const char *target, const char *portal)
{
	const char *logout[] = { "--logout", NULL };
	const char *del[] = { "-o", "delete", NULL };
	struct run_result res = { 0 };
	int r = node_cmd(target, portal, logout, 0, &res);
	if (r < 0)
		return r;
	if (res.exit_status != 0 && res.exit_status != ISCSI_ERR_NO_OBJS_FOUND) {
		const char *argv[] = { "iscsiadm", "-m", "node", "-T", target, "-p", portal, "--logout", NULL };
		r = failed(argv, 0, &res);
		run_result_free(&res);
		return r;
	}
	run_result_free(&res);
	if ((r = node_cmd(target, portal, del, 0, &res)) < 0)
		return r;
	run_result_free(&res); /* a record already gone is fine */
	log_info("iscsi: logged out of %s at %s", target, portal);
	return 0;
}

int iscsi_rescan(void)
{
	const char *argv[] = { "iscsiadm", "-m", "session", "--rescan", NULL };
	struct run_result res = { 0 };
	int r = iscsiadm(argv, 0, &res);
	if (r < 0)
		return r;
	if (res.exit_status != 0 && res.exit_status != ISCSI_ERR_NO_OBJS_FOUND)
		r = failed(argv, 0, &res);
	run_result_free(&res);
	return r;
}

bool iscsi_target_is_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 5 || n > 223 || (strncmp(s, "iqn.", 4) != 0 && strncmp(s, "eui.", 4) != 0 && strncmp(s, "naa.", 4) != 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789.:-", s[i]))
			return false;
	return true;
}

static bool port_ok(const char *p)
{
	if (!*p)
		return true;
	if (*p != ':' || !p[1] || strlen(p + 1) > 5)
		return false;
	for (const char *c = p + 1; *c; c++)
		if (!isdigit((unsigned char)*c))
			return false;
	long v = strtol(p + 1, NULL, 10);
	return v > 0 && v < 65536;
}

bool iscsi_portal_is_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 120)
		return false;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end == s + 1)
			return false;
		for (const char *c = s + 1; c < end; c++)
			if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
				return false;
		return port_ok(end + 1);
	}
	size_t host = strcspn(s, ":");
	if (host == 0 || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < host; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	return port_ok(s + host);
}

char *iscsi_portal_normalize(const char *s)
{
	const char *after = s[0] == '[' ? strchr(s, ']') + 1 : s + strcspn(s, ":");
	return *after ? xstrdup(s) : xasprintf("%s:3260", s);
}

static bool chap_chars_ok(const char *s, size_t min)
{
	size_t n = s ? strlen(s) : 0;
	if (n < min || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

bool iscsi_chap_user_is_valid(const char *s) { return chap_chars_ok(s, 1); }
bool iscsi_chap_secret_is_valid(const char *s) { return chap_chars_ok(s, 12); }
