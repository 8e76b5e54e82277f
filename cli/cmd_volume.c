/* sanpoolctl volume list|show|delete: the volumes of one image. */
#include "cli/api.h"
#include "cli/cli.h"
#include "cli/task_follow.h"
#include "cli/views.h"
#include "lib/util/cleanup.h"
#include "lib/util/xalloc.h"

/* The path of volume args[1] of image args[0]. */
static int volume_path(struct cli *c, char **ret)
{
	_cleanup_free_ char *suffix = NULL;
	int r = cli_check_uuid(c->args[1], "volume");

	if (r < 0)
		return r;
	suffix = xasprintf("/volumes/%s", c->args[1]);
	return cli_image_path(c, c->args[0], suffix, ret);
}

static int volume_list(struct cli *c)
{
	_cleanup_free_ char *path = NULL;
	int r = cli_image_path(c, c->args[0], "/volumes", &path);
	return r < 0 ? r : api_show(c, path, list_volumes);
}

static int volume_show(struct cli *c)
{
	_cleanup_free_ char *path = NULL;
	int r = volume_path(c, &path);
	return r < 0 ? r : api_show(c, path, show_volume);
}

static int volume_delete(struct cli *c)
{
	_cleanup_free_ char *path = NULL;
	int r = volume_path(c, &path);
	return r < 0 ? r : task_submit(c, "DELETE", path, NULL, NULL);
}

const struct command volume_commands[] = {
	{ "volume", "list", 1, OPT_DOMAIN, 0, volume_list, "volume list IMG" },
	{ "volume", "show", 2, OPT_DOMAIN, 0, volume_show, "volume show IMG VOLUME" },
	{ "volume", "delete", 2, OPT_DOMAIN, 0, volume_delete, "volume delete IMG VOLUME" },
	{ NULL },
};
