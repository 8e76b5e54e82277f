#include "lib/activation.h"

#include <pthread.h>
#include <string.h>

#include "lib/domain.h"
#include "lib/extend.h"
#include "lib/ops_common.h"
#include "lib/store.h"
#include "lib/thinmon.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/hashmap.h"
#include "lib/util/log.h"
#include "lib/util/xalloc.h"

/* The longest chain followed: far beyond any real one, it stops a loop in
 * corrupt metadata. */
#define CHAIN_MAX 1024

struct chain_vol {
	char uuid[UUID_STR_LEN];
	char image[UUID_STR_LEN];
};

/* What one holder holds: volumes base first; n shrinks as they are released. */
struct held {
	char domain[UUID_STR_LEN];
	size_t n;
	struct chain_vol v[];
};

struct prepared {
	char image[UUID_STR_LEN];
	char top[UUID_STR_LEN];
	struct held *h;
};

/* One lock over the counts and the prepared images; (de)activations run under
 * it, so a volume is never activated and deactivated at once. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct hashmap *counts;   /* volume uuid -> (uintptr_t) holders */
static struct hashmap *prepared; /* image uuid -> struct prepared */
static bool discovered;


static void prepared_free(void *p)
{
	struct prepared *pr = p;
	if (pr)
		free(pr->h);
	free(pr);
}

static void maps_init(void)
{
	if (!counts) {
		counts = hashmap_new(NULL);
		prepared = hashmap_new(prepared_free);
	}
}

static size_t count_of(const char *volume) { return (size_t)(uintptr_t)hashmap_get(counts, volume); }

static void count_set(const char *volume, size_t n)
{
	if (n == 0)
		hashmap_remove(counts, volume);
	else
		hashmap_put(counts, volume, (void *)(uintptr_t)n);
}

/* The chain under volume, base first, from the store. */
static int chain_of(const char *domain, const char *volume, struct held **ret)
{
	struct chain_vol top_down[CHAIN_MAX];
	size_t n = 0;
	struct volume_meta m;
	int r;

	for (const char *next = volume; next[0]; next = m.parent) {
		if (n == CHAIN_MAX)
			return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "volume %s: chain longer than %d", volume,
					    CHAIN_MAX);
		if ((r = store_get_volume(next, &m)) < 0)
			return r;
		if (strcmp(m.domain, domain) != 0)
			return sp_error_set(-SP_E_CORRUPT, "corrupt", "", "volume %s of domain %s has its parent in domain %s",
					    volume, domain, m.domain);
		snprintf(top_down[n].uuid, sizeof(top_down[n].uuid), "%s", m.uuid);
		snprintf(top_down[n].image, sizeof(top_down[n].image), "%s", m.image);
		n++;
	}
	struct held *h = xcalloc(1, sizeof(*h) + n * sizeof(h->v[0]));
	snprintf(h->domain, sizeof(h->domain), "%s", domain);
	h->n = n;
	for (size_t i = 0; i < n; i++)
		h->v[i] = top_down[n - 1 - i];
	*ret = h;
	return 0;
}

/* Releases h's volumes top first; stops at the first that cannot be
 * deactivated (it and those below stay held by h). */
static int release_locked(struct domain *d, struct held *h)
{
	while (h->n > 0) {
		const struct chain_vol *v = &h->v[h->n - 1];
		size_t c = count_of(v->uuid);
		int r;
		if (c <= 1 && (r = d->ops->volume_deactivate(d, v->image, v->uuid)) < 0)
			return r;
		count_set(v->uuid, c ? c - 1 : 0);
		h->n--;
	}
	return 0;
}

static int hold_locked(struct domain *d, struct held *h)
{
	size_t n = h->n;
	int r = 0;

	h->n = 0;
	for (; h->n < n; h->n++) {
		const struct chain_vol *v = &h->v[h->n];
		size_t c = count_of(v->uuid);
		if (c == 0 && (r = d->ops->volume_activate(d, v->image, v->uuid)) < 0)
			break;
		count_set(v->uuid, c + 1);
	}
	if (r < 0) {
		struct sp_error cause;
		sp_error_copy(&cause);
		if (release_locked(d, h) < 0)
			log_warning("domain %s: %s", d->uuid, sp_error_last()->message);
		return sp_error_set(cause.code, cause.kind, cause.field, "%s", cause.message);
	}
	return 0;
}

/* ---- what was active before the agent started ---- */

struct domain_list {
	char (*uuids)[UUID_STR_LEN];
	size_t n;
};

static void collect_domain(struct domain *d, void *userdata)
{
	struct domain_list *l = userdata;
	l->uuids = xrealloc(l->uuids, (l->n + 1) * sizeof(*l->uuids));
	snprintf(l->uuids[l->n++], UUID_STR_LEN, "%s", d->uuid);
}

/* Every volume of the chain LEGAL and active: what a preparation leaves. (An
 * operation cut short by a crash leaves its chain active too; its ILLEGAL
 * volume tells it apart, or else a teardown deactivates it.) */
static bool all_active(struct domain *d, const struct held *h)
{
	for (size_t i = 0; i < h->n; i++) {
		struct volume_meta m;
		bool active = false;
		uint64_t size;
		if (store_get_volume(h->v[i].uuid, &m) < 0 || !m.legal ||
		    d->ops->volume_state(d, h->v[i].uuid, &active, &size) < 0 || !active)
			return false;
	}
	return true;
}

static void discover_domain(struct domain *d)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	size_t n;
	bool active;
	uint64_t size;

	if (!d->ops->data_access(d) || store_domain_volumes(d->uuid, &v, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		/* the top of an image: no child in its own image */
		if (hashmap_get(prepared, v[i].image) || d->ops->volume_state(d, v[i].uuid, &active, &size) < 0 ||
		    !active)
			continue;
		bool top = true;
		for (size_t j = 0; j < n && top; j++)
			top = !(strcmp(v[j].parent, v[i].uuid) == 0 && strcmp(v[j].image, v[i].image) == 0);
		struct held *h = NULL;
		if (!top || chain_of(d->uuid, v[i].uuid, &h) < 0 || !all_active(d, h)) {
			free(h);
			continue;
		}
		struct prepared *p = xcalloc(1, sizeof(*p));
		snprintf(p->image, sizeof(p->image), "%s", v[i].image);
		snprintf(p->top, sizeof(p->top), "%s", v[i].uuid);
		p->h = h;
		for (size_t k = 0; k < h->n; k++)
			count_set(h->v[k].uuid, count_of(h->v[k].uuid) + 1);
		hashmap_put(prepared, p->image, p);
		log_info("domain %s: image %s was prepared before the agent started (top %s)", d->uuid, p->image, p->top);
	}
}

/* Once, at the first use (the store is open by then): images whose chain is
 * active count as prepared, so that teardown and the holds of operations
 * respect them. */
static void discover_locked(void)
{
	struct domain_list l = { 0 };

	maps_init();
	if (discovered)
		return;
	discovered = true;
	store_foreach_domain(collect_domain, &l);
	for (size_t i = 0; i < l.n; i++) {
		struct domain d;
		if (store_get_domain(l.uuids[i], &d) == 0)
			discover_domain(&d);
	}
	free(l.uuids);
	sp_error_clear();
}

/* ---- holds of operations ---- */

int activation_hold(const char *domain, const char *volume, struct held **ret)
{
	struct domain d;
	struct held *h = NULL;
	int r;

	if ((r = store_get_domain(domain, &d)) < 0)
		return r;
	if (!d.ops->data_access(&d)) {
		*ret = NULL;
		return 0;
	}
	if ((r = chain_of(domain, volume, &h)) < 0)
		return r;
	MUTEX_SCOPE(&lock);
	discover_locked();
	if ((r = hold_locked(&d, h)) < 0) {
		free(h);
		return r;
	}
	*ret = h;
	return 0;
}

void activation_release(struct held *h)
{
	struct domain d;

	if (!h)
		return;
	if (store_get_domain(h->domain, &d) == 0) {
		MUTEX_SCOPE(&lock);
		if (release_locked(&d, h) < 0)
			log_warning("domain %s: a volume stays active: %s", h->domain, sp_error_last()->message);
	}
	free(h);
}

/* ---- prepare and teardown ---- */

struct reload {
	const char *image;
};

static int reload_volume(const struct volume_meta *m, void *userdata)
{
	struct reload *rl = userdata;
	if (strcmp(m->image, rl->image) == 0)
		store_record_volume(m);
	return 0;
}

/* The image's metadata as storage has it now. Not while a task of this host
 * changes the image: the store is the newest then (and generations keep an
 * older read from replacing a newer write). */
static void reload_image(struct domain *d, const char *image)
{
	struct reload rl = { image };
	if (store_image_busy(image))
		return;
	d->ops->forget_cache(d);
	if (d->ops->meta_scan(d, reload_volume, &rl) < 0)
		log_warning("domain %s: image %s: cannot read its metadata again: %s", d->uuid, image,
			    sp_error_last()->message);
	sp_error_clear();
}

static json_object *prepared_json(struct domain *d, const char *image, const struct held *h)
{
	json_object *o = json_object_new_object();
	json_object *chain = json_object_new_array();
	_cleanup_free_ char *top = d->ops->volume_path(d, h->v[h->n - 1].image, h->v[h->n - 1].uuid);

	json_object_object_add(o, "domain", json_object_new_string(d->uuid));
	json_object_object_add(o, "image", json_object_new_string(image));
	json_object_object_add(o, "prepared", json_object_new_boolean(true));
	json_object_object_add(o, "path", json_object_new_string(top));
	for (size_t i = 0; i < h->n; i++) {
		json_object *v = json_object_new_object();
		_cleanup_free_ char *path = d->ops->volume_path(d, h->v[i].image, h->v[i].uuid);
		json_object_object_add(v, "volume", json_object_new_string(h->v[i].uuid));
		json_object_object_add(v, "image", json_object_new_string(h->v[i].image));
		json_object_object_add(v, "path", json_object_new_string(path));
		json_object_array_add(chain, v);
	}
	json_object_object_add(o, "chain", chain);
	return o;
}

int activation_prepare(const char *domain, const char *image, json_object **ret)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	struct domain d;
	struct held *h = NULL;
	size_t n;
	int r;

	if ((r = store_get_domain(domain, &d)) < 0)
		return r;
	if ((r = op_require_data(domain)) < 0)
		return r;
	reload_image(&d, image);
	if ((r = op_image_chain(domain, image, false, &v, &n)) < 0)
		return r;
	if ((r = chain_of(domain, v[n - 1].uuid, &h)) < 0)
		return r;

	MUTEX_SCOPE(&lock);
	discover_locked();
	struct prepared *p = hashmap_get(prepared, image);
	if (p && strcmp(p->top, v[n - 1].uuid) == 0 && p->h->n == h->n) {
		free(h);
		*ret = prepared_json(&d, image, p->h);
		return 0;
	}
	if ((r = hold_locked(&d, h)) < 0) {
		free(h);
		return r;
	}
	if (p) {
		/* the image changed since it was prepared (a new top): the old chain's holds go */
		if (release_locked(&d, p->h) < 0)
			log_warning("domain %s: image %s: %s", domain, image, sp_error_last()->message);
	} else {
		p = xcalloc(1, sizeof(*p));
		snprintf(p->image, sizeof(p->image), "%s", image);
		hashmap_put(prepared, image, p);
	}
	free(p->h);
	p->h = h;
	snprintf(p->top, sizeof(p->top), "%s", v[n - 1].uuid);
	log_info("domain %s: image %s prepared (top %s, %zu volumes)", domain, image, p->top, h->n);
	*ret = prepared_json(&d, image, h);
	thinmon_image_prepared(domain, image);
	return 0;
}

/* Another prepared image whose chain goes through a volume of image. */
static int check_not_backing(const char *image)
{
	size_t pos = 0;
	const char *key;
	void *val;

	while (hashmap_next(prepared, &pos, &key, &val) == 0) {
		const struct prepared *q = val;
		if (strcmp(q->image, image) == 0)
			continue;
		for (size_t i = 0; i < q->h->n; i++)
			if (strcmp(q->h->v[i].image, image) == 0)
				return sp_conflict("volume %s of image %s backs image %s, which is prepared on this host: "
						   "tear that one down first", q->h->v[i].uuid, image, q->image);
	}
	return 0;
}

int activation_teardown(const char *domain, const char *image, json_object **ret)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	struct domain d;
	size_t n;
	int r;

	if ((r = store_get_domain(domain, &d)) < 0 || (r = store_image_volumes(domain, image, &v, &n)) < 0)
		return r;
	MUTEX_SCOPE(&lock);
	discover_locked();
	struct prepared *p = hashmap_get(prepared, image);
	if (p) {
		if ((r = check_not_backing(image)) < 0)
			return r;
		/* on failure (a VM still has a volume open) the image stays
		 * prepared with what could not be deactivated */
		if ((r = release_locked(&d, p->h)) < 0)
			return r;
		hashmap_remove(prepared, image);
		log_info("domain %s: image %s torn down", domain, image);
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "domain", json_object_new_string(domain));
	json_object_object_add(o, "image", json_object_new_string(image));
	json_object_object_add(o, "prepared", json_object_new_boolean(false));
	*ret = o;
	return 0;
}

/* ---- one volume ---- */

static int volume_of(const char *domain, const char *image, const char *volume, struct domain *ret_d,
		     struct volume_meta *ret_m)
{
	int r;
	if ((r = store_get_domain(domain, ret_d)) < 0)
		return r;
	if (store_get_volume(volume, ret_m) < 0 || strcmp(ret_m->image, image) != 0 || strcmp(ret_m->domain, domain) != 0)
		return sp_not_found("volume %s not found in image %s of domain %s", volume, image, domain);
	return 0;
}

static int volume_result(const char *domain, const char *image, const char *volume, json_object **ret)
{
	json_object *o = store_volume_json(domain, image, volume);
	if (!o)
		return sp_error_last()->code;
	activation_volume_json(o, domain, volume);
	*ret = o;
	return 0;
}

int activation_refresh(const char *domain, const char *image, const char *volume, json_object **ret)
{
	struct domain d;
	struct volume_meta m;
	int r;

	if ((r = volume_of(domain, image, volume, &d, &m)) < 0 || (r = op_require_data(domain)) < 0 ||
	    (r = d.ops->volume_refresh(&d, image, volume)) < 0)
		return r;
	return volume_result(domain, image, volume, ret);
}

int activation_refuse_prepared(const char *image)
{
	MUTEX_SCOPE(&lock);
	discover_locked();
	if (hashmap_get(prepared, image))
		return sp_conflict("image %s is prepared on this host (a VM may use it): tear it down first", image);
	return 0;
}

void activation_volume_json(json_object *o, const char *domain, const char *volume)
{
	struct domain d;
	bool is_prepared = false, active = false;
	uint64_t size = 0;

	{
		MUTEX_SCOPE(&lock);
		discover_locked();
		size_t pos = 0;
		void *val;
		while (!is_prepared && hashmap_next(prepared, &pos, NULL, &val) == 0) {
			const struct prepared *p = val;
			for (size_t i = 0; i < p->h->n && !is_prepared; i++)
				is_prepared = strcmp(p->h->v[i].uuid, volume) == 0;
		}
	}
	json_object_object_add(o, "prepared", json_object_new_boolean(is_prepared));
	if (store_get_domain(domain, &d) < 0)
		return;
	if (d.ops->volume_state(&d, volume, &active, &size) == 0) {
		json_object_object_add(o, "active", json_object_new_boolean(active));
		json_object_object_add(o, "lv_size", json_object_new_int64((int64_t)size));
		json_object_object_add(o, "extend_history", extend_history_json(volume));
	}
	sp_error_clear();
}
