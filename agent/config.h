/* sanpoold's configuration: "key = value" lines, '#' comments. Every key and
 * its default is documented in packaging/sanpoold.conf. */
#pragma once
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

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
};

void config_defaults(struct config *c);
/* Reads path over the values already in c; -errno, or -EINVAL with the line logged. */
int config_load(const char *path, struct config *c);
