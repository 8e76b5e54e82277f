/* sanpoolctl host */
#include "cli/api.h"
#include "cli/cli.h"
#include "cli/views.h"

static int host_show(struct cli *c) { return api_show(c, "/v1/host", show_host); }

const struct command host_commands[] = {
	{ "host", NULL, 0, 0, 0, host_show, "host" },
	{ NULL },
};
