/* Which sanpool volume a VM's drive writes: from the drive's source path as
 * libvirt reports it to the (domain, image, volume) it names. Only names are
 * looked at here; whether that volume exists and is a thin volume on a block
 * domain is the caller's check (lib/thinmon.c, against the store). */
#pragma once

#include "lib/util/uuid.h"

struct thin_drive_ref {
	char domain[UUID_STR_LEN];
	char image[UUID_STR_LEN]; /* "" when the path does not name it (/dev forms) */
	char volume[UUID_STR_LEN];
};

/* The forms understood, tried on the path as given and then on its real path:
 *   <run_dir>/storage/<domain>/<image>/<volume>  the link a prepare makes
 *   /dev/<domain>/<volume>                        a block domain's LV (VG, LV)
 *   /dev/mapper/<vg>-<lv>                         its device-mapper name ('-' doubled)
 *   /dev/dm-N                                     through <sys_dir>/block/dm-N/dm/name
 * Returns 0 and fills *ret, or -ENOENT if the path names no volume. */
int thin_drive_resolve(const char *run_dir, const char *sys_dir, const char *path, struct thin_drive_ref *ret);
