#include "cli/api.h"

#include <errno.h>
#include <string.h>

#include "cli/http_client.h"
#include "cli/report.h"
#include "lib/util/cleanup.h"
#include "lib/util/xalloc.h"

/* Every answer but a task long poll comes at once: this only bounds a hung daemon. */
#define DEFAULT_TIMEOUT_MS 120000L

void api_reply_done(struct api_reply *r)
{
	free(r->raw);
	json_object_put(r->json);
	*r = (struct api_reply){ 0 };
}

static json_object *parse(const char *s)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = json_tokener_parse_ex(tok, s, (int)strlen(s));
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

int api_call_timeout(struct cli *c, const char *method, const char *path, json_object *body, long timeout_ms,
		     struct api_reply *ret)
{
	const char *req = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : NULL;
	_cleanup_free_ char *raw = NULL;
	_cleanup_json_ json_object *o = NULL;
	long status;
	int r;

	if ((r = http_request(c->http, method, path, req, timeout_ms, &status, &raw)) < 0)
		return r;
	o = parse(raw);
	if (status >= 400)
		return report_api_error(status, o);
	if (!o)
		return report_error(-EBADMSG, "%s %s: HTTP %ld without a JSON body: is this sanpoold?", method, path,
				    status);
	*ret = (struct api_reply){ .status = status, .raw = TAKE_PTR(raw), .json = TAKE_PTR(o) };
	return 0;
}

int api_call(struct cli *c, const char *method, const char *path, json_object *body, struct api_reply *ret)
{
	return api_call_timeout(c, method, path, body, DEFAULT_TIMEOUT_MS, ret);
}

int api_get_json(struct cli *c, const char *path, json_object **ret)
{
	struct api_reply reply = { 0 }; /* set on success; gcc -O3 cannot tell */
	int r = api_call(c, "GET", path, NULL, &reply);
	if (r < 0)
		return r;
	free(reply.raw);
	*ret = reply.json;
	return 0;
}

json_object *json_get(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

const char *json_str(json_object *o, const char *key)
{
	json_object *v = json_get(o, key);
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* One request whose answer is printed: raw JSON with --json, else by print. */
static int call_and_print(struct cli *c, const char *method, const char *path, json_object *body,
			  void (*print)(json_object *o))
{
	_cleanup_reply_ struct api_reply reply = { 0 };
	int r = api_call(c, method, path, body, &reply);

	if (r < 0)
		return r;
	if (c->json)
		puts(reply.raw);
	else
		print(reply.json);
	return 0;
}

int api_show(struct cli *c, const char *path, void (*print)(json_object *o))
{
	return call_and_print(c, "GET", path, NULL, print);
}

int api_create(struct cli *c, const char *path, json_object *body, void (*print)(json_object *o))
{
	return call_and_print(c, "POST", path, body, print);
}
