/* Which devices every host of a pool sees. Each host publishes the WWIDs it
 * sees through multipath in its slot of the hosts area of each pool's master
 * domain (lib/host_report.h) and reads the reports of the hosts that are live
 * in the master's lockspace; lib/device_sharing.h's registry holds the
 * result, which GET /v1/devices shows ("shared") and which domain creation
 * and adding a device check.
 *
 * A thread refreshes every pool every SHARING_PERIOD_MS: this host's list is
 * read afresh from sysfs, the maps multipathd made (and published only when
 * it changed), the
 * live hosts from sanlock, their reports from storage. With leases off
 * (sanlock = no) this host manages its pools alone: it is their only host,
 * and publishes nothing. The first refresh is done at start, before the API
 * answers.
 *
 * Functions return >= 0 or -errno / -SP_E_* with the detail recorded. */
#pragma once
#include <stdbool.h>

#define SHARING_PERIOD_MS 2000

int sharing_service_start(unsigned host_id, bool leases);
void sharing_service_stop(void);

/* This host created or connected to the pool: publishes its report now. */
void sharing_pool_joined(const char *pool);
/* This host is about to leave the pool: erases its report and stops
 * publishing there. If the disconnection fails, sharing_pool_joined puts
 * it back. */
void sharing_pool_leaving(const char *pool);

/* For a change that needs storage every host of pool sees (a new block
 * domain in the pool, a device added to one): refuses each device of devs
 * that a host of the pool does not see, with 409 "device_not_shared" naming
 * field, the device, its WWID and those hosts ("device", "wwid", "hosts" in
 * the error body), unless force (then logged). A device that is no multipath
 * map is known to this host only. No pool (pool NULL or ""): nothing to check. */
int sharing_check_devices(const char *pool, const char *const *devs, bool force, const char *field);
