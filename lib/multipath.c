#include "lib/multipath.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/fsutil.h"
#include "lib/util/log.h"
#include "lib/util/run.h"
#include "lib/util/xalloc.h"

/* An injected fake, for tests only (docs/design.md): see multipath_list. */
#define MAPS_FIXTURE "SANPOOL_TEST_MULTIPATH_MAPS"

/* Copies src into dst[size], cut to fit, always terminated. */
static void set_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void copy_str(char *dst, size_t size, json_object *o, const char *key)
{
	json_object *v = json_object_object_get(o, key);
	set_str(dst, size, v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "");
}

static int get_int(json_object *o, const char *key)
{
	json_object *v = json_object_object_get(o, key);
	return v ? json_object_get_int(v) : 0;
}

void multipath_maps_free(struct mp_map *maps, size_t n)
{
	for (size_t i = 0; maps && i < n; i++)
		free(maps[i].paths);
	free(maps);
}

static void parse_path(json_object *jp, int group, const char *group_state, struct mp_path *p)
{
	copy_str(p->dev, sizeof(p->dev), jp, "dev");
	copy_str(p->dev_t, sizeof(p->dev_t), jp, "dev_t");
	copy_str(p->dm_state, sizeof(p->dm_state), jp, "dm_st");
	copy_str(p->check_state, sizeof(p->check_state), jp, "chk_st");
	copy_str(p->dev_state, sizeof(p->dev_state), jp, "dev_st");
	copy_str(p->target, sizeof(p->target), jp, "target_wwnn");
	if (strcmp(p->target, "[undef]") == 0)
		p->target[0] = '\0';
	p->priority = get_int(jp, "pri");
	p->group = group;
	set_str(p->group_state, sizeof(p->group_state), group_state);
}

static int parse_map(json_object *jm, struct mp_map *m)
{
	json_object *groups = json_object_object_get(jm, "path_groups");

	copy_str(m->wwid, sizeof(m->wwid), jm, "uuid");
	copy_str(m->name, sizeof(m->name), jm, "name");
	copy_str(m->sysfs, sizeof(m->sysfs), jm, "sysfs");
	copy_str(m->vendor, sizeof(m->vendor), jm, "vend");
	copy_str(m->product, sizeof(m->product), jm, "prod");
	copy_str(m->queueing, sizeof(m->queueing), jm, "queueing");
	if (!m->wwid[0] || !m->name[0])
		return -SP_E_TOOL_FAILED;
	if (groups && !json_object_is_type(groups, json_type_array))
		return -SP_E_TOOL_FAILED;
	size_t ng = groups ? json_object_array_length(groups) : 0;
	for (size_t g = 0; g < ng; g++) {
		json_object *jg = json_object_array_get_idx(groups, g);
		json_object *paths = json_object_object_get(jg, "paths");
		if (!paths || !json_object_is_type(paths, json_type_array))
			return -SP_E_TOOL_FAILED;
		int group = get_int(jg, "group");
		char state[16];
		copy_str(state, sizeof(state), jg, "dm_st");
		for (size_t i = 0; i < json_object_array_length(paths); i++) {
			m->paths = xrealloc(m->paths, (m->n_paths + 1) * sizeof(*m->paths));
			memset(&m->paths[m->n_paths], 0, sizeof(*m->paths));
			parse_path(json_object_array_get_idx(paths, i), group ? group : (int)g + 1, state,
				   &m->paths[m->n_paths]);
			m->n_paths++;
		}
	}
	return 0;
}

int multipath_parse_maps(const char *json, struct mp_map **ret_maps, size_t *ret_n)
{
	_cleanup_json_ json_object *doc = json_tokener_parse(json);
	json_object *maps = doc ? json_object_object_get(doc, "maps") : NULL;
	struct mp_map *out = NULL;
	size_t n = 0;

	if (!maps || !json_object_is_type(maps, json_type_array))
		return sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "", "multipathd show maps json: not a maps document");
	n = json_object_array_length(maps);
	out = xcalloc(n ? n : 1, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		if (parse_map(json_object_array_get_idx(maps, i), &out[i]) < 0) {
			multipath_maps_free(out, n);
			return sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "",
					    "multipathd show maps json: map %zu is malformed", i);
		}
	}
	*ret_maps = out;
	*ret_n = n;
	return (int)n;
}

/* Splits line at '|' into at most max fields; returns the count. */
static size_t split_bar(char *line, char *fields[], size_t max)
{
	size_t n = 0;
	char *p = line;
	while (n < max) {
		fields[n++] = p;
		p = strchr(p, '|');
		if (!p)
			break;
		*p++ = '\0';
	}
	return n;
}

int multipath_parse_paths(const char *text, struct mp_path_line **ret, size_t *ret_n)
{
	_cleanup_free_ char *copy = xstrdup(text);
	struct mp_path_line *out = NULL;
	size_t n = 0;
	char *rest = copy, *line;

	while ((line = strsep(&rest, "\n"))) {
		char *f[10];
		if (!*line)
			continue;
		if (split_bar(line, f, 10) != 9) {
			free(out);
			return sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "",
					    "multipathd show paths: malformed line \"%s\"", line);
		}
		out = xrealloc(out, (n + 1) * sizeof(*out));
		struct mp_path_line *l = &out[n++];
		memset(l, 0, sizeof(*l));
		/* a path outside any map shows "" or "[orphan]"-like placeholders */
		set_str(l->wwid, sizeof(l->wwid), f[0]);
		set_str(l->path.dev, sizeof(l->path.dev), f[1]);
		set_str(l->path.dev_t, sizeof(l->path.dev_t), f[2]);
		set_str(l->path.dm_state, sizeof(l->path.dm_state), f[3]);
		set_str(l->path.check_state, sizeof(l->path.check_state), f[4]);
		set_str(l->path.dev_state, sizeof(l->path.dev_state), f[5]);
		l->path.priority = (int)strtol(f[6], NULL, 10);
		if (strcmp(l->path.dm_state, "undef") == 0)
			l->wwid[0] = '\0';
	}
	*ret = out;
	*ret_n = n;
	return (int)n;
}

size_t multipath_map_usable_paths(const struct mp_map *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n_paths; i++) {
		const struct mp_path *p = &m->paths[i];
		if (strcmp(p->dm_state, "active") == 0 &&
		    (strcmp(p->check_state, "ready") == 0 || strcmp(p->check_state, "ghost") == 0))
			n++;
	}
	return n;
}

/* Runs multipathd with argv; its stdout in *ret_out. multipathd answers
 * through its socket, so "not running" shows as an error text with status 1. */
static int multipathd(const char *const argv[], char **ret_out)
{
	struct run_result res = { 0 };
	int r = run_argv(argv, NULL, &res);

	if (r == -ENOENT)
		return sp_error_set(-ENOENT, "unavailable", "", "multipathd is not installed");
	if (r < 0)
		return sp_error_set(r, "tool_failed", "", "cannot run multipathd: %s", strerror(-r));
	if (res.exit_status != 0 || strstr(res.out, "can't connect") || strstr(res.err, "can't connect")) {
		/* not running: "can't connect" from some versions, a silent exit 1 from 0.9.4 */
		bool down = strstr(res.out, "connect") || strstr(res.err, "connect") || (!*res.out && !*res.err);
		r = sp_error_set(down ? -ENOENT : -SP_E_TOOL_FAILED, down ? "unavailable" : "tool_failed", "",
				 "multipathd %s %s: exit %d: %s%s", argv[1], argv[2] ? argv[2] : "", res.exit_status,
				 res.err, res.out);
		run_result_free(&res);
		return r;
	}
	*ret_out = TAKE_PTR(res.out);
	run_result_free(&res);
	return 0;
}

int multipath_list(struct mp_map **ret_maps, size_t *ret_n)
{
	const char *argv[] = { "multipathd", "show", "maps", "json", NULL };
	const char *fixture = getenv(MAPS_FIXTURE);
	_cleanup_free_ char *out = NULL;
	int r;
	/* An injected fake, for tests only (docs/design.md): the fast tier has no
	 * multipath, so simulated hosts each read a recorded `show maps json`
	 * from a file instead, which the test changes to change what they see. */
	if (fixture && fixture[0]) {
		if ((r = read_file(fixture, 1 << 20, &out, NULL)) < 0)
			return sp_error_set(r, "io_error", "", "cannot read %s: %s", fixture, strerror(-r));
	} else if ((r = multipathd(argv, &out)) < 0) {
		return r;
	}
	/* with no map at all multipathd prints nothing rather than an empty document */
	if (!strchr(out, '{')) {
		*ret_maps = xcalloc(1, sizeof(**ret_maps));
		*ret_n = 0;
		return 0;
	}
	return multipath_parse_maps(out, ret_maps, ret_n);
}

int multipath_list_paths(struct mp_path_line **ret, size_t *ret_n)
{
	const char *argv[] = { "multipathd", "show", "paths", "raw", "format", MP_PATHS_FORMAT, NULL };
	_cleanup_free_ char *out = NULL;
	int r = multipathd(argv, &out);
	return r < 0 ? r : multipath_parse_paths(out, ret, ret_n);
}

/* The maps' WWIDs in the fixture of multipath_list. */
static char **fixture_wwids(void)
{
	struct mp_map *maps = NULL;
	size_t n = 0;
	if (multipath_list(&maps, &n) < 0)
		return NULL;
	char **out = xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(maps[i].wwid);
	multipath_maps_free(maps, n);
	return out;
}

char **multipath_map_wwids(const char *sysfs_root)
{
	static const char prefix[] = "mpath-";
	if (getenv(MAPS_FIXTURE))
		return fixture_wwids();
	_cleanup_free_ char *block = xasprintf("%s/block", sysfs_root);
	char **out = xcalloc(1, sizeof(*out));
	size_t n = 0;
	DIR *dir = opendir(block);
	struct dirent *e;

	while (dir && (e = readdir(dir))) {
		if (strncmp(e->d_name, "dm-", 3) != 0)
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s/dm/uuid", block, e->d_name);
		_cleanup_free_ char *uuid = NULL;
		if (read_file(path, 4096, &uuid, NULL) < 0)
			continue; /* removed meanwhile */
		uuid[strcspn(uuid, "\n")] = '\0';
		if (strncmp(uuid, prefix, sizeof(prefix) - 1) != 0 || !uuid[sizeof(prefix) - 1])
			continue; /* an LV or another dm target, not a multipath map */
		out = xrealloc(out, (n + 2) * sizeof(*out));
		out[n++] = xstrdup(uuid + sizeof(prefix) - 1);
		out[n] = NULL;
	}
	if (dir)
		closedir(dir);
	return out;
}

/* Why each setting (docs/design.md, "Multipath"):
 * - one multipaths{} entry per WWID: the host's other devices keep their own settings;
 * - alias = WWID and no user_friendly_names: /dev/mapper/<wwid> is the same name on every host;
 * - no_path_retry 12 (x polling_interval, ~60 s at multipathd's 5 s default): I/O queues
 *   through a short loss of every path and then fails, so a dead LUN cannot hang sanlock's
 *   renewals or qemu forever (queue forever is what sanlock's docs warn against);
 * - group_by_prio + failback immediate: path groups follow the array's (ALUA) priorities
 *   and every host returns to the same preferred group once it is back, whatever the
 *   host's own policy (multibus would drive one LUN through both controllers at once,
 *   failover through whichever path came first);
 * - prio alua on a LUN that reports ALUA target port groups: the priority comes from the
 *   array's answer (REPORT TARGET PORT GROUPS), the same on every host. multipathd's
 *   detect_prio (on by default) picks sysfs or alua for such LUNs by itself; this entry
 *   holds when a host turned detect_prio off. Not on other LUNs: the alua prioritizer
 *   fails there (and says so at every check). */
char *multipath_conf_render(const char *const *wwids, const bool *alua, size_t n)
{
	char *text = xstrdup("# Written by sanpoold: one entry per LUN sanpool uses; do not edit.\n"
			     "multipaths {\n");
	for (size_t i = 0; i < n; i++) {
		char *next = xasprintf("%s\tmultipath {\n"
				       "\t\twwid \"%s\"\n"
				       "\t\talias \"%s\"\n"
				       "\t\tuser_friendly_names no\n"
				       "\t\tpath_grouping_policy group_by_prio\n"
				       "%s"
				       "\t\tfailback immediate\n"
				       "\t\tno_path_retry 12\n"
				       "\t}\n",
				       text, wwids[i], wwids[i], alua && alua[i] ? "\t\tprio alua\n" : "");
		free(text);
		text = next;
	}
	char *done = xasprintf("%s}\n", text);
	free(text);
	return done;
}

int multipath_conf_apply(const char *path, const char *const *wwids, const bool *alua, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!multipath_wwid_is_valid(wwids[i]))
			return sp_bad_field("wwid", "%s is not a valid WWID", wwids[i]);
	_cleanup_free_ char *text = multipath_conf_render(wwids, alua, n);
	_cleanup_free_ char *old = NULL;
	_cleanup_free_ char *dir = path_dirname(path);
	size_t len = 0;
	int r;

	if (read_file(path, 1 << 20, &old, &len) == 0 && strcmp(old, text) == 0)
		return 0;
	if ((r = mkdir_p(dir, 0755)) < 0 || (r = atomic_write_file(path, text, strlen(text))) < 0)
		return sp_error_set(r, "io_error", "", "cannot write %s: %s", path, strerror(-r));
	const char *argv[] = { "multipathd", "reconfigure", NULL };
	_cleanup_free_ char *out = NULL;
	if ((r = multipathd(argv, &out)) < 0)
		return r;
	log_info("multipath: %s written for %zu LUNs, multipathd reconfigured", path, n);
	return 1;
}

int multipath_resize(const char *wwid)
{
	if (!multipath_wwid_is_valid(wwid))
		return sp_bad_field("wwid", "%s is not a valid WWID", wwid);
	const char *argv[] = { "multipathd", "resize", "map", wwid, NULL };
	_cleanup_free_ char *out = NULL;
	int r = multipathd(argv, &out);
	if (r < 0)
		return r;
	/* multipathd answers "fail" with status 0 when the map cannot be resized */
	if (strncmp(out, "ok", 2) != 0)
		return sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "", "multipathd resize map %s: %s", wwid, out);
	return 0;
}

bool multipath_wwid_is_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 127)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-", s[i]))
			return false;
	return true;
}
