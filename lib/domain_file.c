#include "lib/domain_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lib/qemu_img.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/fsutil.h"
#include "lib/util/log.h"
#include "lib/util/sanlock_access.h"
#include "lib/util/xalloc.h"

#define META_MAX_BYTES (64 * 1024)

static char *image_dir(const struct domain *d, const char *image)
{
	return xasprintf("%s/images/%s", d->path, image);
}

static char *meta_path(const struct domain *d, const char *image, const char *volume)
{
	return xasprintf("%s/images/%s/%s.meta", d->path, image, volume);
}

static char *file_volume_path(const struct domain *d, const char *image, const char *volume)
{
	return xasprintf("%s/images/%s/%s", d->path, image, volume);
}

/* Relative, so the chain resolves wherever the domain is mounted. */
static char *file_backing_ref(const struct domain *d, const char *parent_image, const char *parent)
{
	(void)d;
	return xasprintf("../%s/%s", parent_image, parent);
}

/* Creates the image directory, durably: a metadata file written into it
 * must not vanish with its directory entry after a crash. */
static int ensure_image_dir(const struct domain *d, const char *image)
{
	_cleanup_free_ char *dir = image_dir(d, image);
	if (mkdir(dir, 0755) < 0)
		return errno == EEXIST ? 0 : -errno;
	_cleanup_free_ char *images = xasprintf("%s/images", d->path);
	return fsync_dir(images);
}

static int write_json(const char *path, json_object *o)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	return atomic_write_file(path, s, len);
}

static int read_json(const char *path, json_object **ret)
{
	_cleanup_free_ char *data = NULL;
	int r = read_file(path, META_MAX_BYTES, &data, NULL);
	if (r < 0)
		return r;
	json_object *o = json_tokener_parse(data);
	if (!o)
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "%s is not valid JSON", path);
	*ret = o;
	return 0;
}

static int file_meta_write(struct domain *d, const struct volume_meta *old, const struct volume_meta *m)
{
	_cleanup_free_ char *path = meta_path(d, m->image, m->uuid);
	_cleanup_json_ json_object *o = volume_meta_to_json(m);
	(void)old;
	int r = ensure_image_dir(d, m->image);
	if (r == 0)
		r = write_json(path, o);
	if (r < 0)
		return sp_error_set(r, sp_io_kind(r), "", "cannot write metadata of volume %s on domain %s: %s", m->uuid, d->uuid,
				    strerror(-r));
	return 0;
}

static int file_volume_create(struct domain *d, const struct volume_meta *m, const struct volume_meta *parent)
{
	_cleanup_free_ char *dir = image_dir(d, m->image);
	_cleanup_free_ char *path = file_volume_path(d, m->image, m->uuid);
	_cleanup_free_ char *backing = parent ? file_backing_ref(d, parent->image, parent->uuid) : NULL;
	int r = ensure_image_dir(d, m->image);
	if (r < 0)
		return sp_error_set(r, sp_io_kind(r), "", "cannot create image directory %s: %s", dir, strerror(-r));
	r = qemu_img_create(path, m->format, m->alloc, m->capacity, backing,
			    parent ? parent->format : VOL_FORMAT_RAW);
	if (r < 0)
		return r;
	return fsync_dir(dir);
}

static int file_volume_remove(struct domain *d, const char *image, const char *volume)
{
	_cleanup_free_ char *path = file_volume_path(d, image, volume);
	_cleanup_free_ char *meta = meta_path(d, image, volume);
	_cleanup_free_ char *meta_tmp = xasprintf("%s.tmp", meta);
	_cleanup_free_ char *dir = image_dir(d, image);

	/* data first: a metadata file without data is an ILLEGAL leftover that
	 * recovery collects; data without metadata would be invisible */
	if (unlink(path) < 0 && errno != ENOENT)
		return sp_error_set(-errno, "io_error", "", "cannot remove volume %s: %m", volume);
	if (unlink(meta) < 0 && errno != ENOENT)
		return sp_error_set(-errno, "io_error", "", "cannot remove metadata of %s: %m", volume);
	if (unlink(meta_tmp) < 0 && errno != ENOENT)
		return sp_error_set(-errno, "io_error", "", "cannot remove metadata of %s: %m", volume);
	int r = fsync_dir(dir);
	return r == -ENOENT ? 0 : r;
}

static int file_image_remove(struct domain *d, const char *image)
{
	_cleanup_free_ char *dir = image_dir(d, image);
	_cleanup_free_ char *images = xasprintf("%s/images", d->path);
	int r = rm_rf(dir);
	if (r < 0)
		return sp_error_set(r, "io_error", "", "cannot remove image directory %s: %s", dir, strerror(-r));
	return fsync_dir(images);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n > k && strcmp(s + n - k, suffix) == 0;
}

/* Scans run at startup, before any write: a "*.tmp" is what an atomic write
 * interrupted by a crash left; the file it was to replace is intact. */
static void remove_stale_tmp(const struct domain *d, const char *dir, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	if (unlink(path) < 0 && errno != ENOENT)
		log_warning("domain %s: cannot remove stale %s: %m", d->uuid, path);
	else
		log_info("domain %s: removed %s, left by an interrupted write", d->uuid, path);
}

static int scan_image_dir(struct domain *d, const char *image, volume_meta_cb cb, void *userdata)
{
	_cleanup_free_ char *dir = image_dir(d, image);
	DIR *dh = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!dh)
		return 0;
	while ((de = readdir(dh)) && r >= 0) {
		if (has_suffix(de->d_name, ".meta.tmp"))
			remove_stale_tmp(d, dir, de->d_name);
		if (!has_suffix(de->d_name, ".meta"))
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
		_cleanup_json_ json_object *o = NULL;
		struct volume_meta m;
		if (read_json(path, &o) < 0 || volume_meta_from_json(o, &m) < 0) {
			log_warning("domain %s: skipping unreadable volume metadata %s", d->uuid, path);
			continue;
		}
		r = cb(&m, userdata);
	}
	closedir(dh);
	return r;
}

static int file_meta_scan(struct domain *d, volume_meta_cb cb, void *userdata)
{
	_cleanup_free_ char *images = xasprintf("%s/images", d->path);
	DIR *dh = opendir(images);
	struct dirent *de;
	int r = 0;

	if (!dh)
		return -errno;
	while ((de = readdir(dh)) && r >= 0) {
		if (uuid_is_valid(de->d_name))
			r = scan_image_dir(d, de->d_name, cb, userdata);
	}
	closedir(dh);
	return r;
}

/* The volumes of one image directory, by uuid. */
struct dir_items {
	struct inventory_item *v;
	size_t n;
};

static struct inventory_item *dir_item(struct dir_items *items, const char *image, const char *volume)
{
	for (size_t i = 0; i < items->n; i++)
		if (strcmp(items->v[i].volume, volume) == 0)
			return &items->v[i];
	items->v = xrealloc(items->v, (items->n + 1) * sizeof(*items->v));
	struct inventory_item *it = memset(&items->v[items->n++], 0, sizeof(*it));
	snprintf(it->image, sizeof(it->image), "%s", image);
	snprintf(it->volume, sizeof(it->volume), "%s", volume);
	return it;
}

static void stray(inventory_cb cb, void *userdata, const char *image, const char *path, const char *what)
{
	struct inventory_item it = { 0 };
	snprintf(it.image, sizeof(it.image), "%s", image);
	snprintf(it.stray, sizeof(it.stray), "%s", path);
	snprintf(it.error, sizeof(it.error), "%s", what);
	cb(&it, userdata);
}

/* One volume's metadata file, parsed as the store would (and checked to
 * describe the volume its name says). */
static void inventory_meta(struct domain *d, const char *path, struct inventory_item *it)
{
	_cleanup_json_ json_object *o = NULL;
	it->has_meta = true;
	sp_error_clear();
	if (read_json(path, &o) < 0 || volume_meta_from_json(o, &it->meta) < 0) {
		snprintf(it->error, sizeof(it->error), "%s", sp_error_last()->code ? sp_error_last()->message : "unreadable");
		return;
	}
	if (strcmp(it->meta.uuid, it->volume) != 0 || strcmp(it->meta.image, it->image) != 0 ||
	    strcmp(it->meta.domain, d->uuid) != 0) {
		snprintf(it->error, sizeof(it->error), "%s describes volume %s of image %s on domain %s", path,
			 it->meta.uuid, it->meta.image, it->meta.domain);
		return;
	}
	it->meta_ok = true;
}

static void inventory_image(struct domain *d, const char *image, inventory_cb cb, void *userdata)
{
	_cleanup_free_ char *dir = image_dir(d, image);
	struct dir_items items = { 0 };
	struct dirent *de;
	DIR *dh = opendir(dir);

	if (!dh) {
		stray(cb, userdata, image, dir, "image directory cannot be read");
		return;
	}
	while ((de = readdir(dh))) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
		_cleanup_free_ char *base = has_suffix(de->d_name, ".meta") ? xstrndup(de->d_name, strlen(de->d_name) - 5)
									    : xstrdup(de->d_name);
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!uuid_is_valid(base))
			stray(cb, userdata, image, path,
			      has_suffix(de->d_name, ".tmp") ? "left by an interrupted write" : "not a volume");
		else if (has_suffix(de->d_name, ".meta"))
			inventory_meta(d, path, dir_item(&items, image, base));
		else
			dir_item(&items, image, base)->has_data = true;
	}
	closedir(dh);
	if (items.n == 0)
		stray(cb, userdata, image, dir, "empty image directory");
	for (size_t i = 0; i < items.n; i++)
		cb(&items.v[i], userdata);
	free(items.v);
}

static int file_inventory(struct domain *d, inventory_cb cb, void *userdata)
{
	_cleanup_free_ char *images = xasprintf("%s/images", d->path);
	DIR *dh = opendir(images);
	struct dirent *de;

	if (!dh)
		return sp_error_set(-errno, "io_error", "", "domain %s: cannot read %s: %m", d->uuid, images);
	while ((de = readdir(dh))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (uuid_is_valid(de->d_name)) {
			inventory_image(d, de->d_name, cb, userdata);
		} else {
			_cleanup_free_ char *path = xasprintf("%s/%s", images, de->d_name);
			stray(cb, userdata, "", path, "not an image directory");
		}
	}
	closedir(dh);
	return 0;
}

static char *journal_path(const struct domain *d, const char *task)
{
	return xasprintf("%s/dom_md/journal/%s.json", d->path, task);
}

static int file_journal_write(struct domain *d, const char *task_uuid, json_object *record)
{
	_cleanup_free_ char *path = journal_path(d, task_uuid);
	int r = write_json(path, record);
	if (r < 0)
		return sp_error_set(r, sp_io_kind(r), "", "cannot write task journal on domain %s: %s", d->uuid,
				    strerror(-r));
	return 0;
}

static int file_journal_remove(struct domain *d, const char *task_uuid)
{
	_cleanup_free_ char *path = journal_path(d, task_uuid);
	_cleanup_free_ char *dir = path_dirname(path);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return fsync_dir(dir);
}

static int file_journal_scan(struct domain *d, journal_cb cb, void *userdata)
{
	_cleanup_free_ char *dir = xasprintf("%s/dom_md/journal", d->path);
	DIR *dh = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!dh)
		return -errno;
	while ((de = readdir(dh)) && r >= 0) {
		if (has_suffix(de->d_name, ".json.tmp"))
			remove_stale_tmp(d, dir, de->d_name); /* a record never written: its task was not acknowledged */
		if (!has_suffix(de->d_name, ".json"))
			continue;
		_cleanup_free_ char *task = xstrndup(de->d_name, strlen(de->d_name) - 5);
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
		_cleanup_json_ json_object *o = NULL;
		if (!uuid_is_valid(task) || read_json(path, &o) < 0) {
			log_warning("domain %s: skipping unreadable journal record %s", d->uuid, path);
			continue;
		}
		r = cb(task, o, userdata);
	}
	closedir(dh);
	return r;
}

static bool file_data_access(const struct domain *d)
{
	(void)d;
	return true;
}

static int rmdir_empty(const struct domain *d, const char *path)
{
	if (rmdir(path) < 0 && errno != ENOENT) {
		if (errno == ENOTEMPTY || errno == EEXIST)
			return sp_conflict("domain %s: %s is not empty", d->uuid, path);
		return sp_error_set(-errno, "io_error", "", "domain %s: cannot remove %s: %m", d->uuid, path);
	}
	return 0;
}

static int check_empty(const struct domain *d, const char *path)
{
	DIR *dh = opendir(path);
	struct dirent *de;
	const char *found = NULL;

	if (!dh)
		return errno == ENOENT ? 0 : sp_error_set(-errno, "io_error", "", "domain %s: cannot read %s: %m", d->uuid, path);
	while (!found && (de = readdir(dh)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			found = de->d_name;
	int r = found ? sp_conflict("domain %s: %s is not empty (%s)", d->uuid, path, found) : 0;
	closedir(dh);
	return r;
}

/* A domain under data_dir is renamed out of the domains directory first (one
 * atomic step: it is gone at the next start even if the removal of its files
 * is cut short; store_open clears what is left). A domain in an outside
 * directory keeps that directory: its images/ and dom_md/ go, if empty but
 * for the identity, then the link. */
static int file_remove(struct domain *d)
{
	struct stat st;
	_cleanup_free_ char *parent = path_dirname(d->path);
	int r;

	if (lstat(d->path, &st) < 0)
		return sp_error_set(-errno, "io_error", "", "domain %s: cannot stat %s: %m", d->uuid, d->path);
	/* what the store does not know (unreadable metadata, foreign files) is not removed */
	_cleanup_free_ char *images_dir = xasprintf("%s/images", d->path);
	if ((r = check_empty(d, images_dir)) < 0)
		return r;
	if (S_ISLNK(st.st_mode)) {
		_cleanup_free_ char *images = xasprintf("%s/images", d->path);
		_cleanup_free_ char *journal = xasprintf("%s/dom_md/journal", d->path);
		_cleanup_free_ char *ident = xasprintf("%s/dom_md/metadata.json", d->path);
		_cleanup_free_ char *dom_md = xasprintf("%s/dom_md", d->path);
		if ((r = rmdir_empty(d, images)) < 0 || (r = rmdir_empty(d, journal)) < 0)
			return r;
		for (const char *const *f = (const char *const[]){ "ids", "leases", "pool.json", NULL }; *f; f++) {
			_cleanup_free_ char *p = xasprintf("%s/dom_md/%s", d->path, *f);
			if (unlink(p) < 0 && errno != ENOENT)
				return sp_error_set(-errno, "io_error", "", "domain %s: cannot remove %s: %m", d->uuid, p);
		}
		if (unlink(ident) < 0 && errno != ENOENT)
			return sp_error_set(-errno, "io_error", "", "domain %s: cannot remove %s: %m", d->uuid, ident);
		if ((r = rmdir_empty(d, dom_md)) < 0)
			return r;
		if (unlink(d->path) < 0)
			return sp_error_set(-errno, "io_error", "", "domain %s: cannot remove link %s: %m", d->uuid, d->path);
		return fsync_dir(parent);
	}
	_cleanup_free_ char *gone = xasprintf("%s/.removing-%s", parent, d->uuid);
	if (rename(d->path, gone) < 0)
		return sp_error_set(-errno, "io_error", "", "domain %s: cannot rename %s: %m", d->uuid, d->path);
	fsync_dir(parent);
	if ((r = rm_rf(gone)) < 0)
		log_warning("domain %s: cannot remove %s: %s (removed at the next start)", d->uuid, gone, strerror(-r));
	return 0;
}

/* A file volume's data is always at its path: activation has nothing to do,
 * and the file grows by itself as it is written. */
static int file_volume_noop(struct domain *d, const char *image, const char *volume)
{
	(void)d;
	(void)image;
	(void)volume;
	return 0;
}

static int file_volume_state(struct domain *d, const char *volume, bool *ret_active, uint64_t *ret_size)
{
	(void)d;
	(void)volume;
	(void)ret_active;
	(void)ret_size;
	return -ENOTSUP;
}

static int file_volume_extend(struct domain *d, const struct volume_meta *m, uint64_t size, uint64_t *ret_size)
{
	(void)size;
	(void)ret_size;
	return sp_conflict("volume %s is a file on domain %s: it grows by itself, there is no LV to extend", m->uuid,
			   d->uuid);
}

static int file_lease_area(struct domain *d, const char *which, uint64_t min_size, char **ret_path,
			   uint64_t *ret_offset)
{
	_cleanup_free_ char *path = xasprintf("%s/dom_md/%s", d->path, which);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || ((uint64_t)st.st_size < min_size && ftruncate(fd, (off_t)min_size) < 0))
		return sp_error_set(-errno, "io_error", "", "domain %s: cannot prepare lease area %s: %m", d->uuid, path);
	sanlock_access_file(fd, path);
	*ret_path = TAKE_PTR(path);
	*ret_offset = 0;
	return 0;
}

/* A sparse file, made by the first host that publishes its report. */
static int file_hosts_area(struct domain *d, char **ret_path, uint64_t *ret_offset)
{
	*ret_path = xasprintf("%s/dom_md/hosts", d->path);
	*ret_offset = 0;
	return 0;
}

static char *pool_md_path(const struct domain *d) { return xasprintf("%s/dom_md/pool.json", d->path); }

static int file_pool_md_write(struct domain *d, const char *pool, json_object *record)
{
	_cleanup_free_ char *path = pool_md_path(d);
	(void)pool;
	int r = write_json(path, record);
	if (r < 0)
		return sp_error_set(r, "io_error", "", "domain %s: cannot write the pool record: %s", d->uuid, strerror(-r));
	return 0;
}

static int file_pool_md_read(struct domain *d, const char *pool, json_object **ret)
{
	_cleanup_free_ char *path = pool_md_path(d);
	json_object *uuid;
	int r = read_json(path, ret);

	if (r == -ENOENT)
		return sp_not_found("domain %s holds no pool record", d->uuid);
	if (r < 0)
		return sp_error_set(r, "io_error", "", "domain %s: cannot read the pool record: %s", d->uuid, strerror(-r));
	if (!json_object_object_get_ex(*ret, "uuid", &uuid) || strcmp(json_object_get_string(uuid), pool) != 0) {
		json_object_put(*ret);
		return sp_not_found("domain %s holds no record of pool %s", d->uuid, pool);
	}
	return 0;
}

static json_object *file_location(const struct domain *d)
{
	char real[PATH_MAX];
	json_object *o = json_object_new_object();
	json_object_object_add(o, "uuid", json_object_new_string(d->uuid));
	json_object_object_add(o, "kind", json_object_new_string("file"));
	/* an outside directory is reached through a link under data_dir */
	json_object_object_add(o, "path", json_object_new_string(realpath(d->path, real) ? real : d->path));
	return o;
}

static void file_forget_cache(struct domain *d) { (void)d; }

static void file_close(struct domain *d) { (void)d; }

static int file_stats(const struct domain *d, uint64_t *ret_total, uint64_t *ret_free)
{
	struct statvfs st;
	if (statvfs(d->path, &st) < 0)
		return -errno;
	*ret_total = (uint64_t)st.f_blocks * st.f_frsize;
	*ret_free = (uint64_t)st.f_bavail * st.f_frsize;
	return 0;
}

/* A preallocated qcow2 only allocates its metadata at once; a sparse file nothing. */
static int file_new_volume_space(const struct domain *d, const struct volume_meta *m, uint64_t *ret)
{
	(void)d;
	*ret = m->format == VOL_FORMAT_RAW && m->alloc == VOL_ALLOC_PREALLOCATED ? m->capacity : 0;
	return 0;
}

const struct domain_ops domain_file_ops = {
	.kind = "file",
	.volume_create = file_volume_create,
	.volume_path = file_volume_path,
	.backing_ref = file_backing_ref,
	.volume_remove = file_volume_remove,
	.meta_write = file_meta_write,
	.meta_scan = file_meta_scan,
	.inventory = file_inventory,
	.image_remove = file_image_remove,
	.journal_write = file_journal_write,
	.journal_remove = file_journal_remove,
	.journal_scan = file_journal_scan,
	.data_access = file_data_access,
	.volume_activate = file_volume_noop,
	.volume_deactivate = file_volume_noop,
	.volume_refresh = file_volume_noop,
	.volume_state = file_volume_state,
	.volume_extend = file_volume_extend,
	.remove = file_remove,
	.lease_area = file_lease_area,
	.hosts_area = file_hosts_area,
	.pool_md_write = file_pool_md_write,
	.pool_md_read = file_pool_md_read,
	.location = file_location,
	.forget_cache = file_forget_cache,
	.close = file_close,
	.stats = file_stats,
	.new_volume_space = file_new_volume_space,
};

int domain_file_format(const char *path, const char *uuid, const char *name, const char *pool)
{
	_cleanup_free_ char *journal = xasprintf("%s/dom_md/journal", path);
	_cleanup_free_ char *images = xasprintf("%s/images", path);
	_cleanup_free_ char *ident = xasprintf("%s/dom_md/metadata.json", path);
	int r;

	if (path_exists(ident))
		return sp_conflict("%s already holds a storage domain", path);
	if ((r = mkdir_p(journal, 0755)) < 0 || (r = mkdir_p(images, 0755)) < 0)
		return sp_error_set(r, "io_error", "path", "cannot create domain layout in %s: %s", path,
				    strerror(-r));
	_cleanup_json_ json_object *o = json_object_new_object();
	json_object_object_add(o, "uuid", json_object_new_string(uuid));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "pool", pool && pool[0] ? json_object_new_string(pool) : NULL);
	json_object_object_add(o, "kind", json_object_new_string("file"));
	json_object_object_add(o, "version", json_object_new_int(1));
	/* identity last: a directory without it is not a domain */
	r = write_json(ident, o);
	if (r < 0)
		return sp_error_set(r, "io_error", "path", "cannot write domain identity in %s: %s", path,
				    strerror(-r));
	return 0;
}

int domain_file_open(const char *path, struct domain *ret)
{
	_cleanup_free_ char *ident = xasprintf("%s/dom_md/metadata.json", path);
	_cleanup_json_ json_object *o = NULL;
	json_object *uuid, *name, *pool;
	struct domain d = { 0 };
	int r = read_json(ident, &o);

	if (r < 0)
		return r;
	if (!json_object_object_get_ex(o, "uuid", &uuid) || !uuid_is_valid(json_object_get_string(uuid)) ||
	    !json_object_object_get_ex(o, "name", &name) || !json_object_is_type(name, json_type_string) ||
	    !name_is_valid(json_object_get_string(name)))
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "%s has an invalid domain identity", ident);
	snprintf(d.uuid, sizeof(d.uuid), "%s", json_object_get_string(uuid));
	snprintf(d.name, sizeof(d.name), "%s", json_object_get_string(name));
	if (json_object_object_get_ex(o, "pool", &pool) && pool && uuid_is_valid(json_object_get_string(pool)))
		snprintf(d.pool, sizeof(d.pool), "%s", json_object_get_string(pool));
	snprintf(d.path, sizeof(d.path), "%s", path);
	d.ops = &domain_file_ops;
	*ret = d;
	return 0;
}
