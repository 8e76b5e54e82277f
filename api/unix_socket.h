/* The local API socket: AF_UNIX, for sanpoolctl on this host without
 * certificates. Access is the file's: only root (and the daemon's user). */
#pragma once

/* Binds path (creating its directory) with mode 0600 before it listens, so no
 * one else can ever connect. A stale socket left by a crash is replaced; a
 * socket a live process answers on, or a file that is no socket, is not.
 * Returns the listening fd, or -errno with the cause logged. */
int unix_socket_listen(const char *path);
