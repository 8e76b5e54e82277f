#include "lib/qemu_img.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/run.h"
#include "lib/util/xalloc.h"

int qemu_img_parse_progress(const char *line, int *ret_percent)
{
	double pct;
	char close_paren;

	while (*line == ' ' || *line == '\t')
		line++;
	if (sscanf(line, "(%lf/100%%%c", &pct, &close_paren) != 2 || close_paren != ')' ||
	    !(pct >= 0 && pct <= 100)) /* also false for NaN, which (int) cannot convert */
		return -EINVAL;
	*ret_percent = (int)pct;
	return 0;
}

static void progress_line(const char *line, void *userdata)
{
	const struct qemu_img_progress *p = userdata;
	int pct;

	if (p->fn && qemu_img_parse_progress(line, &pct) == 0)
		p->fn(pct, p->userdata);
}

/* Runs qemu-img; on failure records its stderr against the object concerned. */
static int run_qemu_img(const char *const argv[], const struct qemu_img_progress *p, const char *object,
			struct run_result *ret_out)
{
	struct run_opts opts = { 0 };
	struct run_result res = { 0 };
	int r;

	if (p) {
		opts.on_line = progress_line;
		opts.userdata = (void *)p;
		opts.abort = p->abort;
	}
	r = run_argv(argv, &opts, &res);
	if (r == -SP_E_ABORTED)
		return r;
	if (r < 0)
		return sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "", "cannot run qemu-img for %s: %s",
				    object, strerror(-r));
	if (res.exit_status != 0) {
		size_t n = strlen(res.err);
		while (n > 0 && (res.err[n - 1] == '\n' || res.err[n - 1] == '\r'))
			res.err[--n] = '\0';
		r = sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "", "qemu-img %s failed for %s: %s", argv[1],
				 object, res.err);
		run_result_free(&res);
		return r;
	}
	if (ret_out)
		*ret_out = res;
	else
		run_result_free(&res);
	return 0;
}

int qemu_img_create(const char *path, enum vol_format fmt, enum vol_alloc alloc, uint64_t capacity,
		    const char *backing, enum vol_format backing_fmt)
{
	char size[32];
	const char *argv[16];
	int n = 0;

	snprintf(size, sizeof(size), "%" PRIu64, capacity);
	argv[n++] = "qemu-img";
	argv[n++] = "create";
	argv[n++] = "-q";
	argv[n++] = "-f";
	argv[n++] = vol_format_str(fmt);
	if (fmt == VOL_FORMAT_QCOW2) {
		argv[n++] = "-o";
		argv[n++] = alloc == VOL_ALLOC_PREALLOCATED ? "compat=1.1,preallocation=metadata" : "compat=1.1";
	} else if (alloc == VOL_ALLOC_PREALLOCATED) {
		argv[n++] = "-o";
		argv[n++] = "preallocation=falloc";
	}
	if (backing) {
		argv[n++] = "-b";
		argv[n++] = backing;
		argv[n++] = "-F";
		argv[n++] = vol_format_str(backing_fmt);
	}
	argv[n++] = path;
	argv[n++] = size;
	argv[n] = NULL;
	return run_qemu_img(argv, NULL, path, NULL);
}

int qemu_img_info(const char *path, struct qemu_img_info *ret)
{
	const char *argv[] = { "qemu-img", "info", "-U", "--output=json", path, NULL };
	struct run_result res = { 0 };
	int r = run_qemu_img(argv, NULL, path, &res);
	if (r < 0)
		return r;

	_cleanup_json_ json_object *o = json_tokener_parse(res.out);
	run_result_free(&res);
	json_object *fmt, *vsize, *backing;
	if (!o || !json_object_object_get_ex(o, "format", &fmt) ||
	    !json_object_object_get_ex(o, "virtual-size", &vsize))
		return sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "", "qemu-img info %s: unreadable output", path);
	struct qemu_img_info info = { 0 };
	snprintf(info.format, sizeof(info.format), "%s", json_object_get_string(fmt));
	info.virtual_size = (uint64_t)json_object_get_int64(vsize);
	if (json_object_object_get_ex(o, "backing-filename", &backing))
		snprintf(info.backing, sizeof(info.backing), "%s", json_object_get_string(backing));
	*ret = info;
	return 0;
}

int qemu_img_convert(const char *src, enum vol_format src_fmt, const char *dst, enum vol_format dst_fmt,
		     const struct qemu_img_progress *p)
{
	/* -n: the target was created by the domain backend (sized, preallocated) */
	const char *argv[] = { "qemu-img", "convert", "-p", "-n",  "-f", vol_format_str(src_fmt),
			       "-O",       vol_format_str(dst_fmt), src, dst, NULL };
	return run_qemu_img(argv, p, dst, NULL);
}

int qemu_img_commit(const char *top, const struct qemu_img_progress *p)
{
	/* -d: top is removed by the caller, no need to empty it */
	/* writethrough: each write's qcow2 metadata is written before the next
	 * write, so a qemu-img killed half way leaves nothing that was written
	 * unreachable (writeback keeps L2 tables in memory until the end) */
	const char *argv[] = { "qemu-img", "commit", "-p", "-d", "-t", "writethrough", top, NULL };
	return run_qemu_img(argv, p, top, NULL);
}

int qemu_img_rebase(const char *path, const char *new_backing, enum vol_format backing_fmt,
		    const struct qemu_img_progress *p)
{
	const char *argv[12];
	int n = 0;

	argv[n++] = "qemu-img";
	argv[n++] = "rebase";
	argv[n++] = "-p";
	/* writethrough, as for commit: above all, the copied clusters' L2 entries
	 * must be on disk before the header names the new backing file */
	argv[n++] = "-t";
	argv[n++] = "writethrough";
	argv[n++] = "-b";
	argv[n++] = new_backing ? new_backing : "";
	if (new_backing) {
		argv[n++] = "-F";
		argv[n++] = vol_format_str(backing_fmt);
	}
	argv[n++] = path;
	argv[n] = NULL;
	return run_qemu_img(argv, p, path, NULL);
}

int qemu_img_resize(const char *path, enum vol_format fmt, enum vol_alloc alloc, uint64_t capacity)
{
	char size[32];
	const char *argv[10];
	int n = 0;

	snprintf(size, sizeof(size), "%" PRIu64, capacity);
	argv[n++] = "qemu-img";
	argv[n++] = "resize";
	argv[n++] = "-q";
	argv[n++] = "-f";
	argv[n++] = vol_format_str(fmt);
	if (fmt == VOL_FORMAT_RAW && alloc == VOL_ALLOC_PREALLOCATED)
		argv[n++] = "--preallocation=falloc";
	argv[n++] = path;
	argv[n++] = size;
	argv[n] = NULL;
	return run_qemu_img(argv, NULL, path, NULL);
}

#define MEASURE_MEMO 64

static struct {
	pthread_mutex_t lock;
	struct measured {
		enum vol_format fmt;
		uint64_t capacity, bytes; /* bytes 0: unused */
	} v[MEASURE_MEMO];
	size_t next; /* replaced next, round robin */
} memo = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int measure(enum vol_format fmt, uint64_t capacity, uint64_t *ret_bytes);

int qemu_img_measure(enum vol_format fmt, uint64_t capacity, uint64_t *ret_bytes)
{
	{
		MUTEX_SCOPE(&memo.lock);
		for (size_t i = 0; i < MEASURE_MEMO; i++)
			if (memo.v[i].bytes && memo.v[i].fmt == fmt && memo.v[i].capacity == capacity) {
				*ret_bytes = memo.v[i].bytes;
				return 0;
			}
	}
	uint64_t bytes = 0;
	int r = measure(fmt, capacity, &bytes);
	if (r < 0)
		return r;
	MUTEX_SCOPE(&memo.lock);
	memo.v[memo.next] = (struct measured){ fmt, capacity, bytes };
	memo.next = (memo.next + 1) % MEASURE_MEMO;
	*ret_bytes = bytes;
	return 0;
}

static int measure(enum vol_format fmt, uint64_t capacity, uint64_t *ret_bytes)
{
	char size[32];
	snprintf(size, sizeof(size), "%" PRIu64, capacity);
	const char *argv[] = { "qemu-img", "measure", "--output=json", "--size", size, "-O", vol_format_str(fmt), NULL };
	struct run_result res = { 0 };
	int r = run_qemu_img(argv, NULL, "measure", &res);
	if (r < 0)
		return r;
	_cleanup_json_ json_object *o = json_tokener_parse(res.out);
	run_result_free(&res);
	json_object *full;
	if (!o || !json_object_object_get_ex(o, "fully-allocated", &full) || json_object_get_int64(full) <= 0)
		return sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "", "qemu-img measure: unreadable output");
	*ret_bytes = (uint64_t)json_object_get_int64(full);
	return 0;
}

int qemu_img_repair_leaks(const char *path)
{
	const char *argv[] = { "qemu-img", "check", "-q", "-r", "leaks", "-f", "qcow2", path, NULL };
	return run_qemu_img(argv, NULL, path, NULL);
}
