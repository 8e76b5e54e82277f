/* Shared by the operation modules (ops_*.c): journal records and submission. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>

#include "lib/domain.h"
#include "lib/task.h"

/* An operation as the journal knows it. */
struct op_desc {
	const char *name;
	task_run_fn run;
	/* Finishes or rolls back after a restart; 0 = completed, < 0 = rolled back
	 * (error recorded). Must be idempotent: recovery itself may be interrupted. */
	int (*recover)(json_object *record);
};

const struct op_desc *op_find(const char *name);

/* Record accessors; records were validated when written. */
const char *rec_str(json_object *record, const char *key);
int64_t rec_int(json_object *record, const char *key);
bool rec_bool(json_object *record, const char *key);
json_object *rec_new(const char *op);
void rec_add_str(json_object *record, const char *key, const char *value);
void rec_add_int(json_object *record, const char *key, int64_t value);

/* Claims the images, journals record on domain, queues the task and builds the
 * 202 body ({"task": uuid} plus body_extra's members). Takes record and body_extra. */
int op_submit(const struct op_desc *op, const char *domain, json_object *record, const char *claim1,
	      const char *claim2, json_object *body_extra, json_object **ret);

/* The image's own volumes, base first, all LEGAL (else -SP_E_CONFLICT); with
 * writable, also not a template. *ret is allocated. */
int op_image_chain(const char *domain, const char *image, bool writable, struct volume_meta **ret, size_t *ret_n);

/* Result of an operation on the record's "domain" and "image": the image. */
json_object *op_image_result(struct task *t);

/* Refuses (-SP_E_CONFLICT, recorded) an operation that reads or writes
 * volume data on a domain where this host cannot (block, activation off). */
int op_require_data(const char *domain);

/* The new volume a creating record describes (fields volume, image, domain,
 * parent, parent_image, name, format, allocation, capacity), ILLEGAL. */
void op_meta_from_record(json_object *rec, struct volume_meta *ret);
/* Refuses a new volume like m (format, allocation, capacity) whose space
 * taken at once (the backend's new_volume_space: a file domain's preallocated
 * raw volume, a block domain's first LV) does not fit in the domain's free
 * space now: -ENOSPC ("no_space", HTTP 507) naming field and the domain.
 * Space not known passes. (Other tasks may take the space meanwhile: the
 * task itself can still fail with ENOSPC, reported the same way by op_fail.) */
int op_check_space(const struct domain *d, const struct volume_meta *m, const char *field);
/* Undoes a failed task with undo(record) and returns r with the error that
 * caused the failure still recorded (a failing undo is logged). */
int op_fail(struct task *t, int r, int (*undo)(json_object *record));

/* Recovery of an operation that makes the record's "volume": done once that
 * volume is LEGAL (its last step), else rolled back with rollback(record) and
 * the error says that what (e.g. "volume", object) was removed. */
int op_recover_new_volume(json_object *record, int (*rollback)(json_object *record), const char *what,
			  const char *object);

/* Progress callback for qemu-img that updates the task. */
void op_progress(int percent, void *task);
/* True (with the error recorded) once the user asked the task to abort. */
bool op_aborted(struct task *t);

extern const struct op_desc op_create_volume, op_copy, op_delete_image, op_delete_volume, op_merge,
	op_resize, op_template;

/* Makes m ILLEGAL, then removes its data and metadata. */
int op_remove_volume(struct domain *d, struct volume_meta *m);
