/* Internals of the LVM module that only lib/lvm*.c and the tests use. */
#pragma once
#include <stdint.h>

#include "lib/lvm.h"

/* Parse a `--reportformat json` report (the print lines of one command, JSON
 * lines only, joined by '\n'). Return 0, or -SP_E_CORRUPT with the error recorded. */
int lvm_report_parse_lvs(const char *text, struct lvm_lv **ret_lvs, size_t *ret_n);
int lvm_report_parse_vg(const char *text, const char *vg, struct lvm_vg *ret);
/* The distinct, sorted, non-empty vg_name values of a `pvs` report. */
int lvm_report_parse_pv_vgs(const char *text, char ***ret_names);

/* One row of `pvs --segments`: a run of extents on one PV, used by lv (""
 * for free space). Extents are the VG's; pe_start is where the PV's first
 * extent starts, in bytes. */
struct lvm_pvseg {
	char dev[256];
	char lv[128];
	uint64_t pe_start, extent_size; /* bytes */
	uint64_t start, count;          /* extents */
};
/* Parses the "pvseg" section, keeping the rows of vg only. */
int lvm_report_parse_pvsegs(const char *text, const char *vg, struct lvm_pvseg **ret_segs,
			    size_t *ret_n);

/* Splits "a,b,c" into a NULL-terminated array ("" gives an empty array). */
char **lvm_tags_split(const char *s);
char **lvm_strv_copy(const char *const *v);
void lvm_strv_free(char **v);

/* Number of lvm2_run calls made since lvm_start (cache tests). */
uint64_t lvm_commands_run(void);
/* Called on the worker thread with each command line before it runs (NULL: none). */
typedef void (*lvm_cmd_observer_fn)(const char *cmdline, void *userdata);
void lvm_set_cmd_observer(lvm_cmd_observer_fn fn, void *userdata);
