/* device-mapper-multipath: what multipathd reports (maps and their paths,
 * parsed from `multipathd show maps json` and `show paths raw format`), the
 * configuration drop-in sanpool writes for its own LUNs, and a map resize
 * after its LUN grew. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mp_path {
	char dev[32];         /* sdb */
	char dev_t[16];       /* 8:16 */
	char dm_state[16];    /* active | failed: the kernel's view of the path in the map */
	char check_state[16]; /* ready | faulty | ghost | shaky | ...: multipathd's path checker */
	char dev_state[16];   /* running | offline | ...: the SCSI device */
	int priority;
	int group;            /* path group number, 1-based */
	char group_state[16]; /* the group's dm state: active (carries the I/O) | enabled | disabled */
	char target[224];     /* the iSCSI target (target_wwnn), "" if none */
};

struct mp_map {
	char wwid[128];
	char name[128];    /* /dev/mapper/<name> */
	char sysfs[32];    /* dm-0 */
	char vendor[32];
	char product[32];
	char queueing[32]; /* "12 chk", "on", "off" */
	size_t n_paths;
	struct mp_path *paths;
};

/* One line of `multipathd show paths raw format MP_PATHS_FORMAT`. */
struct mp_path_line {
	char wwid[128];
	struct mp_path path;
};
/* wwid|dev|dev_t|dm state|checker state|device state|priority|vendor,product|protocol */
#define MP_PATHS_FORMAT "%w|%d|%D|%t|%T|%o|%p|%s|%P"

/* Parses `multipathd show maps json`; returns the number of maps (>= 0) in
 * *ret_maps, or -SP_E_TOOL_FAILED when the text is not that document. */
int multipath_parse_maps(const char *json, struct mp_map **ret_maps, size_t *ret_n);
void multipath_maps_free(struct mp_map *maps, size_t n);
/* Parses `multipathd show paths raw format MP_PATHS_FORMAT`: >= 0 lines in
 * *ret (paths not in a map have an empty wwid), -SP_E_TOOL_FAILED on a
 * malformed line. */
int multipath_parse_paths(const char *text, struct mp_path_line **ret, size_t *ret_n);

/* Paths of map m that carry I/O (dm active and checker ready or ghost). */
size_t multipath_map_usable_paths(const struct mp_map *m);

/* Asks the running multipathd; -ENOENT when there is no multipathd (the fast
 * tier), -SP_E_TOOL_FAILED when it answered badly. */
int multipath_list(struct mp_map **ret_maps, size_t *ret_n);
int multipath_list_paths(struct mp_path_line **ret, size_t *ret_n);
/* The WWIDs of the host's multipath maps, NULL-terminated (allocated), read
 * from sysfs below sysfs_root ("/sys"): the device-mapper uuid multipathd
 * gives its maps is "mpath-<wwid>". No multipathd command: under a periodic
 * caller each command is a process start, and this is a few small reads.
 * With multipath_list's fixture set, that document's maps (NULL if it is
 * unreadable, the error recorded). */
char **multipath_map_wwids(const char *sysfs_root);

/* The drop-in for wwids[0..n): a multipaths{} entry per LUN of sanpool's, so
 * the host's other devices keep the host's own settings; alua[i] (alua may be
 * NULL: none) says LUN i reports ALUA target port groups. Returns the text
 * (allocated). */
char *multipath_conf_render(const char *const *wwids, const bool *alua, size_t n);
/* Writes the drop-in to path when its content changed and then has
 * multipathd reload its configuration; 0, 1 if it changed, or -errno. */
int multipath_conf_apply(const char *path, const char *const *wwids, const bool *alua, size_t n);
/* Where multipathd reads drop-ins (its config_dir default). */
#define MULTIPATH_DROPIN "/etc/multipath/conf.d/sanpool.conf"

/* After the LUN of wwid grew and its paths were rescanned: the map takes the
 * new size (`multipathd resize map`). */
int multipath_resize(const char *wwid);

/* A WWID as multipathd names maps: 1..127 of [A-Za-z0-9_.:-]. */
bool multipath_wwid_is_valid(const char *s);
