/* iSCSI through open-iscsi's iscsiadm (argv only, through lib/util/run.c):
 * node records, CHAP, login/logout per portal, session listing and rescan.
 * CHAP secrets go to iscsiadm as arguments that run.c masks wherever it
 * shows a command line; they are never logged or returned. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* One session as `iscsiadm -m session -P 3` shows it. */
struct iscsi_session {
	int sid;
	char target[224];
	char portal[128];   /* address:port as iscsiadm shows it, without ",tpgt" */
	char state[32];     /* LOGGED_IN, FAILED, FREE, ... (iSCSI Session State) */
	char disks[8][32];  /* attached SCSI disks: sda ... */
	size_t n_disks;
};

/* Parses `iscsiadm -m session -P 3`: >= 0 sessions in *ret, -SP_E_TOOL_FAILED
 * when the text is not that report. */
int iscsi_parse_sessions(const char *text, struct iscsi_session **ret, size_t *ret_n);
/* The sessions of this host: none (0) when iscsiadm says there are none. */
int iscsi_sessions(struct iscsi_session **ret, size_t *ret_n);

struct iscsi_chap {
	const char *username; /* NULL: no CHAP */
	const char *password;
};

/* Makes the node record of target at portal (with CHAP or without) and logs
 * in. Already logged in is success (idempotent). Returns 0, or -SP_E_BAD_REQUEST when the
 * target refused the credentials (field "chap_password", or "chap_username"
 * when it wants CHAP and got none) or this initiator (field "target"), or
 * -SP_E_TOOL_FAILED with iscsiadm's message. */
int iscsi_login(const char *target, const char *portal, const struct iscsi_chap *chap);
/* Logs out of target at portal and deletes its node record; not logged in is success. */
int iscsi_logout(const char *target, const char *portal);
/* Rescans every session: LUNs that grew show their new size on their paths. */
int iscsi_rescan(void);

/* Input checks for the API. An IQN or EUI name: 1..223 of [a-z0-9.:-]
 * starting with "iqn.", "eui." or "naa.". */
bool iscsi_target_is_valid(const char *s);
/* A portal: "a.b.c.d[:port]" or "[ipv6][:port]" or a host name [:port]. */
bool iscsi_portal_is_valid(const char *s);
/* CHAP user name and secret: printable ASCII without spaces, 1..255; the
 * secret 12..16+ as RFC 3720 asks (tgt and LIO accept 12 and more). */
bool iscsi_chap_user_is_valid(const char *s);
bool iscsi_chap_secret_is_valid(const char *s);
/* The portal with the default port 3260 added when it has none (allocated). */
char *iscsi_portal_normalize(const char *s);
