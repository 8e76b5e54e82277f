/* sanpoolctl check [DOMAIN]: the consistency checker (GET /v1/domains/{d}/check)
 * on one domain or on every domain; exit 1 when it finds any problem. */
#include <stdio.h>
#include <string.h>

#include "cli/api.h"
#include "cli/cli.h"
#include "cli/report.h"
#include "lib/util/cleanup.h"
#include "lib/util/xalloc.h"

/* A check reads every volume and runs qemu-img on each: minutes on a large domain. */
#define CHECK_TIMEOUT_MS (30L * 60 * 1000)

/* The domains to check: the one DOMAIN names (a uuid or a name), else every one. */
static int domains_to_check(struct cli *c, json_object **ret)
{
	_cleanup_json_ json_object *all = NULL;
	int r = api_get_json(c, "/v1/domains", &all);

	if (r < 0)
		return r;
	if (c->nargs == 0) {
		*ret = TAKE_PTR(all);
		return 0;
	}
	json_object *found = json_object_new_array();
	for (size_t i = 0; json_object_is_type(all, json_type_array) && i < json_object_array_length(all); i++) {
		json_object *d = json_object_array_get_idx(all, i);
		if (strcmp(json_str(d, "uuid") ?: "", c->args[0]) == 0 || strcmp(json_str(d, "name") ?: "", c->args[0]) == 0)
			json_object_array_add(found, json_object_get(d));
	}
	if (json_object_array_length(found) != 1) {
		r = report_error(-CLI_E_API, "%s domain '%s'", json_object_array_length(found) ? "more than one" : "no",
				 c->args[0]);
		json_object_put(found);
		return r;
	}
	*ret = found;
	return 0;
}

static size_t array_len(json_object *a)
{
	return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static void print_result(json_object *res)
{
	json_object *checked = json_get(res, "checked"), *problems = json_get(res, "problems");
	json_object *skipped = json_get(res, "skipped");
	size_t n = array_len(problems);

	printf("domain %s (%s, %s): %d images, %d volumes, %d journal records: ", json_str(res, "name") ?: "?",
	       json_str(res, "domain") ?: "?", json_str(res, "kind") ?: "?",
	       json_object_get_int(json_get(checked, "images")), json_object_get_int(json_get(checked, "volumes")),
	       json_object_get_int(json_get(checked, "journal_records")));
	if (n == 0)
		puts("no problems");
	else
		printf("%zu problem%s\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(problems, i);
		printf("  %-20s %s\n", json_str(p, "code") ?: "?", json_str(p, "message") ?: "");
	}
	for (size_t i = 0; i < array_len(skipped); i++)
		printf("  skipped: %s\n", json_object_get_string(json_object_array_get_idx(skipped, i)));
	if (!json_object_get_boolean(json_get(res, "quiet")))
		puts("  note: tasks ran during the check; check again once they ended for a verdict on every image");
}

static int check(struct cli *c)
{
	_cleanup_json_ json_object *domains = NULL;
	_cleanup_json_ json_object *results = json_object_new_array();
	size_t problems = 0;
	int r = domains_to_check(c, &domains);

	if (r < 0)
		return r;
	for (size_t i = 0; i < array_len(domains); i++) {
		_cleanup_reply_ struct api_reply reply = { 0 };
		const char *uuid = json_str(json_object_array_get_idx(domains, i), "uuid") ?: "";
		_cleanup_free_ char *path = xasprintf("/v1/domains/%s/check", uuid);
		if ((r = api_call_timeout(c, "GET", path, NULL, CHECK_TIMEOUT_MS, &reply)) < 0)
			return r;
		problems += array_len(json_get(reply.json, "problems"));
		if (!c->json)
			print_result(reply.json);
		json_object_array_add(results, json_object_get(reply.json));
	}
	if (c->json)
		puts(json_object_to_json_string_ext(results, JSON_C_TO_STRING_PLAIN));
	if (problems)
		return report_error(-CLI_E_API, "%zu problem%s found", problems, problems == 1 ? "" : "s");
	return 0;
}

const struct command check_commands[] = {
	{ "check", NULL, 0, 0, 0, check, "check [DOMAIN]", 1 },
	{ NULL },
};
