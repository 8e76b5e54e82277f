/* Internals shared by the lease/ files (not for other modules). */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sanlock.h>

#include "lease/lease.h"

/* A libsanlock resource with its one disk (sanlk_resource ends in disks[0]). */
struct lease_res1 {
	struct sanlk_resource res;
	struct sanlk_disk disk;
};
_Static_assert(offsetof(struct lease_res1, disk) == offsetof(struct sanlk_resource, disks),
	       "the disk must sit where sanlk_resource.disks[0] is");

/* 1..48 bytes, no ':' (sanlock's string forms use it as the separator). */
bool lease_name_is_valid(const char *s);
/* Absolute and shorter than 512 bytes (room for sanlock's escapes within
 * SANLK_PATH_LEN). */
bool lease_path_is_valid(const char *s);

/* Fills *r from ref (checked: names, path, 1 MiB-aligned offset).
 * Returns 0 or -SP_E_BAD_REQUEST. */
int lease_res_fill(struct lease_res1 *r, const struct lease_ref *ref);

/* Turns a libsanlock failure rv (< 0: -errno or -SANLK_*) into the project
 * code, records the detail ("<what>: <reason> (sanlock <rv>)") and returns
 * the code. */
int lease_error(int rv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

double lease_now(void); /* CLOCK_MONOTONIC seconds */

struct lease_client {
	pthread_mutex_t lock; /* libsanlock: calls on one registered socket are serialised */
	int sock;
};
