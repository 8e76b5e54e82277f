#include "lib/pool.h"

#include <stdio.h>
#include <string.h>

#include "lib/lvm.h"
#include "lib/util/error.h"
#include "lib/util/name.h"
#include "lib/util/uuid.h"
#include "lib/util/xalloc.h"

json_object *pool_record_new(const struct pool *p)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "uuid", json_object_new_string(p->uuid));
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "master", json_object_new_string(p->master));
	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "spm_generation", json_object_new_int64(0));
	json_object_object_add(o, "spm_host", json_object_new_int(0));
	json_object_object_add(o, "domains", json_object_new_array());
	return o;
}

json_object *pool_record_domains(json_object *rec)
{
	json_object *a;
	if (!json_object_object_get_ex(rec, "domains", &a) || !json_object_is_type(a, json_type_array)) {
		a = json_object_new_array();
		json_object_object_add(rec, "domains", a);
	}
	return a;
}

static const char *str_field(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

void pool_record_put_domain(json_object *rec, json_object *location)
{
	json_object *a = pool_record_domains(rec);
	const char *uuid = str_field(location, "uuid");
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		const char *u = str_field(json_object_array_get_idx(a, i), "uuid");
		if (u && uuid && strcmp(u, uuid) == 0) {
			json_object_array_put_idx(a, i, location);
			return;
		}
	}
	json_object_array_add(a, location);
}

int pool_record_identity(json_object *rec, const char *pool, struct pool *ret)
{
	const char *uuid = str_field(rec, "uuid"), *name = str_field(rec, "name"), *master = str_field(rec, "master");
	if (!uuid || strcmp(uuid, pool) != 0 || !name || !name_is_valid(name) || !master || !uuid_is_valid(master))
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "the record of pool %s is not valid", pool);
	struct pool p = { 0 };
	snprintf(p.uuid, sizeof(p.uuid), "%s", uuid);
	snprintf(p.name, sizeof(p.name), "%s", name);
	snprintf(p.master, sizeof(p.master), "%s", master);
	*ret = p;
	return 0;
}

int pool_location_spec(json_object *location, struct domain_spec *ret)
{
	const char *kind = str_field(location, "kind"), *uuid = str_field(location, "uuid");
	struct domain_spec s = { 0 };
	json_object *devs;

	if (!kind || !uuid || !uuid_is_valid(uuid))
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "a pool record names a domain without uuid or kind");
	if (strcmp(kind, "file") == 0) {
		s.path = str_field(location, "path");
		if (!s.path || s.path[0] != '/')
			return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "domain %s: no valid path in the pool record", uuid);
	} else if (strcmp(kind, "block") == 0 && json_object_object_get_ex(location, "devices", &devs) &&
		   json_object_is_type(devs, json_type_array) && json_object_array_length(devs) > 0 &&
		   json_object_array_length(devs) <= LVM_MAX_DEVS) {
		size_t n = json_object_array_length(devs);
		const char **v = xcalloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++) {
			v[i] = json_object_get_string(json_object_array_get_idx(devs, i));
			if (!v[i] || !lvm_device_is_valid(v[i])) {
				free(v);
				return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "domain %s: invalid device in the pool record", uuid);
			}
		}
		s.devices = v;
	} else {
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "domain %s: no valid location in the pool record", uuid);
	}
	*ret = s;
	return 0;
}

void pool_record_set_spm(json_object *rec, uint64_t generation, unsigned host_id)
{
	json_object_object_add(rec, "spm_generation", json_object_new_int64((int64_t)generation));
	json_object_object_add(rec, "spm_host", json_object_new_int((int)host_id));
}
