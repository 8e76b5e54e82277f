#include "cli/views.h"

#include <stdio.h>

static const struct column host_cols[] = {
	{ "HOSTNAME", "hostname", COL_STR },     { "HOST ID", "host_id", COL_STR },
	{ "VERSION", "version", COL_STR },       { "API", "api_version", COL_STR },
	{ "UPTIME", "uptime_ms", COL_MS },       { "TASKS", "tasks", COL_PAIRS },
};

static const struct column pool_cols[] = {
	{ "UUID", "uuid", COL_STR },
	{ "NAME", "name", COL_STR },
	{ "MASTER DOMAIN", "master_domain", COL_STR },
	{ "DOMAINS", "domains", COL_COUNT },
};

static const struct column domain_cols[] = {
	{ "UUID", "uuid", COL_STR },         { "NAME", "name", COL_STR },       { "POOL", "pool", COL_STR },
	{ "KIND", "kind", COL_STR },         { "SIZE", "total_bytes", COL_SIZE }, { "FREE", "free_bytes", COL_SIZE },
};

static const struct column image_list_cols[] = {
	{ "UUID", "uuid", COL_STR },          { "NAME", "name", COL_STR },
	{ "FORMAT", "format", COL_STR },      { "CAPACITY", "capacity", COL_SIZE },
	{ "VOLUMES", "volumes", COL_COUNT },  { "TEMPLATE", "template", COL_BOOL },
	{ "LEGALITY", "legality", COL_STR },
};

static const struct column image_cols[] = {
	{ "UUID", "uuid", COL_STR },
	{ "NAME", "name", COL_STR },
	{ "DOMAIN", "domain", COL_STR },
	{ "FORMAT", "format", COL_STR },
	{ "CAPACITY", "capacity", COL_SIZE },
	{ "TOP VOLUME", "top_volume", COL_STR },
	{ "LEGALITY", "legality", COL_STR },
	{ "TEMPLATE", "template", COL_BOOL },
	{ "BUSY", "busy", COL_BOOL },
	{ "TEMPLATE IMAGE", "template_source.image", COL_STR },
	{ "VOLUMES", "volumes", COL_COUNT },
};

/* The chain of an image, base first: what a snapshot list is about. */
static const struct column volume_list_cols[] = {
	{ "UUID", "uuid", COL_STR },          { "PARENT", "parent", COL_STR },
	{ "IMAGE", "image", COL_STR },        { "FORMAT", "format", COL_STR },
	{ "ALLOCATION", "allocation", COL_STR }, { "CAPACITY", "capacity", COL_SIZE },
	{ "LEAF", "leaf", COL_BOOL },         { "LEGALITY", "legality", COL_STR },
};

static const struct column volume_cols[] = {
	{ "UUID", "uuid", COL_STR },
	{ "IMAGE", "image", COL_STR },
	{ "IMAGE NAME", "image_name", COL_STR },
	{ "DOMAIN", "domain", COL_STR },
	{ "PARENT", "parent", COL_STR },
	{ "PARENT IMAGE", "parent_image", COL_STR },
	{ "FORMAT", "format", COL_STR },
	{ "ALLOCATION", "allocation", COL_STR },
	{ "CAPACITY", "capacity", COL_SIZE },
	{ "LEGALITY", "legality", COL_STR },
	{ "SHARED", "shared", COL_BOOL },
	{ "LEAF", "leaf", COL_BOOL },
	{ "GENERATION", "generation", COL_STR },
	{ "CREATED", "ctime", COL_TIME_S },
	{ "PATH", "path", COL_STR },
};

static const struct column task_list_cols[] = {
	{ "UUID", "uuid", COL_STR },         { "OP", "op", COL_STR },
	{ "STATE", "state", COL_STR },       { "PROGRESS", "progress", COL_PERCENT },
	{ "CREATED", "created_ms", COL_TIME }, { "ERROR", "error.message", COL_STR },
};

static const struct column task_cols[] = {
	{ "UUID", "uuid", COL_STR },
	{ "OP", "op", COL_STR },
	{ "DOMAIN", "domain", COL_STR },
	{ "STATE", "state", COL_STR },
	{ "PROGRESS", "progress", COL_PERCENT },
	{ "RECOVERED", "recovered", COL_BOOL },
	{ "CREATED", "created_ms", COL_TIME },
	{ "ENDED", "ended_ms", COL_TIME },
	{ "ERROR", "error.message", COL_STR },
	{ "ERROR CODE", "error.code", COL_STR },
	{ "RESULT", "result", COL_STR },
};

void show_host(json_object *o) { record_print(stdout, VIEW(host_cols), o); }
void show_pool(json_object *o) { record_print(stdout, VIEW(pool_cols), o); }
void show_domain(json_object *o) { record_print(stdout, VIEW(domain_cols), o); }
void show_volume(json_object *o) { record_print(stdout, VIEW(volume_cols), o); }
void show_task(json_object *o) { record_print(stdout, VIEW(task_cols), o); }

void show_image(json_object *o)
{
	json_object *vols = NULL;

	record_print(stdout, VIEW(image_cols), o);
	/* A single image comes with its volumes as objects; a list has only UUIDs. */
	if (json_object_object_get_ex(o, "volumes", &vols) && json_object_array_length(vols) > 0 &&
	    json_object_is_type(json_object_array_get_idx(vols, 0), json_type_object)) {
		putchar('\n');
		table_print(stdout, VIEW(volume_list_cols), vols);
	}
}

void list_pools(json_object *a) { table_print(stdout, VIEW(pool_cols), a); }
void list_domains(json_object *a) { table_print(stdout, VIEW(domain_cols), a); }
void list_images(json_object *a) { table_print(stdout, VIEW(image_list_cols), a); }
void list_volumes(json_object *a) { table_print(stdout, VIEW(volume_list_cols), a); }
void list_tasks(json_object *a) { table_print(stdout, VIEW(task_list_cols), a); }

void show_result(json_object *o)
{
	json_object *v;

	if (json_object_object_get_ex(o, "volumes", &v))
		show_image(o);
	else if (json_object_object_get_ex(o, "image_name", &v))
		show_volume(o);
	else
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}
