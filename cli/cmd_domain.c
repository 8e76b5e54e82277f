/* sanpoolctl domain list|show|create */
#include "cli/api.h"
#include "cli/cli.h"
#include "cli/views.h"
#include "lib/util/cleanup.h"
#include "lib/util/xalloc.h"

static int domain_list(struct cli *c) { return api_show(c, "/v1/domains", list_domains); }

static int domain_show(struct cli *c)
{
	int r = cli_check_uuid(c->args[0], "domain");
	if (r < 0)
		return r;
	_cleanup_free_ char *path = xasprintf("/v1/domains/%s", c->args[0]);
	return api_show(c, path, show_domain);
}

/* Creating a domain is immediate (201 with the domain), not a task. */
static int domain_create(struct cli *c)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	int r;

	if (c->pool && (r = cli_check_uuid(c->pool, "--pool")) < 0)
		return r;
	json_object_object_add(body, "name", json_object_new_string(c->name));
	if (c->pool)
		json_object_object_add(body, "pool", json_object_new_string(c->pool));
	if (c->path)
		json_object_object_add(body, "path", json_object_new_string(c->path));
	return api_create(c, "/v1/domains", body, show_domain);
}

const struct command domain_commands[] = {
	{ "domain", "list", 0, 0, 0, domain_list, "domain list" },
	{ "domain", "show", 1, 0, 0, domain_show, "domain show DOMAIN" },
	{ "domain", "create", 0, OPT_NAME | OPT_POOL | OPT_PATH, OPT_NAME, domain_create,
	  "domain create --name NAME [--pool POOL] [--path PATH]" },
	{ NULL },
};
