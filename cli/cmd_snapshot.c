/* sanpoolctl snapshot list|create|delete: the chain of volumes of an image. */
#include "cli/api.h"
#include "cli/cli.h"
#include "cli/task_follow.h"
#include "cli/views.h"
#include "lib/util/cleanup.h"
#include "lib/util/xalloc.h"

static int snapshot_list(struct cli *c)
{
	_cleanup_free_ char *path = NULL;
	int r = cli_image_path(c, c->args[0], "/snapshots", &path);
	return r < 0 ? r : api_show(c, path, list_volumes);
}

static int snapshot_create(struct cli *c)
{
	_cleanup_free_ char *path = NULL;
	int r = cli_image_path(c, c->args[0], "/snapshots", &path);
	return r < 0 ? r : task_submit(c, "POST", path, NULL, show_volume);
}

/* Deleting a snapshot merges its data into the chain; the image stays. */
static int snapshot_delete(struct cli *c)
{
	_cleanup_free_ char *suffix = NULL, *path = NULL;
	int r = cli_check_uuid(c->args[1], "volume");

	if (r < 0)
		return r;
	suffix = xasprintf("/snapshots/%s", c->args[1]);
	if ((r = cli_image_path(c, c->args[0], suffix, &path)) < 0)
		return r;
	return task_submit(c, "DELETE", path, NULL, show_image);
}

const struct command snapshot_commands[] = {
	{ "snapshot", "list", 1, OPT_DOMAIN, 0, snapshot_list, "snapshot list IMG" },
	{ "snapshot", "create", 1, OPT_DOMAIN, 0, snapshot_create, "snapshot create IMG" },
	{ "snapshot", "delete", 2, OPT_DOMAIN, 0, snapshot_delete, "snapshot delete IMG VOLUME   (merges it)" },
	{ NULL },
};
