/* The agent's in-memory model of pools, domains, images and volumes: loaded
 * from storage at start, updated after every durable change, read by the API
 * without touching storage. One reader-writer lock guards it. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/domain.h"
#include "lib/volume.h"

struct pool {
	char uuid[UUID_STR_LEN];
	char name[NAME_MAX_LEN + 1];
	char master[UUID_STR_LEN]; /* master domain */
};

/* Loads every pool and domain under data_dir, and every volume's metadata. */
int store_open(const char *data_dir);
void store_close(void);
const char *store_data_dir(void);

/* Pools and domains. */
struct domain_spec {
	const char *name;
	const char *pool;            /* NULL: none */
	const char *path;            /* file domain in an outside (empty) directory; NULL: under data_dir */
	const char *const *devices;  /* block domain on these devices (NULL-terminated); NULL: a file domain */
};
int store_domain_create(const struct domain_spec *spec, char ret_uuid[UUID_STR_LEN]);
/* Creates a pool and its master domain (master: name and location; its pool
 * is the new pool), the pool's record on the master (lib/pool.h) and this
 * host's copy of the identity. */
int store_pool_create(const char *name, const struct domain_spec *master, char ret_pool[UUID_STR_LEN],
		      char ret_domain[UUID_STR_LEN]);
/* Connects this host to a pool another host created: attaches the master
 * domain at master (devices or path), reads the pool's record there, attaches
 * every domain it names and records the pool. Connecting again is not an
 * error. -SP_E_BAD_REQUEST naming the field if the master is not there. */
int store_pool_connect(const char *pool, const struct domain_spec *master);
/* Forgets the pool and its domains on this host (storage is untouched).
 * -SP_E_CONFLICT if tasks are queued or running on its domains. */
int store_pool_disconnect(const char *pool);
/* Records the SPM's generation and host id in the pool's record. */
int store_pool_set_spm(const char *pool, uint64_t generation, unsigned host_id);
/* The uuids of the pool's domains known here (*ret allocated). */
int store_pool_domains(const char *pool, char (**ret)[UUID_STR_LEN], size_t *ret_n);
/* Reads the domain's volumes from storage again (another host changed them). */
int store_domain_rescan(const char *uuid);
/* Who may change a pool's domains: fn(pool, &generation) returns 0 and the
 * SPM generation every write then carries if this host may, else a negative
 * error (recorded). Checked before every metadata write of a
 * domain in a pool; domains in no pool are this host's own. */
typedef int (*store_write_guard_fn)(const char *pool, uint64_t *ret_spm_generation);
void store_set_write_guard(store_write_guard_fn fn);
int store_check_writer(const struct domain *d);
/* Makes a domain another host formatted known to this host: spec->devices
 * (every PV of its VG) or spec->path (its directory); name and pool are
 * read from storage. Attaching a domain already known is not an error.
 * -SP_E_BAD_REQUEST naming the field if no domain is there; -SP_E_CONFLICT if
 * another domain of that name is on this host. */
int store_domain_attach(const struct domain_spec *spec, char ret_uuid[UUID_STR_LEN]);
/* Removes a domain from storage and from the store (its backend state is
 * closed): -SP_E_NOT_FOUND; -SP_E_CONFLICT if it has volumes, is a pool's
 * master domain, or has queued or running tasks. */
int store_domain_remove(const char *uuid);
/* Block domains only (-SP_E_CONFLICT for a file domain): adds a device to the
 * domain's VG (a device in use refused unless force: devices_check_unused);
 * grows its PVs to their devices' sizes. */
int store_domain_add_device(const char *uuid, const char *dev, bool force);
int store_domain_resize(const char *uuid);
size_t store_pool_count(void);
int store_get_pool(const char *uuid, struct pool *ret);
/* Whether a task of the domain is queued or running. */
bool store_domain_has_tasks(const char *uuid);
/* Copies a domain; -SP_E_NOT_FOUND (recorded) if unknown. */
int store_get_domain(const char *uuid, struct domain *ret);
/* Calls fn on every domain (under the read lock; fn must not call the store). */
void store_foreach_domain(void (*fn)(struct domain *d, void *userdata), void *userdata);

/* Volumes. */
int store_get_volume(const char *uuid, struct volume_meta *ret);
/* Writes a volume's metadata durably (generation bumped) and records it. */
int store_put_volume(struct domain *d, struct volume_meta *m);
void store_forget_volume(const char *uuid);
/* Records metadata read back from storage (another host may have written it),
 * unless the store holds a newer generation of it already. */
void store_record_volume(const struct volume_meta *m);
/* Every volume of the domain (*ret allocated, possibly 0 volumes). */
int store_domain_volumes(const char *domain, struct volume_meta **ret, size_t *ret_n);
/* The image's own volumes, base first. *ret is allocated; 0 volumes -> -SP_E_NOT_FOUND. */
int store_image_volumes(const char *domain, const char *image, struct volume_meta **ret, size_t *ret_n);
/* Number of volumes anywhere whose parent is uuid. */
size_t store_children_count(const char *uuid);
/* Volumes outside image whose parent is inside it (clones of a template). */
size_t store_external_children_count(const char *image);

/* Held (shared) from a submission's first look at its domain until its task
 * is queued, so that removing the domain (which takes it exclusively and
 * refuses while the domain has tasks) never frees state a submission uses. */
void store_submission_begin(void);
void store_submission_end(void);

/* An image is busy while a task changes it: a second change is refused. */
int store_image_claim(const char *image, const char *task);
void store_image_release(const char *image, const char *task);
bool store_image_busy(const char *image);

/* JSON views for the API, built under the read lock. NULL + recorded error if unknown. */
json_object *store_pools_json(void);
json_object *store_pool_json(const char *uuid);
json_object *store_domains_json(void);
json_object *store_domain_json(const char *uuid);
json_object *store_images_json(const char *domain);
json_object *store_image_json(const char *domain, const char *image);
json_object *store_volumes_json(const char *domain, const char *image);
json_object *store_volume_json(const char *domain, const char *image, const char *volume);
