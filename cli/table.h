/* Readable output: JSON arrays as aligned tables, objects as "KEY  value" records. */
#pragma once
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>

enum col_kind {
	COL_STR,     /* as is; objects and arrays as compact JSON */
	COL_SIZE,    /* bytes, shown as "10 GiB" */
	COL_BOOL,    /* yes / no */
	COL_COUNT,   /* the length of an array */
	COL_PERCENT, /* 0..100 */
	COL_TIME,    /* milliseconds since the epoch, shown in local time */
	COL_TIME_S,  /* seconds since the epoch, likewise */
	COL_MS,      /* a duration in milliseconds */
	COL_PAIRS,   /* an object as "k=v k=v" */
};

struct column {
	const char *header;
	const char *key; /* member name; "a.b" reaches into a nested object */
	enum col_kind kind;
};

/* A set of columns: how one resource reads. */
struct view {
	const struct column *cols;
	size_t n;
};
#define VIEW(a) ((struct view){ (a), sizeof(a) / sizeof((a)[0]) })

/* Prints rows (a JSON array of objects) as a table with a header line. */
void table_print(FILE *f, struct view v, json_object *rows);

/* Prints one object as one "HEADER  value" line per column. */
void record_print(FILE *f, struct view v, json_object *row);
