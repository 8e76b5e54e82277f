/* The consistency checker (lib/check.h). Everything is read from storage
 * through the backend (domain_ops.inventory, journal_scan, qemu-img info and
 * check), not from the store: the store is one of the things compared. */
#include "lib/check.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/activation.h"
#include "lib/qemu_img.h"
#include "lib/store.h"
#include "lib/task.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/hashmap.h"
#include "lib/util/xalloc.h"

static void hashmap_freep(struct hashmap **m) { hashmap_free(*m); }

struct check {
	struct domain d;
	struct inventory_item *items;
	size_t n;
	struct hashmap *volumes; /* uuid -> item with parsed metadata */
	struct hashmap *busy;    /* images with a task, not judged */
	json_object *problems;
	json_object *skipped;
	/* this host writes the domain (SPM, or no pool): its tasks are the only
	 * ones, and its model is the newest */
	bool writer;
};

static void problem(struct check *c, const char *code, const char *object, const char *id, const char *image,
		    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void problem(struct check *c, const char *code, const char *object, const char *id, const char *image,
		    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (image && image[0] && hashmap_get(c->busy, image))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "code", json_object_new_string(code));
	json_object_object_add(o, "object", json_object_new_string(object));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "image", image && image[0] ? json_object_new_string(image) : NULL);
	json_object_object_add(o, "message", json_object_new_string(msg));
	json_object_array_add(c->problems, o);
}

static void add_item(const struct inventory_item *it, void *userdata)
{
	struct check *c = userdata;
	c->items = xrealloc(c->items, (c->n + 1) * sizeof(*c->items));
	c->items[c->n++] = *it;
}

static const struct volume_meta *volume(const struct check *c, const char *uuid)
{
	const struct inventory_item *it = uuid[0] ? hashmap_get(c->volumes, uuid) : NULL;
	return it ? &it->meta : NULL;
}

/* Images with a task queued or running now: what they show is in flux. */
static void note_busy(struct check *c)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	size_t n = 0;

	store_domain_volumes(c->d.uuid, &v, &n);
	for (size_t i = 0; i < n; i++)
		if (store_image_busy(v[i].image))
			hashmap_put(c->busy, v[i].image, (void *)1);
	for (size_t i = 0; i < c->n; i++)
		if (c->items[i].image[0] && store_image_busy(c->items[i].image))
			hashmap_put(c->busy, c->items[i].image, (void *)1);
}

/* Metadata and data of each volume, and what is neither. */
static void check_items(struct check *c)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct inventory_item *it = &c->items[i];
		if (it->stray[0])
			problem(c, "stray", "path", it->stray, it->image, "%s: %s", it->stray, it->error);
		else if (!it->has_meta)
			problem(c, "metadata_missing", "volume", it->volume, it->image,
				"volume %s: data with no metadata", it->volume);
		else if (!it->meta_ok)
			problem(c, "metadata_unreadable", "volume", it->volume, it->image,
				"volume %s: metadata does not parse: %s", it->volume, it->error);
		else if (!it->has_data)
			problem(c, "data_missing", "volume", it->volume, it->image,
				"volume %s: metadata with no data", it->volume);
		else if (!it->meta.legal && c->writer)
			problem(c, "illegal", "volume", it->volume, it->image,
				"volume %s is ILLEGAL and no task is changing image %s", it->volume, it->image);
	}
}

/* Parents exist, are where the metadata says, and no chain loops; a
 * volume's parent in another image must be a template's. */
static void check_parents(struct check *c)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct volume_meta *m = c->items[i].meta_ok ? &c->items[i].meta : NULL;
		if (!m || !m->parent[0])
			continue;
		const struct volume_meta *p = volume(c, m->parent);
		if (!p) {
			problem(c, "parent_missing", "volume", m->uuid, m->image, "volume %s: parent %s does not exist",
				m->uuid, m->parent);
			continue;
		}
		if (strcmp(p->image, m->parent_image) != 0)
			problem(c, "parent_image_differs", "volume", m->uuid, m->image,
				"volume %s: parent %s is in image %s, the metadata says %s", m->uuid, p->uuid, p->image,
				m->parent_image);
		if (strcmp(p->image, m->image) != 0 && !p->shared)
			problem(c, "parent_not_template", "volume", m->uuid, m->image,
				"volume %s: parent %s is in image %s, which is not a template", m->uuid, p->uuid, p->image);
		/* a loop: more steps than there are volumes */
		size_t steps = 0;
		for (const struct volume_meta *q = m; q && q->parent[0] && steps <= c->n; steps++)
			q = volume(c, q->parent);
		if (steps > c->n)
			problem(c, "chain_cycle", "volume", m->uuid, m->image, "volume %s: its chain of parents loops",
				m->uuid);
	}
}

/* Each image is one chain (every volume has at most one child in it) whose
 * top is LEGAL, all shared (a template) or none. */
static void check_image(struct check *c, const char *image)
{
	const struct volume_meta *top = NULL;
	size_t tops = 0, shared = 0, n = 0;

	for (size_t i = 0; i < c->n; i++) {
		const struct volume_meta *m = c->items[i].meta_ok ? &c->items[i].meta : NULL;
		if (!m || strcmp(m->image, image) != 0)
			continue;
		size_t children = 0;
		for (size_t j = 0; j < c->n; j++)
			if (c->items[j].meta_ok && strcmp(c->items[j].meta.image, image) == 0 &&
			    strcmp(c->items[j].meta.parent, m->uuid) == 0)
				children++;
		if (children > 1)
			problem(c, "chain_forked", "volume", m->uuid, image, "volume %s has %zu children in image %s",
				m->uuid, children, image);
		if (children == 0) {
			top = m;
			tops++;
		}
		shared += m->shared;
		n++;
	}
	if (n == 0)
		return;
	if (tops != 1)
		problem(c, "no_top", "image", image, image, "image %s has %zu top volumes (a chain has one)", image, tops);
	else if (!top->legal)
		problem(c, "top_illegal", "image", image, image, "image %s has no LEGAL top: volume %s is ILLEGAL", image,
			top->uuid);
	if (shared && shared != n)
		problem(c, "template_partial", "image", image, image,
			"image %s: %zu of its %zu volumes are shared (template), not all", image, shared, n);
}

static void check_images(struct check *c)
{
	_cleanup_(hashmap_freep) struct hashmap *seen = hashmap_new(NULL);
	for (size_t i = 0; i < c->n; i++)
		if (c->items[i].meta_ok && !hashmap_get(seen, c->items[i].meta.image)) {
			hashmap_put(seen, c->items[i].meta.image, (void *)1);
			check_image(c, c->items[i].meta.image);
		}
}

/* The model (what the API answers) against storage; only where this host
 * writes: elsewhere the SPM may have changed storage since it was read. */
static void check_model(struct check *c)
{
	_cleanup_free_ struct volume_meta *v = NULL;
	size_t n = 0;

	if (!c->writer)
		return;
	store_domain_volumes(c->d.uuid, &v, &n);
	_cleanup_(hashmap_freep) struct hashmap *known = hashmap_new(NULL);
	for (size_t i = 0; i < n; i++) {
		const struct volume_meta *s = volume(c, v[i].uuid);
		hashmap_put(known, v[i].uuid, (void *)1);
		if (!s) {
			problem(c, "model_stale", "volume", v[i].uuid, v[i].image,
				"volume %s is in the agent's model but not on storage (or unreadable there)", v[i].uuid);
			continue;
		}
		char diff[256] = "";
		const struct {
			const char *name;
			bool differs;
		} fields[] = {
			{ "image", strcmp(s->image, v[i].image) != 0 },    { "parent", strcmp(s->parent, v[i].parent) != 0 },
			{ "legality", s->legal != v[i].legal },           { "shared", s->shared != v[i].shared },
			{ "capacity", s->capacity != v[i].capacity },     { "format", s->format != v[i].format },
			{ "generation", s->generation != v[i].generation },
		};
		for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
			if (fields[f].differs)
				snprintf(diff + strlen(diff), sizeof(diff) - strlen(diff), "%s%s", diff[0] ? ", " : "",
					 fields[f].name);
		if (diff[0])
			problem(c, "model_differs", "volume", v[i].uuid, v[i].image,
				"volume %s: the agent's model and storage differ in %s", v[i].uuid, diff);
	}
	for (size_t i = 0; i < c->n; i++)
		if (c->items[i].meta_ok && !hashmap_get(known, c->items[i].volume))
			problem(c, "model_missing", "volume", c->items[i].volume, c->items[i].image,
				"volume %s is on storage but not in the agent's model", c->items[i].volume);
}

/* Journal records whose task is not queued or running here: left over.
 * Read twice, so that a task ending meanwhile is not taken for one. */
static int note_record(const char *task_uuid, json_object *record, void *userdata)
{
	(void)record;
	if (!task_active(task_uuid))
		hashmap_put(userdata, task_uuid, (void *)1);
	return 0;
}

static void check_journal(struct check *c, size_t *ret_records)
{
	_cleanup_(hashmap_freep) struct hashmap *first = hashmap_new(NULL);
	_cleanup_(hashmap_freep) struct hashmap *second = hashmap_new(NULL);
	if (!c->writer)
		return;
	int r = c->d.ops->journal_scan(&c->d, note_record, first);

	if (r >= 0)
		r = c->d.ops->journal_scan(&c->d, note_record, second);
	if (r < 0) {
		problem(c, "journal_unreadable", "domain", c->d.uuid, NULL, "domain %s: the task journal cannot be read: %s",
			c->d.uuid, strerror(-r));
		return;
	}
	*ret_records = hashmap_size(second);
	size_t pos = 0;
	const char *task;
	while (hashmap_next(second, &pos, &task, NULL) == 0)
		if (hashmap_get(first, task))
			problem(c, "journal_leftover", "task", task, NULL,
				"task %s is journaled on domain %s but not queued or running", task, c->d.uuid);
}

/* What the data says: format, size and backing file of each volume, and the
 * qcow2 metadata's own consistency. */
static void check_data(struct check *c, const struct volume_meta *m)
{
	_cleanup_free_ char *path = c->d.ops->volume_path(&c->d, m->image, m->uuid);
	_cleanup_(activation_releasep) struct held *h = NULL;
	struct qemu_img_info info;
	bool block = strcmp(c->d.ops->kind, "block") == 0;

	if (activation_hold(c->d.uuid, m->uuid, &h) < 0 || qemu_img_info(path, &info) < 0) {
		problem(c, "data_unreadable", "volume", m->uuid, m->image, "volume %s: %s", m->uuid,
			sp_error_last()->message);
		return;
	}
	if (strcmp(info.format, vol_format_str(m->format)) != 0) {
		problem(c, "format_differs", "volume", m->uuid, m->image, "volume %s: the metadata says %s, the data is %s",
			m->uuid, vol_format_str(m->format), info.format);
		return;
	}
	/* a raw volume on an LV is as large as its LV */
	if ((block && m->format == VOL_FORMAT_RAW) ? info.virtual_size < m->capacity : info.virtual_size != m->capacity)
		problem(c, "capacity_differs", "volume", m->uuid, m->image,
			"volume %s: the metadata says %" PRIu64 " bytes, the data holds %" PRIu64, m->uuid, m->capacity,
			info.virtual_size);
	if (m->format != VOL_FORMAT_QCOW2)
		return;
	_cleanup_free_ char *want = m->parent[0] ? c->d.ops->backing_ref(&c->d, m->parent_image, m->parent) : xstrdup("");
	if (strcmp(info.backing, want) != 0)
		problem(c, "backing_differs", "volume", m->uuid, m->image,
			"volume %s: the qcow2 header names backing file \"%s\", its parent is \"%s\"", m->uuid,
			info.backing, want);
	uint64_t corruptions, leaks;
	if (qemu_img_check(path, &corruptions, &leaks) < 0)
		problem(c, "data_unreadable", "volume", m->uuid, m->image, "volume %s: %s", m->uuid,
			sp_error_last()->message);
	else if (corruptions || leaks)
		problem(c, "qcow2_damaged", "volume", m->uuid, m->image,
			"volume %s: qemu-img check finds %" PRIu64 " corruptions and %" PRIu64 " leaked clusters", m->uuid,
			corruptions, leaks);
}

static void check_volumes_data(struct check *c)
{
	if (!c->d.ops->data_access(&c->d)) {
		json_object_array_add(c->skipped,
				      json_object_new_string("volume data (format, size, qcow2 backing file and "
							     "metadata): LV activation is off on this host"));
		return;
	}
	for (size_t i = 0; i < c->n; i++) {
		const struct inventory_item *it = &c->items[i];
		if (it->meta_ok && it->has_data && !hashmap_get(c->busy, it->image))
			check_data(c, &it->meta);
	}
}

/* Block: a raw volume's LV holds its whole capacity (checked without activation). */
static void check_lv_sizes(struct check *c)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct inventory_item *it = &c->items[i];
		if (it->meta_ok && it->data_size && it->meta.format == VOL_FORMAT_RAW && it->data_size < it->meta.capacity)
			problem(c, "lv_too_small", "volume", it->volume, it->image,
				"volume %s: LV of %" PRIu64 " bytes for a raw capacity of %" PRIu64, it->volume,
				it->data_size, it->meta.capacity);
	}
}

static void check_free(struct check *c)
{
	free(c->items);
	hashmap_free(c->volumes);
	hashmap_free(c->busy);
	json_object_put(c->problems);
	json_object_put(c->skipped);
}

int check_domain(const char *domain, json_object **ret)
{
	_cleanup_(check_free) struct check c = { .volumes = hashmap_new(NULL), .busy = hashmap_new(NULL) };
	size_t records = 0;
	uint64_t submitted = task_submitted_count();
	bool quiet;
	int r;

	if ((r = store_get_domain(domain, &c.d)) < 0)
		return r;
	quiet = !store_domain_has_tasks(domain);
	c.problems = json_object_new_array();
	c.skipped = json_object_new_array();
	c.writer = store_check_writer(&c.d) == 0;
	if (!c.writer) {
		sp_error_clear();
		json_object_array_add(c.skipped,
				      json_object_new_string("ILLEGAL volumes, journal records and the agent's model: this "
							     "host is not the pool's SPM (its tasks run elsewhere)"));
	}
	c.d.ops->forget_cache(&c.d); /* storage as it is now, whoever changed it */
	if ((r = c.d.ops->inventory(&c.d, add_item, &c)) < 0)
		return r;
	note_busy(&c);
	for (size_t i = 0; i < c.n; i++)
		if (c.items[i].meta_ok)
			hashmap_put(c.volumes, c.items[i].volume, &c.items[i]);
	check_journal(&c, &records);
	check_items(&c);
	check_parents(&c);
	check_images(&c);
	check_model(&c);
	check_lv_sizes(&c);
	check_volumes_data(&c);

	/* what a task changed meanwhile is not judged */
	note_busy(&c);
	/* a task journaled elsewhere (a copy, on its destination) may hold an image here */
	quiet = quiet && !store_domain_has_tasks(domain) && task_submitted_count() == submitted &&
		hashmap_size(c.busy) == 0;
	json_object *problems = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(c.problems); i++) {
		json_object *p = json_object_array_get_idx(c.problems, i);
		const char *image = json_object_get_string(json_object_object_get(p, "image"));
		if (!image || !hashmap_get(c.busy, image))
			json_object_array_add(problems, json_object_get(p));
	}
	size_t pos = 0;
	const char *image;
	while (hashmap_next(c.busy, &pos, &image, NULL) == 0) {
		char what[128];
		snprintf(what, sizeof(what), "image %s: a task is changing it", image);
		json_object_array_add(c.skipped, json_object_new_string(what));
	}
	_cleanup_(hashmap_freep) struct hashmap *images = hashmap_new(NULL);
	size_t volumes = 0;
	for (size_t i = 0; i < c.n; i++)
		if (c.items[i].volume[0]) {
			volumes++;
			if (c.items[i].image[0])
				hashmap_put(images, c.items[i].image, (void *)1);
		}

	json_object *o = json_object_new_object();
	json_object_object_add(o, "domain", json_object_new_string(c.d.uuid));
	json_object_object_add(o, "name", json_object_new_string(c.d.name));
	json_object_object_add(o, "kind", json_object_new_string(c.d.ops->kind));
	json_object_object_add(o, "quiet", json_object_new_boolean(quiet));
	json_object *checked = json_object_new_object();
	json_object_object_add(checked, "images", json_object_new_int64((int64_t)hashmap_size(images)));
	json_object_object_add(checked, "volumes", json_object_new_int64((int64_t)volumes));
	json_object_object_add(checked, "journal_records", json_object_new_int64((int64_t)records));
	json_object_object_add(o, "checked", checked);
	json_object_object_add(o, "problems", problems);
	json_object_object_add(o, "skipped", json_object_get(c.skipped));
	*ret = o;
	return 0;
}
