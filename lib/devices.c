#include "lib/devices.h"

#include <blkid/blkid.h>
#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "lib/alua.h"
#include "lib/connections.h"
#include "lib/device_sharing.h"
#include "lib/iscsi.h"
#include "lib/multipath.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/fsutil.h"
#include "lib/util/log.h"
#include "lib/util/xalloc.h"

/* Copies src into dst[size], cut to fit, always terminated. */
static void set_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}


const char *device_use_str(enum device_use u)
{
	static const char *const names[] = {
		[DEVICE_FREE] = "free",          [DEVICE_HOST] = "host",
		[DEVICE_OUR_VG] = "sanpool_vg",  [DEVICE_OTHER_VG] = "other_vg",
		[DEVICE_LVM_PV] = "lvm_pv",      [DEVICE_MOUNTED] = "mounted",
		[DEVICE_PARTITIONED] = "partitions", [DEVICE_FILESYSTEM] = "filesystem",
		[DEVICE_HELD] = "held",
	};
	return names[u];
}

/* --- /proc/self/mountinfo ---------------------------------------------------- */

/* Field 3 is major:minor, field 5 the mount point (proc(5)). */
static bool mountinfo_line(const char *line, dev_t *ret_dev, char *mnt, size_t size)
{
	unsigned maj, min;
	const char *p = line;
	for (int i = 0; i < 2; i++) {
		p = strchr(p, ' ');
		if (!p)
			return false;
		p++;
	}
	if (sscanf(p, "%u:%u", &maj, &min) != 2)
		return false;
	for (int i = 0; i < 2; i++) {
		p = strchr(p, ' ');
		if (!p)
			return false;
		p++;
	}
	size_t n = strcspn(p, " \n");
	snprintf(mnt, size, "%.*s", (int)n, p);
	*ret_dev = makedev(maj, min);
	return true;
}

size_t mountinfo_host_devs(const char *mountinfo, dev_t out[], size_t max)
{
	size_t n = 0;
	for (const char *line = mountinfo; line && *line && n < max;) {
		dev_t d;
		char mnt[PATH_MAX];
		if (mountinfo_line(line, &d, mnt, sizeof(mnt)) && major(d) != 0 &&
		    (strcmp(mnt, "/") == 0 || strcmp(mnt, "/boot") == 0 || strcmp(mnt, "/boot/efi") == 0))
			out[n++] = d;
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return n;
}

bool mountinfo_has_dev(const char *mountinfo, dev_t dev)
{
	for (const char *line = mountinfo; line && *line;) {
		dev_t d;
		char mnt[PATH_MAX];
		if (mountinfo_line(line, &d, mnt, sizeof(mnt)) && d == dev)
			return true;
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return false;
}

/* --- sysfs: what a device is built on -------------------------------------- */

static bool read_dev_file(const char *path, dev_t *ret)
{
	_cleanup_free_ char *data = NULL;
	unsigned maj, min;
	if (read_file(path, 4096, &data, NULL) < 0 || sscanf(data, "%u:%u", &maj, &min) != 2)
		return false;
	*ret = makedev(maj, min);
	return true;
}

/* Adds d and every device under it (partition -> disk, dm -> slaves) to set. */
static void add_ancestors(dev_t d, dev_t set[], size_t *n, size_t max, int depth)
{
	for (size_t i = 0; i < *n; i++)
		if (set[i] == d)
			return;
	if (*n >= max || depth > 16)
		return;
	set[(*n)++] = d;

	_cleanup_free_ char *link = xasprintf("/sys/dev/block/%u:%u", major(d), minor(d));
	char real[PATH_MAX];
	if (!realpath(link, real))
		return;
	_cleanup_free_ char *part = xasprintf("%s/partition", real);
	if (path_exists(part)) {
		_cleanup_free_ char *parent = xasprintf("%s/../dev", real);
		dev_t p;
		if (read_dev_file(parent, &p))
			add_ancestors(p, set, n, max, depth + 1);
	}
	_cleanup_free_ char *slaves = xasprintf("%s/slaves", real);
	DIR *dir = opendir(slaves);
	if (!dir)
		return;
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		_cleanup_free_ char *dev = xasprintf("%s/%s/dev", slaves, e->d_name);
		dev_t s;
		if (read_dev_file(dev, &s))
			add_ancestors(s, set, n, max, depth + 1);
	}
	closedir(dir);
}

/* The first holder of d ("dm-3"), or false. */
static bool first_holder(dev_t d, char *ret, size_t size)
{
	_cleanup_free_ char *path = xasprintf("/sys/dev/block/%u:%u/holders", major(d), minor(d));
	DIR *dir = opendir(path);
	struct dirent *e;
	bool found = false;
	if (!dir)
		return false;
	while (!found && (e = readdir(dir)))
		if (e->d_name[0] != '.') {
			set_str(ret, size, e->d_name);
			found = true;
		}
	closedir(dir);
	return found;
}

/* --- the LVM label ------------------------------------------------------------ */

#define LVM_SECTOR 512
static const char MDA_MAGIC[16] = " LVM2 x[5A%r0N*>";

static uint64_t le64_at(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static uint32_t le32_at(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

/* LVM2's on-disk format (lib/format_text/layout.h): a label "LABELONE" in
 * one of the first 4 sectors; the pv_header behind it lists data areas and
 * then metadata areas (offset, size; each list ends with a zero entry); the
 * first metadata area starts with an mda_header whose first raw_locn points
 * at the VG's metadata text, which begins with the VG name. */
int lvm_label_vg(const unsigned char *buf, size_t len, char *ret_vg, size_t size, bool *ret_ours)
{
	for (size_t s = 0; s < 4 && (s + 1) * LVM_SECTOR <= len; s++) {
		const unsigned char *l = buf + s * LVM_SECTOR;
		if (memcmp(l, "LABELONE", 8) != 0 || memcmp(l + 24, "LVM2 001", 8) != 0)
			continue;
		size_t pvh = s * LVM_SECTOR + le32_at(l + 20);
		size_t off = pvh + 32 + 8; /* pv_uuid, device_size */
		int list = 0;
		uint64_t mda = 0;
		while (off + 16 <= len && list < 2) {
			uint64_t o = le64_at(buf + off);
			off += 16;
			if (o == 0)
				list++;
			else if (list == 1 && !mda)
				mda = o;
		}
		ret_vg[0] = '\0';
		*ret_ours = false;
		if (!mda || mda + 512 > len || memcmp(buf + mda + 4, MDA_MAGIC, 16) != 0)
			return 0;
		uint64_t text = le64_at(buf + mda + 40), text_size = le64_at(buf + mda + 48);
		if (text == 0 || text_size == 0 || mda + text >= len)
			return 0; /* an orphan PV: no VG metadata */
		const char *t = (const char *)buf + mda + text;
		size_t avail = len - (mda + text);
		if (text_size < avail)
			avail = text_size;
		size_t n = 0;
		while (n < avail && t[n] != ' ' && t[n] != '{' && t[n] != '\n' && t[n] != '\0')
			n++;
		snprintf(ret_vg, size, "%.*s", (int)n, t);
		/* the VG's own tags come before its physical_volumes section */
		_cleanup_free_ char *head = xstrndup(t, avail);
		char *pvs = strstr(head, "physical_volumes");
		if (pvs)
			*pvs = '\0';
		*ret_ours = strstr(head, "\"sp.kind=block\"") != NULL;
		return 0;
	}
	return -ENOENT;
}

/* --- probing ------------------------------------------------------------------ */

#define PROBE_BYTES (1 << 20)

static int probe_signatures(const char *devpath, struct device_usage *u)
{
	blkid_probe pr = blkid_new_probe_from_filename(devpath);
	const char *v = NULL;
	int r;

	if (!pr)
		return sp_error_set(-errno ? -errno : -EIO, "io_error", "devices", "cannot probe %s", devpath);
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE);
	blkid_probe_enable_partitions(pr, 1);
	r = blkid_do_safeprobe(pr);
	if (r == 0 && blkid_probe_lookup_value(pr, "PTTYPE", &v, NULL) == 0) {
		u->use = DEVICE_PARTITIONED;
		snprintf(u->detail, sizeof(u->detail), "%s partition table", v);
	} else if (r == 0 && blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0 && strcmp(v, "LVM2_member") != 0) {
		u->use = DEVICE_FILESYSTEM;
		snprintf(u->detail, sizeof(u->detail), "%s signature", v);
	} else if (r == -2) {
		u->use = DEVICE_FILESYSTEM;
		snprintf(u->detail, sizeof(u->detail), "ambivalent signatures (more than one)");
	}
	blkid_free_probe(pr);
	return 0;
}

int device_usage_probe(const char *devpath, struct device_usage *ret)
{
	struct device_usage u = { DEVICE_FREE, "" };
	struct stat st;
	_cleanup_free_ char *mountinfo = NULL;
	int r;

	if (stat(devpath, &st) < 0 || !S_ISBLK(st.st_mode))
		return sp_bad_field("devices", "%s is not a block device", devpath);
	if ((r = read_file("/proc/self/mountinfo", 4 << 20, &mountinfo, NULL)) < 0)
		return sp_error_set(r, "io_error", "", "cannot read /proc/self/mountinfo: %s", strerror(-r));

	dev_t host[4], anc[64];
	size_t nh = mountinfo_host_devs(mountinfo, host, ARRAY_SIZE(host)), na = 0;
	for (size_t i = 0; i < nh; i++)
		add_ancestors(host[i], anc, &na, ARRAY_SIZE(anc), 0);
	for (size_t i = 0; i < na; i++)
		if (anc[i] == st.st_rdev) {
			*ret = (struct device_usage){ DEVICE_HOST, "holds the host's root or boot filesystem" };
			return 0;
		}

	_cleanup_close_ int fd = open(devpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sp_error_set(-errno, "io_error", "devices", "cannot open %s: %m", devpath);
	_cleanup_free_ unsigned char *buf = xcalloc(1, PROBE_BYTES);
	ssize_t got = pread(fd, buf, PROBE_BYTES, 0);
	if (got < 0)
		return sp_error_set(-errno, "io_error", "devices", "cannot read %s: %m", devpath);
	char vg[128];
	bool ours;
	if (lvm_label_vg(buf, (size_t)got, vg, sizeof(vg), &ours) == 0) {
		u.use = vg[0] ? (ours ? DEVICE_OUR_VG : DEVICE_OTHER_VG) : DEVICE_LVM_PV;
		snprintf(u.detail, sizeof(u.detail), vg[0] ? "PV of VG %s" : "LVM PV in no VG", vg);
	} else if (mountinfo_has_dev(mountinfo, st.st_rdev)) {
		u.use = DEVICE_MOUNTED;
		snprintf(u.detail, sizeof(u.detail), "mounted");
	} else if ((r = probe_signatures(devpath, &u)) < 0) {
		return r;
	}
	char holder[64];
	if (u.use == DEVICE_FREE && first_holder(st.st_rdev, holder, sizeof(holder))) {
		u.use = DEVICE_HELD;
		snprintf(u.detail, sizeof(u.detail), "%s is stacked on it", holder);
	}
	*ret = u;
	return 0;
}

int devices_check_unused(const char *const *devs, bool force, const char *field)
{
	for (size_t i = 0; devs && devs[i]; i++) {
		struct device_usage u;
		int r = device_usage_probe(devs[i], &u);
		if (r < 0)
			return r;
		if (u.use == DEVICE_FREE)
			continue;
		/* the host's own disks are never taken, forced or not */
		if (u.use == DEVICE_HOST || !force)
			return sp_error_set(-SP_E_CONFLICT, "device_in_use", field, "%s is in use (%s: %s)%s", devs[i],
					    device_use_str(u.use), u.detail,
					    u.use == DEVICE_HOST ? "" : "; set force to use it anyway");
		log_warning("devices: %s is in use (%s: %s), taken because force was set", devs[i],
			    device_use_str(u.use), u.detail);
	}
	return 0;
}

/* --- listing ------------------------------------------------------------------ */

static uint64_t sysfs_size_bytes(const char *blockdev)
{
	_cleanup_free_ char *path = xasprintf("/sys/block/%s/size", blockdev);
	_cleanup_free_ char *data = NULL;
	if (read_file(path, 4096, &data, NULL) < 0)
		return 0;
	return strtoull(data, NULL, 10) * 512;
}

static const char *map_status(const struct mp_map *m)
{
	size_t usable = multipath_map_usable_paths(m);
	return usable == 0 ? "failed" : usable < m->n_paths ? "degraded" : "healthy";
}

/* The array's target port group of path dev (a controller, numbered alike on
 * every host) and its ALUA state; null for a LUN without ALUA. */
static json_object *alua_json(const char *dev)
{
	struct alua_port a;
	if (alua_port_read("/sys", dev, &a) < 0)
		return NULL;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "target_port_group", json_object_new_int(a.group));
	json_object_object_add(o, "relative_port", a.relative_port < 0 ? NULL : json_object_new_int(a.relative_port));
	json_object_object_add(o, "access_state", a.access_state[0] ? json_object_new_string(a.access_state) : NULL);
	json_object_object_add(o, "preferred", json_object_new_boolean(a.preferred));
	return o;
}

static json_object *path_json(const struct mp_path *p)
{
	json_object *o = json_object_new_object();
	bool up = strcmp(p->dm_state, "active") == 0 &&
		  (strcmp(p->check_state, "ready") == 0 || strcmp(p->check_state, "ghost") == 0);
	json_object_object_add(o, "device", json_object_new_string(p->dev));
	json_object_object_add(o, "dev_t", json_object_new_string(p->dev_t));
	json_object_object_add(o, "state", json_object_new_string(up ? "active" : "failed"));
	json_object_object_add(o, "dm_state", json_object_new_string(p->dm_state));
	json_object_object_add(o, "checker_state", json_object_new_string(p->check_state));
	json_object_object_add(o, "device_state", json_object_new_string(p->dev_state));
	json_object_object_add(o, "group", json_object_new_int(p->group));
	json_object_object_add(o, "group_state", json_object_new_string(p->group_state));
	json_object_object_add(o, "priority", json_object_new_int(p->priority));
	json_object_object_add(o, "target", p->target[0] ? json_object_new_string(p->target) : NULL);
	json_object_object_add(o, "alua", alua_json(p->dev));
	return o;
}

static json_object *map_json(const struct mp_map *m, const char *const *seen, int local_host_id)
{
	json_object *o = json_object_new_object(), *paths = json_object_new_array();
	_cleanup_free_ char *dev = xasprintf("/dev/mapper/%s", m->name);
	struct device_usage u;

	json_object_object_add(o, "wwid", json_object_new_string(m->wwid));
	json_object_object_add(o, "path", json_object_new_string(dev));
	json_object_object_add(o, "vendor", json_object_new_string(m->vendor));
	json_object_object_add(o, "product", json_object_new_string(m->product));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)sysfs_size_bytes(m->sysfs)));
	json_object_object_add(o, "status", json_object_new_string(map_status(m)));
	json_object_object_add(o, "queueing", json_object_new_string(m->queueing));
	for (size_t i = 0; i < m->n_paths; i++)
		json_object_array_add(paths, path_json(&m->paths[i]));
	json_object_object_add(o, "paths", paths);

	json_object *use = json_object_new_object();
	/* With no usable path a read would queue (no_path_retry x polling_interval
	 * on sanpool's LUNs, for ever under the host's queue_if_no_path) and hold
	 * this answer, which must show that very state: no read then. */
	int probed = multipath_map_usable_paths(m) == 0
			     ? sp_error_set(-EIO, "io_error", "devices", "%s has no usable path", dev)
			     : device_usage_probe(dev, &u);
	if (probed == 0) {
		json_object_object_add(use, "in_use", json_object_new_boolean(u.use != DEVICE_FREE));
		json_object_object_add(use, "reason", json_object_new_string(device_use_str(u.use)));
		json_object_object_add(use, "detail", json_object_new_string(u.detail));
	} else {
		/* every path down, or I/O failing: say so rather than guess */
		json_object_object_add(use, "in_use", NULL);
		json_object_object_add(use, "reason", json_object_new_string("unknown"));
		json_object_object_add(use, "detail", json_object_new_string(sp_error_last()->message));
	}
	json_object_object_add(o, "usage", use);
	_cleanup_free_ unsigned *missing = NULL;
	int shared = device_sharing_state(NULL, m->wwid, local_host_id, seen, &missing);
	json_object_object_add(o, "shared", shared < 0 ? NULL : json_object_new_boolean(shared));
	json_object *unseen = json_object_new_array();
	for (size_t i = 0; missing && missing[i]; i++)
		json_object_array_add(unseen, json_object_new_int((int)missing[i]));
	json_object_object_add(o, "unseen_by", unseen);
	return o;
}

json_object *devices_list_json(int local_host_id)
{
	struct mp_map *maps = NULL;
	size_t n = 0;
	json_object *o = json_object_new_object(), *list = json_object_new_array();
	int r = multipath_list(&maps, &n);

	if (r < 0 && r != -ENOENT) {
		json_object_put(o);
		json_object_put(list);
		return NULL;
	}
	const char **seen = xcalloc(n + 1, sizeof(*seen));
	for (size_t i = 0; i < n; i++)
		seen[i] = maps[i].wwid;
	for (size_t i = 0; i < n; i++)
		json_object_array_add(list, map_json(&maps[i], seen, local_host_id));
	free(seen);
	multipath_maps_free(maps, n);
	json_object_object_add(o, "devices", list);
	json_object_object_add(o, "multipath", json_object_new_string(r == -ENOENT ? "unavailable" : "running"));
	return o;
}

char **devices_seen_wwids(void)
{
	return multipath_map_wwids("/sys");
}

int devices_wwid_of(const char *devpath, char **ret_wwid)
{
	struct mp_map *maps = NULL;
	size_t n = 0;
	char real[PATH_MAX];
	int r = multipath_list(&maps, &n);

	if (r < 0 && r != -ENOENT)
		return r;
	const char *base = realpath(devpath, real) ? strrchr(real, '/') + 1 : NULL;
	const char *mapper = strncmp(devpath, "/dev/mapper/", 12) == 0 ? devpath + 12 : NULL;
	r = -ENOENT;
	for (size_t i = 0; i < n && r == -ENOENT; i++)
		if ((base && strcmp(maps[i].sysfs, base) == 0) || (mapper && strcmp(maps[i].name, mapper) == 0)) {
			*ret_wwid = xstrdup(maps[i].wwid);
			r = 0;
		}
	multipath_maps_free(maps, n);
	return r;
}

json_object *devices_rescan_json(int local_host_id)
{
	struct mp_map *maps = NULL;
	size_t n = 0;
	int r;

	if ((r = iscsi_rescan()) < 0 && r != -ENOENT)
		return NULL;
	if ((r = multipath_list(&maps, &n)) < 0)
		return r == -ENOENT ? devices_list_json(local_host_id) : NULL;
	for (size_t i = 0; i < n; i++) {
		uint64_t map_size = sysfs_size_bytes(maps[i].sysfs), path_size = 0;
		for (size_t j = 0; j < maps[i].n_paths; j++) {
			uint64_t s = sysfs_size_bytes(maps[i].paths[j].dev);
			if (s > path_size)
				path_size = s;
		}
		if (path_size > map_size) {
			if ((r = multipath_resize(maps[i].wwid)) < 0) {
				multipath_maps_free(maps, n);
				return NULL;
			}
			log_info("devices: %s grew from %llu to %llu bytes", maps[i].wwid, (unsigned long long)map_size,
				 (unsigned long long)path_size);
		}
	}
	multipath_maps_free(maps, n);
	return devices_list_json(local_host_id);
}

/* --- path monitor --------------------------------------------------------------
 * Polling `multipathd show paths` rather than watching uevents: multipathd's
 * checker is what decides a path is faulty or back (a dm "path failed" uevent
 * only comes from failed I/O, and a reinstated path from the checker), and its
 * state is what the API reports; one short command every few seconds costs
 * little and needs no netlink socket or udev rules of our own. */

static struct {
	pthread_t thread;
	bool running;
	atomic_bool stop;
	int interval_ms;
	struct mp_path_line *last;
	size_t n_last;
	/* the drop-in was written for the paths in last and the connections of
	 * this generation: it is rewritten only when one of them changes */
	bool luns_managed;
	unsigned luns_generation;
} mon;

static const struct mp_path_line *find_path(const struct mp_path_line *l, size_t n, const char *dev)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i].path.dev, dev) == 0)
			return &l[i];
	return NULL;
}

/* The same paths (device names) in the same maps: what the drop-in depends on. */
static bool same_paths(const struct mp_path_line *a, size_t na, const struct mp_path_line *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		const struct mp_path_line *other = find_path(b, nb, a[i].path.dev);
		if (!other || strcmp(other->wwid, a[i].wwid) != 0)
			return false;
	}
	return true;
}

static bool path_up(const struct mp_path *p)
{
	return strcmp(p->dm_state, "active") == 0 &&
	       (strcmp(p->check_state, "ready") == 0 || strcmp(p->check_state, "ghost") == 0);
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The multipath drop-in names the LUNs on sessions of sanpool's connections:
 * those get sanpool's settings, every other device the host's own. False if
 * it could not be written (logged). */
static bool manage_connected_luns(const struct mp_path_line *paths, size_t n)
{
	char **disks = connections_disks();
	if (!disks) {
		log_warning("multipath: which LUNs are sanpool's is not known: %s", sp_error_last()->message);
		return false;
	}
	const char **wwids = xcalloc(n + 1, sizeof(*wwids));
	size_t nw = 0;
	for (size_t i = 0; i < n; i++) {
		bool ours = false, dup = false;
		for (size_t d = 0; disks[d] && !ours; d++)
			ours = strcmp(disks[d], paths[i].path.dev) == 0;
		for (size_t j = 0; j < nw && !dup; j++)
			dup = strcmp(wwids[j], paths[i].wwid) == 0;
		if (ours && !dup && paths[i].wwid[0])
			wwids[nw++] = paths[i].wwid;
	}
	/* sorted: the same LUNs always give the same file, and no needless reconfigure */
	qsort(wwids, nw, sizeof(*wwids), cmp_cstr);
	/* a LUN is ALUA when any of its paths names a target port group */
	bool *alua = xcalloc(nw + 1, sizeof(*alua));
	struct alua_port port;
	for (size_t w = 0; w < nw; w++)
		for (size_t i = 0; i < n && !alua[w]; i++)
			alua[w] = strcmp(paths[i].wwid, wwids[w]) == 0 && alua_port_read("/sys", paths[i].path.dev, &port) == 0;
	bool ok = true;
	if ((nw > 0 || path_exists(MULTIPATH_DROPIN)) && multipath_conf_apply(MULTIPATH_DROPIN, wwids, alua, nw) < 0) {
		log_warning("multipath: %s", sp_error_last()->message);
		ok = false;
	}
	free(alua);
	free(wwids);
	for (size_t d = 0; disks[d]; d++)
		free(disks[d]);
	free(disks);
	return ok;
}

static void monitor_once(void)
{
	struct mp_path_line *now = NULL;
	size_t n = 0;
	if (multipath_list_paths(&now, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct mp_path_line *before = find_path(mon.last, mon.n_last, now[i].path.dev);
		bool up = path_up(&now[i].path);
		if (!now[i].wwid[0] || (before && path_up(&before->path) == up))
			continue;
		if (!up)
			log_warning("multipath: path %s of %s failed (dm %s, checker %s, device %s)", now[i].path.dev,
				    now[i].wwid, now[i].path.dm_state, now[i].path.check_state, now[i].path.dev_state);
		else if (before)
			log_info("multipath: path %s of %s is back", now[i].path.dev, now[i].wwid);
	}
	/* Which disks are sanpool's takes an `iscsiadm -m session -P 3` (a
	 * process start every tick, most of an idle agent's CPU in a TCG guest):
	 * asked only when the paths or the connections changed. */
	unsigned generation = connections_generation();
	bool manage = !mon.luns_managed || generation != mon.luns_generation || !same_paths(now, n, mon.last, mon.n_last);
	free(mon.last);
	mon.last = now;
	mon.n_last = n;
	if (manage) {
		mon.luns_managed = manage_connected_luns(now, n);
		mon.luns_generation = generation;
	}
}

static void *monitor_main(void *arg)
{
	(void)arg;
	connections_restore();
	while (!atomic_load(&mon.stop)) {
		monitor_once();
		for (int waited = 0; waited < mon.interval_ms && !atomic_load(&mon.stop); waited += 100)
			nanosleep(&(struct timespec){ 0, 100 * 1000000L }, NULL);
	}
	return NULL;
}

int devices_monitor_start(int interval_ms)
{
	if (mon.running)
		return 0;
	atomic_store(&mon.stop, false);
	mon.interval_ms = interval_ms;
	int r = pthread_create(&mon.thread, NULL, monitor_main, NULL);
	if (r)
		return -r;
	mon.running = true;
	return 0;
}

void devices_monitor_stop(void)
{
	if (!mon.running)
		return;
	atomic_store(&mon.stop, true);
	pthread_join(mon.thread, NULL);
	mon.running = false;
	free(mon.last);
	mon.last = NULL;
	mon.n_last = 0;
}
