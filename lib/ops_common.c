#include "lib/ops_common.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "lib/store.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/log.h"

static const struct op_desc *const all_ops[] = {
	&op_create_volume, &op_copy, &op_delete_image, &op_delete_volume, &op_merge, &op_resize, &op_template,
};

const struct op_desc *op_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(all_ops); i++)
		if (strcmp(all_ops[i]->name, name) == 0)
			return all_ops[i];
	return NULL;
}

const char *rec_str(json_object *record, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(record, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

int64_t rec_int(json_object *record, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(record, key, &v) ? json_object_get_int64(v) : 0;
}

bool rec_bool(json_object *record, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(record, key, &v) && json_object_get_boolean(v);
}

json_object *rec_new(const char *op)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "op", json_object_new_string(op));
	json_object_object_add(o, "version", json_object_new_int(1));
	return o;
}

void rec_add_str(json_object *record, const char *key, const char *value)
{
	json_object_object_add(record, key, json_object_new_string(value ? value : ""));
}

void rec_add_int(json_object *record, const char *key, int64_t value)
{
	json_object_object_add(record, key, json_object_new_int64(value));
}

void op_progress(int percent, void *task)
{
	atomic_store(&((struct task *)task)->progress, percent);
}

bool op_aborted(struct task *t)
{
	if (!atomic_load(&t->abort))
		return false;
	sp_error_set(-SP_E_ABORTED, "aborted", "", "task %s aborted by request", t->uuid);
	return true;
}

int op_submit(const struct op_desc *op, const char *domain, json_object *record, const char *claim1,
	      const char *claim2, json_object *body_extra, json_object **ret)
{
	_cleanup_json_ json_object *extra = body_extra;
	struct domain d;
	int r;

	struct task *t = task_new(op->name, domain, record, op->run);
	store_submission_begin();
	if ((r = store_get_domain(domain, &d)) < 0)
		goto fail;
	const char *claims[2] = { claim1, claim2 };
	for (size_t i = 0; i < 2; i++) {
		if (!claims[i])
			continue;
		if ((r = store_image_claim(claims[i], t->uuid)) < 0)
			goto fail;
		snprintf(t->claims[i], sizeof(t->claims[i]), "%s", claims[i]);
	}
	rec_add_str(record, "task", t->uuid);
	if ((r = store_check_writer(&d)) < 0 || (r = d.ops->journal_write(&d, t->uuid, record)) < 0)
		goto fail;

	json_object *body = json_object_new_object();
	json_object_object_add(body, "task", json_object_new_string(t->uuid));
	if (extra) {
		json_object_object_foreach(extra, key, val) json_object_object_add(body, key, json_object_get(val));
	}
	log_info("task %s (%s) accepted on domain %s", t->uuid, op->name, domain);
	task_submit(t);
	store_submission_end();
	*ret = body;
	return 0;
fail:
	store_submission_end();
	for (size_t i = 0; i < 2; i++)
		if (t->claims[i][0])
			store_image_release(t->claims[i], t->uuid);
	t->record = NULL;
	json_object_put(record);
	free(t);
	return r;
}

int op_image_chain(const char *domain, const char *image, bool writable, struct volume_meta **ret, size_t *ret_n)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	size_t n;
	int r;

	if ((r = store_get_domain(domain, &(struct domain){ 0 })) < 0)
		return r;
	if ((r = store_image_volumes(domain, image, &v, &n)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].legal)
			return sp_conflict("image %s is not usable: volume %s is ILLEGAL", image, v[i].uuid);
		if (writable && v[i].shared)
			return sp_conflict("image %s is a template: it is read-only", image);
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

json_object *op_image_result(struct task *t)
{
	return store_image_json(rec_str(t->record, "domain"), rec_str(t->record, "image"));
}

int op_require_data(const char *domain)
{
	struct domain d;
	int r = store_get_domain(domain, &d);
	if (r < 0)
		return r;
	if (!d.ops->data_access(&d))
		return sp_error_set(-SP_E_CONFLICT, "no_data_access", "",
				    "domain %s: this operation reads or writes volume data, and LV activation is "
				    "disabled on this host (lvm_activation = no)", domain);
	return 0;
}

void op_meta_from_record(json_object *rec, struct volume_meta *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->uuid, sizeof(m->uuid), "%s", rec_str(rec, "volume"));
	snprintf(m->image, sizeof(m->image), "%s", rec_str(rec, "image"));
	snprintf(m->domain, sizeof(m->domain), "%s", rec_str(rec, "domain"));
	snprintf(m->parent, sizeof(m->parent), "%s", rec_str(rec, "parent"));
	snprintf(m->parent_image, sizeof(m->parent_image), "%s", rec_str(rec, "parent_image"));
	snprintf(m->image_name, sizeof(m->image_name), "%s", rec_str(rec, "name"));
	vol_format_parse(rec_str(rec, "format"), &m->format);
	vol_alloc_parse(rec_str(rec, "allocation"), &m->alloc);
	m->capacity = (uint64_t)rec_int(rec, "capacity");
	m->ctime = time(NULL);
}

int op_check_space(const struct domain *d, const struct volume_meta *m, const char *field)
{
	uint64_t total, free_bytes, need;

	if (d->ops->new_volume_space(d, m, &need) < 0 || need == 0 || d->ops->stats(d, &total, &free_bytes) < 0 ||
	    need <= free_bytes) {
		sp_error_clear();
		return 0; /* fits, or unknown: the task finds out */
	}
	return sp_error_set(-ENOSPC, "no_space", field,
			    "domain %s (%s) has %" PRIu64 " bytes free: a %s %s volume of %" PRIu64
			    " bytes takes %" PRIu64 " at once and does not fit (ENOSPC)", d->name, d->uuid, free_bytes,
			    vol_alloc_str(m->alloc), vol_format_str(m->format), m->capacity, need);
}

int op_fail(struct task *t, int r, int (*undo)(json_object *record))
{
	struct sp_error cause;
	struct domain d;

	sp_error_copy(&cause);
	if (undo(t->record) < 0)
		log_error("task %s (%s): undoing it failed: %s", t->uuid, t->op, sp_error_last()->message);
	if (cause.code == -ENOSPC && store_get_domain(t->domain, &d) == 0)
		sp_error_set(cause.code, "no_space", cause.field, "domain %s (%s) is full (ENOSPC): %s", d.name, d.uuid,
			     cause.message);
	else
		sp_error_set(cause.code, cause.kind, cause.field, "%s", cause.message);
	return r;
}

int op_recover_new_volume(json_object *record, int (*rollback)(json_object *record), const char *what,
			  const char *object)
{
	struct volume_meta m;
	int r;

	if (store_get_volume(rec_str(record, "volume"), &m) == 0 && m.legal)
		return 0;
	if ((r = rollback(record)) < 0)
		return r;
	return sp_error_set(-SP_E_ABORTED, "rolled_back", "", "the agent stopped before %s %s was complete; it was removed",
			    what, object);
}
