/* What every sanpoolctl command sees: the parsed command line and the client. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/util/uuid.h"

struct http_client;

/* Exit statuses (documented in the usage text). */
enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* Project codes above the errno range. Both mean "already reported on
 * stderr": main only maps them to an exit status. */
enum {
	CLI_E_BASE = 20000,
	CLI_E_USAGE, /* bad command line: exit 2 */
	CLI_E_API,   /* the API answered an error, or a task failed: exit 1 */
};

/* One bit per command option, so that each command declares what it takes. */
enum {
	OPT_NAME = 1u << 0,
	OPT_MASTER_DOMAIN_NAME = 1u << 1,
	OPT_PATH = 1u << 2,
	OPT_POOL = 1u << 3,
	OPT_FORMAT = 1u << 4,
	OPT_CAPACITY = 1u << 5,
	OPT_PREALLOCATED = 1u << 6,
	OPT_TO_DOMAIN = 1u << 7,
	OPT_DOMAIN = 1u << 8,
};

struct cli {
	struct http_client *http;
	bool json;     /* --json: raw API JSON on stdout instead of tables */
	bool wait;     /* cleared by --no-wait */
	const char *domain; /* --domain, or the default once resolved */
	char domain_buf[UUID_STR_LEN];

	unsigned seen; /* OPT_* bits given */
	const char *name, *master_domain_name, *path, *pool, *format, *capacity, *to_domain;
	bool preallocated;

	char **args; /* positional arguments after the resource and action */
	int nargs;
};

typedef int (*cmd_fn)(struct cli *c);

/* A row of a command table; each table ends with a { NULL } entry. */
struct command {
	const char *resource;
	const char *action; /* NULL: the resource alone is the command (host) */
	int nargs;
	unsigned allowed, required; /* OPT_* bits */
	cmd_fn fn;
	const char *usage; /* what follows "sanpoolctl " in the help */
	int max_nargs;     /* up to this many positional arguments (0: exactly nargs) */
};

extern const struct command host_commands[], pool_commands[], domain_commands[], image_commands[],
	snapshot_commands[], volume_commands[], task_commands[], check_commands[];

/* The domain to act in: --domain, else the master domain of the first pool,
 * else the only domain. Returns 0 with *ret set, or a reported error. */
int cli_domain(struct cli *c, const char **ret);

/* Checks that s is a UUID (what names it says); a usage error otherwise. */
int cli_check_uuid(const char *s, const char *what);

/* The image an IMG argument names: a UUID as is, else the one image of
 * that name in domain. Returns 0 with ret filled, or a reported error. */
int cli_image(struct cli *c, const char *domain, const char *arg, char ret[UUID_STR_LEN]);

/* "/v1/domains/D/images/I" followed by suffix (may be ""), for the domain
 * of the command and the image img_arg names. Returns 0 with *ret (newly
 * allocated), or a reported error. */
int cli_image_path(struct cli *c, const char *img_arg, const char *suffix, char **ret);
