/* The storage operations on images and volumes, written once above the
 * domain backend interface. Each submit function checks the request against
 * the current state (4xx errors are recorded and returned before anything
 * changes), journals the task on the domain, queues it and returns the body of
 * the 202 answer: {"task": uuid, ... ids of what will be created}.
 *
 * Every operation has one commit point (a single durable metadata write, or
 * the journal record itself for removals). Recovery after a crash rolls an
 * operation back if it stopped before its commit point and finishes it after. */
#pragma once
#include <json-c/json.h>
#include <stdint.h>

#include "lib/volume.h"

struct image_create_req {
	const char *domain;
	const char *name;
	enum vol_format format;
	enum vol_alloc alloc;
	uint64_t capacity;
};

int op_image_create(const struct image_create_req *req, json_object **ret);
/* parent: NULL, or it must be the image's top volume. */
int op_snapshot_create(const char *domain, const char *image, const char *parent, json_object **ret);
/* Removes a volume from the chain keeping the image's content (merge). */
int op_snapshot_delete(const char *domain, const char *image, const char *volume, json_object **ret);
/* Discards the image's top volume (a leaf), going back to its parent. */
int op_volume_delete(const char *domain, const char *image, const char *volume, json_object **ret);
int op_image_delete(const char *domain, const char *image, json_object **ret);
int op_image_make_template(const char *domain, const char *image, json_object **ret);
int op_image_clone(const char *domain, const char *template_image, const char *name, json_object **ret);
/* Copies the image's content (collapsed) into a new image on dst_domain. */
int op_image_copy(const char *domain, const char *image, const char *dst_domain, const char *format,
		  const char *allocation, json_object **ret);
int op_image_resize(const char *domain, const char *image, uint64_t capacity, json_object **ret);

/* Replays every journal record of every domain; call before accepting work. */
int ops_recover_all(void);
/* The same for the domains of one pool (pool "": the domains in no pool), as
 * its new SPM does before accepting work there. */
int ops_recover(const char *pool);
