/* sanpoold's configuration: "key = value" lines, '#' comments. Every key and
 * its default is documented in packaging/sanpoold.conf. */
#pragma once
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util/log.h"

struct config {
	char listen_address[64];
	int port;
	char data_dir[PATH_MAX];
	enum log_level log_level;
	int task_workers;
	int host_id;
	size_t max_body_bytes;
	bool bootstrap_default; /* create a local pool + file domain if there is none */
	char run_dir[PATH_MAX]; /* run-time state: LVM's private config, links to activated LVs */
	bool lvm_activation;    /* activate LVs (device-mapper); off only in the fast test tier */
	uint64_t thin_initial_size; /* first LV size of a thin qcow2 volume on a block domain */
	uint64_t thin_extend_chunk; /* growth of a thin qcow2 LV by an extend without a size */
	int thin_watermark_percent; /* extend once this much of the last chunk is used (lib/thin_policy.h) */
	int mailbox_poll_ms;        /* how often the SPM reads a pool's inbox, and a host its answer */
	int mailbox_timeout_s;      /* how long a host waits for the SPM to answer an extend */
	int lvm_timeout_s;          /* LVM calls queued behind a command running this long give up */
	int tasks_kept;             /* tasks kept for GET /v1/tasks */
	bool sanlock;               /* leases and the SPM through sanlock; off: this host manages its pools alone */
	int sanlock_io_timeout;     /* seconds, for the lockspaces this host formats */
	bool tls;                   /* mutual TLS on TCP; off only on a loopback listen_address */
	char tls_cert[PATH_MAX], tls_key[PATH_MAX], tls_ca[PATH_MAX];
	char local_socket[108];     /* root-only unix socket for sanpoolctl; "" for none */
	bool libvirt;               /* the thin monitor: watch the VMs' thin volumes through libvirtd */
	char libvirt_uri[256];
};

void config_defaults(struct config *c);
/* Reads path over the values already in c, then checks the keys against each
 * other (plain HTTP only on loopback); -errno, or -EINVAL with the cause logged. */
int config_load(const char *path, struct config *c);
