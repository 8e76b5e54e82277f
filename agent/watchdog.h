/* systemd's watchdog (WatchdogSec= in the unit): pings only while the API
 * answers, so a hung HTTP server or a deadlocked task list gets the agent
 * restarted instead of leaving the engine talking to a dead host. */
#pragma once

struct watchdog_probe {
	const char *unix_socket; /* the local_socket, probed when set ("" = none) */
	const char *address;     /* else plain HTTP on this loopback address (NULL: TLS, not probed) */
	int port;
};

/* Starts the pinging thread when systemd asked for a watchdog (WATCHDOG_USEC
 * for this process); nothing otherwise. Returns 0, or -errno (logged). */
int watchdog_start(const struct watchdog_probe *probe);
