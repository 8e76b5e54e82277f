/* Storage connections: the iSCSI targets this host logs in to and the NFS
 * exports it mounts (on <data_dir>/mnt/<id>, for file domains), kept in
 * <data_dir>/connections.json (mode 0600: it holds CHAP secrets) and logged
 * in again when sanpoold starts. One connection per target; connecting again
 * is a no-op that repairs missing sessions. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>

struct connection_spec {
	const char *kind;           /* "iscsi" (default) or "nfs" */
	const char *export_;        /* nfs: server:/path */
	const char *mount_options;  /* nfs: NULL for the defaults */
	const char *target;
	const char *const *portals; /* NULL-terminated, 1..8 */
	const char *chap_username;  /* NULL: no CHAP */
	const char *chap_password;
};

/* Loads the records from data_dir. */
int connections_open(const char *data_dir);
/* Logs in again where a session is missing, mounts what is not mounted
 * (failures are logged). Run by the device monitor thread as it starts, so
 * that a slow or dead target does not hold up the API. */
void connections_restore(void);
void connections_close(void);

/* Connects (see above). Returns 1 when created, 0 when it existed, with the
 * connection's JSON in *ret; -SP_E_BAD_REQUEST naming the field for bad input
 * or refused credentials (then nothing is kept), -SP_E_TOOL_FAILED when no
 * portal could be logged in to. */
int connection_connect(const struct connection_spec *spec, json_object **ret);
/* Logs out of every portal of connection id and forgets it. */
int connection_disconnect(const char *id);
/* The connection with its live per-portal status (NULL, not found recorded). */
json_object *connection_json(const char *id);
json_object *connections_json(void);
/* The SCSI disks (sda ...) on sessions of the connected targets,
 * NULL-terminated, allocated (free each and the array); NULL, the error
 * recorded, when the sessions could not be listed. */
char **connections_disks(void);
/* Changes whenever a connection is added or removed (the records saved). */
unsigned connections_generation(void);
