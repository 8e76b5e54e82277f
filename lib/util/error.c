#include "lib/util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local struct sp_error last;

int sp_error_set(int code, const char *kind, const char *field, const char *fmt, ...)
{
	va_list ap;

	last.code = code;
	last.spm_host = 0;
	last.details[0] = '\0';
	snprintf(last.kind, sizeof(last.kind), "%s", kind ? kind : "error");
	snprintf(last.field, sizeof(last.field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(last.message, sizeof(last.message), fmt, ap);
	va_end(ap);
	return code;
}

void sp_error_set_spm_host(unsigned host_id) { last.spm_host = host_id; }

void sp_error_set_details(const char *json_object_text)
{
	if (strlen(json_object_text) < sizeof(last.details))
		snprintf(last.details, sizeof(last.details), "%s", json_object_text);
}

const struct sp_error *sp_error_last(void) { return &last; }

void sp_error_clear(void) { memset(&last, 0, sizeof(last)); }

void sp_error_copy(struct sp_error *dst) { *dst = last; }
