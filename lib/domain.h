/* A storage domain and the backend interface that block and file domains
 * implement; image and volume logic above it is written once. */
#pragma once
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/util/name.h"
#include "lib/util/uuid.h"
#include "lib/volume.h"

struct domain;

typedef int (*volume_meta_cb)(const struct volume_meta *m, void *userdata);
typedef int (*journal_cb)(const char *task_uuid, json_object *record, void *userdata);

/* What a domain holds on storage, as the consistency checker (lib/check.h)
 * sees it: one item per volume (its metadata and its data, either possibly
 * missing or unreadable), or a stray object (stray set: what it is). */
struct inventory_item {
	char image[UUID_STR_LEN];  /* "" if nothing names it */
	char volume[UUID_STR_LEN]; /* "" for a stray object */
	bool has_meta, meta_ok, has_data;
	struct volume_meta meta;   /* when meta_ok */
	uint64_t data_size;        /* bytes given to the data (block: LV size; file: 0) */
	char stray[256];           /* the object (a path, an LV name) that is not a volume */
	char error[1024];          /* why the metadata does not parse, or what is wrong with the stray */
};
typedef void (*inventory_cb)(const struct inventory_item *item, void *userdata);

struct domain_ops {
	const char *kind; /* "file" | "block" */

	/* Builds the data of a new volume (whose metadata says ILLEGAL). */
	int (*volume_create)(struct domain *d, const struct volume_meta *m, const struct volume_meta *parent);
	/* The path qemu-img and VMs open for a volume (newly allocated). */
	char *(*volume_path)(const struct domain *d, const char *image, const char *volume);
	/* How a child names parent in its qcow2 header, valid on every host. */
	char *(*backing_ref)(const struct domain *d, const char *parent_image, const char *parent);
	/* Removes a volume's data and metadata; 0 if already gone. */
	int (*volume_remove)(struct domain *d, const char *image, const char *volume);
	/* Writes m atomically; old is the volume's current metadata, NULL for a
	 * new volume (a block backend creates the LV with its metadata then). */
	int (*meta_write)(struct domain *d, const struct volume_meta *old, const struct volume_meta *m);
	/* Calls cb for every volume's metadata; an unreadable one is logged and skipped. */
	int (*meta_scan)(struct domain *d, volume_meta_cb cb, void *userdata);
	/* Calls cb for every volume and stray object on storage, read afresh
	 * (nothing skipped, unlike meta_scan); for checks only, changes nothing. */
	int (*inventory)(struct domain *d, inventory_cb cb, void *userdata);
	/* Removes what is left of an image once all its volumes are gone. */
	int (*image_remove)(struct domain *d, const char *image);

	/* Task journal on the domain: one durable record per acknowledged task. */
	int (*journal_write)(struct domain *d, const char *task_uuid, json_object *record);
	int (*journal_remove)(struct domain *d, const char *task_uuid);
	int (*journal_scan)(struct domain *d, journal_cb cb, void *userdata);

	/* Whether volume data can be read and written here (a block domain on a
	 * host with LV activation disabled keeps only metadata). */
	bool (*data_access)(const struct domain *d);

	/* Removes the domain from storage and from this host (its volumes are
	 * gone already): a block domain's VG and PV labels, a file domain's
	 * directory. The store's copy is closed afterwards. */
	int (*remove)(struct domain *d);

	/* Where sanlock keeps the domain's lockspace (which = "ids") or its
	 * resource leases ("leases"): a path (newly allocated) and a byte offset
	 * there, with at least min_size bytes from it (a file grows to that). */
	int (*lease_area)(struct domain *d, const char *which, uint64_t min_size, char **ret_path,
			  uint64_t *ret_offset);
	/* Where the hosts of a pool whose master this is publish which devices
	 * they see (lib/host_report.h): a path (newly allocated) and the byte
	 * offset of the hosts area there. */
	int (*hosts_area)(struct domain *d, char **ret_path, uint64_t *ret_offset);
	/* The pool's record (lib/pool.h), kept on its master domain. read:
	 * -SP_E_NOT_FOUND if the domain holds no record of that pool. */
	int (*pool_md_write)(struct domain *d, const char *pool, json_object *record);
	int (*pool_md_read)(struct domain *d, const char *pool, json_object **ret);
	/* Where the domain lies, as another host attaches it (lib/pool.h):
	 * {"uuid", "kind", "devices": [...]} or {"uuid", "kind", "path"}. */
	json_object *(*location)(const struct domain *d);
	/* Forgets what was cached of storage that another host may have changed. */
	void (*forget_cache)(struct domain *d);

	/* Releases the backend state (priv) of the store's copy. */
	void (*close)(struct domain *d);

	/* Activation: what makes a volume's data usable on this host. Each is
	 * idempotent and writes no domain metadata (allowed on every host).
	 * volume_activate makes volume_path usable for reading and writing here
	 * (block: activates the LV and links run_dir/storage/<domain>/<image>/<volume>
	 * to it; file: nothing to do); volume_deactivate undoes it (-EBUSY if the
	 * data is still open); volume_refresh picks up a size another host gave
	 * the volume (block: lvchange --refresh). */
	int (*volume_activate)(struct domain *d, const char *image, const char *volume);
	int (*volume_deactivate)(struct domain *d, const char *image, const char *volume);
	int (*volume_refresh)(struct domain *d, const char *image, const char *volume);
	/* Whether the volume's data is active here and the bytes allocated to it
	 * (block: the LV); -ENOTSUP (not recorded) where volumes are plain files. */
	int (*volume_state)(struct domain *d, const char *volume, bool *ret_active, uint64_t *ret_size);
	/* Grows the space of a thin volume (block: the LV of a sparse qcow2 volume)
	 * to size bytes, or by the configured chunk when size is 0; never past
	 * what a fully allocated volume of its capacity needs. Writes domain
	 * metadata (SPM only). -SP_E_BAD_REQUEST (field "size") for a bad size,
	 * -SP_E_CONFLICT if the volume cannot or need not grow. *ret_size: the
	 * size it has now (so no caller reads it back). */
	int (*volume_extend)(struct domain *d, const struct volume_meta *m, uint64_t size, uint64_t *ret_size);
	/* The most volume_extend may give a volume: what a fully allocated one of
	 * its capacity needs. NULL where volumes have no space of their own to
	 * grow (file); -SP_E_CONFLICT (recorded) for a volume that cannot grow. */
	int (*volume_max_size)(struct domain *d, const struct volume_meta *m, uint64_t *ret);

	/* Space: total and free bytes. */
	int (*stats)(const struct domain *d, uint64_t *ret_total, uint64_t *ret_free);
	/* The free space a new volume like m takes at once (file: a preallocated
	 * raw volume's capacity, else 0; block: its first LV). */
	int (*new_volume_space)(const struct domain *d, const struct volume_meta *m, uint64_t *ret);
};

struct domain {
	char uuid[UUID_STR_LEN];
	char name[NAME_MAX_LEN + 1];
	char pool[UUID_STR_LEN];
	char path[PATH_MAX]; /* the domain's directory under data_dir (for block: host-local state) */
	const struct domain_ops *ops;
	void *priv; /* backend state, owned by the store's copy; copies share it */
};

json_object *domain_to_json(const struct domain *d);
