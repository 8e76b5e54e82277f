#include "cli/table.h"

#include <string.h>
#include <time.h>

#include "cli/size.h"
#include "lib/util/cleanup.h"
#include "lib/util/xalloc.h"

/* Two spaces between columns: wide enough to see, narrow enough for UUIDs. */
#define GAP 2

static json_object *lookup(json_object *o, const char *path)
{
	_cleanup_free_ char *copy = xstrdup(path);
	char *rest = copy;

	while (o && rest) {
		char *dot = strchr(rest, '.');
		if (dot)
			*dot = '\0';
		if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, rest, &o))
			return NULL;
		rest = dot ? dot + 1 : NULL;
	}
	return o;
}

static char *format_time(int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[32];

	if (!localtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		return xasprintf("%lld", (long long)ms);
	return xstrdup(buf);
}

static char *format_pairs(json_object *o)
{
	char *s = xstrdup("");

	if (!json_object_is_type(o, json_type_object))
		return xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_object_foreach(o, key, val) {
		char *next = xasprintf("%s%s%s=%s", s, *s ? " " : "", key, json_object_get_string(val));
		free(s);
		s = next;
	}
	return s;
}

/* The text of one cell (newly allocated); "-" for a missing or null value. */
static char *cell_text(json_object *row, const struct column *col)
{
	json_object *v = lookup(row, col->key);
	char buf[32];

	if (!v)
		return xstrdup("-");
	switch (col->kind) {
	case COL_SIZE:
		size_format((uint64_t)json_object_get_int64(v), buf, sizeof(buf));
		return xstrdup(buf);
	case COL_BOOL: return xstrdup(json_object_get_boolean(v) ? "yes" : "no");
	case COL_COUNT: return xasprintf("%zu", json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0);
	case COL_PERCENT: return xasprintf("%d%%", json_object_get_int(v));
	case COL_TIME: return format_time(json_object_get_int64(v));
	case COL_TIME_S: return format_time(json_object_get_int64(v) * 1000);
	case COL_MS: return xasprintf("%.1fs", (double)json_object_get_int64(v) / 1000.0);
	case COL_PAIRS: return format_pairs(v);
	default: break;
	}
	if (json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array))
		return xstrdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	return xstrdup(json_object_get_string(v));
}

static void print_row(FILE *f, struct view v, char **cells, const size_t *width)
{
	for (size_t i = 0; i < v.n; i++) {
		/* No padding after the last column: no trailing blanks to trip over. */
		if (i + 1 < v.n)
			fprintf(f, "%-*s", (int)(width[i] + GAP), cells[i]);
		else
			fprintf(f, "%s\n", cells[i]);
	}
}

void table_print(FILE *f, struct view v, json_object *rows)
{
	size_t nrows = json_object_is_type(rows, json_type_array) ? json_object_array_length(rows) : 0;
	_cleanup_free_ char **cells = xcalloc((nrows + 1) * v.n, sizeof(char *));
	_cleanup_free_ size_t *width = xcalloc(v.n, sizeof(size_t));

	for (size_t i = 0; i < v.n; i++)
		cells[i] = xstrdup(v.cols[i].header);
	for (size_t r = 0; r < nrows; r++)
		for (size_t i = 0; i < v.n; i++)
			cells[(r + 1) * v.n + i] = cell_text(json_object_array_get_idx(rows, r), &v.cols[i]);
	for (size_t k = 0; k < (nrows + 1) * v.n; k++)
		if (strlen(cells[k]) > width[k % v.n])
			width[k % v.n] = strlen(cells[k]);
	for (size_t r = 0; r <= nrows; r++)
		print_row(f, v, cells + r * v.n, width);
	for (size_t k = 0; k < (nrows + 1) * v.n; k++)
		free(cells[k]);
}

void record_print(FILE *f, struct view v, json_object *row)
{
	size_t width = 0;

	for (size_t i = 0; i < v.n; i++)
		if (strlen(v.cols[i].header) > width)
			width = strlen(v.cols[i].header);
	for (size_t i = 0; i < v.n; i++) {
		_cleanup_free_ char *text = cell_text(row, &v.cols[i]);
		json_object *raw = lookup(row, v.cols[i].key);
		/* A record has room for the exact byte count next to the rounded one. */
		if (v.cols[i].kind == COL_SIZE && raw)
			fprintf(f, "%-*s%s (%lld bytes)\n", (int)(width + GAP), v.cols[i].header, text,
				(long long)json_object_get_int64(raw));
		else
			fprintf(f, "%-*s%s\n", (int)(width + GAP), v.cols[i].header, text);
	}
}
