#include "lib/connections.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/iscsi.h"
#include "lib/nfs.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/fsutil.h"
#include "lib/util/log.h"
#include "lib/util/uuid.h"
#include "lib/util/xalloc.h"

#define MAX_PORTALS 8

/* The records as stored: [{id, kind, target, portals[], chap_username?, chap_password?}]. */
static struct {
	pthread_mutex_t lock;
	char *path;
	char *data_dir;
	json_object *records; /* array */
	atomic_uint generation; /* bumped by every change of records */
} st = { .lock = PTHREAD_MUTEX_INITIALIZER };


static const char *rec_str(json_object *rec, const char *key)
{
	json_object *v = json_object_object_get(rec, key);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* Written with mode 0600 before it holds anything: CHAP secrets are in it. */
static int save(void)
{
	atomic_fetch_add(&st.generation, 1);
	const char *text = json_object_to_json_string_ext(st.records, JSON_C_TO_STRING_PRETTY);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", st.path);
	_cleanup_free_ char *dir = path_dirname(st.path);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text);

	if (fd < 0)
		return sp_error_set(-errno, "io_error", "", "cannot write %s: %m", tmp);
	if (fchmod(fd, 0600) < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0 ||
	    close(TAKE_FD(fd)) < 0 || rename(tmp, st.path) < 0) {
		int r = -errno;
		unlink(tmp);
		return sp_error_set(r, "io_error", "", "cannot write %s: %s", st.path, strerror(-r));
	}
	return fsync_dir(dir);
}

static json_object *find(const char *key, const char *value)
{
	for (size_t i = 0; i < json_object_array_length(st.records); i++) {
		json_object *rec = json_object_array_get_idx(st.records, i);
		const char *v = rec_str(rec, key);
		if (v && strcmp(v, value) == 0)
			return rec;
	}
	return NULL;
}

static void chap_of(json_object *rec, struct iscsi_chap *chap)
{
	chap->username = rec_str(rec, "chap_username");
	chap->password = rec_str(rec, "chap_password");
}

int connections_open(const char *data_dir)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r;

	st.path = xasprintf("%s/connections.json", data_dir);
	st.data_dir = xstrdup(data_dir);
	if ((r = read_file(st.path, 1 << 20, &data, &len)) == -ENOENT) {
		st.records = json_object_new_array();
		return 0;
	}
	if (r < 0)
		return log_error_errno(r, "connections: cannot read %s", st.path);
	st.records = json_tokener_parse(data);
	if (!st.records || !json_object_is_type(st.records, json_type_array))
		return log_error_errno(-SP_E_CORRUPT, "connections: %s is not a JSON array", st.path);
	log_info("connections: %zu loaded from %s", json_object_array_length(st.records), st.path);
	return 0;
}

void connections_restore(void)
{
	struct iscsi_session *s = NULL;
	size_t ns = 0;
	if (iscsi_sessions(&s, &ns) < 0)
		ns = 0;
	MUTEX_SCOPE(&st.lock);
	if (!st.records) {
		free(s);
		return;
	}
	/* a target that is down now is not a reason to stay down: each failure is logged */
	for (size_t i = 0; i < json_object_array_length(st.records); i++) {
		json_object *rec = json_object_array_get_idx(st.records, i), *portals = json_object_object_get(rec, "portals");
		struct iscsi_chap chap;
		if (rec_str(rec, "export")) {
			if (nfs_mount(rec_str(rec, "export"), rec_str(rec, "mount_options"), rec_str(rec, "mount_point")) < 0)
				log_warning("connections: %s: %s", rec_str(rec, "export"), sp_error_last()->message);
			continue;
		}
		chap_of(rec, &chap);
		for (size_t p = 0; portals && p < json_object_array_length(portals); p++) {
			const char *portal = json_object_get_string(json_object_array_get_idx(portals, p));
			bool up = false;
			for (size_t k = 0; k < ns && !up; k++)
				up = strcmp(s[k].target, rec_str(rec, "target")) == 0 && strcmp(s[k].portal, portal) == 0 &&
				     strcmp(s[k].state, "LOGGED_IN") == 0;
			if (!up && iscsi_login(rec_str(rec, "target"), portal, &chap) < 0)
				log_warning("connections: %s at %s: %s", rec_str(rec, "target"), portal, sp_error_last()->message);
		}
	}
	free(s);
	log_info("connections: %zu restored", json_object_array_length(st.records));
}

void connections_close(void)
{
	json_object_put(st.records);
	st.records = NULL;
	free(st.path);
	st.path = NULL;
	free(st.data_dir);
	st.data_dir = NULL;
}

static json_object *view_nfs(json_object *rec)
{
	json_object *o = json_object_new_object();
	const char *opts = rec_str(rec, "mount_options");
	json_object_object_add(o, "id", json_object_new_string(rec_str(rec, "id")));
	json_object_object_add(o, "kind", json_object_new_string("nfs"));
	json_object_object_add(o, "export", json_object_new_string(rec_str(rec, "export")));
	json_object_object_add(o, "mount_options", opts ? json_object_new_string(opts) : NULL);
	json_object_object_add(o, "mount_point", json_object_new_string(rec_str(rec, "mount_point")));
	json_object_object_add(o, "status", json_object_new_string(nfs_is_mounted(rec_str(rec, "mount_point"))
									  ? "connected" : "disconnected"));
	return o;
}

/* The API view: no secret, and each portal's live state. */
static json_object *view(json_object *rec, const struct iscsi_session *s, size_t ns, json_object *errors)
{
	if (rec_str(rec, "export"))
		return view_nfs(rec);
	json_object *o = json_object_new_object(), *ports = json_object_new_array();
	json_object *portals = json_object_object_get(rec, "portals");
	const char *target = rec_str(rec, "target");
	size_t connected = 0, n = json_object_array_length(portals);

	json_object_object_add(o, "id", json_object_new_string(rec_str(rec, "id")));
	json_object_object_add(o, "kind", json_object_new_string("iscsi"));
	json_object_object_add(o, "target", json_object_new_string(target));
	json_object_object_add(o, "chap", json_object_new_boolean(rec_str(rec, "chap_username") != NULL));
	json_object_object_add(o, "chap_username",
			       rec_str(rec, "chap_username") ? json_object_new_string(rec_str(rec, "chap_username")) : NULL);
	for (size_t p = 0; p < n; p++) {
		const char *portal = json_object_get_string(json_object_array_get_idx(portals, p));
		json_object *po = json_object_new_object(), *disks = json_object_new_array();
		const struct iscsi_session *found = NULL;
		for (size_t i = 0; i < ns && !found; i++)
			if (strcmp(s[i].target, target) == 0 && strcmp(s[i].portal, portal) == 0)
				found = &s[i];
		bool up = found && strcmp(found->state, "LOGGED_IN") == 0;
		connected += up;
		json_object_object_add(po, "portal", json_object_new_string(portal));
		json_object_object_add(po, "status", json_object_new_string(up ? "connected" : found ? "failed" : "disconnected"));
		json_object_object_add(po, "session_state", found ? json_object_new_string(found->state) : NULL);
		for (size_t d = 0; found && d < found->n_disks; d++)
			json_object_array_add(disks, json_object_new_string(found->disks[d]));
		json_object_object_add(po, "disks", disks);
		json_object *err = errors ? json_object_object_get(errors, portal) : NULL;
		json_object_object_add(po, "error", err ? json_object_get(err) : NULL);
		json_object_array_add(ports, po);
	}
	json_object_object_add(o, "portals", ports);
	json_object_object_add(o, "status",
			       json_object_new_string(connected == n ? "connected" : connected ? "degraded" : "disconnected"));
	return o;
}

static json_object *view_live(json_object *rec, json_object *errors)
{
	struct iscsi_session *s = NULL;
	size_t ns = 0;
	if (iscsi_sessions(&s, &ns) < 0)
		ns = 0; /* no iscsiadm: every portal shows disconnected */
	json_object *o = view(rec, s, ns, errors);
	free(s);
	return o;
}

static int check_nfs_spec(const struct connection_spec *spec)
{
	char bad[64] = "";
	if (spec->target || spec->portals || spec->chap_username || spec->chap_password)
		return sp_bad_field(spec->target ? "target" : spec->portals ? "portals"
				    : spec->chap_username ? "chap_username" : "chap_password",
				    "target, portals and CHAP are for iSCSI connections");
	if (!spec->export_)
		return sp_bad_field("export", "field export is required for an NFS connection");
	if (!nfs_export_is_valid(spec->export_))
		return sp_bad_field("export", "export must be server:/absolute/path without . or .. components");
	if (!nfs_options_are_valid(spec->mount_options, bad, sizeof(bad)))
		return sp_bad_field("mount_options", "mount option \"%s\" is not allowed (see the API document)", bad);
	return 0;
}

/* An NFS export: mounted on <data_dir>/mnt/<id>; the same export again is the same connection. */
static int connect_nfs(const struct connection_spec *spec, json_object **ret)
{
	int r;
	if ((r = check_nfs_spec(spec)) < 0)
		return r;
	MUTEX_SCOPE(&st.lock);
	if (!st.records)
		return sp_conflict("connections are not available (no data_dir)");
	json_object *rec = find("export", spec->export_);
	if (rec) {
		if ((r = nfs_mount(spec->export_, rec_str(rec, "mount_options"), rec_str(rec, "mount_point"))) < 0)
			return r;
		*ret = view_nfs(rec);
		return 0;
	}
	char id[UUID_STR_LEN];
	uuid_generate_str(id);
	_cleanup_free_ char *dir = xasprintf("%s/mnt/%s", st.data_dir, id);
	if ((r = nfs_mount(spec->export_, spec->mount_options, dir)) < 0) {
		rmdir(dir);
		return r;
	}
	rec = json_object_new_object();
	json_object_object_add(rec, "id", json_object_new_string(id));
	json_object_object_add(rec, "kind", json_object_new_string("nfs"));
	json_object_object_add(rec, "export", json_object_new_string(spec->export_));
	if (spec->mount_options && *spec->mount_options)
		json_object_object_add(rec, "mount_options", json_object_new_string(spec->mount_options));
	json_object_object_add(rec, "mount_point", json_object_new_string(dir));
	json_object_array_add(st.records, rec);
	if ((r = save()) < 0)
		return r;
	*ret = view_nfs(rec);
	return 1;
}

static int check_spec(const struct connection_spec *spec)
{
	size_t n = 0;
	if (spec->export_ || spec->mount_options)
		return sp_bad_field(spec->export_ ? "export" : "mount_options", "export and mount_options are for NFS connections");
	if (!spec->target)
		return sp_bad_field("target", "field target is required for an iSCSI connection");
	if (!spec->portals)
		return sp_bad_field("portals", "field portals is required for an iSCSI connection");
	if (!iscsi_target_is_valid(spec->target))
		return sp_bad_field("target", "target must be an iSCSI name (iqn., eui. or naa., lowercase)");
	for (; spec->portals && spec->portals[n]; n++) {
		if (!iscsi_portal_is_valid(spec->portals[n]))
			return sp_bad_field("portals", "%s is not a portal (address[:port])", spec->portals[n]);
		for (size_t j = 0; j < n; j++)
			if (strcmp(spec->portals[j], spec->portals[n]) == 0)
				return sp_bad_field("portals", "%s is listed twice", spec->portals[n]);
	}
	if (n == 0 || n > MAX_PORTALS)
		return sp_bad_field("portals", "1 to %d portals", MAX_PORTALS);
	if (!spec->chap_username != !spec->chap_password)
		return sp_bad_field(spec->chap_username ? "chap_password" : "chap_username",
				    "CHAP needs both chap_username and chap_password");
	if (spec->chap_username && !iscsi_chap_user_is_valid(spec->chap_username))
		return sp_bad_field("chap_username", "chap_username: 1 to 255 printable characters without spaces");
	if (spec->chap_password && !iscsi_chap_secret_is_valid(spec->chap_password))
		return sp_bad_field("chap_password", "chap_password: 12 to 255 printable characters without spaces");
	return 0;
}

int connection_connect(const struct connection_spec *spec, json_object **ret)
{
	int r;
	if (spec->kind && strcmp(spec->kind, "nfs") == 0)
		return connect_nfs(spec, ret);
	if (spec->kind && strcmp(spec->kind, "iscsi") != 0)
		return sp_bad_field("kind", "kind must be \"iscsi\" or \"nfs\"");
	if ((r = check_spec(spec)) < 0)
		return r;
	MUTEX_SCOPE(&st.lock);
	if (!st.records)
		return sp_conflict("connections are not available (no data_dir)");

	json_object *portals = json_object_new_array();
	for (size_t i = 0; spec->portals[i]; i++) {
		_cleanup_free_ char *p = iscsi_portal_normalize(spec->portals[i]);
		json_object_array_add(portals, json_object_new_string(p));
	}
	struct iscsi_chap chap = { spec->chap_username, spec->chap_password };
	_cleanup_json_ json_object *errors = json_object_new_object();
	struct sp_error first = { 0 };
	size_t ok = 0, n = json_object_array_length(portals);

	for (size_t i = 0; i < n; i++) {
		const char *portal = json_object_get_string(json_object_array_get_idx(portals, i));
		if (iscsi_login(spec->target, portal, &chap) == 0) {
			ok++;
			continue;
		}
		if (!first.code)
			sp_error_copy(&first);
		json_object_object_add(errors, portal, json_object_new_string(sp_error_last()->message));
	}
	json_object *rec = find("target", spec->target);
	if (ok == 0) {
		/* nothing kept: undo the node records a new connection made */
		for (size_t i = 0; !rec && i < n; i++)
			iscsi_logout(spec->target, json_object_get_string(json_object_array_get_idx(portals, i)));
		json_object_put(portals);
		return sp_error_set(first.code, first.kind, first.field, "%s", first.message);
	}
	bool created = !rec;
	if (created) {
		char id[UUID_STR_LEN];
		uuid_generate_str(id);
		rec = json_object_new_object();
		json_object_object_add(rec, "id", json_object_new_string(id));
		json_object_object_add(rec, "kind", json_object_new_string("iscsi"));
		json_object_object_add(rec, "target", json_object_new_string(spec->target));
		json_object_array_add(st.records, rec);
	}
	json_object_object_add(rec, "portals", portals);
	json_object_object_del(rec, "chap_username");
	json_object_object_del(rec, "chap_password");
	if (spec->chap_username) {
		json_object_object_add(rec, "chap_username", json_object_new_string(spec->chap_username));
		json_object_object_add(rec, "chap_password", json_object_new_string(spec->chap_password));
	}
	if ((r = save()) < 0)
		return r;
	log_info("connections: %s %s (%zu of %zu portals logged in)", created ? "connected" : "reconnected",
		 spec->target, ok, n);
	*ret = view_live(rec, errors);
	return created ? 1 : 0;
}

int connection_disconnect(const char *id)
{
	MUTEX_SCOPE(&st.lock);
	json_object *rec = st.records ? find("id", id) : NULL;
	if (!rec)
		return sp_not_found("no connection %s", id);
	json_object *portals = json_object_object_get(rec, "portals");
	if (rec_str(rec, "export")) {
		int r = nfs_umount(rec_str(rec, "mount_point"));
		if (r < 0)
			return r;
		rmdir(rec_str(rec, "mount_point"));
	}
	for (size_t i = 0; portals && i < json_object_array_length(portals); i++) {
		int r = iscsi_logout(rec_str(rec, "target"), json_object_get_string(json_object_array_get_idx(portals, i)));
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < json_object_array_length(st.records); i++)
		if (json_object_array_get_idx(st.records, i) == rec) {
			json_object_array_del_idx(st.records, i, 1);
			break;
		}
	log_info("connections: disconnected %s", id);
	return save();
}

json_object *connection_json(const char *id)
{
	MUTEX_SCOPE(&st.lock);
	json_object *rec = st.records ? find("id", id) : NULL;
	if (!rec) {
		sp_not_found("no connection %s", id);
		return NULL;
	}
	return view_live(rec, NULL);
}

unsigned connections_generation(void)
{
	return atomic_load(&st.generation);
}

char **connections_disks(void)
{
	struct iscsi_session *s = NULL;
	size_t ns = 0, n = 0;
	int r = iscsi_sessions(&s, &ns);
	if (r < 0 && r != -ENOENT)
		return NULL;
	if (r < 0)
		ns = 0; /* no open-iscsi here: no sessions */
	char **out = xcalloc(1, sizeof(*out));
	MUTEX_SCOPE(&st.lock);
	for (size_t i = 0; i < ns; i++) {
		if (!st.records || !find("target", s[i].target))
			continue;
		for (size_t d = 0; d < s[i].n_disks; d++) {
			out = xrealloc(out, (n + 2) * sizeof(*out));
			out[n++] = xstrdup(s[i].disks[d]);
			out[n] = NULL;
		}
	}
	free(s);
	return out;
}

json_object *connections_json(void)
{
	MUTEX_SCOPE(&st.lock);
	json_object *list = json_object_new_array();
	struct iscsi_session *s = NULL;
	size_t ns = 0;
	if (iscsi_sessions(&s, &ns) < 0)
		ns = 0;
	for (size_t i = 0; st.records && i < json_object_array_length(st.records); i++)
		json_object_array_add(list, view(json_object_array_get_idx(st.records, i), s, ns, NULL));
	free(s);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "connections", list);
	return o;
}
