/* sanpoolctl pool list|show|create */
#include "cli/api.h"
#include "cli/cli.h"
#include "cli/views.h"
#include "lib/util/cleanup.h"
#include "lib/util/xalloc.h"

static int pool_list(struct cli *c) { return api_show(c, "/v1/pools", list_pools); }

static int pool_show(struct cli *c)
{
	int r = cli_check_uuid(c->args[0], "pool");
	if (r < 0)
		return r;
	_cleanup_free_ char *path = xasprintf("/v1/pools/%s", c->args[0]);
	return api_show(c, path, show_pool);
}

/* Creating a pool is immediate (201 with the pool), not a task. */
static int pool_create(struct cli *c)
{
	_cleanup_json_ json_object *body = json_object_new_object();

	json_object_object_add(body, "name", json_object_new_string(c->name));
	json_object_object_add(body, "master_domain_name", json_object_new_string(c->master_domain_name));
	if (c->path)
		json_object_object_add(body, "path", json_object_new_string(c->path));
	return api_create(c, "/v1/pools", body, show_pool);
}

const struct command pool_commands[] = {
	{ "pool", "list", 0, 0, 0, pool_list, "pool list" },
	{ "pool", "show", 1, 0, 0, pool_show, "pool show POOL" },
	{ "pool", "create", 0, OPT_NAME | OPT_MASTER_DOMAIN_NAME | OPT_PATH, OPT_NAME | OPT_MASTER_DOMAIN_NAME,
	  pool_create, "pool create --name NAME --master-domain-name NAME [--path PATH]" },
	{ NULL },
};
