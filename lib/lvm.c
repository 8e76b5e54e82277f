/* The LVM module: one worker thread owns the liblvm2cmd handle (see lvm.h).
 *
 * How a command reaches LVM: lvm2_run(handle, "cmd args...") splits the line
 * itself (lvm_split in tools/lvmcmdline.c): words are separated by spaces; a
 * word that *starts* with ' or " runs to the next same quote (no escapes); a
 * word starting with '#' ends the line; at most 64 words. So every piece we
 * put on a line is validated to contain no space, quote or '#', and the one
 * quoted word, the --config string, holds only double quotes inside single
 * quotes. All output, `--reportformat json` reports included, arrives line by
 * line in the log callback at level 4 (print; warnings too); errors at 3. */
#include "lib/lvm.h"
#include "lib/lvm_priv.h"

#include <inttypes.h>
#include <lvm2cmd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/metrics.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/fsutil.h"
#include "lib/util/hashmap.h"
#include "lib/util/log.h"
#include "lib/util/prio.h"
#include "lib/util/stallpoint.h"
#include "lib/util/xalloc.h"

#define LVM_MAX_WORDS 64 /* liblvm2cmd's MAX_ARGS */

/* A piece of a command line that is not acceptable: -EINVAL, recorded. */
#define bad_arg(field, ...) sp_error_set(-EINVAL, "invalid_field", (field), __VA_ARGS__)

enum op {
	OP_INIT,
	OP_STOP,
	OP_PVCREATE,
	OP_VGCREATE,
	OP_ATTACH,
	OP_VGEXTEND,
	OP_PVRESIZE,
	OP_VGREMOVE,
	OP_PVREMOVE,
	OP_VG_INFO,
	OP_LVS,
	OP_LVCREATE,
	OP_LVREMOVE,
	OP_LVEXTEND,
	OP_LVTAGS,
	OP_LV_LOCATION,
	OP_LVACTIVATE,
	OP_LVREFRESH,
	OP_VGS_ON,
};

/* One queued call; lives on the caller's stack until done. */
struct call {
	enum op op;
	const char *vg, *lv, *dev;
	const char *const *devs, *const *add, *const *del;
	uint64_t size;
	bool contiguous;
	bool active;
	struct lvm_vg *ret_vg;
	struct lvm_lv **ret_lvs;
	size_t *ret_n;
	char **ret_dev;
	uint64_t *ret_offset, *ret_size;
	char ***ret_names;

	int r;
	struct sp_error err;
	bool done;
	struct call *next;
};

/* What the worker knows of a VG: its devices and the cached reports.
 * Only the worker changes the fields, under L.lock, and reads them without
 * it; other threads read valid reports under L.lock (cached_*: a read does
 * not wait behind a command running for another caller). Anyone may clear
 * the valid flags (lvm_vg_invalidate) and bumps gen: a report whose command
 * started before that is returned to its caller but not kept as valid. */
struct vg_state {
	char **devs;
	atomic_bool vg_valid, lvs_valid, segs_valid;
	atomic_uint_fast64_t gen;
	uint64_t extent_size; /* the VG's once reported (it never changes), else 0 */
	struct lvm_vg vg;
	struct lvm_lv *lvs;
	size_t nlvs;
	struct lvm_pvseg *segs; /* `pvs --segments` of the VG's PVs */
	size_t nsegs;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct call *head, *tail;
	bool started;
	pthread_t thread;
	atomic_bool read_only;
	struct hashmap *ro_vgs; /* VG names read-only on their own (under lock) */
	atomic_uint_fast64_t ncmds;
	lvm_cmd_observer_fn observer;
	void *observer_data;
	/* the deadline of queued callers (lvm_options.timeout_ms) */
	unsigned timeout_ms;
	struct call *running;      /* the call the worker is on, NULL when idle */
	uint64_t running_since_ns; /* metric_now_ns(): CLOCK_MONOTONIC */
	char running_what[192];    /* its command and object, once it runs one */
	unsigned queued;
	atomic_uint_fast64_t timeouts;

	struct hashmap *vgs; /* struct vg_state by VG name: see there */

	/* worker thread only */
	void *handle;
	bool activation;
	char *run_dir;
} L = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
};

/* Output of the command running now (worker thread only). */
static struct capture {
	char *out;
	size_t out_len, out_cap;
	char err[768];
	size_t err_len;
} cap;

static void cap_reset(void)
{
	free(cap.out);
	memset(&cap, 0, sizeof(cap));
}

static void cap_append_out(const char *s)
{
	size_t n = strlen(s);
	if (cap.out_len + n + 2 > cap.out_cap) {
		cap.out_cap = (cap.out_len + n + 2) * 2;
		cap.out = xrealloc(cap.out, cap.out_cap);
	}
	memcpy(cap.out + cap.out_len, s, n);
	cap.out_len += n;
	cap.out[cap.out_len++] = '\n';
	cap.out[cap.out_len] = '\0';
}

static void log_cb(int level, const char *file, int line, int dm_errno, const char *msg)
{
	(void)file, (void)line, (void)dm_errno;
	level &= 0x0f; /* strip _LOG_STDERR / _LOG_ONCE flags */
	if (!msg)
		return;
	while (*msg == ' ')
		msg++;
	if (level <= LVM2_LOG_ERROR) {
		int n = snprintf(cap.err + cap.err_len, sizeof(cap.err) - cap.err_len, "%s%s",
				 cap.err_len ? "; " : "", msg);
		if (n > 0)
			cap.err_len = cap.err_len + (size_t)n < sizeof(cap.err) ? cap.err_len + (size_t)n
										 : sizeof(cap.err) - 1;
		log_debug("lvm: error: %s", msg);
	} else if (level == LVM2_LOG_PRINT) {
		/* Keep report lines only: JSON lines start with one of {}[]". */
		if (*msg && strchr("{}[]\"", *msg))
			cap_append_out(msg);
		else
			log_debug("lvm: %s", msg);
	}
}

/* ---- validation ---- */

static bool chars_in(const char *s, const char *extra)
{
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(extra, c)))
			return false;
	}
	return true;
}

bool lvm_name_is_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n >= 1 && n <= 127 && s[0] != '-' && s[0] != '.' && chars_in(s, "_.+-");
}

bool lvm_tag_is_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n >= 1 && n <= 128 && s[0] != '-' && chars_in(s, "_+.:=-");
}

bool lvm_device_is_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 5 && n < 256 && !strncmp(s, "/dev/", 5) && chars_in(s + 5, "/_.:+-") &&
	       !strstr(s, "//") && !strstr(s, "/.") && s[n - 1] != '/';
}

static int check_name(const char *field, const char *s)
{
	if (!lvm_name_is_valid(s))
		return bad_arg(field, "invalid LVM %s name \"%.64s\": 1..127 characters of "
				    "[A-Za-z0-9_.+-], not starting with '-' or '.'", field, s ? s : "(null)");
	return 0;
}

static int check_tags(const char *field, const char *const tags[])
{
	size_t n = 0;
	for (; tags && tags[n]; n++)
		if (!lvm_tag_is_valid(tags[n]))
			return bad_arg(field, "invalid LVM tag \"%.64s\": 1..128 characters of "
					    "[A-Za-z0-9_+.:=-], not starting with '-'", tags[n]);
	if (n > LVM_MAX_TAGS)
		return sp_error_set(-E2BIG, "invalid_field", field, "%zu tags, at most %d per command",
				    n, LVM_MAX_TAGS);
	return 0;
}

static int check_devs(const char *const devs[], bool need_one)
{
	size_t n = 0;
	for (; devs && devs[n]; n++)
		if (!lvm_device_is_valid(devs[n]))
			return bad_arg("device", "invalid device path \"%.64s\"", devs[n]);
	if (need_one && n == 0)
		return bad_arg("device", "no device given");
	if (n > LVM_MAX_DEVS)
		return sp_error_set(-E2BIG, "invalid_field", "device", "%zu devices, at most %d", n,
				    LVM_MAX_DEVS);
	return 0;
}

/* ---- command lines ---- */

struct cmdline {
	FILE *f;
	char *buf;
	size_t len;
	int words;
};

static void cl_word(struct cmdline *c, const char *w)
{
	fprintf(c->f, "%s%s", c->words ? " " : "", w);
	c->words++;
}

static void cl_wordf(struct cmdline *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cl_wordf(struct cmdline *c, const char *fmt, ...)
{
	va_list ap;
	fputs(c->words ? " " : "", c->f);
	va_start(ap, fmt);
	vfprintf(c->f, fmt, ap);
	va_end(ap);
	c->words++;
}

static void cl_tags(struct cmdline *c, const char *opt, const char *const tags[])
{
	for (size_t i = 0; tags && tags[i]; i++) {
		cl_word(c, opt);
		cl_word(c, tags[i]);
	}
}

/* Regex of one device for an LVM filter: '.' and '+' as character classes,
 * so no backslash has to survive two levels of parsing. */
static void filter_regex(FILE *f, const char *dev)
{
	for (; *dev; dev++) {
		if (*dev == '.' || *dev == '+')
			fprintf(f, "[%c]", *dev);
		else
			fputc(*dev, f);
	}
}

/* Starts "<cmd> --config '<devices filter, read-only>'". devs may be empty:
 * the command then sees no device at all. */
static void cl_start(struct cmdline *c, const char *cmd, char *const *devs, bool read_only)
{
	c->f = open_memstream(&c->buf, &c->len);
	if (!c->f)
		abort(); /* out of memory */
	c->words = 0;
	cl_word(c, cmd);
	fputs(" --config '", c->f);
	if (read_only)
		fputs("global { metadata_read_only = 1 } ", c->f);
	fputs("devices { filter = [ ", c->f);
	for (size_t i = 0; devs && devs[i]; i++) {
		fputs("\"a|^", c->f);
		filter_regex(c->f, devs[i]);
		fputs("$|\", ", c->f);
	}
	fputs("\"r|.*|\" ] }'", c->f);
	c->words += 2;
}

static char *cl_finish(struct cmdline *c)
{
	fclose(c->f);
	return c->buf;
}

/* Runs a finished command line; on failure records what failed (op and object)
 * with LVM's error lines. On success the report lines are in cap.out. */
static int run_line(const char *what, const char *object, int words, const char *line)
{
	int rc;

	if (words >= LVM_MAX_WORDS)
		return sp_error_set(-E2BIG, "invalid_field", "", "lvm %s %s: %d words, liblvm2cmd takes < %d",
				    what, object, words, LVM_MAX_WORDS);
	char cmd[32]; /* the command's name: its first word */
	snprintf(cmd, sizeof(cmd), "%.*s", (int)strcspn(line, " "), line);
	pthread_mutex_lock(&L.lock);
	lvm_cmd_observer_fn observer = L.observer;
	void *observer_data = L.observer_data;
	snprintf(L.running_what, sizeof(L.running_what), "lvm %s %s", what, object);
	pthread_mutex_unlock(&L.lock);
	if (observer)
		observer(line, observer_data);
	_cleanup_free_ char *stall_name = xasprintf("lvm.%s", cmd);
	for (int attempt = 0;; attempt++) {
		cap_reset();
		log_debug("lvm: run %s", line);
		atomic_fetch_add(&L.ncmds, 1);
		uint64_t start_ns = metric_now_ns();
		stallpoint(stall_name); /* tests only: a command stuck on a dead LUN */
		rc = lvm2_run(L.handle, line);
		metrics_lvm_command(cmd, metric_now_ns() - start_ns);
		/* A command that writes opens its devices exclusively, and fails
		 * at once if something else holds one that moment: udev's rules
		 * and other scanners probing a device LVM has just written (seen
		 * between pvcreate and vgcreate, on LUNs and on loop devices). The
		 * command changed nothing then: try again, briefly. */
		if (rc == LVM2_COMMAND_SUCCEEDED || attempt == 5 || !strstr(cap.err, "exclusively"))
			break;
		log_info("lvm %s %s: a device is busy, again in %d ms", what, object, 50 << attempt);
		nanosleep(&(struct timespec){ 0, (50L << attempt) * 1000000L }, NULL);
	}
	/* too few free extents ("Volume group ... has insufficient free space",
	 * "Insufficient free space: N extents needed"): the VG is full, as a
	 * full file system, and the command changed nothing */
	if (rc != LVM2_COMMAND_SUCCEEDED && strstr(cap.err, "nsufficient free space"))
		return sp_error_set(-ENOSPC, "no_space", "", "lvm %s %s: the VG is full: %s", what, object, cap.err);
	if (rc != LVM2_COMMAND_SUCCEEDED)
		return sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "", "lvm %s %s failed (%d): %s",
				    what, object, rc, cap.err_len ? cap.err : "no error message");
	return 0;
}

static int run_cl(struct cmdline *c, const char *what, const char *object)
{
	int words = c->words;
	_cleanup_free_ char *line = cl_finish(c);
	return run_line(what, object, words, line);
}

/* ---- VG state ---- */

static void vg_state_free(void *p)
{
	struct vg_state *st = p;
	if (!st)
		return;
	lvm_strv_free(st->devs);
	lvm_vg_clear(&st->vg);
	lvm_lvs_free(st->lvs, st->nlvs);
	free(st->segs);
	free(st);
}

/* Caller holds L.lock. No report of st is answered any more (the VG's and the
 * PV segments, and the LV list if lvs), and one being made now is not kept
 * (gen). What they hold stays: only the worker frees it (it reads it without
 * the lock). */
static void vg_state_mark_stale_locked(struct vg_state *st, bool lvs)
{
	atomic_store(&st->vg_valid, false);
	atomic_store(&st->segs_valid, false);
	if (lvs)
		atomic_store(&st->lvs_valid, false);
	atomic_fetch_add(&st->gen, 1);
}

/* Caller holds L.lock. The reports that show the VG's space: the VG's and the PVs' segments. */
static void vg_state_invalidate_space_locked(struct vg_state *st)
{
	vg_state_mark_stale_locked(st, false);
	lvm_vg_clear(&st->vg);
	free(st->segs);
	st->segs = NULL;
	st->nsegs = 0;
}

static void vg_state_invalidate_locked(struct vg_state *st)
{
	if (!st)
		return;
	vg_state_invalidate_space_locked(st);
	atomic_store(&st->lvs_valid, false);
	lvm_lvs_free(st->lvs, st->nlvs);
	st->lvs = NULL;
	st->nlvs = 0;
}

/* Worker thread only (it frees what the worker reads without the lock). */
static void vg_state_invalidate(struct vg_state *st)
{
	pthread_mutex_lock(&L.lock);
	vg_state_invalidate_locked(st);
	pthread_mutex_unlock(&L.lock);
}

static struct vg_state *vg_state_set(const char *vg, const char *const devs[])
{
	pthread_mutex_lock(&L.lock);
	struct vg_state *st = hashmap_get(L.vgs, vg);
	if (!st) {
		st = xcalloc(1, sizeof(*st));
		hashmap_put(L.vgs, vg, st);
	}
	lvm_strv_free(st->devs);
	st->devs = lvm_strv_copy(devs);
	st->extent_size = 0;
	vg_state_invalidate_locked(st);
	pthread_mutex_unlock(&L.lock);
	return st;
}

static int vg_state_get(const char *vg, struct vg_state **ret)
{
	struct vg_state *st = hashmap_get(L.vgs, vg);
	if (!st)
		return sp_not_found("VG %s is not known to the LVM module (no devices attached)", vg);
	*ret = st;
	return 0;
}

static bool strv_has(char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static struct lvm_lv *lvs_copy(const struct lvm_lv *lvs, size_t n)
{
	struct lvm_lv *c = xcalloc(n ? n : 1, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		c[i] = lvs[i];
		c[i].tags = lvm_strv_copy((const char *const *)lvs[i].tags);
	}
	return c;
}

/* ---- operations (worker thread) ---- */

static bool vg_read_only(const char *vg)
{
	pthread_mutex_lock(&L.lock);
	bool ro = vg && L.ro_vgs && hashmap_get(L.ro_vgs, vg);
	pthread_mutex_unlock(&L.lock);
	return ro;
}

/* vg: the VG the command changes, NULL for commands on devices only. */
static int refuse_if_read_only(const char *what, const char *object, const char *vg)
{
	if (atomic_load(&L.read_only))
		return sp_error_set(-EROFS, "read_only", "",
				    "lvm %s %s refused: LVM is read-only on this host", what, object);
	if (vg_read_only(vg))
		return sp_error_set(-EROFS, "read_only", "",
				    "lvm %s %s refused: VG %s is read-only on this host (not its SPM)", what, object, vg);
	return 0;
}

static int do_pvcreate(struct call *k)
{
	struct cmdline c;
	int r = check_devs(k->devs, true);
	if (r < 0)
		return r;
	if ((r = refuse_if_read_only("pvcreate", k->devs[0], NULL)) < 0)
		return r;
	if (k->size % 512)
		return bad_arg("metadata_size", "metadata size %" PRIu64 " is not a multiple of 512",
				    k->size);
	_cleanup_free_ char *object = NULL;
	{
		FILE *f;
		size_t len;
		f = open_memstream(&object, &len);
		for (size_t i = 0; k->devs[i]; i++)
			fprintf(f, "%s%s", i ? "," : "", k->devs[i]);
		fclose(f);
	}
	cl_start(&c, "pvcreate", (char *const *)k->devs, false);
	if (k->size)
		cl_wordf(&c, "--metadatasize=%" PRIu64 "b", k->size);
	for (size_t i = 0; k->devs[i]; i++)
		cl_word(&c, k->devs[i]);
	return run_cl(&c, "pvcreate", object);
}

static int do_vgcreate(struct call *k)
{
	struct cmdline c;
	int r;
	if ((r = check_name("vg", k->vg)) < 0 || (r = check_devs(k->devs, true)) < 0 ||
	    (r = check_tags("tags", k->add)) < 0 || (r = refuse_if_read_only("vgcreate", k->vg, k->vg)) < 0)
		return r;
	if (k->size && (k->size % 1024 || (k->size & (k->size - 1))))
		return bad_arg("extent_size", "extent size %" PRIu64
				    " is not a power of 2 of at least 1 KiB", k->size);
	cl_start(&c, "vgcreate", (char *const *)k->devs, false);
	if (k->size)
		cl_wordf(&c, "--physicalextentsize=%" PRIu64 "k", k->size / 1024);
	cl_tags(&c, "--addtag", k->add);
	cl_word(&c, k->vg);
	for (size_t i = 0; k->devs[i]; i++)
		cl_word(&c, k->devs[i]);
	r = run_cl(&c, "vgcreate", k->vg);
	if (r >= 0)
		vg_state_set(k->vg, k->devs);
	return r;
}

static int do_attach(struct call *k)
{
	int r;
	if ((r = check_name("vg", k->vg)) < 0 || (r = check_devs(k->devs, true)) < 0)
		return r;
	vg_state_set(k->vg, k->devs);
	return 0;
}

static int do_vgextend(struct call *k)
{
	struct cmdline c;
	struct vg_state *st = NULL;
	int r;
	const char *one[] = { k->dev, NULL };
	if ((r = check_name("vg", k->vg)) < 0 || (r = check_devs(one, true)) < 0 ||
	    (r = vg_state_get(k->vg, &st)) < 0 || (r = refuse_if_read_only("vgextend", k->vg, k->vg)) < 0)
		return r;
	_cleanup_(freep) char **devs = NULL;
	size_t n = 0;
	while (st->devs[n])
		n++;
	devs = xcalloc(n + 2, sizeof(char *));
	memcpy(devs, st->devs, n * sizeof(char *));
	if (!strv_has(st->devs, k->dev))
		devs[n++] = (char *)k->dev;
	if (n > LVM_MAX_DEVS)
		return sp_error_set(-E2BIG, "invalid_field", "device", "VG %s would have %zu devices, at most %d",
				    k->vg, n, LVM_MAX_DEVS);
	cl_start(&c, "vgextend", devs, false);
	cl_word(&c, k->vg);
	cl_word(&c, k->dev);
	_cleanup_free_ char *object = xasprintf("%s (%s)", k->vg, k->dev);
	r = run_cl(&c, "vgextend", object);
	vg_state_invalidate(st);
	if (r >= 0) {
		char **copy = lvm_strv_copy((const char *const *)devs);
		pthread_mutex_lock(&L.lock);
		lvm_strv_free(st->devs);
		st->devs = copy;
		pthread_mutex_unlock(&L.lock);
	}
	return r;
}

static int do_pvresize(struct call *k)
{
	struct cmdline c;
	struct vg_state *st = NULL;
	int r;
	const char *one[] = { k->dev, NULL };
	if ((r = check_name("vg", k->vg)) < 0 || (r = check_devs(one, true)) < 0 ||
	    (r = vg_state_get(k->vg, &st)) < 0 || (r = refuse_if_read_only("pvresize", k->dev, k->vg)) < 0)
		return r;
	if (!strv_has(st->devs, k->dev))
		return bad_arg("device", "%s is not a device of VG %s", k->dev, k->vg);
	cl_start(&c, "pvresize", st->devs, false);
	cl_word(&c, k->dev);
	_cleanup_free_ char *object = xasprintf("%s (VG %s)", k->dev, k->vg);
	r = run_cl(&c, "pvresize", object);
	vg_state_invalidate(st);
	return r;
}

static int do_vgremove(struct call *k)
{
	struct cmdline c;
	struct vg_state *st = NULL;
	int r;
	if ((r = check_name("vg", k->vg)) < 0 || (r = vg_state_get(k->vg, &st)) < 0 ||
	    (r = refuse_if_read_only("vgremove", k->vg, k->vg)) < 0)
		return r;
	cl_start(&c, "vgremove", st->devs, false);
	cl_word(&c, "--force");
	cl_word(&c, k->vg);
	r = run_cl(&c, "vgremove", k->vg);
	vg_state_invalidate(st);
	if (r >= 0) {
		pthread_mutex_lock(&L.lock);
		hashmap_remove(L.vgs, k->vg);
		pthread_mutex_unlock(&L.lock);
	}
	return r;
}

static int do_pvremove(struct call *k)
{
	struct cmdline c;
	int r = check_devs(k->devs, true);
	if (r < 0)
		return r;
	if ((r = refuse_if_read_only("pvremove", k->devs[0], NULL)) < 0)
		return r;
	_cleanup_free_ char *object = NULL;
	{
		size_t len;
		FILE *f = open_memstream(&object, &len);
		if (!f)
			abort(); /* out of memory */
		for (size_t i = 0; k->devs[i]; i++)
			fprintf(f, "%s%s", i ? "," : "", k->devs[i]);
		fclose(f);
	}
	cl_start(&c, "pvremove", (char *const *)k->devs, false);
	for (size_t i = 0; k->devs[i]; i++)
		cl_word(&c, k->devs[i]);
	return run_cl(&c, "pvremove", object);
}

/* The VG's state, with devs (if given) replacing what was known. */
static int vg_state_for_report(struct call *k, struct vg_state **ret)
{
	int r;
	if ((r = check_name("vg", k->vg)) < 0)
		return r;
	if (k->devs) {
		if ((r = check_devs(k->devs, true)) < 0)
			return r;
		struct vg_state *st = hashmap_get(L.vgs, k->vg);
		size_t n = 0, m = 0;
		bool same = st != NULL;
		for (; k->devs[n]; n++)
			same = same && strv_has(st->devs, k->devs[n]);
		while (st && st->devs[m])
			m++;
		if (!same || n != m)
			vg_state_set(k->vg, k->devs);
	}
	return vg_state_get(k->vg, ret);
}

static int do_vg_info(struct call *k)
{
	struct cmdline c;
	struct vg_state *st = NULL;
	int r;
	if ((r = vg_state_for_report(k, &st)) < 0)
		return r;
	if (!atomic_load(&st->vg_valid)) {
		struct lvm_vg v;
		uint64_t gen = atomic_load(&st->gen);
		cl_start(&c, "vgs", st->devs, atomic_load(&L.read_only));
		cl_word(&c, "--reportformat=json");
		cl_word(&c, "--units=b");
		cl_word(&c, "--nosuffix");
		cl_word(&c, "--options=vg_name,vg_size,vg_free,vg_extent_size,vg_tags,vg_mda_size,"
			    "vg_mda_free,vg_seqno,lv_count,pv_count");
		cl_word(&c, k->vg);
		if ((r = run_cl(&c, "vgs", k->vg)) < 0)
			return r;
		if ((r = lvm_report_parse_vg(cap.out ? cap.out : "", k->vg, &v)) < 0)
			return r;
		pthread_mutex_lock(&L.lock);
		lvm_vg_clear(&st->vg);
		st->vg = v;
		atomic_store(&st->vg_valid, atomic_load(&st->gen) == gen);
		st->extent_size = v.extent_size;
		pthread_mutex_unlock(&L.lock);
	}
	*k->ret_vg = st->vg;
	k->ret_vg->tags = lvm_strv_copy((const char *const *)st->vg.tags);
	return 0;
}

static int do_lvs(struct call *k)
{
	struct cmdline c;
	struct vg_state *st = NULL;
	int r;
	if ((r = vg_state_for_report(k, &st)) < 0)
		return r;
	if (!atomic_load(&st->lvs_valid)) {
		struct lvm_lv *lvs;
		size_t n;
		uint64_t gen = atomic_load(&st->gen);
		cl_start(&c, "lvs", st->devs, atomic_load(&L.read_only));
		cl_word(&c, "--reportformat=json");
		cl_word(&c, "--units=b");
		cl_word(&c, "--nosuffix");
		cl_word(&c, "--options=lv_name,lv_size,lv_tags,lv_active");
		cl_word(&c, k->vg);
		if ((r = run_cl(&c, "lvs", k->vg)) < 0)
			return r;
		if ((r = lvm_report_parse_lvs(cap.out ? cap.out : "", &lvs, &n)) < 0)
			return r;
		pthread_mutex_lock(&L.lock);
		lvm_lvs_free(st->lvs, st->nlvs);
		st->lvs = lvs;
		st->nlvs = n;
		atomic_store(&st->lvs_valid, atomic_load(&st->gen) == gen);
		pthread_mutex_unlock(&L.lock);
	}
	*k->ret_lvs = lvs_copy(st->lvs, st->nlvs);
	*k->ret_n = st->nlvs;
	return 0;
}

/* Common start of the commands that change one LV. */
static int lv_change_start(struct call *k, const char *what, struct vg_state **ret_st,
			   char **ret_object)
{
	int r;
	if ((r = check_name("vg", k->vg)) < 0 || (r = check_name("lv", k->lv)) < 0 ||
	    (r = vg_state_get(k->vg, ret_st)) < 0)
		return r;
	*ret_object = xasprintf("%s/%s", k->vg, k->lv);
	if ((r = refuse_if_read_only(what, *ret_object, k->vg)) < 0) {
		free(*ret_object);
		*ret_object = NULL;
		return r;
	}
	return 0;
}

static int check_size(const char *field, uint64_t size)
{
	if (size == 0 || size % 512)
		return bad_arg(field, "size %" PRIu64 " is not a positive multiple of 512", size);
	return 0;
}

static int do_lvcreate(struct call *k)
{
	struct cmdline c;
	struct vg_state *st = NULL;
	_cleanup_free_ char *object = NULL;
	int r;
	if ((r = check_size("size", k->size)) < 0 || (r = check_tags("tags", k->add)) < 0 ||
	    (r = lv_change_start(k, "lvcreate", &st, &object)) < 0)
		return r;
	cl_start(&c, "lvcreate", st->devs, false);
	cl_word(&c, "--activate=n");
	cl_word(&c, "--zero=n");
	cl_word(&c, "--wipesignatures=n");
	if (k->contiguous)
		cl_word(&c, "--alloc=contiguous");
	cl_wordf(&c, "--size=%" PRIu64 "b", k->size);
	cl_tags(&c, "--addtag", k->add);
	cl_wordf(&c, "--name=%s", k->lv);
	cl_word(&c, k->vg);
	r = run_cl(&c, "lvcreate", object);
	vg_state_invalidate(st);
	return r;
}

static int do_lvremove(struct call *k)
{
	struct cmdline c;
	struct vg_state *st = NULL;
	_cleanup_free_ char *object = NULL;
	int r;
	if ((r = lv_change_start(k, "lvremove", &st, &object)) < 0)
		return r;
	cl_start(&c, "lvremove", st->devs, false);
	cl_word(&c, "--force");
	cl_word(&c, object);
	r = run_cl(&c, "lvremove", object);
	vg_state_invalidate(st);
	return r;
}

static int do_lvextend(struct call *k)
{
	struct cmdline c;
	struct vg_state *st = NULL;
	_cleanup_free_ char *object = NULL;
	int r;
	if ((r = check_size("size", k->size)) < 0 ||
	    (r = lv_change_start(k, "lvextend", &st, &object)) < 0)
		return r;
	cl_start(&c, "lvextend", st->devs, false);
	cl_wordf(&c, "--size=%" PRIu64 "b", k->size);
	cl_word(&c, object);
	r = run_cl(&c, "lvextend", object);
	/* A successful lvextend to whole extents changed the LV's size to
	 * exactly that and the VG's space, nothing else: the LV list stays valid
	 * with the new size, so extending the next chunk needs no lvs (one LVM
	 * command per thin extend on the SPM instead of two: each is about a
	 * second in TCG guests). A failure may have done part of its work. */
	pthread_mutex_lock(&L.lock);
	bool exact = r == 0 && atomic_load(&st->lvs_valid) && st->extent_size && k->size % st->extent_size == 0;
	struct lvm_lv *lv = NULL;
	for (size_t i = 0; exact && i < st->nlvs && !lv; i++)
		if (!strcmp(st->lvs[i].name, k->lv))
			lv = &st->lvs[i];
	if (lv) {
		lv->size = k->size;
		vg_state_invalidate_space_locked(st);
	} else {
		vg_state_invalidate_locked(st);
	}
	pthread_mutex_unlock(&L.lock);
	return r;
}

static int do_lvtags(struct call *k)
{
	struct cmdline c;
	struct vg_state *st = NULL;
	_cleanup_free_ char *object = NULL;
	size_t n = 0;
	int r;
	if ((r = check_tags("add", k->add)) < 0 || (r = check_tags("del", k->del)) < 0)
		return r;
	for (size_t i = 0; k->add && k->add[i]; i++)
		n++;
	for (size_t i = 0; k->del && k->del[i]; i++)
		n++;
	if (n == 0)
		return bad_arg("add", "no tag to add or delete");
	if (n > LVM_MAX_TAGS)
		return sp_error_set(-E2BIG, "invalid_field", "add", "%zu tag changes, at most %d", n,
				    LVM_MAX_TAGS);
	if ((r = lv_change_start(k, "lvchange", &st, &object)) < 0)
		return r;
	cl_start(&c, "lvchange", st->devs, false);
	cl_tags(&c, "--deltag", k->del);
	cl_tags(&c, "--addtag", k->add);
	cl_word(&c, object);
	r = run_cl(&c, "lvchange", object);
	vg_state_invalidate(st);
	return r;
}

/* k's LV among the PV segments of st (the worker, or L.lock held). */
static int segs_find(const struct vg_state *st, struct call *k)
{
	const struct lvm_pvseg *found = NULL;
	size_t nfound = 0;
	for (size_t i = 0; i < st->nsegs; i++) {
		if (strcmp(st->segs[i].lv, k->lv))
			continue;
		found = found ? found : &st->segs[i];
		nfound++;
	}
	if (!found)
		return sp_not_found("LV %s/%s not found", k->vg, k->lv);
	if (nfound > 1)
		return sp_error_set(-EINVAL, "invalid_field", "lv",
				    "LV %s/%s has %zu segments: its data is not one run of extents "
				    "on one PV (it must be created contiguous and never extended)",
				    k->vg, k->lv, nfound);
	*k->ret_dev = xstrdup(found->dev);
	*k->ret_offset = found->pe_start + found->start * found->extent_size;
	*k->ret_size = found->count * found->extent_size;
	return 0;
}

/* One report of every PV segment of the VG serves the location of each of its
 * LVs until the next change. */
static int do_lv_location(struct call *k)
{
	struct cmdline c;
	struct vg_state *st = NULL;
	int r;
	if ((r = check_name("vg", k->vg)) < 0 || (r = check_name("lv", k->lv)) < 0 ||
	    (r = vg_state_get(k->vg, &st)) < 0)
		return r;
	if (!atomic_load(&st->segs_valid)) {
		struct lvm_pvseg *segs;
		size_t n;
		uint64_t gen = atomic_load(&st->gen);
		cl_start(&c, "pvs", st->devs, atomic_load(&L.read_only));
		cl_word(&c, "--segments");
		cl_word(&c, "--reportformat=json");
		cl_word(&c, "--units=b");
		cl_word(&c, "--nosuffix");
		cl_word(&c, "--options=vg_name,pv_name,pe_start,vg_extent_size,pvseg_start,pvseg_size,"
			    "lv_name");
		if ((r = run_cl(&c, "pvs --segments", k->vg)) < 0)
			return r;
		if ((r = lvm_report_parse_pvsegs(cap.out ? cap.out : "", k->vg, &segs, &n)) < 0)
			return r;
		pthread_mutex_lock(&L.lock);
		free(st->segs);
		st->segs = segs;
		st->nsegs = n;
		atomic_store(&st->segs_valid, atomic_load(&st->gen) == gen);
		pthread_mutex_unlock(&L.lock);
	}
	return segs_find(st, k);
}

/* Activation, deactivation and refresh change only this host's device-mapper
 * table, never the VG metadata: allowed in read-only mode (hosts that are not
 * SPM prepare images too). The reports' metadata_read_only guard stays on. */
static int lv_activation_start(struct call *k, struct vg_state **ret_st, char **ret_object)
{
	int r;
	if ((r = check_name("vg", k->vg)) < 0 || (r = check_name("lv", k->lv)) < 0 ||
	    (r = vg_state_get(k->vg, ret_st)) < 0)
		return r;
	*ret_object = xasprintf("%s/%s", k->vg, k->lv);
	return 0;
}

static int do_lvactivate(struct call *k)
{
	struct cmdline c;
	struct vg_state *st = NULL;
	_cleanup_free_ char *object = NULL;
	int r;
	if ((r = lv_activation_start(k, &st, &object)) < 0)
		return r;
	cl_start(&c, "lvchange", st->devs, atomic_load(&L.read_only));
	cl_word(&c, k->active ? "--activate=y" : "--activate=n");
	cl_word(&c, object);
	r = run_cl(&c, "lvchange --activate", object);
	vg_state_invalidate(st); /* lv_active changed */
	return r;
}

static int do_lvrefresh(struct call *k)
{
	struct cmdline c;
	struct vg_state *st = NULL;
	_cleanup_free_ char *object = NULL;
	int r;
	if ((r = lv_activation_start(k, &st, &object)) < 0)
		return r;
	/* another host (the SPM) changed the VG: read it again */
	vg_state_invalidate(st);
	cl_start(&c, "lvchange", st->devs, atomic_load(&L.read_only));
	cl_word(&c, "--refresh");
	cl_word(&c, object);
	return run_cl(&c, "lvchange --refresh", object);
}

/* `pvs` of given devices, which need not belong to any known VG yet. */
static int do_vgs_on(struct call *k)
{
	struct cmdline c;
	int r = check_devs(k->devs, true);
	if (r < 0)
		return r;
	cl_start(&c, "pvs", (char *const *)k->devs, atomic_load(&L.read_only));
	cl_word(&c, "--reportformat=json");
	cl_word(&c, "--options=pv_name,vg_name");
	/* no device arguments: the filter lets only devs in, and a device that
	 * is no PV is then simply not reported (named, it fails the command) */
	if ((r = run_cl(&c, "pvs", k->devs[0])) < 0)
		return r;
	return lvm_report_parse_pv_vgs(cap.out ? cap.out : "", k->ret_names);
}

static int write_conf(void)
{
	int r = mkdir_p(L.run_dir, 0700);
	if (r < 0)
		return sp_error_set(r, "io_error", "", "cannot create LVM run directory %s", L.run_dir);
	/* The default filter rejects every device: only a command's own
	 * --config filter lets devices in.
	 *
	 * No memory pinning on suspend. While a command has a device suspended
	 * (lvextend of an active LV, lvchange --refresh) LVM mlocks every
	 * mapping of /proc/self/maps that mlock_filter does not match, so that
	 * no page fault needs I/O to the suspended device. Here that is the
	 * whole daemon (~220 MiB: libvirt, gnutls, every thread's stack), faulted
	 * in and locked on each suspend: seconds under TCG. The pinning guards
	 * a process whose own pages live on the LVs it suspends (lvm on a root
	 * LV); sanpoold's binary, libraries and swap never are on the shared
	 * VGs it manages, so a fault meanwhile only reads the root disk. The
	 * filter is a substring of each maps line after its permissions; every
	 * line's device field ("fd:01", "00:00") holds ':', so nothing is locked.
	 * reserved_memory (the heap LVM pre-faults to avoid allocating during
	 * the suspend) is for the same guard: none. */
	_cleanup_free_ char *conf = xasprintf(
		"# written by sanpoold: the private configuration of its LVM module\n"
		"global {\n\tactivation = %d\n\tuse_aio = 0\n\tuse_lvmlockd = 0\n}\n"
		"devices {\n\tuse_devicesfile = 0\n\tobtain_device_list_from_udev = 0\n"
		"\tfilter = [ \"r|.*|\" ]\n\tglobal_filter = [ \"a|.*|\" ]\n}\n"
		"activation {\n\tudev_sync = 0\n\tudev_rules = 0\n\tmonitoring = 0\n"
		"\tmlock_filter = [ \":\" ]\n\treserved_memory = 0\n}\n"
		"backup {\n\tbackup = 0\n\tarchive = 0\n}\n"
		"log {\n\tlevel = 0\n\tsyslog = 0\n}\n",
		L.activation ? 1 : 0);
	_cleanup_free_ char *path = xasprintf("%s/lvm.conf", L.run_dir);
	r = atomic_write_file(path, conf, strlen(conf));
	if (r < 0)
		return sp_error_set(r, "io_error", "", "cannot write %s", path);
	return 0;
}

static int do_init(void)
{
	int r = write_conf();
	if (r < 0)
		return r;
	setenv("LVM_SYSTEM_DIR", L.run_dir, 1);
	/* liblvm2cmd calls setlocale(LC_NUMERIC, "") and (LC_NUMERIC, "C") around
	 * every command (counted on this machine: 2 per command). setlocale is
	 * MT-unsafe: unless the environment's locale is C, each call frees and
	 * reallocates the global locale's name strings while other threads may use
	 * the locale. With LC_ALL=C both calls resolve to the static C locale:
	 * nothing is freed. (Children, qemu-img, then speak C: stable messages.) */
	setenv("LC_ALL", "C", 1);
	lvm2_log_fn(log_cb);
	L.handle = lvm2_init();
	if (!L.handle)
		return sp_error_set(-SP_E_TOOL_FAILED, "tool_failed", "", "lvm2_init failed: %s",
				    cap.err_len ? cap.err : "no error message");
	lvm2_log_level(L.handle, LVM2_LOG_PRINT);
	pthread_mutex_lock(&L.lock);
	L.vgs = hashmap_new(vg_state_free);
	pthread_mutex_unlock(&L.lock);
	return 0;
}

static int dispatch(struct call *k)
{
	switch (k->op) {
	case OP_INIT: return do_init();
	case OP_STOP: return 0;
	case OP_PVCREATE: return do_pvcreate(k);
	case OP_VGCREATE: return do_vgcreate(k);
	case OP_ATTACH: return do_attach(k);
	case OP_VGEXTEND: return do_vgextend(k);
	case OP_PVRESIZE: return do_pvresize(k);
	case OP_VGREMOVE: return do_vgremove(k);
	case OP_PVREMOVE: return do_pvremove(k);
	case OP_VG_INFO: return do_vg_info(k);
	case OP_LVS: return do_lvs(k);
	case OP_LVCREATE: return do_lvcreate(k);
	case OP_LVREMOVE: return do_lvremove(k);
	case OP_LVEXTEND: return do_lvextend(k);
	case OP_LVTAGS: return do_lvtags(k);
	case OP_LV_LOCATION: return do_lv_location(k);
	case OP_LVACTIVATE: return do_lvactivate(k);
	case OP_LVREFRESH: return do_lvrefresh(k);
	case OP_VGS_ON: return do_vgs_on(k);
	}
	return -EINVAL;
}

static void *worker(void *arg)
{
	(void)arg;
	/* liblvm2cmd works in this thread: an extend's lvextend or refresh must
	 * not wait for the CPU and the LUN behind the VMs it grows for */
	int p = prio_raise_self();
	if (p < 0)
		log_debug("lvm: worker priority not raised: %s", strerror(-p));
	for (;;) {
		pthread_mutex_lock(&L.lock);
		while (!L.head)
			pthread_cond_wait(&L.work, &L.lock);
		struct call *k = L.head;
		L.head = k->next;
		if (!L.head)
			L.tail = NULL;
		L.queued--;
		L.running = k;
		L.running_since_ns = metric_now_ns();
		L.running_what[0] = '\0';
		pthread_mutex_unlock(&L.lock);

		sp_error_clear();
		int r = dispatch(k);
		bool stop = k->op == OP_STOP || (k->op == OP_INIT && r < 0);
		if (stop) {
			if (L.handle)
				lvm2_exit(L.handle);
			L.handle = NULL;
			pthread_mutex_lock(&L.lock);
			hashmap_free(L.vgs);
			L.vgs = NULL;
			pthread_mutex_unlock(&L.lock);
		}
		cap_reset();

		pthread_mutex_lock(&L.lock);
		L.running = NULL;
		k->r = r;
		if (r < 0)
			sp_error_copy(&k->err);
		k->done = true;
		pthread_cond_broadcast(&L.done);
		pthread_mutex_unlock(&L.lock);
		if (stop)
			return NULL;
	}
}

/* Caller holds L.lock; k is queued, not running. */
static void unqueue_locked(struct call *k)
{
	struct call **p = &L.head, *prev = NULL;
	while (*p && *p != k) {
		prev = *p;
		p = &(*p)->next;
	}
	if (!*p)
		return;
	*p = k->next;
	if (L.tail == k)
		L.tail = prev;
	L.queued--;
}

/* The error of a call that gave up waiting: it was never run. */
static int timed_out(const struct call *k, const char *running, double running_s)
{
	const char *domain = k->vg ? k->vg : k->dev ? k->dev : k->devs && k->devs[0] ? k->devs[0] : "?";
	atomic_fetch_add(&L.timeouts, 1);
	log_warning("lvm: storage domain %s: a call waited over %u s behind %s (running for %.0f s): not run",
		    domain, L.timeout_ms / 1000, running, running_s);
	int r = sp_error_set(-ETIMEDOUT, "storage_timeout", "",
			     "storage domain %s: storage is not answering: %s has been running for %.0f s "
			     "(lvm_timeout_s is %u); this request's LVM command was not run",
			     domain, running[0] ? running : "an LVM call", running_s, L.timeout_ms / 1000);
	if (k->vg && lvm_name_is_valid(k->vg)) {
		_cleanup_free_ char *details = xasprintf("{\"domain\": \"%s\"}", k->vg);
		sp_error_set_details(details);
	}
	return r;
}

/* Queues k, waits for it, carries its error record over to this thread.
 * While k is queued, it gives up once the call the worker is on has run
 * for the timeout (at once if it already has): queued behind a command
 * stuck on a device that does not answer, a caller gets -ETIMEDOUT
 * instead of waiting with it, and k is never run. A call the worker has
 * started is waited for: liblvm2cmd cannot be interrupted, and its outcome
 * decides what is on storage. */
static int submit(struct call *k)
{
	pthread_mutex_lock(&L.lock);
	if (!L.started && k->op != OP_INIT) {
		pthread_mutex_unlock(&L.lock);
		return sp_error_set(-ESHUTDOWN, "unavailable", "", "the LVM module is not started");
	}
	k->next = NULL;
	k->done = false;
	if (L.tail)
		L.tail->next = k;
	else
		L.head = k;
	L.tail = k;
	L.queued++;
	pthread_cond_signal(&L.work);
	bool may_give_up = L.timeout_ms && k->op != OP_INIT && k->op != OP_STOP;
	while (!k->done) {
		if (!may_give_up || L.running == k) {
			pthread_cond_wait(&L.done, &L.lock);
			continue;
		}
		uint64_t now = metric_now_ns(), limit = (uint64_t)L.timeout_ms * 1000000ULL;
		uint64_t deadline = (L.running ? L.running_since_ns : now) + limit;
		if (L.running && now >= deadline) {
			char running[sizeof(L.running_what)];
			double running_s = (double)(now - L.running_since_ns) / 1e9;
			snprintf(running, sizeof(running), "%s", L.running_what);
			unqueue_locked(k);
			pthread_mutex_unlock(&L.lock);
			return timed_out(k, running, running_s);
		}
		struct timespec ts = { (time_t)(deadline / 1000000000ULL), (long)(deadline % 1000000000ULL) };
		pthread_cond_clockwait(&L.done, &L.lock, CLOCK_MONOTONIC, &ts);
	}
	pthread_mutex_unlock(&L.lock);
	if (k->r < 0)
		return sp_error_set(k->r, k->err.kind, k->err.field, "%s", k->err.message);
	return k->r;
}

int lvm_start(const struct lvm_options *o)
{
	int r;
	pthread_mutex_lock(&L.lock);
	bool started = L.started;
	pthread_mutex_unlock(&L.lock);
	if (started)
		return sp_error_set(-EALREADY, "conflict", "", "the LVM module is already started");
	if (!o || !o->run_dir || o->run_dir[0] != '/')
		return bad_arg("run_dir", "the LVM run directory must be an absolute path");
	free(L.run_dir);
	L.run_dir = xstrdup(o->run_dir);
	L.activation = o->activation;
	L.timeout_ms = o->timeout_ms;
	atomic_store(&L.read_only, o->read_only);
	atomic_store(&L.ncmds, 0);
	r = -pthread_create(&L.thread, NULL, worker, NULL);
	if (r < 0)
		return sp_error_set(r, "error", "", "cannot start the LVM worker thread");
	struct call k = { .op = OP_INIT };
	r = submit(&k);
	if (r < 0) {
		pthread_join(L.thread, NULL);
		return r;
	}
	pthread_mutex_lock(&L.lock);
	L.started = true;
	pthread_mutex_unlock(&L.lock);
	return 0;
}

void lvm_stop(void)
{
	pthread_mutex_lock(&L.lock);
	bool started = L.started;
	pthread_mutex_unlock(&L.lock);
	if (!started)
		return;
	struct call k = { .op = OP_STOP };
	submit(&k);
	pthread_join(L.thread, NULL);
	pthread_mutex_lock(&L.lock);
	L.started = false;
	pthread_mutex_unlock(&L.lock);
	free(L.run_dir);
	L.run_dir = NULL;
}

void lvm_set_read_only(bool read_only) { atomic_store(&L.read_only, read_only); }
bool lvm_get_read_only(void) { return atomic_load(&L.read_only); }

void lvm_vg_set_read_only(const char *vg, bool read_only)
{
	pthread_mutex_lock(&L.lock);
	if (!L.ro_vgs)
		L.ro_vgs = hashmap_new(NULL);
	if (read_only)
		hashmap_put(L.ro_vgs, vg, (void *)1);
	else
		hashmap_remove(L.ro_vgs, vg);
	pthread_mutex_unlock(&L.lock);
}
uint64_t lvm_commands_run(void) { return atomic_load(&L.ncmds); }

void lvm_worker_state(struct lvm_worker_state *ret)
{
	pthread_mutex_lock(&L.lock);
	ret->started = L.started;
	ret->queued = L.queued;
	ret->running_s = L.running ? (double)(metric_now_ns() - L.running_since_ns) / 1e9 : 0;
	ret->timeouts = atomic_load(&L.timeouts);
	pthread_mutex_unlock(&L.lock);
}

void lvm_set_cmd_observer(lvm_cmd_observer_fn fn, void *userdata)
{
	pthread_mutex_lock(&L.lock);
	L.observer = fn;
	L.observer_data = userdata;
	pthread_mutex_unlock(&L.lock);
}

int lvm_pvcreate(const char *const devs[], uint64_t metadata_size)
{
	struct call k = { .op = OP_PVCREATE, .devs = devs, .size = metadata_size };
	return submit(&k);
}

int lvm_vgcreate(const char *vg, const char *const devs[], uint64_t extent_size,
		 const char *const tags[])
{
	struct call k = { .op = OP_VGCREATE, .vg = vg, .devs = devs, .size = extent_size, .add = tags };
	return submit(&k);
}

int lvm_vg_attach(const char *vg, const char *const devs[])
{
	struct call k = { .op = OP_ATTACH, .vg = vg, .devs = devs };
	return submit(&k);
}

/* Not queued: the next read must not be answered from this cache even if
 * the worker is stuck on a command (the reads' fast path below). */
void lvm_vg_invalidate(const char *vg)
{
	pthread_mutex_lock(&L.lock);
	struct vg_state *st = L.vgs ? hashmap_get(L.vgs, vg) : NULL;
	if (st)
		vg_state_mark_stale_locked(st, true);
	pthread_mutex_unlock(&L.lock);
}

int lvm_vgextend(const char *vg, const char *dev)
{
	struct call k = { .op = OP_VGEXTEND, .vg = vg, .dev = dev };
	return submit(&k);
}

int lvm_pvresize(const char *vg, const char *dev)
{
	struct call k = { .op = OP_PVRESIZE, .vg = vg, .dev = dev };
	return submit(&k);
}

int lvm_vgremove(const char *vg)
{
	struct call k = { .op = OP_VGREMOVE, .vg = vg };
	return submit(&k);
}

int lvm_pvremove(const char *const devs[])
{
	struct call k = { .op = OP_PVREMOVE, .devs = devs };
	return submit(&k);
}

/* The reports' fast path: a report the worker holds valid is answered on the
 * calling thread, without queueing behind commands of other callers (a GET
 * of a domain while an lvcreate runs, or is stuck). Returns the state with
 * L.lock held, or NULL (lock released) when the report must be made. */
static struct vg_state *cached_locked(const char *vg, const char *const devs[], atomic_bool *(*which)(struct vg_state *))
{
	if (devs || !lvm_name_is_valid(vg)) /* the worker checks what the caller names */
		return NULL;
	pthread_mutex_lock(&L.lock);
	struct vg_state *st = L.vgs ? hashmap_get(L.vgs, vg) : NULL;
	if (st && atomic_load(which(st)))
		return st;
	pthread_mutex_unlock(&L.lock);
	return NULL;
}

static atomic_bool *vg_report(struct vg_state *st) { return &st->vg_valid; }
static atomic_bool *lvs_report(struct vg_state *st) { return &st->lvs_valid; }
static atomic_bool *segs_report(struct vg_state *st) { return &st->segs_valid; }

int lvm_vg_info(const char *vg, const char *const devs[], struct lvm_vg *ret)
{
	struct lvm_vg v = { 0 };
	struct call k = { .op = OP_VG_INFO, .vg = vg, .devs = devs, .ret_vg = &v };
	struct vg_state *st = cached_locked(vg, devs, vg_report);
	if (st) {
		*ret = st->vg;
		ret->tags = lvm_strv_copy((const char *const *)st->vg.tags);
		pthread_mutex_unlock(&L.lock);
		return 0;
	}
	int r = submit(&k);
	if (r >= 0)
		*ret = v;
	return r;
}

int lvm_lvs(const char *vg, const char *const devs[], struct lvm_lv **ret_lvs, size_t *ret_n)
{
	struct lvm_lv *lvs = NULL;
	size_t n = 0;
	struct call k = { .op = OP_LVS, .vg = vg, .devs = devs, .ret_lvs = &lvs, .ret_n = &n };
	struct vg_state *st = cached_locked(vg, devs, lvs_report);
	if (st) {
		*ret_lvs = lvs_copy(st->lvs, st->nlvs);
		*ret_n = st->nlvs;
		pthread_mutex_unlock(&L.lock);
		return 0;
	}
	int r = submit(&k);
	if (r >= 0) {
		*ret_lvs = lvs;
		*ret_n = n;
	}
	return r;
}

int lvm_lvcreate(const char *vg, const char *lv, uint64_t size_bytes, const char *const tags[])
{
	struct call k = { .op = OP_LVCREATE, .vg = vg, .lv = lv, .size = size_bytes, .add = tags };
	return submit(&k);
}

int lvm_lvcreate_contiguous(const char *vg, const char *lv, uint64_t size_bytes,
			    const char *const tags[])
{
	struct call k = { .op = OP_LVCREATE, .vg = vg, .lv = lv, .size = size_bytes, .add = tags,
			  .contiguous = true };
	return submit(&k);
}

int lvm_lv_location(const char *vg, const char *lv, char **ret_device, uint64_t *ret_offset,
		    uint64_t *ret_size)
{
	char *dev = NULL;
	uint64_t offset = 0, size = 0;
	struct call k = { .op = OP_LV_LOCATION, .vg = vg, .lv = lv, .ret_dev = &dev,
			  .ret_offset = &offset, .ret_size = &size };
	struct vg_state *st = lvm_name_is_valid(lv) ? cached_locked(vg, NULL, segs_report) : NULL;
	int r;
	if (st) {
		r = segs_find(st, &k);
		pthread_mutex_unlock(&L.lock);
	} else {
		r = submit(&k);
	}
	if (r >= 0) {
		*ret_device = dev;
		*ret_offset = offset;
		*ret_size = size;
	}
	return r;
}

int lvm_vgs_on(const char *const devs[], char ***ret_names)
{
	char **names = NULL;
	struct call k = { .op = OP_VGS_ON, .devs = devs, .ret_names = &names };
	int r = submit(&k);
	if (r >= 0)
		*ret_names = names;
	return r;
}

int lvm_lvremove(const char *vg, const char *lv)
{
	struct call k = { .op = OP_LVREMOVE, .vg = vg, .lv = lv };
	return submit(&k);
}

int lvm_lvextend(const char *vg, const char *lv, uint64_t new_size)
{
	struct call k = { .op = OP_LVEXTEND, .vg = vg, .lv = lv, .size = new_size };
	return submit(&k);
}

int lvm_lvchange_tags(const char *vg, const char *lv, const char *const add[],
		      const char *const del[])
{
	struct call k = { .op = OP_LVTAGS, .vg = vg, .lv = lv, .add = add, .del = del };
	return submit(&k);
}

int lvm_lv_activate(const char *vg, const char *lv, bool active)
{
	struct call k = { .op = OP_LVACTIVATE, .vg = vg, .lv = lv, .active = active };
	return submit(&k);
}

int lvm_lv_refresh(const char *vg, const char *lv)
{
	struct call k = { .op = OP_LVREFRESH, .vg = vg, .lv = lv };
	return submit(&k);
}

char *lvm_lv_device(const char *vg, const char *lv)
{
	return xasprintf("/dev/%s/%s", vg, lv);
}
