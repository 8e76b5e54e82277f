#include "lib/util/sanlock_access.h"

#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/log.h"

static bool sanlock_gid(gid_t *ret)
{
	struct group g, *found = NULL;
	char buf[4096];

	if (getgrnam_r("sanlock", &g, buf, sizeof(buf), &found) != 0 || !found)
		return false;
	*ret = found->gr_gid;
	return true;
}

void sanlock_access_file(int fd, const char *path)
{
	struct stat st;
	gid_t gid;

	if (!sanlock_gid(&gid) || fstat(fd, &st) < 0)
		return;
	if ((st.st_gid != gid && fchown(fd, (uid_t)-1, gid) < 0) ||
	    ((st.st_mode & 07777) != 0660 && fchmod(fd, 0660) < 0))
		log_warning("lease file %s: cannot give sanlock's group access (%m): sanlock may fail with EACCES",
			    path);
}

void sanlock_access_dir(const char *path)
{
	struct stat st;
	gid_t gid;

	if (!sanlock_gid(&gid) || stat(path, &st) < 0)
		return;
	if ((st.st_gid != gid && !(st.st_mode & S_IXOTH) && chown(path, (uid_t)-1, gid) < 0) ||
	    (!(st.st_mode & (S_IXGRP | S_IXOTH)) && chmod(path, (st.st_mode & 07777) | S_IXGRP) < 0))
		log_warning("directory %s: cannot give sanlock's group search access (%m): sanlock may fail with EACCES",
			    path);
}
