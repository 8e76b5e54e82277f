/* Calls to the sanpool REST API: JSON in, JSON out, errors reported. */
#pragma once
#include <json-c/json.h>

#include "cli/cli.h"

struct api_reply {
	long status;
	char *raw;         /* the body as received, for --json */
	json_object *json; /* the body parsed */
};

void api_reply_done(struct api_reply *r);
#define _cleanup_reply_ __attribute__((cleanup(api_reply_done)))

/* Sends the request (body may be NULL) and waits at most timeout_ms.
 * Returns 0 with *ret filled when the API answered 2xx with JSON;
 * -CLI_E_API when it answered an error; -errno when it could not be reached
 * or did not answer JSON. Every failure is reported on stderr. */
int api_call_timeout(struct cli *c, const char *method, const char *path, json_object *body, long timeout_ms,
		     struct api_reply *ret);

/* As api_call_timeout with the default timeout. */
int api_call(struct cli *c, const char *method, const char *path, json_object *body, struct api_reply *ret);

/* GET path; returns 0 with the parsed body (owned by the caller). */
int api_get_json(struct cli *c, const char *path, json_object **ret);

/* Member helpers that tolerate a missing or mistyped member. */
const char *json_str(json_object *o, const char *key);
json_object *json_get(json_object *o, const char *key);

/* GET path and print the answer: raw with --json, else through print. */
int api_show(struct cli *c, const char *path, void (*print)(json_object *o));

/* POST body to path for an immediate change (201 with the object): prints
 * the object raw with --json, else through print. */
int api_create(struct cli *c, const char *path, json_object *body, void (*print)(json_object *o));
