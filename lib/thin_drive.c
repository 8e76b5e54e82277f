#include "lib/thin_drive.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/cleanup.h"
#include "lib/util/fsutil.h"

/* Copies the next path component of *p (up to '/' or the end) into a uuid
 * buffer; false if it is not a uuid. */
static bool take_uuid(const char **p, char out[UUID_STR_LEN])
{
	const char *s = *p, *e = strchr(s, '/');
	size_t len = e ? (size_t)(e - s) : strlen(s);

	if (len != UUID_STR_LEN - 1)
		return false;
	memcpy(out, s, len);
	out[len] = '\0';
	if (!uuid_is_valid(out))
		return false;
	*p = e ? e + 1 : s + len;
	return true;
}

/* "<domain>/<image>/<volume>" or "<domain>/<volume>": exactly that, nothing after. */
static bool parse_uuids(const char *s, bool with_image, struct thin_drive_ref *ret)
{
	struct thin_drive_ref r = { 0 };
	const char *p = s;

	if (!take_uuid(&p, r.domain) || (with_image && !take_uuid(&p, r.image)) || !take_uuid(&p, r.volume) || *p)
		return false;
	if (p[-1] == '/')
		return false; /* a trailing slash */
	*ret = r;
	return true;
}

/* "<vg>-<lv>" with every '-' inside a name doubled (LVM's device-mapper names). */
static bool parse_dm_name(const char *s, struct thin_drive_ref *ret)
{
	char vg[NAME_MAX + 1], lv[NAME_MAX + 1];
	char *out = vg;
	size_t n = 0;

	for (; *s; s++) {
		if (*s == '-' && s[1] == '-') {
			s++;
		} else if (*s == '-') {
			if (out == lv)
				return false;
			out[n] = '\0';
			out = lv;
			n = 0;
			continue;
		}
		if (n >= NAME_MAX)
			return false;
		out[n++] = *s;
	}
	if (out != lv)
		return false;
	out[n] = '\0';
	_cleanup_free_ char *both = NULL;
	if (asprintf(&both, "%s/%s", vg, lv) < 0)
		return false;
	return parse_uuids(both, false, ret);
}

static bool starts_with(const char *s, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);
	if (strncmp(s, prefix, n) != 0)
		return false;
	*rest = s + n;
	return true;
}

static bool resolve_form(const char *run_dir, const char *sys_dir, const char *path, struct thin_drive_ref *ret)
{
	_cleanup_free_ char *storage = NULL;
	const char *rest;

	if (asprintf(&storage, "%s/storage/", run_dir) < 0)
		return false;
	if (starts_with(path, storage, &rest))
		return parse_uuids(rest, true, ret);
	if (starts_with(path, "/dev/mapper/", &rest))
		return parse_dm_name(rest, ret);
	if (starts_with(path, "/dev/dm-", &rest)) {
		_cleanup_free_ char *name_file = NULL, *name = NULL;
		if (strchr(rest, '/') || asprintf(&name_file, "%s/block/dm-%s/dm/name", sys_dir, rest) < 0 ||
		    read_file(name_file, 256, &name, NULL) < 0)
			return false;
		name[strcspn(name, "\n")] = '\0';
		return parse_dm_name(name, ret);
	}
	if (starts_with(path, "/dev/", &rest))
		return parse_uuids(rest, false, ret);
	return false;
}

int thin_drive_resolve(const char *run_dir, const char *sys_dir, const char *path, struct thin_drive_ref *ret)
{
	char real[PATH_MAX];

	if (resolve_form(run_dir, sys_dir, path, ret))
		return 0;
	if (realpath(path, real) && strcmp(real, path) != 0 && resolve_form(run_dir, sys_dir, real, ret))
		return 0;
	return -ENOENT;
}
