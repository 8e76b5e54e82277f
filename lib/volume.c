#include "lib/volume.h"

#include <string.h>

#include "lib/util/error.h"

const char *vol_format_str(enum vol_format f) { return f == VOL_FORMAT_RAW ? "raw" : "qcow2"; }

int vol_format_parse(const char *s, enum vol_format *ret)
{
	if (strcmp(s, "raw") == 0)
		*ret = VOL_FORMAT_RAW;
	else if (strcmp(s, "qcow2") == 0)
		*ret = VOL_FORMAT_QCOW2;
	else
		return -EINVAL;
	return 0;
}

const char *vol_alloc_str(enum vol_alloc a) { return a == VOL_ALLOC_SPARSE ? "sparse" : "preallocated"; }

int vol_alloc_parse(const char *s, enum vol_alloc *ret)
{
	if (strcmp(s, "sparse") == 0)
		*ret = VOL_ALLOC_SPARSE;
	else if (strcmp(s, "preallocated") == 0)
		*ret = VOL_ALLOC_PREALLOCATED;
	else
		return -EINVAL;
	return 0;
}

int volume_check_capacity(uint64_t capacity, const char *field)
{
	if (capacity < VOL_MIN_CAPACITY || capacity > VOL_MAX_CAPACITY)
		return sp_bad_field(field, "%s must be between %llu and %llu bytes", field,
				    (unsigned long long)VOL_MIN_CAPACITY, (unsigned long long)VOL_MAX_CAPACITY);
	if (capacity % 512)
		return sp_bad_field(field, "%s must be a multiple of 512 bytes", field);
	return 0;
}

json_object *volume_meta_to_json(const struct volume_meta *m)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "uuid", json_object_new_string(m->uuid));
	json_object_object_add(o, "image", json_object_new_string(m->image));
	json_object_object_add(o, "domain", json_object_new_string(m->domain));
	json_object_object_add(o, "parent", m->parent[0] ? json_object_new_string(m->parent) : NULL);
	json_object_object_add(o, "parent_image",
			       m->parent_image[0] ? json_object_new_string(m->parent_image) : NULL);
	json_object_object_add(o, "image_name", json_object_new_string(m->image_name));
	json_object_object_add(o, "format", json_object_new_string(vol_format_str(m->format)));
	json_object_object_add(o, "allocation", json_object_new_string(vol_alloc_str(m->alloc)));
	json_object_object_add(o, "capacity", json_object_new_int64((int64_t)m->capacity));
	json_object_object_add(o, "legality", json_object_new_string(m->legal ? "LEGAL" : "ILLEGAL"));
	json_object_object_add(o, "shared", json_object_new_boolean(m->shared));
	json_object_object_add(o, "generation", json_object_new_int64((int64_t)m->generation));
	json_object_object_add(o, "spm_generation", json_object_new_int64((int64_t)m->spm_generation));
	json_object_object_add(o, "ctime", json_object_new_int64(m->ctime));
	return o;
}

static int get_str(json_object *o, const char *key, bool nullable, char *dst, size_t size)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v))
		return sp_error_set(-SP_E_CORRUPT, "corrupt", key, "metadata lacks %s", key);
	if (!v && nullable) {
		dst[0] = '\0';
		return 0;
	}
	if (!json_object_is_type(v, json_type_string) || (size_t)json_object_get_string_len(v) >= size)
		return sp_error_set(-SP_E_CORRUPT, "corrupt", key, "metadata field %s is invalid", key);
	memcpy(dst, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
	return 0;
}

static int get_int(json_object *o, const char *key, int64_t *ret)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return sp_error_set(-SP_E_CORRUPT, "corrupt", key, "metadata field %s is invalid", key);
	*ret = json_object_get_int64(v);
	return 0;
}

int volume_meta_from_json(json_object *o, struct volume_meta *ret)
{
	struct volume_meta m = { 0 };
	char fmt[16], alloc[16], legality[16];
	int64_t cap = 0, gen = 0, ctime = 0; /* set by get_int; gcc -O3 cannot tell */
	json_object *shared;
	int r;

	if (!json_object_is_type(o, json_type_object))
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "metadata is not an object");
	if ((r = get_str(o, "uuid", false, m.uuid, sizeof(m.uuid))) < 0 ||
	    (r = get_str(o, "image", false, m.image, sizeof(m.image))) < 0 ||
	    (r = get_str(o, "domain", false, m.domain, sizeof(m.domain))) < 0 ||
	    (r = get_str(o, "parent", true, m.parent, sizeof(m.parent))) < 0 ||
	    (r = get_str(o, "parent_image", true, m.parent_image, sizeof(m.parent_image))) < 0 ||
	    (r = get_str(o, "image_name", false, m.image_name, sizeof(m.image_name))) < 0 ||
	    (r = get_str(o, "format", false, fmt, sizeof(fmt))) < 0 ||
	    (r = get_str(o, "allocation", false, alloc, sizeof(alloc))) < 0 ||
	    (r = get_str(o, "legality", false, legality, sizeof(legality))) < 0 ||
	    (r = get_int(o, "capacity", &cap)) < 0 || (r = get_int(o, "generation", &gen)) < 0 ||
	    (r = get_int(o, "ctime", &ctime)) < 0)
		return r;
	if (!uuid_is_valid(m.uuid) || !uuid_is_valid(m.image) || !uuid_is_valid(m.domain) ||
	    (m.parent[0] && !uuid_is_valid(m.parent)) ||
	    (m.parent_image[0] && !uuid_is_valid(m.parent_image)) || (!m.parent[0] != !m.parent_image[0]))
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "uuid", "metadata has an invalid UUID");
	if (vol_format_parse(fmt, &m.format) < 0 || vol_alloc_parse(alloc, &m.alloc) < 0)
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "format", "metadata has an invalid format");
	if (strcmp(legality, "LEGAL") != 0 && strcmp(legality, "ILLEGAL") != 0)
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "legality", "metadata has an invalid legality");
	if (!json_object_object_get_ex(o, "shared", &shared) || !json_object_is_type(shared, json_type_boolean))
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "shared", "metadata field shared is invalid");
	if (cap <= 0 || gen < 0)
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "capacity", "metadata has an invalid size");
	if (m.image_name[0] && !name_is_valid(m.image_name))
		return sp_error_set(-SP_E_CORRUPT, "corrupt", "image_name", "metadata has an invalid name");
	m.legal = strcmp(legality, "LEGAL") == 0;
	m.shared = json_object_get_boolean(shared);
	m.capacity = (uint64_t)cap;
	m.generation = (uint64_t)gen;
	m.ctime = ctime;
	/* written since the SPM came; absent in older metadata: 0 */
	json_object *spm_gen;
	if (json_object_object_get_ex(o, "spm_generation", &spm_gen)) {
		if (!json_object_is_type(spm_gen, json_type_int) || json_object_get_int64(spm_gen) < 0)
			return sp_error_set(-SP_E_CORRUPT, "corrupt", "spm_generation", "metadata field spm_generation is invalid");
		m.spm_generation = (uint64_t)json_object_get_int64(spm_gen);
	}
	*ret = m;
	return 0;
}
