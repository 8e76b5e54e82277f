/* Activation: which volumes' data is usable on this host, and which images
 * are prepared here (for a VM). Per host and in memory only.
 *
 * A volume is active while anything holds it: a prepared image holds its
 * whole chain (its own volumes and the template's below them), an operation
 * that reads or writes volume data holds the chains it uses while it runs.
 * The first hold activates (domain_ops.volume_activate), the last release
 * deactivates. Nothing is deactivated when the agent stops: VMs keep running;
 * at the next start images whose whole chain is active count as prepared
 * again (block domains link their active LVs when they are opened).
 *
 * On domains where this host has no data access (block, lvm_activation = no)
 * holds do nothing and prepare is refused (-SP_E_CONFLICT, no_data_access). */
#pragma once
#include <json-c/json.h>
#include <stdint.h>

struct held;

/* Holds volume and every volume below it in its chain active until
 * activation_release. *ret is NULL where there is nothing to activate. */
int activation_hold(const char *domain, const char *volume, struct held **ret);
/* Releases a hold (NULL: nothing); a failing deactivation is logged. */
void activation_release(struct held *h);
static inline void activation_releasep(struct held **h)
{
	activation_release(*h);
	*h = NULL;
}

/* Activates the image's chain here and returns {"domain","image","path" (the
 * top volume's), "chain": [{"volume","image","path"}, base first]}. The
 * image's metadata is read again from storage first (another host, the SPM,
 * may have changed it). Idempotent; a prepared image whose top changed since
 * moves to the new chain. -SP_E_NOT_FOUND; -SP_E_CONFLICT if a volume is
 * ILLEGAL or there is no data access here. */
int activation_prepare(const char *domain, const char *image, json_object **ret);
/* Deactivates what only the image's preparation held and returns
 * {"domain","image","prepared": false}. Refuses (-SP_E_CONFLICT) while a volume
 * of the image backs another image prepared here. 0 if not prepared. */
int activation_teardown(const char *domain, const char *image, json_object **ret);
/* lvchange --refresh of a volume (after the SPM grew its LV); *ret: the volume's JSON. */
int activation_refresh(const char *domain, const char *image, const char *volume, json_object **ret);
/* -SP_E_CONFLICT (recorded) if image is prepared on this host: operations
 * that remove or rewrite its volumes offline wait for its teardown. */
int activation_refuse_prepared(const char *image);
/* Adds this host's view to a volume's JSON: "prepared" (part of an image
 * prepared here) and, for LV-backed volumes, "active" and "lv_size". */
void activation_volume_json(json_object *o, const char *domain, const char *volume);
