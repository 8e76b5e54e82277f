/* Devices this host sees through multipath: the listing the API shows (WWID,
 * vendor/product, size, paths and their states, sharing, use) and whether a
 * device is in use (a VG of ours or another, an LVM PV, a partition table, a
 * filesystem, mounted, held by another device, or the host's root/boot). */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum device_use {
	DEVICE_FREE,
	DEVICE_HOST,        /* holds the host's / or /boot (through any stack) */
	DEVICE_OUR_VG,      /* PV of a VG tagged sp.kind=block */
	DEVICE_OTHER_VG,    /* PV of another VG */
	DEVICE_LVM_PV,      /* LVM PV in no VG */
	DEVICE_MOUNTED,
	DEVICE_PARTITIONED, /* has a partition table */
	DEVICE_FILESYSTEM,  /* a filesystem or another signature (swap, RAID member) */
	DEVICE_HELD,        /* another device is stacked on it */
};

struct device_usage {
	enum device_use use;
	char detail[256]; /* VG name, filesystem type, partition table type, holder */
};

const char *device_use_str(enum device_use u);

/* Probes devpath (libblkid, the LVM label, /proc/self/mountinfo, sysfs). */
int device_usage_probe(const char *devpath, struct device_usage *ret);

/* From mountinfo text: the devices of "/", "/boot" and "/boot/efi" (up to
 * max, major != 0); returns the count. */
size_t mountinfo_host_devs(const char *mountinfo, dev_t out[], size_t max);
/* Whether dev_t d is mounted anywhere according to mountinfo. */
bool mountinfo_has_dev(const char *mountinfo, dev_t d);
/* The VG named in an LVM PV's first bytes (label + metadata text), "" for an
 * orphan PV; -ENOENT when buf holds no LVM label. tags_ours: the VG carries
 * the tag sp.kind=block. */
int lvm_label_vg(const unsigned char *buf, size_t len, char *ret_vg, size_t size, bool *ret_ours);

/* Refuses (409 naming field, what uses it in the message) a device that is
 * in use, unless force. For domain and pool create, and adding a device. */
int devices_check_unused(const char *const *devs, bool force, const char *field);

/* GET /v1/devices: {"devices": [...], "multipath": "running"|"unavailable"};
 * each device's "shared" (null in no pool) and "unseen_by" (host ids) come
 * from lib/device_sharing's registry, with this host's list fresh. */
json_object *devices_list_json(int local_host_id);
/* The WWIDs this host sees (NULL-terminated, allocated; free with
 * device_sharing_free), or NULL with the error recorded. For the pool
 * connection to publish (device_sharing_publish). */
char **devices_seen_wwids(void);
/* The WWID of the multipath map devpath is (/dev/mapper/<name> or a path
 * that resolves to the map's dm device), allocated. -ENOENT when devpath is
 * no multipath map of this host. */
int devices_wwid_of(const char *devpath, char **ret_wwid);
/* Rescans iSCSI sessions and resizes every multipath map whose paths grew;
 * returns the listing afterwards. */
json_object *devices_rescan_json(int local_host_id);

/* The path monitor: polls multipathd's path states every interval_ms and logs
 * each change (a failed path as a warning, a restored one as info). */
int devices_monitor_start(int interval_ms);
void devices_monitor_stop(void);
