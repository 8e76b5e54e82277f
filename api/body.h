/* Request bodies: strict JSON objects checked against a field list, so that
 * a malformed body, an unknown field or a wrong type is refused with the
 * field named and nothing changed. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum field_type { FIELD_STRING, FIELD_INT, FIELD_BOOL, FIELD_UUID, FIELD_NAME, FIELD_STRING_ARRAY };

struct field_spec {
	const char *name;
	enum field_type type;
	bool required;
};

/* Parses len bytes of JSON into an object; -SP_E_BAD_REQUEST (field "body") if it is not one. */
int body_parse(const char *data, size_t len, json_object **ret);
/* Checks body (may be NULL: then it is an empty object) against spec[0..n). */
int body_check(json_object *body, const struct field_spec *spec, size_t n);
/* Accessors for checked bodies: NULL / def when absent. */
const char *body_str(json_object *body, const char *name);
/* A FIELD_STRING_ARRAY as a NULL-terminated array (allocated; the strings stay in body), or NULL. */
const char **body_str_array(json_object *body, const char *name);
int64_t body_int(json_object *body, const char *name, int64_t def);
/* A directory given for a file domain (an NFS mount point): absolute, no
 * "." or ".." components; -SP_E_BAD_REQUEST naming "path" otherwise. */
int body_check_path(const char *path);
