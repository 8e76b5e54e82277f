/* A volume: one layer of an image's chain, and the metadata kept beside it. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/util/name.h"
#include "lib/util/uuid.h"

enum vol_format { VOL_FORMAT_RAW, VOL_FORMAT_QCOW2 };
enum vol_alloc { VOL_ALLOC_SPARSE, VOL_ALLOC_PREALLOCATED };

/* Capacities accepted from users: 1 MiB .. 64 TiB, multiple of 512. */
#define VOL_MIN_CAPACITY (1ULL << 20)
#define VOL_MAX_CAPACITY (64ULL << 40)

struct volume_meta {
	char uuid[UUID_STR_LEN];
	char image[UUID_STR_LEN];
	char domain[UUID_STR_LEN];
	char parent[UUID_STR_LEN];       /* "" for a base volume */
	char parent_image[UUID_STR_LEN]; /* image holding the parent: a template's for clones */
	char image_name[NAME_MAX_LEN + 1];
	enum vol_format format;
	enum vol_alloc alloc;
	uint64_t capacity;   /* virtual size in bytes */
	bool legal;          /* false until fully built, and while being removed */
	bool shared;         /* part of a template: read-only, may back other images */
	uint64_t generation; /* bumped on every metadata write */
	/* The SPM generation of the host that made the last write (0: no SPM,
	 * a domain in no pool or leases off): which SPM wrote it. */
	uint64_t spm_generation;
	int64_t ctime;       /* creation, seconds since the epoch */
};

const char *vol_format_str(enum vol_format f);
int vol_format_parse(const char *s, enum vol_format *ret);
const char *vol_alloc_str(enum vol_alloc a);
int vol_alloc_parse(const char *s, enum vol_alloc *ret);

/* The on-disk (and API) JSON form. */
json_object *volume_meta_to_json(const struct volume_meta *m);
/* Parses and checks every field; -SP_E_CORRUPT with detail if anything is off. */
int volume_meta_from_json(json_object *o, struct volume_meta *ret);
/* Checks a capacity given by a user; -SP_E_BAD_REQUEST naming field if absurd. */
int volume_check_capacity(uint64_t capacity, const char *field);
