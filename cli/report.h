/* Messages for the user on stderr; each returns the code the caller passes up. */
#pragma once
#include <json-c/json.h>

/* "sanpoolctl: ..." and a hint; returns -CLI_E_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "sanpoolctl: error: ..."; returns code. */
int report_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reports an API error body {"error":{"code","message","field"}} (or the
 * status alone when the body is not one); returns -CLI_E_API. */
int report_api_error(long status, json_object *body);
