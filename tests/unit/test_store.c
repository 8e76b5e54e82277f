/* lib/store: the in-memory model of pools, domains, images and volumes, and
 * what it keeps on storage so that a restart finds it again. */
#include "testutil.h"

#include <unistd.h>

#include "lib/store.h"
#include "lib/util/cleanup.h"
#include "lib/util/fsutil.h"
#include "lib/util/error.h"
#include "lib/util/log.h"

#define IMG_A "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define IMG_B "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
#define V1 "11111111-1111-4111-8111-111111111111"
#define V2 "22222222-2222-4222-8222-222222222222"
#define V3 "33333333-3333-4333-8333-333333333333"
#define V4 "44444444-4444-4444-8444-444444444444"
#define TASK1 "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
#define TASK2 "dddddddd-dddd-4ddd-8ddd-dddddddddddd"

struct fixture {
	char *dir;
	char pool[UUID_STR_LEN], dom[UUID_STR_LEN];
	struct domain d;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	log_set_level(LOG_LVL_ERROR);
	f->dir = test_mkdtemp();
	assert_int_equal(store_open(f->dir), 0);
	assert_int_equal(store_pool_create("pool1", &(struct domain_spec){ .name = "master" }, f->pool, f->dom), 0);
	assert_int_equal(store_get_domain(f->dom, &f->d), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close();
	test_rmdtemp(f->dir);
	free(f);
	return 0;
}

static struct volume_meta vol(const struct fixture *f, const char *image, const char *uuid, const char *parent,
			      const char *parent_image, int64_t ctime)
{
	struct volume_meta m = { 0 };
	snprintf(m.uuid, sizeof(m.uuid), "%s", uuid);
	snprintf(m.image, sizeof(m.image), "%s", image);
	snprintf(m.domain, sizeof(m.domain), "%s", f->dom);
	snprintf(m.parent, sizeof(m.parent), "%s", parent ? parent : "");
	snprintf(m.parent_image, sizeof(m.parent_image), "%s", parent ? parent_image : "");
	snprintf(m.image_name, sizeof(m.image_name), "disk");
	m.format = parent ? VOL_FORMAT_QCOW2 : VOL_FORMAT_RAW;
	m.capacity = 64ULL << 20;
	m.legal = true;
	m.ctime = ctime;
	return m;
}

static void put(struct fixture *f, struct volume_meta m)
{
	assert_int_equal(store_put_volume(&f->d, &m), 0);
}

static void test_pool_and_domain_create(void **state)
{
	struct fixture *f = *state;
	assert_true(uuid_is_valid(f->pool));
	assert_true(uuid_is_valid(f->dom));
	assert_int_equal(store_pool_count(), 1);
	assert_string_equal(f->d.name, "master");
	assert_string_equal(f->d.pool, f->pool);
	assert_string_equal(f->d.ops->kind, "file");

	json_object *p = store_pool_json(f->pool);
	assert_string_equal(json_object_get_string(json_object_object_get(p, "name")), "pool1");
	assert_string_equal(json_object_get_string(json_object_object_get(p, "master_domain")), f->dom);
	json_object *doms = json_object_object_get(p, "domains");
	assert_int_equal(json_object_array_length(doms), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(doms, 0)), f->dom);
	json_object_put(p);

	/* names are unique */
	char a[UUID_STR_LEN], b[UUID_STR_LEN];
	sp_error_clear();
	assert_int_equal(store_pool_create("pool1", &(struct domain_spec){ .name = "other" }, a, b), -SP_E_CONFLICT);
	assert_string_equal(sp_error_last()->field, "name");
	assert_int_equal(store_domain_create(&(struct domain_spec){ .name = "master", .pool = f->pool, .path = NULL }, a), -SP_E_CONFLICT);
	assert_int_equal(store_pool_count(), 1);

	/* a domain in a pool that does not exist */
	sp_error_clear();
	assert_int_equal(store_domain_create(&(struct domain_spec){ .name = "d2", .pool = IMG_A, .path = NULL }, a), -SP_E_BAD_REQUEST);
	assert_string_equal(sp_error_last()->field, "pool");

	/* a second domain in the pool, and one in none */
	assert_int_equal(store_domain_create(&(struct domain_spec){ .name = "d2", .pool = f->pool, .path = NULL }, a), 0);
	assert_int_equal(store_domain_create(&(struct domain_spec){ .name = "d3", .pool = NULL, .path = NULL }, b), 0);
	p = store_pool_json(f->pool);
	assert_int_equal(json_object_array_length(json_object_object_get(p, "domains")), 2);
	json_object_put(p);
	json_object *all = store_domains_json();
	assert_int_equal(json_object_array_length(all), 3);
	json_object_put(all);
	json_object *d3 = store_domain_json(b);
	json_object *pool_field;
	assert_true(json_object_object_get_ex(d3, "pool", &pool_field));
	assert_null(pool_field);
	assert_true(json_object_get_int64(json_object_object_get(d3, "total_bytes")) > 0);
	json_object_put(d3);
}

static void test_unknown_objects(void **state)
{
	(void)state;
	struct domain d;
	struct volume_meta m;
	sp_error_clear();
	assert_int_equal(store_get_domain(IMG_A, &d), -SP_E_NOT_FOUND);
	assert_int_equal(store_get_volume(V1, &m), -SP_E_NOT_FOUND);
	assert_null(store_pool_json(IMG_A));
	assert_int_equal(sp_error_last()->code, -SP_E_NOT_FOUND);
	assert_null(store_domain_json(IMG_A));
	assert_null(store_images_json(IMG_A));
}

static void test_domain_at_outside_path(void **state)
{
	struct fixture *f = *state;
	char *mnt = xasprintf("%s/mnt-nfs", f->dir);
	char *ident = xasprintf("%s/dom_md/metadata.json", mnt);
	char uuid[UUID_STR_LEN];
	assert_int_equal(mkdir(mnt, 0755), 0);
	assert_int_equal(store_domain_create(&(struct domain_spec){ .name = "nfs1", .pool = f->pool, .path = mnt }, uuid), 0);
	assert_true(path_exists(ident));
	/* the same directory cannot become a second domain */
	char other[UUID_STR_LEN];
	assert_int_equal(store_domain_create(&(struct domain_spec){ .name = "nfs2", .pool = f->pool, .path = mnt }, other), -SP_E_CONFLICT);

	/* and it is found again after a restart */
	store_close();
	assert_int_equal(store_open(f->dir), 0);
	struct domain d;
	assert_int_equal(store_get_domain(uuid, &d), 0);
	assert_string_equal(d.name, "nfs1");
	assert_string_equal(d.pool, f->pool);
	free(mnt);
	free(ident);
}

static void test_domain_remove(void **state)
{
	struct fixture *f = *state;
	char a[UUID_STR_LEN];
	struct domain d;
	assert_int_equal(store_domain_create(&(struct domain_spec){ .name = "d2", .pool = f->pool }, a), 0);
	assert_int_equal(store_get_domain(a, &d), 0);
	char *path = xstrdup(d.path);
	struct volume_meta m = vol(f, IMG_A, V1, NULL, NULL, 100);
	snprintf(m.domain, sizeof(m.domain), "%s", a);
	assert_int_equal(store_put_volume(&d, &m), 0);

	/* refused while it has volumes, for a pool's master, for an unknown domain */
	assert_int_equal(store_domain_remove(a), -SP_E_CONFLICT);
	assert_int_equal(store_domain_remove(f->dom), -SP_E_CONFLICT);
	assert_non_null(strstr(sp_error_last()->message, "master"));
	assert_int_equal(store_domain_remove(IMG_B), -SP_E_NOT_FOUND);
	/* file domains have no devices */
	assert_int_equal(store_domain_add_device(a, "/dev/loop9", false), -SP_E_CONFLICT);
	assert_int_equal(store_domain_resize(a), -SP_E_CONFLICT);

	assert_int_equal(d.ops->volume_remove(&d, IMG_A, V1), 0);
	assert_int_equal(d.ops->image_remove(&d, IMG_A), 0);
	store_forget_volume(V1);
	assert_int_equal(store_domain_remove(a), 0);
	assert_int_equal(store_get_domain(a, &d), -SP_E_NOT_FOUND);
	assert_false(path_exists(path));
	_cleanup_json_ json_object *doms = store_domains_json();
	assert_int_equal(json_object_array_length(doms), 1);

	/* a removal cut short after its rename is finished at the next start */
	char *left = xasprintf("%s/domains/.removing-%s/images", f->dir, a);
	assert_int_equal(mkdir_p(left, 0755), 0);
	store_close();
	assert_int_equal(store_open(f->dir), 0);
	assert_false(path_exists(left));
	assert_int_equal(store_get_domain(a, &d), -SP_E_NOT_FOUND);
	free(left);
	free(path);
}

static void test_put_get_forget(void **state)
{
	struct fixture *f = *state;
	struct volume_meta m = vol(f, IMG_A, V1, NULL, NULL, 100), got;
	char *meta = xasprintf("%s/images/%s/%s.meta", f->d.path, IMG_A, V1);

	assert_int_equal(store_put_volume(&f->d, &m), 0);
	assert_int_equal(m.generation, 1); /* bumped on every write */
	assert_true(path_exists(meta));
	assert_int_equal(store_get_volume(V1, &got), 0);
	assert_string_equal(got.image, IMG_A);
	assert_int_equal(got.generation, 1);
	assert_int_equal(got.capacity, 64ULL << 20);

	m.legal = false;
	assert_int_equal(store_put_volume(&f->d, &m), 0);
	assert_int_equal(store_get_volume(V1, &got), 0);
	assert_int_equal(got.generation, 2);
	assert_false(got.legal);

	/* what was written durably is what a restart loads */
	store_close();
	assert_int_equal(store_open(f->dir), 0);
	assert_int_equal(store_get_volume(V1, &got), 0);
	assert_int_equal(got.generation, 2);
	assert_false(got.legal);
	assert_int_equal(store_pool_count(), 1);

	store_forget_volume(V1);
	assert_int_equal(store_get_volume(V1, &got), -SP_E_NOT_FOUND);
	store_forget_volume(V1); /* twice: harmless */
	free(meta);
}

static void test_chain_order_follows_parents(void **state)
{
	struct fixture *f = *state;
	struct volume_meta *v = NULL;
	size_t n = 0;

	/* creation times disagree with the chain: links decide */
	put(f, vol(f, IMG_A, V3, V2, IMG_A, 100));
	put(f, vol(f, IMG_A, V1, NULL, NULL, 300));
	put(f, vol(f, IMG_A, V2, V1, IMG_A, 200));
	assert_int_equal(store_image_volumes(f->dom, IMG_A, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].uuid, V1);
	assert_string_equal(v[1].uuid, V2);
	assert_string_equal(v[2].uuid, V3);
	free(v);

	json_object *img = store_image_json(f->dom, IMG_A);
	assert_string_equal(json_object_get_string(json_object_object_get(img, "top_volume")), V3);
	assert_int_equal(json_object_array_length(json_object_object_get(img, "volumes")), 3);
	assert_string_equal(json_object_get_string(json_object_object_get(img, "legality")), "LEGAL");
	json_object_put(img);

	json_object *vols = store_volumes_json(f->dom, IMG_A);
	assert_int_equal(json_object_array_length(vols), 3);
	json_object *base = json_object_array_get_idx(vols, 0), *top = json_object_array_get_idx(vols, 2);
	assert_false(json_object_get_boolean(json_object_object_get(base, "leaf")));
	assert_true(json_object_get_boolean(json_object_object_get(top, "leaf")));
	char *path = xasprintf("%s/images/%s/%s", f->d.path, IMG_A, V3);
	assert_string_equal(json_object_get_string(json_object_object_get(top, "path")), path);
	free(path);
	json_object_put(vols);

	/* one ILLEGAL volume makes the image ILLEGAL */
	struct volume_meta m;
	assert_int_equal(store_get_volume(V2, &m), 0);
	m.legal = false;
	put(f, m);
	img = store_image_json(f->dom, IMG_A);
	assert_string_equal(json_object_get_string(json_object_object_get(img, "legality")), "ILLEGAL");
	json_object_put(img);

	assert_int_equal(store_image_volumes(f->dom, IMG_B, &v, &n), -SP_E_NOT_FOUND);
	assert_null(store_image_json(f->dom, IMG_B));
}

static void test_clone_children(void **state)
{
	struct fixture *f = *state;
	struct volume_meta *v = NULL;
	size_t n = 0;

	/* template image A (V1 <- V2); clone B's base V3 backed by V2; B's top V4 */
	put(f, vol(f, IMG_A, V1, NULL, NULL, 1));
	put(f, vol(f, IMG_A, V2, V1, IMG_A, 2));
	put(f, vol(f, IMG_B, V3, V2, IMG_A, 3));
	put(f, vol(f, IMG_B, V4, V3, IMG_B, 4));

	assert_int_equal(store_children_count(V1), 1);
	assert_int_equal(store_children_count(V2), 1);
	assert_int_equal(store_children_count(V4), 0);
	assert_int_equal(store_external_children_count(IMG_A), 1);
	assert_int_equal(store_external_children_count(IMG_B), 0);

	assert_int_equal(store_image_volumes(f->dom, IMG_B, &v, &n), 0);
	assert_int_equal(n, 2); /* only B's own volumes */
	assert_string_equal(v[0].uuid, V3);
	assert_string_equal(v[1].uuid, V4);
	free(v);

	json_object *img = store_image_json(f->dom, IMG_B);
	json_object *src = json_object_object_get(img, "template_source");
	assert_non_null(src);
	assert_string_equal(json_object_get_string(json_object_object_get(src, "image")), IMG_A);
	assert_string_equal(json_object_get_string(json_object_object_get(src, "volume")), V2);
	json_object_put(img);

	json_object *imgs = store_images_json(f->dom);
	assert_int_equal(json_object_array_length(imgs), 2);
	json_object_put(imgs);

	store_forget_volume(V3);
	store_forget_volume(V4);
	assert_int_equal(store_external_children_count(IMG_A), 0);
	assert_int_equal(store_children_count(V2), 0);
}

static void test_image_claims(void **state)
{
	(void)state;
	assert_false(store_image_busy(IMG_A));
	assert_int_equal(store_image_claim(IMG_A, TASK1), 0);
	assert_true(store_image_busy(IMG_A));
	sp_error_clear();
	assert_int_equal(store_image_claim(IMG_A, TASK2), -SP_E_CONFLICT);
	assert_non_null(strstr(sp_error_last()->message, TASK1)); /* names the holder */
	assert_int_equal(store_image_claim(IMG_B, TASK2), 0);   /* other images are free */

	store_image_release(IMG_A, TASK2); /* not the holder: no effect */
	assert_true(store_image_busy(IMG_A));
	store_image_release(IMG_A, TASK1);
	assert_false(store_image_busy(IMG_A));
	assert_int_equal(store_image_claim(IMG_A, TASK2), 0);
	store_image_release(IMG_A, TASK2);
	store_image_release(IMG_B, TASK2);
	assert_false(store_image_busy(IMG_B));
}

static void test_unreadable_pool_record_skipped(void **state)
{
	struct fixture *f = *state;
	char *bad = xasprintf("%s/pools/%s.json", f->dir, IMG_A);
	test_write(bad, "{\"uuid\": \"nope\"");
	store_close();
	assert_int_equal(store_open(f->dir), 0);
	assert_int_equal(store_pool_count(), 1);
	json_object *p = store_pool_json(f->pool);
	assert_non_null(p);
	json_object_put(p);
	free(bad);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_pool_and_domain_create),
		T(test_unknown_objects),
		T(test_domain_at_outside_path),
		T(test_domain_remove),
		T(test_put_get_forget),
		T(test_chain_order_follows_parents),
		T(test_clone_children),
		T(test_image_claims),
		T(test_unreadable_pool_record_skipped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
