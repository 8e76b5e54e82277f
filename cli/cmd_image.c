/* sanpoolctl image list|show|create|delete|template|clone|copy|resize */
#include <stdio.h>

#include "cli/api.h"
#include "cli/cli.h"
#include "cli/report.h"
#include "cli/size.h"
#include "cli/task_follow.h"
#include "cli/views.h"
#include "lib/util/cleanup.h"
#include "lib/util/xalloc.h"

/* --capacity as bytes; a size that does not parse is a usage error. */
static int capacity_arg(const struct cli *c, json_object *body)
{
	uint64_t bytes;

	if (size_parse(c->capacity, &bytes) < 0)
		return usage_error("--capacity '%s' is not a size (bytes, or a number with K, M, G or T)", c->capacity);
	json_object_object_add(body, "capacity", json_object_new_int64((int64_t)bytes));
	return 0;
}

static int images_path(struct cli *c, char **ret)
{
	const char *domain;
	int r = cli_domain(c, &domain);
	if (r < 0)
		return r;
	*ret = xasprintf("/v1/domains/%s/images", domain);
	return 0;
}

static int image_list(struct cli *c)
{
	_cleanup_free_ char *path = NULL;
	int r = images_path(c, &path);
	return r < 0 ? r : api_show(c, path, list_images);
}

/* The API's image has only the UUIDs of its volumes: a person wants to see
 * the chain too, so the text form asks for the volumes as well. */
static int image_show(struct cli *c)
{
	_cleanup_free_ char *path = NULL, *volumes = NULL;
	int r = cli_image_path(c, c->args[0], "", &path);

	if (r < 0 || (r = api_show(c, path, show_image)) < 0 || c->json)
		return r;
	volumes = xasprintf("%s/volumes", path);
	putchar('\n');
	return api_show(c, volumes, list_volumes);
}

static int image_create(struct cli *c)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_free_ char *path = NULL;
	int r;

	if ((r = capacity_arg(c, body)) < 0 || (r = images_path(c, &path)) < 0)
		return r;
	json_object_object_add(body, "name", json_object_new_string(c->name));
	json_object_object_add(body, "format", json_object_new_string(c->format));
	json_object_object_add(body, "allocation", json_object_new_string(c->preallocated ? "preallocated" : "sparse"));
	return task_submit(c, "POST", path, body, show_volume);
}

/* A change on one image with an optional body; the task's result goes through show. */
static int image_change(struct cli *c, const char *method, const char *suffix, json_object *body, show_fn show)
{
	_cleanup_free_ char *path = NULL;
	int r = cli_image_path(c, c->args[0], suffix, &path);
	return r < 0 ? r : task_submit(c, method, path, body, show);
}

static int image_delete(struct cli *c) { return image_change(c, "DELETE", "", NULL, NULL); }

static int image_template(struct cli *c) { return image_change(c, "POST", "/template", NULL, show_image); }

static int image_clone(struct cli *c)
{
	_cleanup_json_ json_object *body = json_object_new_object();

	json_object_object_add(body, "name", json_object_new_string(c->name));
	return image_change(c, "POST", "/clone", body, show_volume);
}

static int image_copy(struct cli *c)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	int r = cli_check_uuid(c->to_domain, "--to-domain");

	if (r < 0)
		return r;
	json_object_object_add(body, "domain", json_object_new_string(c->to_domain));
	if (c->format)
		json_object_object_add(body, "format", json_object_new_string(c->format));
	if (c->preallocated)
		json_object_object_add(body, "allocation", json_object_new_string("preallocated"));
	return image_change(c, "POST", "/copy", body, show_image);
}

static int image_resize(struct cli *c)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	int r = capacity_arg(c, body);
	return r < 0 ? r : image_change(c, "POST", "/resize", body, show_image);
}

const struct command image_commands[] = {
	{ "image", "list", 0, OPT_DOMAIN, 0, image_list, "image list [--domain DOMAIN]" },
	{ "image", "show", 1, OPT_DOMAIN, 0, image_show, "image show IMG" },
	{ "image", "create", 0, OPT_DOMAIN | OPT_NAME | OPT_FORMAT | OPT_CAPACITY | OPT_PREALLOCATED,
	  OPT_NAME | OPT_FORMAT | OPT_CAPACITY, image_create,
	  "image create --name NAME --format raw|qcow2 --capacity SIZE [--preallocated]" },
	{ "image", "delete", 1, OPT_DOMAIN, 0, image_delete, "image delete IMG" },
	{ "image", "template", 1, OPT_DOMAIN, 0, image_template, "image template IMG" },
	{ "image", "clone", 1, OPT_DOMAIN | OPT_NAME, OPT_NAME, image_clone, "image clone IMG --name NAME" },
	{ "image", "copy", 1, OPT_DOMAIN | OPT_TO_DOMAIN | OPT_FORMAT | OPT_PREALLOCATED, OPT_TO_DOMAIN, image_copy,
	  "image copy IMG --to-domain DOMAIN [--format raw|qcow2] [--preallocated]" },
	{ "image", "resize", 1, OPT_DOMAIN | OPT_CAPACITY, OPT_CAPACITY, image_resize, "image resize IMG --capacity SIZE" },
	{ NULL },
};
