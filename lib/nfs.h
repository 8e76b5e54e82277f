/* NFS mounts for file domains: an export mounted (mount -t nfs, argv only)
 * on a directory sanpool owns; the mount options come from a short allow
 * list so that a request cannot pass anything the kernel or mount.nfs would
 * take as something else. */
#pragma once
#include <stdbool.h>

/* "server:/path": server a host name, IPv4 or [IPv6]; path absolute, no
 * "." or ".." components, no whitespace or commas. */
bool nfs_export_is_valid(const char *s);
/* Comma-separated options from the allow list (vers/nfsvers, proto, port,
 * timeo, retrans, soft/hard, actimeo, rsize/wsize, nolock, sec, noatime,
 * nosharecache, sync); "ro" is refused (a domain is written). NULL or "" is
 * valid. On failure the offending option is in ret_bad (if given). */
bool nfs_options_are_valid(const char *s, char *ret_bad, unsigned size);
/* The options actually passed: the given ones plus nosuid,nodev (allocated). */
char *nfs_effective_options(const char *opts);

/* Mounts export on dir (created if missing) unless something is mounted
 * there already; 0, or -SP_E_TOOL_FAILED with mount's message. */
int nfs_mount(const char *export_, const char *opts, const char *dir);
/* Unmounts dir if mounted; 0 or -SP_E_TOOL_FAILED (e.g. busy). */
int nfs_umount(const char *dir);
bool nfs_is_mounted(const char *dir);
