#include "lib/alua.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/cleanup.h"
#include "lib/util/fsutil.h"
#include "lib/util/xalloc.h"

/* SPC-4 7.8.6: a 4-byte page header (page code 0x83, page length), then
 * designation descriptors: byte 1 holds the association (bits 5-4: 1 for the
 * target port) and the designator type (bits 3-0: 4 relative target port,
 * 5 target port group), byte 3 the designator's length; both designators are
 * 4 bytes with the id in the last two, big-endian. */
int alua_parse_vpd83(const unsigned char *buf, size_t len, int *ret_group, int *ret_relative_port)
{
	int group = -1, rel = -1;

	if (len < 4 || buf[1] != 0x83)
		return -EINVAL;
	size_t end = 4 + (((size_t)buf[2] << 8) | buf[3]);
	if (end > len)
		return -EINVAL;
	for (size_t off = 4; off < end;) {
		if (off + 4 > end)
			return -EINVAL;
		const unsigned char *d = buf + off;
		size_t dlen = d[3];
		if (off + 4 + dlen > end)
			return -EINVAL;
		unsigned assoc = (d[1] >> 4) & 3, type = d[1] & 0xf;
		if (assoc == 1 && dlen == 4 && (type == 4 || type == 5)) {
			int id = (d[6] << 8) | d[7];
			if (type == 5)
				group = id;
			else
				rel = id;
		}
		off += 4 + dlen;
	}
	if (group < 0)
		return -ENOENT;
	*ret_group = group;
	*ret_relative_port = rel;
	return 0;
}

/* A sysfs attribute of dev's SCSI device: its text without the newline. */
static int read_attr(const char *sysfs, const char *dev, const char *attr, char **ret)
{
	_cleanup_free_ char *path = xasprintf("%s/block/%s/device/%s", sysfs, dev, attr);
	size_t len = 0;
	int r = read_file(path, 4096, ret, &len);
	if (r < 0)
		return r;
	while (len > 0 && ((*ret)[len - 1] == '\n' || (*ret)[len - 1] == ' '))
		(*ret)[--len] = '\0';
	return 0;
}

int alua_port_read(const char *sysfs, const char *dev, struct alua_port *ret)
{
	_cleanup_free_ char *vpd = NULL, *state = NULL, *pref = NULL, *path = NULL;
	struct alua_port p = { .relative_port = -1 };
	size_t len = 0;
	int r;

	if (!dev[0] || strchr(dev, '/'))
		return -EINVAL;
	path = xasprintf("%s/block/%s/device/vpd_pg83", sysfs, dev);
	if ((r = read_file(path, 1 << 16, &vpd, &len)) < 0)
		return r;
	if ((r = alua_parse_vpd83((const unsigned char *)vpd, len, &p.group, &p.relative_port)) < 0)
		return r;
	/* the handler's view: present once scsi_dh_alua is attached to the disk */
	if (read_attr(sysfs, dev, "access_state", &state) == 0) {
		size_t n = strnlen(state, sizeof(p.access_state) - 1);
		memcpy(p.access_state, state, n);
		p.access_state[n] = '\0';
	}
	if (read_attr(sysfs, dev, "preferred_path", &pref) == 0)
		p.preferred = strcmp(pref, "1") == 0;
	*ret = p;
	return 0;
}
