/* Parsing of LVM's `--reportformat json` reports with json-c. LVM 2.03 prints
 * every value as a string (sizes in bytes with --units b --nosuffix); json_std
 * (numbers as numbers) is accepted too. */
#include "lib/lvm_priv.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/xalloc.h"

char **lvm_tags_split(const char *s)
{
	size_t n = 1;
	for (const char *p = s; p && *p; p++)
		n += *p == ',';
	char **v = xcalloc(n + 1, sizeof(char *));
	size_t i = 0;
	while (s && *s) {
		const char *e = strchr(s, ',');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if (len)
			v[i++] = xstrndup(s, len);
		s = e ? e + 1 : s + len;
	}
	v[i] = NULL;
	return v;
}

char **lvm_strv_copy(const char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	char **c = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c[i] = xstrdup(v[i]);
	return c;
}

void lvm_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void lvm_lvs_free(struct lvm_lv *lvs, size_t n)
{
	for (size_t i = 0; lvs && i < n; i++)
		lvm_strv_free(lvs[i].tags);
	free(lvs);
}

void lvm_vg_clear(struct lvm_vg *vg)
{
	if (!vg)
		return;
	lvm_strv_free(vg->tags);
	memset(vg, 0, sizeof(*vg));
}

/* The rows of the report's first section named section ("lv", "vg"). */
static json_object *report_rows(json_object *root, const char *section)
{
	json_object *report, *first, *rows;

	if (!json_object_object_get_ex(root, "report", &report) ||
	    !json_object_is_type(report, json_type_array) || json_object_array_length(report) < 1)
		return NULL;
	first = json_object_array_get_idx(report, 0);
	if (!json_object_object_get_ex(first, section, &rows) ||
	    !json_object_is_type(rows, json_type_array))
		return NULL;
	return rows;
}

static const char *field_str(json_object *row, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(row, key, &v) || !v)
		return NULL;
	return json_object_get_string(v);
}

static int field_u64(json_object *row, const char *key, uint64_t *ret)
{
	const char *s = field_str(row, key);
	char *end;

	if (!s || !*s)
		return -SP_E_CORRUPT;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || *s == '-')
		return -SP_E_CORRUPT;
	*ret = v;
	return 0;
}

static int parse_root(const char *text, json_object **ret)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = json_tokener_parse_ex(tok, text, (int)strlen(text));
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (!o || jerr != json_tokener_success) {
		json_object_put(o);
		return sp_error_set(-SP_E_CORRUPT, "tool_failed", "",
				    "lvm report is not valid JSON: %.200s", text);
	}
	*ret = o;
	return 0;
}

static int cmp_lv(const void *a, const void *b)
{
	return strcmp(((const struct lvm_lv *)a)->name, ((const struct lvm_lv *)b)->name);
}

int lvm_report_parse_lvs(const char *text, struct lvm_lv **ret_lvs, size_t *ret_n)
{
	_cleanup_json_ json_object *root = NULL;
	int r = parse_root(text, &root);
	if (r < 0)
		return r;
	json_object *rows = report_rows(root, "lv");
	if (!rows)
		return sp_error_set(-SP_E_CORRUPT, "tool_failed", "", "lvm report has no \"lv\" section");

	size_t n = json_object_array_length(rows);
	struct lvm_lv *lvs = xcalloc(n ? n : 1, sizeof(*lvs));
	for (size_t i = 0; i < n; i++) {
		json_object *row = json_object_array_get_idx(rows, i);
		const char *name = field_str(row, "lv_name");
		const char *tags = field_str(row, "lv_tags");
		const char *active = field_str(row, "lv_active");
		if (!name || !*name || strlen(name) >= sizeof(lvs[i].name) || !tags ||
		    field_u64(row, "lv_size", &lvs[i].size) < 0) {
			lvm_lvs_free(lvs, n);
			return sp_error_set(-SP_E_CORRUPT, "tool_failed", "",
					    "lvm report row %zu is malformed: %s", i,
					    json_object_to_json_string(row));
		}
		snprintf(lvs[i].name, sizeof(lvs[i].name), "%s", name);
		lvs[i].tags = lvm_tags_split(tags);
		lvs[i].active = active && !strcmp(active, "active");
	}
	qsort(lvs, n, sizeof(*lvs), cmp_lv);
	*ret_lvs = lvs;
	*ret_n = n;
	return 0;
}

int lvm_report_parse_vg(const char *text, const char *vg, struct lvm_vg *ret)
{
	_cleanup_json_ json_object *root = NULL;
	int r = parse_root(text, &root);
	if (r < 0)
		return r;
	json_object *rows = report_rows(root, "vg");
	if (!rows)
		return sp_error_set(-SP_E_CORRUPT, "tool_failed", "", "lvm report has no \"vg\" section");
	if (json_object_array_length(rows) != 1)
		return sp_error_set(-SP_E_CORRUPT, "tool_failed", "",
				    "lvm report for VG %s has %zu rows, expected 1", vg,
				    json_object_array_length(rows));

	json_object *row = json_object_array_get_idx(rows, 0);
	struct lvm_vg v = { 0 };
	const char *name = field_str(row, "vg_name");
	const char *tags = field_str(row, "vg_tags");
	if (!name || strcmp(name, vg) || !tags || field_u64(row, "vg_size", &v.size) < 0 ||
	    field_u64(row, "vg_free", &v.free) < 0 ||
	    field_u64(row, "vg_extent_size", &v.extent_size) < 0 ||
	    field_u64(row, "vg_mda_size", &v.mda_size) < 0 ||
	    field_u64(row, "vg_mda_free", &v.mda_free) < 0 ||
	    field_u64(row, "vg_seqno", &v.seqno) < 0 || field_u64(row, "lv_count", &v.lv_count) < 0 ||
	    field_u64(row, "pv_count", &v.pv_count) < 0)
		return sp_error_set(-SP_E_CORRUPT, "tool_failed", "",
				    "lvm report for VG %s is malformed: %s", vg,
				    json_object_to_json_string(row));
	snprintf(v.name, sizeof(v.name), "%s", name);
	v.tags = lvm_tags_split(tags);
	*ret = v;
	return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int lvm_report_parse_pv_vgs(const char *text, char ***ret_names)
{
	_cleanup_json_ json_object *root = NULL;
	int r = parse_root(text, &root);
	if (r < 0)
		return r;
	json_object *rows = report_rows(root, "pv");
	if (!rows)
		return sp_error_set(-SP_E_CORRUPT, "tool_failed", "", "lvm report has no \"pv\" section");
	size_t n = json_object_array_length(rows), k = 0;
	char **names = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const char *vg = field_str(json_object_array_get_idx(rows, i), "vg_name");
		if (!vg) {
			lvm_strv_free(names);
			return sp_error_set(-SP_E_CORRUPT, "tool_failed", "", "lvm pvs report row %zu has no vg_name", i);
		}
		if (vg[0])
			names[k++] = xstrdup(vg);
	}
	qsort(names, k, sizeof(char *), cmp_str);
	size_t u = 0;
	for (size_t i = 0; i < k; i++) {
		if (u && strcmp(names[u - 1], names[i]) == 0)
			free(names[i]);
		else
			names[u++] = names[i];
	}
	names[u] = NULL;
	*ret_names = names;
	return 0;
}

int lvm_report_parse_pvsegs(const char *text, const char *vg, struct lvm_pvseg **ret_segs,
			    size_t *ret_n)
{
	_cleanup_json_ json_object *root = NULL;
	int r = parse_root(text, &root);
	if (r < 0)
		return r;
	json_object *rows = report_rows(root, "pvseg");
	if (!rows)
		return sp_error_set(-SP_E_CORRUPT, "tool_failed", "", "lvm report has no \"pvseg\" section");

	size_t n = json_object_array_length(rows), k = 0;
	_cleanup_free_ struct lvm_pvseg *segs = xcalloc(n ? n : 1, sizeof(*segs));
	for (size_t i = 0; i < n; i++) {
		json_object *row = json_object_array_get_idx(rows, i);
		const char *row_vg = field_str(row, "vg_name");
		const char *dev = field_str(row, "pv_name");
		const char *lv = field_str(row, "lv_name");
		struct lvm_pvseg *s = &segs[k];
		if (!row_vg || !dev || !*dev || strlen(dev) >= sizeof(s->dev) || !lv ||
		    strlen(lv) >= sizeof(s->lv) || field_u64(row, "pe_start", &s->pe_start) < 0 ||
		    field_u64(row, "vg_extent_size", &s->extent_size) < 0 ||
		    field_u64(row, "pvseg_start", &s->start) < 0 ||
		    field_u64(row, "pvseg_size", &s->count) < 0)
			return sp_error_set(-SP_E_CORRUPT, "tool_failed", "",
					    "lvm segment report row %zu is malformed: %s", i,
					    json_object_to_json_string(row));
		if (strcmp(row_vg, vg))
			continue; /* an orphan PV, or another VG's (not expected with the filter) */
		snprintf(s->dev, sizeof(s->dev), "%s", dev);
		snprintf(s->lv, sizeof(s->lv), "%s", lv);
		k++;
	}
	*ret_segs = TAKE_PTR(segs);
	*ret_n = k;
	return 0;
}
