/* Volume leases: one writer per volume, across hosts.
 *
 * A volume's lease is a sanlock resource named by the volume's uuid, in its
 * domain's lockspace, in a slot of the domain's `leases` area that the
 * volume-lease index names (lib/lease_index.h). The SPM adds and removes
 * leases (slots); any host acquires and releases them for its VMs, through a
 * lease-holder process per lease (lease/holder.h) so that a held lease
 * outlives an agent restart. Which holders this host has is kept in
 * run_dir/vleases/<volume> (pid, domain, image, slot), read again at start.
 *
 * Needs leases on (sanlock = yes) and the domain in a pool (its lockspace).
 * Returns >= 0 or -errno / -SP_E_* recorded; a lease held by another host is
 * -SP_E_LEASE_HELD with its host id recorded (holder_host). */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>

struct vlease_settings {
	bool enabled;        /* sanlock = yes */
	const char *run_dir; /* where the holders' records go */
};

/* Finds the holders recorded in run_dir again (alive: adopted; gone: their
 * leases are reported lost until released). */
int vlease_service_start(const struct vlease_settings *s); /* always 0: a failure is logged */
/* Forgets the holders (they keep running: the VMs' leases stay held). */
void vlease_service_stop(void);

/* SPM: gives the volume a lease slot (formats the lease, then records the
 * slot); already has one: the same. *ret: the lease's JSON. */
int vlease_add(const char *domain, const char *image, const char *volume, json_object **ret);
/* SPM: frees the volume's slot; -SP_E_LEASE_HELD while any host holds it. */
int vlease_remove(const char *domain, const char *image, const char *volume, json_object **ret);

/* This host: acquires the volume's lease (exclusive, never waiting) and keeps
 * it through a holder process; held here already: the same. -SP_E_CONFLICT
 * (no_lease) if the volume has no slot. *ret: the lease's JSON. */
int vlease_acquire(const char *domain, const char *image, const char *volume, json_object **ret);
/* This host: releases the volume's lease if held here (the holder is gone
 * when this returns: another host can take it at once). */
int vlease_release(const char *domain, const char *image, const char *volume, json_object **ret);

/* Prepares the image (lib/activation.h) and, with exclusive, first acquires
 * its top volume's lease: if that is refused nothing is prepared; if the
 * preparation fails the lease is released again. *ret: the preparation's
 * JSON with "lease". */
int vlease_prepare(const char *domain, const char *image, bool exclusive, json_object **ret);
/* Tears the image down (lib/activation.h), then releases the leases of its
 * volumes held here. */
int vlease_teardown(const char *domain, const char *image, json_object **ret);

/* The volume's lease as storage and this host see it: {"slot", "offset",
 * "generation", "holder_host" (null: free), "state": "held" (here) | "lost"
 * (was held here, the holder or its lockspace is gone) | "none"}, or NULL if
 * the volume has no lease (or leases are off). Reads the leases area. */
json_object *vlease_volume_json(const char *domain, const char *volume);
