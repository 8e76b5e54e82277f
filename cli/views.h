/* How each resource reads: the columns of its table and its record. */
#pragma once
#include <json-c/json.h>

#include "cli/table.h"

/* Prints one object of a resource on stdout. */
typedef void (*show_fn)(json_object *o);

void show_host(json_object *o);
void show_pool(json_object *o);
void show_domain(json_object *o);
void show_image(json_object *o); /* with its volumes, when the object has them */
void show_volume(json_object *o);
void show_task(json_object *o);

/* Prints a JSON array of a resource as a table on stdout. */
void list_pools(json_object *a);
void list_domains(json_object *a);
void list_images(json_object *a);
void list_volumes(json_object *a);
void list_tasks(json_object *a);

/* The result of a task by its shape: an image (has volumes) or a volume. */
void show_result(json_object *o);
