/* ALUA (asymmetric logical unit access) as this host sees one SCSI path: the
 * array's target port group the path leads to (a controller, the same number
 * on every host: from the LUN's device identification VPD page 0x83, which the
 * kernel keeps in sysfs) and that group's access state as the kernel's ALUA
 * handler (scsi_dh_alua) last read it from the array. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct alua_port {
	int group;              /* target port group id */
	int relative_port;      /* relative target port id, -1 if not reported */
	char access_state[24];  /* active/optimized, active/non-optimized, standby, ...; "" with no ALUA handler */
	bool preferred;         /* the array's PREF bit for the group */
};

/* From the bytes of VPD page 0x83 (device identification): the target port
 * group and relative target port designators. 0, or -ENOENT when the page
 * names no target port group (the LUN has no ALUA), -EINVAL when it is not a
 * well-formed page 0x83. */
int alua_parse_vpd83(const unsigned char *buf, size_t len, int *ret_group, int *ret_relative_port);

/* The path dev (sdb) under sysfs root sysfs ("/sys"): 0, -ENOENT when the LUN
 * has no ALUA (or dev is no SCSI disk), another -errno on a read error. */
int alua_port_read(const char *sysfs, const char *dev, struct alua_port *ret);
