/* Request bodies (api/body.c): what api/http.c does with every body a client
 * sends (body_parse), then the checks and accessors of each route's field
 * spec. The specs are copies of the routes' own (api/route_*.c): a body is
 * checked against each, as a client may send any body to any route. */
#include "fuzz/fuzz.h"

#include "api/body.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct field_spec domain_create[] = { { "name", FIELD_NAME, true },
						   { "pool", FIELD_UUID, false },
						   { "kind", FIELD_STRING, false },
						   { "path", FIELD_STRING, false },
						   { "devices", FIELD_STRING_ARRAY, false } };
static const struct field_spec domain_device[] = { { "device", FIELD_STRING, true } };
static const struct field_spec image_create[] = { { "name", FIELD_NAME, false },
						  { "format", FIELD_STRING, true },
						  { "allocation", FIELD_STRING, false },
						  { "capacity", FIELD_INT, true } };
static const struct field_spec snapshot[] = { { "parent", FIELD_UUID, false } };
static const struct field_spec image_copy[] = { { "domain", FIELD_UUID, true },
						{ "format", FIELD_STRING, false },
						{ "allocation", FIELD_STRING, false } };
static const struct field_spec pool_create[] = { { "name", FIELD_NAME, true },
						 { "master_domain_name", FIELD_NAME, true },
						 { "path", FIELD_STRING, false } };

static const struct {
	const struct field_spec *spec;
	size_t n;
} specs[] = {
	{ domain_create, N(domain_create) }, { domain_device, N(domain_device) },
	{ image_create, N(image_create) },   { snapshot, N(snapshot) },
	{ image_copy, N(image_copy) },       { pool_create, N(pool_create) },
};

/* A checked string field holds no NUL: C sees all of it ("a\u0000/../x" must not pass as "a"). */
static void assert_whole(json_object *v)
{
	FUZZ_ASSERT(strlen(json_object_get_string(v)) == (size_t)json_object_get_string_len(v));
}

static void use_checked(json_object *body, const struct field_spec *spec, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_object *v;
		if (!json_object_object_get_ex(body, spec[i].name, &v)) {
			FUZZ_ASSERT(!spec[i].required);
			continue;
		}
		switch (spec[i].type) {
		case FIELD_INT:
			FUZZ_ASSERT(body_int(body, spec[i].name, -1) == json_object_get_int64(v));
			break;
		case FIELD_BOOL:
			break;
		case FIELD_STRING_ARRAY: {
			const char **s = body_str_array(body, spec[i].name);
			size_t k = 0;
			FUZZ_ASSERT(s && s[0]);
			for (; s[k]; k++)
				assert_whole(json_object_array_get_idx(v, k));
			FUZZ_ASSERT(k == json_object_array_length(v));
			free(s);
			break;
		}
		default:
			assert_whole(v);
			FUZZ_ASSERT(body_str(body, spec[i].name) == json_object_get_string(v));
			if (strcmp(spec[i].name, "path") == 0)
				(void)body_check_path(body_str(body, "path"));
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *body = NULL;

	fuzz_quiet();
	if (body_parse((const char *)data, size, &body) < 0)
		return 0;
	FUZZ_ASSERT(json_object_is_type(body, json_type_object));
	for (size_t i = 0; i < N(specs); i++)
		if (body_check(body, specs[i].spec, specs[i].n) == 0)
			use_checked(body, specs[i].spec, specs[i].n);
	/* a route without a body spec checks against nothing */
	(void)body_check(body, NULL, 0);
	json_object_put(body);
	return 0;
}
