#include "cli/report.h"

#include <stdarg.h>
#include <stdio.h>

#include "cli/cli.h"

static void vreport(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, "sanpoolctl: %s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport("", fmt, ap);
	va_end(ap);
	fputs("Try 'sanpoolctl --help'.\n", stderr);
	return -CLI_E_USAGE;
}

int report_error(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport("error: ", fmt, ap);
	va_end(ap);
	return code;
}

static const char *str_member(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int report_api_error(long status, json_object *body)
{
	json_object *err = NULL;
	const char *message, *field, *code;

	json_object_object_get_ex(body, "error", &err);
	message = str_member(err, "message");
	if (!message)
		return report_error(-CLI_E_API, "the API answered HTTP %ld", status);
	code = str_member(err, "code");
	field = str_member(err, "field");
	fprintf(stderr, "sanpoolctl: error: %s\n", message);
	/* The field is what a user fixes on the command line; the code is for scripts. */
	if (field && *field)
		fprintf(stderr, "  field: %s\n", field);
	if (code && *code)
		fprintf(stderr, "  code: %s (HTTP %ld)\n", code, status);
	return -CLI_E_API;
}
