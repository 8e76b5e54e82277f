/* A storage pool's record: its identity, where each of its domains lies, and
 * the SPM generation. Kept on the master domain (domain_ops.pool_md_*), so a
 * host that connects to the pool through its master finds the rest; each host
 * also keeps a copy of the identity under data_dir/pools/.
 *
 *   { "uuid": ..., "name": ..., "master": domain uuid, "version": 1,
 *     "spm_generation": N, "spm_host": host id (0: never),
 *     "domains": [ { "uuid": ..., "kind": "block", "devices": [...] }
 *                  | { "uuid": ..., "kind": "file", "path": ... } ] } */
#pragma once
#include <json-c/json.h>
#include <stdint.h>

#include "lib/store.h"

json_object *pool_record_new(const struct pool *p);
/* Adds (or replaces) a domain's location: {"uuid", "kind", "devices" | "path"}. */
void pool_record_put_domain(json_object *rec, json_object *location);
/* Checks rec is pool's record and fills *ret from it. -SP_E_CORRUPT if not valid. */
int pool_record_identity(json_object *rec, const char *pool, struct pool *ret);
/* The record's domain locations (an array, borrowed; empty if none). */
json_object *pool_record_domains(json_object *rec);
/* Reads a location into spec (path, devices: devices is allocated, free it).
 * -SP_E_CORRUPT if the location is not valid. */
int pool_location_spec(json_object *location, struct domain_spec *ret);
void pool_record_set_spm(json_object *rec, uint64_t generation, unsigned host_id);
