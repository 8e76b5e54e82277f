/* Access for sanlock's daemon to the files this agent makes for it.
 *
 * Debian's and Fedora's sanlock.service run the daemon as the user sanlock
 * (group sanlock, also in disk): a block domain's lease LVs are root:disk 0660
 * and reachable, but a file domain's lease files and the directories above
 * them are this agent's (root), and sanlock fails on them with EACCES. Where
 * no group sanlock exists (a daemon run as root, as in the fast tier) nothing
 * changes. */
#pragma once

/* fd, a lease file at path: group sanlock, mode 0660. */
void sanlock_access_file(int fd, const char *path);
/* A directory the lease files lie below: group sanlock with search (g+x),
 * nothing more for others than it has. */
void sanlock_access_dir(const char *path);
