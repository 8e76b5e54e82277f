#include "lib/domain.h"

json_object *domain_to_json(const struct domain *d)
{
	json_object *o = json_object_new_object();
	uint64_t total = 0, avail = 0;

	json_object_object_add(o, "uuid", json_object_new_string(d->uuid));
	json_object_object_add(o, "name", json_object_new_string(d->name));
	json_object_object_add(o, "pool", d->pool[0] ? json_object_new_string(d->pool) : NULL);
	json_object_object_add(o, "kind", json_object_new_string(d->ops->kind));
	if (d->ops->stats(d, &total, &avail) == 0) {
		json_object_object_add(o, "total_bytes", json_object_new_int64((int64_t)total));
		json_object_object_add(o, "free_bytes", json_object_new_int64((int64_t)avail));
	}
	return o;
}
