/* VPD page 0x83 (lib/alua.c alua_parse_vpd83): the device identification page
 * a LUN's array sends, which the kernel keeps in sysfs (vpd_pg83) and the
 * device listing reads for each path's target port group. Input: the page's
 * bytes, as read from sysfs.
 *
 * Property: a page that parses names a target port group of 16 bits and a
 * relative port of 16 bits or none (-1); the parser never reads past the page
 * length it was given (ASan). */
#include "fuzz/fuzz.h"

#include <errno.h>

#include "lib/alua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes: ASan sees any read past the end */
	unsigned char *page = xmalloc(size ? size : 1);
	int group = -2, rel = -2;

	memcpy(page, data, size);
	int r = alua_parse_vpd83(page, size, &group, &rel);
	FUZZ_ASSERT(r == 0 || r == -EINVAL || r == -ENOENT);
	if (r == 0) {
		FUZZ_ASSERT(group >= 0 && group <= 0xffff);
		FUZZ_ASSERT(rel == -1 || (rel >= 0 && rel <= 0xffff));
	}
	free(page);
	return 0;
}
