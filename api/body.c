#include "api/body.h"

#include <string.h>

#include "lib/util/error.h"
#include "lib/util/name.h"
#include "lib/util/uuid.h"
#include "lib/util/xalloc.h"

int body_parse(const char *data, size_t len, json_object **ret)
{
	json_tokener *tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *o = json_tokener_parse_ex(tok, data, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	/* allow trailing whitespace only (strchr would also find a NUL byte) */
	while (o && used < len && data[used] && strchr(" \t\r\n", data[used]))
		used++;
	if (!o || jerr != json_tokener_success || used != len) {
		json_object_put(o);
		return sp_bad_field("body", "request body is not valid JSON%s%s", jerr != json_tokener_success ? ": " : "",
				    jerr != json_tokener_success ? json_tokener_error_desc(jerr) : "");
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return sp_bad_field("body", "request body must be a JSON object");
	}
	*ret = o;
	return 0;
}

static const char *type_name(enum field_type t)
{
	switch (t) {
	case FIELD_STRING: return "a string";
	case FIELD_INT: return "an integer";
	case FIELD_BOOL: return "a boolean";
	case FIELD_UUID: return "a UUID";
	case FIELD_STRING_ARRAY: return "a non-empty array of strings";
	default: return "a name of 1-64 characters [A-Za-z0-9._-] not starting with '.' or '-'";
	}
}

/* A JSON string may hold "\u0000": C would read only what comes before it
 * ("a\u0000/../x" would pass as the name "a"), so such a string is refused. */
static bool is_c_string(json_object *v)
{
	return json_object_is_type(v, json_type_string) &&
	       strlen(json_object_get_string(v)) == (size_t)json_object_get_string_len(v);
}

static bool string_array_ok(json_object *v)
{
	size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
	for (size_t i = 0; i < n; i++)
		if (!is_c_string(json_object_array_get_idx(v, i)))
			return false;
	return n > 0;
}

static bool type_ok(json_object *v, enum field_type t)
{
	switch (t) {
	case FIELD_INT: return json_object_is_type(v, json_type_int);
	case FIELD_BOOL: return json_object_is_type(v, json_type_boolean);
	case FIELD_UUID: return is_c_string(v) && uuid_is_valid(json_object_get_string(v));
	case FIELD_NAME: return is_c_string(v) && name_is_valid(json_object_get_string(v));
	case FIELD_STRING_ARRAY: return string_array_ok(v);
	default: return is_c_string(v);
	}
}

int body_check(json_object *body, const struct field_spec *spec, size_t n)
{
	if (body) {
		json_object_object_foreach(body, key, val) {
			size_t i;
			for (i = 0; i < n && strcmp(spec[i].name, key) != 0; i++)
				;
			if (i == n)
				return sp_bad_field(key, "unknown field %s", key);
			if (!val || !type_ok(val, spec[i].type))
				return sp_bad_field(key, "field %s must be %s", key, type_name(spec[i].type));
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (spec[i].required && (!body || !json_object_object_get_ex(body, spec[i].name, NULL)))
			return sp_bad_field(spec[i].name, "field %s is required", spec[i].name);
	}
	return 0;
}

const char *body_str(json_object *body, const char *name)
{
	json_object *v;
	if (!body || !json_object_object_get_ex(body, name, &v) || !v)
		return NULL;
	return json_object_get_string(v);
}

int64_t body_int(json_object *body, const char *name, int64_t def)
{
	json_object *v;
	if (!body || !json_object_object_get_ex(body, name, &v) || !v)
		return def;
	return json_object_get_int64(v);
}

int body_check_path(const char *path)
{
	size_t n = path ? strlen(path) : 0;

	if (!path)
		return 0;
	if (path[0] != '/' || strstr(path, "/../") || strstr(path, "/./") || strstr(path, "//") ||
	    (n >= 3 && strcmp(path + n - 3, "/..") == 0) || (n >= 2 && strcmp(path + n - 2, "/.") == 0) ||
	    n >= 3000)
		return sp_bad_field("path", "path must be an absolute path without . or .. components");
	return 0;
}

const char **body_str_array(json_object *body, const char *name)
{
	json_object *v;
	if (!body || !json_object_object_get_ex(body, name, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	size_t n = json_object_array_length(v);
	const char **out = xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = json_object_get_string(json_object_array_get_idx(v, i));
	return out;
}
