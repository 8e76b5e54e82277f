/* File storage domain: a directory (local disk or an NFS mount).
 *   <path>/dom_md/metadata.json      identity: uuid, name, pool, kind
 *   <path>/dom_md/journal/<task>.json task journal
 *   <path>/images/<image>/<volume>    volume data
 *   <path>/images/<image>/<volume>.meta  its metadata (atomic writes) */
#pragma once
#include "lib/domain.h"

extern const struct domain_ops domain_file_ops;

/* Creates the layout and identity of a new file domain in an existing, empty
 * or missing directory path. */
int domain_file_format(const char *path, const char *uuid, const char *name, const char *pool);
/* Opens the file domain at path, filling *ret from its identity file. */
int domain_file_open(const char *path, struct domain *ret);
