/* LVM through liblvm2cmd. liblvm2cmd is not thread-safe, so one worker thread
 * owns the lvm2 handle and every call below is queued to it and waited for:
 * callers may be on any thread, commands run one at a time, in order.
 *
 * Every command carries the domain's device list as a runtime filter
 * (--config 'devices { filter = [ "a|^DEV$|", ..., "r|.*|" ] }'), on top of a
 * private lvm.conf (written by lvm_start) whose own filter rejects everything:
 * only the domain's devices are scanned, the host's other VGs are never read.
 * (Not --devices DEV: through liblvm2cmd 2.03.16 `pvcreate --devices` crashes
 * the process.)
 * Command lines are built from validated pieces only (names, tags, device
 * paths, numbers); anything else is refused with -EINVAL before LVM sees it.
 *
 * The module remembers each VG's devices: lvm_vgcreate, lvm_vg_attach,
 * lvm_vg_info and lvm_lvs set them, lvm_vgextend adds one; the other calls on
 * a VG need them known (-SP_E_NOT_FOUND otherwise).
 *
 * All functions return >= 0 on success, -errno or -SP_E_* on failure with the
 * detail in the calling thread's error record (lib/util/error.h): when LVM
 * fails, -SP_E_TOOL_FAILED with the command, the object concerned and LVM's
 * own error lines; -ENOSPC ("no_space") when the VG has too few free
 * extents. Argument lists (devs, tags) are NULL-terminated arrays.
 *
 * Storage that does not answer: a command stuck on a device (a dead LUN)
 * cannot be interrupted, so a call queued behind it gives up once that
 * command has run for lvm_options.timeout_ms: -ETIMEDOUT ("storage_timeout",
 * the domain in the message and the error's details), and it was never run.
 * The call the worker is on is always waited for. Reports the module holds
 * (lvm_vg_info, lvm_lvs, lvm_lv_location without devs) are answered on the
 * calling thread, never queued. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* liblvm2cmd splits the command line into at most 64 words. */
#define LVM_MAX_TAGS 24
#define LVM_MAX_DEVS 16

struct lvm_options {
	const char *run_dir; /* private lvm.conf is written here (created if missing) */
	bool activation;     /* global/activation: true in production (needs device-mapper) */
	bool read_only;      /* refuse every metadata change (hosts that are not SPM) */
	unsigned timeout_ms; /* queued calls give up behind a command running this long (0: never) */
};

/* Starts the worker and the lvm2 handle: writes run_dir/lvm.conf, sets
 * LVM_SYSTEM_DIR to run_dir (process-wide: lvm reads it at every config
 * reload), lvm2_init. Returns 0, -EALREADY if started, -errno. */
int lvm_start(const struct lvm_options *o);
/* Finishes queued calls, releases the handle, joins the worker. */
void lvm_stop(void);

/* Read-only mode: every changing call fails with -EROFS before any command
 * runs, and reports carry global/metadata_read_only=1. The refusal is the
 * module's own: lvm2 2.03.16 does not enforce global/metadata_read_only
 * (lvcreate and lvchange --addtag still commit with it set, from --config or
 * from lvm.conf; checked on this machine). */
void lvm_set_read_only(bool read_only);
bool lvm_get_read_only(void);
/* The same refusal for the changes of one VG only (the VGs of pools this host
 * is not the SPM of); works before lvm_start too. */
void lvm_vg_set_read_only(const char *vg, bool read_only);

/* The worker, for /metrics: calls waiting, how long the call it is on has
 * run (0 when idle), and how many calls gave up waiting since the start. */
struct lvm_worker_state {
	bool started;
	unsigned queued;
	double running_s;
	uint64_t timeouts;
};
void lvm_worker_state(struct lvm_worker_state *ret);

/* Validation of the pieces a command line is built from (exposed for callers
 * that want to check a request early). */
bool lvm_name_is_valid(const char *s);   /* VG/LV: 1..127 of [A-Za-z0-9_.+-], no leading '-' or '.' */
bool lvm_tag_is_valid(const char *s);    /* 1..128 of [A-Za-z0-9_+.:=-], no leading '-' */
bool lvm_device_is_valid(const char *s); /* /dev/ + [A-Za-z0-9/_.:+-], no "..", "//" */

/* Initializes devs as PVs with a metadata area of metadata_size bytes (0: LVM's default). */
int lvm_pvcreate(const char *const devs[], uint64_t metadata_size);
/* Creates vg on devs (already PVs) with extent_size bytes (0: default) and tags (may be NULL). */
int lvm_vgcreate(const char *vg, const char *const devs[], uint64_t extent_size,
		 const char *const tags[]);
/* Tells the module which devices hold vg (replaces what it knew). */
int lvm_vg_attach(const char *vg, const char *const devs[]);
/* Forgets vg's cached reports, e.g. after another host changed it (at once:
 * not queued behind running commands). */
void lvm_vg_invalidate(const char *vg);
/* The distinct names of the VGs whose PVs are among devs, sorted (an empty
 * array if none is a PV in a VG); *ret_names is written only on success
 * (free it with lvm_strv_free from lib/lvm_priv.h, or free each and the array). */
int lvm_vgs_on(const char *const devs[], char ***ret_names);
/* Adds dev (already a PV) to vg. */
int lvm_vgextend(const char *vg, const char *dev);
/* Grows the PV on dev (a device of vg) to the device's size. */
int lvm_pvresize(const char *vg, const char *dev);
/* Removes vg and every LV in it; the module forgets vg. */
int lvm_vgremove(const char *vg);
/* Wipes the PV labels of devs (PVs in no VG: after lvm_vgremove). */
int lvm_pvremove(const char *const devs[]);

struct lvm_vg {
	char name[128];
	uint64_t size, free, extent_size; /* bytes */
	uint64_t mda_size, mda_free;      /* bytes, smallest metadata area */
	uint64_t seqno;                   /* metadata sequence number: +1 per commit */
	uint64_t lv_count, pv_count;
	char **tags; /* NULL-terminated */
};
void lvm_vg_clear(struct lvm_vg *vg);

/* Reports vg (from the cache when valid). devs: vg's devices, or NULL to use
 * the ones the module knows. *ret is written only on success (lvm_vg_clear it). */
int lvm_vg_info(const char *vg, const char *const devs[], struct lvm_vg *ret);

struct lvm_lv {
	char name[128];
	uint64_t size; /* bytes */
	bool active;
	char **tags; /* NULL-terminated */
};
void lvm_lvs_free(struct lvm_lv *lvs, size_t n);

/* Lists the LVs of vg (from the cache when valid), sorted by name; devs as for
 * lvm_vg_info. ret_lvs and ret_n are written only on success (lvm_lvs_free them). */
int lvm_lvs(const char *vg, const char *const devs[], struct lvm_lv **ret_lvs, size_t *ret_n);

/* Creates lv of size_bytes (rounded up to extents) in vg with tags, not
 * activated, not zeroed. */
int lvm_lvcreate(const char *vg, const char *lv, uint64_t size_bytes, const char *const tags[]);
/* As lvm_lvcreate, with --alloc contiguous: one segment, on one PV (the
 * special LVs, e.g. the task journal, that are read and written on the PV
 * directly; see lvm_lv_location). The policy is kept in the LV's metadata, so
 * a later lvm_lvextend of it must find contiguous free extents after it too.
 * -SP_E_TOOL_FAILED if no run of free extents is long enough. */
int lvm_lvcreate_contiguous(const char *vg, const char *lv, uint64_t size_bytes,
			    const char *const tags[]);
int lvm_lvremove(const char *vg, const char *lv);
/* Grows lv to new_size bytes (rounded up to extents). */
int lvm_lvextend(const char *vg, const char *lv, uint64_t new_size);
/* Adds and deletes tags in one command: one metadata commit, all or nothing. */
int lvm_lvchange_tags(const char *vg, const char *lv, const char *const add[],
		      const char *const del[]);

/* Activates (active) or deactivates lv on this host: lvchange --activate=y|n,
 * idempotent. Writes no VG metadata, so it is allowed in read-only mode. */
int lvm_lv_activate(const char *vg, const char *lv, bool active);
/* Reloads this host's mapping of lv from the VG metadata (lvchange --refresh),
 * after another host grew it; forgets the cached reports of vg first. Allowed
 * in read-only mode; a no-op for an inactive LV. */
int lvm_lv_refresh(const char *vg, const char *lv);
/* The device node of an active lv (newly allocated): /dev/<vg>/<lv>. */
char *lvm_lv_device(const char *vg, const char *lv);

/* Where lv's data lies: the PV device (newly allocated), the byte offset on it
 * of the LV's first extent (pe_start + start extent * extent size: the bytes a
 * dm-linear mapping of the LV starts at) and the LV's size in bytes. Reading
 * and writing there works whether the LV is active or not. From the cache
 * when valid (one `pvs --segments` report serves every LV of vg).
 * Returns 0; -SP_E_NOT_FOUND if vg has no such LV (or vg is not known);
 * -EINVAL if the LV has more than one segment (not created contiguous, or
 * extended since). Out-parameters are written only on success. */
int lvm_lv_location(const char *vg, const char *lv, char **ret_device, uint64_t *ret_offset,
		    uint64_t *ret_size);
