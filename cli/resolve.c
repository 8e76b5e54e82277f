/* Turning what the user typed into the UUIDs the API takes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/api.h"
#include "cli/cli.h"
#include "cli/report.h"
#include "lib/util/cleanup.h"
#include "lib/util/xalloc.h"

int cli_check_uuid(const char *s, const char *what)
{
	if (!uuid_is_valid(s))
		return usage_error("%s '%s' is not a UUID (8-4-4-4-12 lowercase hex digits)", what, s);
	return 0;
}

static void set_domain(struct cli *c, const char *uuid)
{
	snprintf(c->domain_buf, sizeof(c->domain_buf), "%s", uuid);
	c->domain = c->domain_buf;
}

/* The master domain of the first pool, if there is a pool. */
static int pool_master(struct cli *c, bool *found)
{
	_cleanup_json_ json_object *pools = NULL;
	int r = api_get_json(c, "/v1/pools", &pools);

	if (r < 0)
		return r;
	const char *master = json_str(json_object_array_get_idx(pools, 0), "master_domain");
	*found = master && uuid_is_valid(master);
	if (*found)
		set_domain(c, master);
	return 0;
}

static int only_domain(struct cli *c)
{
	_cleanup_json_ json_object *domains = NULL;
	int r = api_get_json(c, "/v1/domains", &domains);

	if (r < 0)
		return r;
	size_t n = json_object_is_type(domains, json_type_array) ? json_object_array_length(domains) : 0;
	const char *uuid = json_str(json_object_array_get_idx(domains, 0), "uuid");
	if (n != 1 || !uuid)
		return report_error(-CLI_E_API, "no default domain (no pool, %zu domains): pass --domain UUID", n);
	set_domain(c, uuid);
	return 0;
}

int cli_domain(struct cli *c, const char **ret)
{
	bool found = false;
	int r;

	if (c->domain) {
		if ((r = cli_check_uuid(c->domain, "--domain")) < 0)
			return r;
	} else if ((r = pool_master(c, &found)) < 0 || (!found && (r = only_domain(c)) < 0)) {
		return r;
	}
	*ret = c->domain;
	return 0;
}

int cli_image(struct cli *c, const char *domain, const char *arg, char ret[UUID_STR_LEN])
{
	_cleanup_free_ char *path = xasprintf("/v1/domains/%s/images", domain);
	_cleanup_json_ json_object *images = NULL;
	const char *match = NULL;
	size_t matches = 0;
	int r;

	if (uuid_is_valid(arg)) {
		snprintf(ret, UUID_STR_LEN, "%s", arg);
		return 0;
	}
	if ((r = api_get_json(c, path, &images)) < 0)
		return r;
	for (size_t i = 0; json_object_is_type(images, json_type_array) && i < json_object_array_length(images); i++) {
		json_object *img = json_object_array_get_idx(images, i);
		if (strcmp(json_str(img, "name") ?: "", arg) == 0) {
			match = json_str(img, "uuid");
			matches++;
		}
	}
	if (matches == 0)
		return report_error(-CLI_E_API, "no image with UUID or name '%s' in domain %s", arg, domain);
	if (matches > 1)
		return report_error(-CLI_E_API, "%zu images in domain %s are named '%s': give the UUID", matches, domain,
				    arg);
	snprintf(ret, UUID_STR_LEN, "%s", match);
	return 0;
}

int cli_image_path(struct cli *c, const char *img_arg, const char *suffix, char **ret)
{
	char image[UUID_STR_LEN];
	const char *domain;
	int r;

	if ((r = cli_domain(c, &domain)) < 0 || (r = cli_image(c, domain, img_arg, image)) < 0)
		return r;
	*ret = xasprintf("/v1/domains/%s/images/%s%s", domain, image, suffix);
	return 0;
}
