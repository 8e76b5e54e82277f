/* Error convention: functions return >= 0 on success and -errno (or a
 * -SP_E_* project code) on failure. The detail an operator needs is kept in a
 * per-thread record set where the failure is found; api/ turns it into the
 * JSON error body. */
#pragma once
#include <errno.h>

/* Project codes live above the errno range so they cannot collide. */
enum {
	SP_E_BASE = 10000,
	SP_E_BAD_REQUEST,  /* malformed or invalid input: 400 */
	SP_E_CONFLICT,     /* state forbids the change (busy, has children): 409 */
	SP_E_NOT_FOUND,    /* object does not exist: 404 */
	SP_E_TOO_LARGE,    /* request body over the limit: 413 */
	SP_E_TOOL_FAILED,  /* an outside program (qemu-img, lvm) failed: 500 */
	SP_E_ABORTED,      /* task aborted by the user */
	SP_E_CORRUPT,      /* on-disk record fails a check */
	SP_E_LEASE_HELD,   /* a sanlock lease is held by another owner (host id in the message): 409 */
	SP_E_NOT_SPM,      /* only the pool's SPM may change its storage: 409 */
	SP_E_MAX
};

struct sp_error {
	int code;           /* the -errno or -SP_E_* that was returned */
	char kind[32];      /* machine-readable code for the API, e.g. "invalid_field" */
	char field[64];     /* request field concerned, "" if none */
	char message[1024]; /* human-readable, names the object concerned */
	unsigned spm_host;  /* not_spm / lease_held: the SPM or lease owner's host id, 0 if unknown */
	char details[512];  /* a JSON object whose members the API adds to the error body, "" if none */
};

/* Records the error for this thread and returns code (negative). */
int sp_error_set(int code, const char *kind, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Adds the host that holds what the last error was about (after sp_error_set). */
void sp_error_set_spm_host(unsigned host_id);
/* Adds members to the API's error body (after sp_error_set): a JSON object's
 * text, e.g. {"device": ..., "hosts": [2, 3]}; cut text is dropped. */
void sp_error_set_details(const char *json_object_text);
/* The last error recorded on this thread (code 0 if none). */
const struct sp_error *sp_error_last(void);
void sp_error_clear(void);
/* Copies this thread's last error into *dst. */
void sp_error_copy(struct sp_error *dst);

/* Shorthands for the common cases. */
#define sp_bad_field(field, ...) sp_error_set(-SP_E_BAD_REQUEST, "invalid_field", (field), __VA_ARGS__)
#define sp_not_found(...) sp_error_set(-SP_E_NOT_FOUND, "not_found", "", __VA_ARGS__)
#define sp_conflict(...) sp_error_set(-SP_E_CONFLICT, "conflict", "", __VA_ARGS__)
