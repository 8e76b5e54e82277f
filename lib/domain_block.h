/* Block storage domain: an LVM volume group on shared LUNs (through
 * multipath), one LV per volume named by its uuid, the volume's metadata in
 * the LV's tags (lib/block_tags.h), the task journal in slots of the special
 * "journal" LV read and written on the PV at the LV's offset (so it needs no
 * activation). The VG is named by the domain uuid; its tags hold the
 * identity. The host keeps which devices hold the VG in
 * <data_dir>/domains/<uuid>/block.json, so that LVM scans those only. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "lib/domain.h"

extern const struct domain_ops domain_block_ops;

struct block_settings {
	const char *run_dir;   /* LVM's private config, links to activated LVs */
	bool activation;       /* LV activation (device-mapper); off in the fast test tier */
	uint64_t initial_size; /* first LV size of a thin qcow2 volume */
	uint64_t extend_chunk; /* growth of a thin qcow2 LV asked without a size (0: 1 GiB) */
	unsigned lvm_timeout_ms; /* lvm_options.timeout_ms */
};

/* Called once at start-up, before any thread starts and before any block
 * domain is opened or created. */
void domain_block_configure(const struct block_settings *s);
/* Stops LVM if a block domain started it (after store_close). */
void domain_block_shutdown(void);
/* True if dir holds a block domain's host-local record. */
bool domain_block_present(const char *dir);
/* Makes devs (NULL-terminated) PVs of a new VG with the identity and special
 * LVs of a domain, and records them in dir. */
int domain_block_format(const char *dir, const char *const devs[], const char *uuid, const char *name,
			const char *pool);
/* Records on this host that the domain whose host-local entry is dir lies on devs. */
int domain_block_record(const char *dir, const char *const devs[]);
/* Finds the block domain (formatted by some host) whose VG lies on devs,
 * which must name every PV of it: its uuid. -SP_E_BAD_REQUEST (field
 * "devices") if the devices hold no domain, several VGs or only part of one. */
int domain_block_identify(const char *const devs[], char ret_uuid[UUID_STR_LEN]);
/* Opens the block domain recorded in dir. */
int domain_block_open(const char *dir, struct domain *ret);
/* Adds dev to the domain's VG (pvcreate + vgextend); the host-local record
 * names it first, so a crash between leaves only an extra device scanned.
 * -SP_E_BAD_REQUEST (field "device") if dev already is one of the domain's;
 * -SP_E_CONFLICT (device_in_use) if it is in use otherwise, unless force. */
int domain_block_add_device(struct domain *d, const char *dev, bool force);
/* Grows every PV of the domain to its device's size (pvresize), after LUNs grew. */
int domain_block_resize(struct domain *d);
