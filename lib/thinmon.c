#include "lib/thinmon.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "lib/domain.h"
#include "lib/extend.h"
#include "lib/extend_queue.h"
#include "lib/store.h"
#include "lib/thin_drive.h"
#include "lib/thin_policy.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/hashmap.h"
#include "lib/util/log.h"
#include "lib/util/prio.h"
#include "lib/util/xalloc.h"

#define WORKERS 2
#define POLL_MS 2000      /* allocation poll, and reconnect attempts */
#define RECENT 512        /* extends kept for the state (the benchmark reads them) */
#define EXTEND_TRIES 3    /* a failed extend is tried again this often, a second apart */
#define THREAD_STACK (1024 * 1024)

/* One VM drive that writes a thin volume of a block domain. */
struct drive {
	char vm[VIR_UUID_STRING_BUFLEN];
	char vm_name[128];
	char dev[32];        /* target: vda */
	char path[PATH_MAX]; /* source, as libvirt reports it */
	struct thin_drive_ref ref;
	uint64_t lv_size;    /* as this host last saw it */
	uint64_t threshold;  /* armed; 0: none (fired, or not set yet) */
	uint64_t allocation; /* qemu's write high-water mark, last seen */
	uint64_t capacity;   /* virtual size */
	bool enospc;         /* paused for ENOSPC on it since its last extend */
	bool enospc_seen;    /* an ENOSPC error stopped its VM since the VM last ran */
	bool pause_counted;  /* its VM's pause is counted in vm_pauses (until it runs again) */
	uint64_t retried_at; /* allocation when its VM was resumed without an extend (THIN_NOT_RETRIED) */
	bool extending;      /* an extend is queued or running */
	bool full;           /* the LV has its largest size: no threshold any more */
	bool seen;           /* in the last scan */
};

struct recent {
	char vm[VIR_UUID_STRING_BUFLEN];
	char volume[UUID_STR_LEN];
	uint64_t from, to;
	uint64_t latency_us; /* from the first event to the refreshed LV here */
	bool enospc;         /* the VM had paused for it */
	int64_t at_ms;       /* wall clock */
};

static struct {
	struct thinmon_settings s;
	char uri[256];
	char run_dir[PATH_MAX];
	bool started;

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;  /* wakes the manager */
	bool quit, rescan, lost;
	virConnectPtr conn;
	int cb[5];
	char last_error[1100];
	struct hashmap *drives; /* "<vm uuid>/<dev>" -> struct drive */
	uint64_t connects, events_threshold, events_enospc, extends, extend_failures, pauses, resumes;
	uint64_t enospc_had_room;
	struct recent recent[RECENT];
	size_t recent_n, recent_next;

	struct extend_queue *xq;
	pthread_t loop, manager, workers[WORKERS];
	int wake_timer;
} mon = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .wake_timer = -1 };

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Where the next extend is wanted (0: at once). */
static uint64_t threshold_of(uint64_t lv_size)
{
	return thin_threshold(lv_size, mon.s.chunk, mon.s.watermark_percent);
}

static const char *virt_error(void)
{
	const char *m = virGetLastErrorMessage();
	return m ? m : "unknown libvirt error";
}

/* libvirt reports every error to stderr by default: the caller decides what to log. */
static void quiet_errors(void *userdata, virErrorPtr err)
{
	(void)userdata;
	(void)err;
}

static void set_error_locked(const char *fmt, const char *detail)
{
	snprintf(mon.last_error, sizeof(mon.last_error), fmt, detail);
}

/* A reference on the connection for a call outside the lock; NULL if none. */
static virConnectPtr conn_get(void)
{
	MUTEX_SCOPE(&mon.lock);
	if (!mon.conn || mon.lost)
		return NULL;
	virConnectRef(mon.conn);
	return mon.conn;
}

static void conn_put(virConnectPtr *c)
{
	if (*c)
		virConnectClose(*c);
	*c = NULL;
}

static void domain_put(virDomainPtr *d)
{
	if (*d)
		virDomainFree(*d);
	*d = NULL;
}

static void wake_manager_locked(bool rescan)
{
	if (rescan)
		mon.rescan = true;
	pthread_cond_signal(&mon.cond);
}

/* "vda[2]" -> "vda" */
static void dev_base(const char *dev, char out[32])
{
	snprintf(out, 32, "%s", dev);
	out[strcspn(out, "[")] = '\0';
}

static struct drive *drive_find_locked(const char *vm, const char *dev, const char *path)
{
	char base[32], key[VIR_UUID_STRING_BUFLEN + 33];
	size_t pos = 0;
	void *val;

	if (dev) {
		dev_base(dev, base);
		snprintf(key, sizeof(key), "%s/%s", vm, base);
		struct drive *d = hashmap_get(mon.drives, key);
		if (d)
			return d;
	}
	while (path && hashmap_next(mon.drives, &pos, NULL, &val) == 0) {
		struct drive *d = val;
		if (strcmp(d->vm, vm) == 0 && strcmp(d->path, path) == 0)
			return d;
	}
	return NULL;
}

static struct drive *drive_of_volume_locked(const char *volume)
{
	size_t pos = 0;
	void *val;
	while (hashmap_next(mon.drives, &pos, NULL, &val) == 0) {
		struct drive *d = val;
		if (strcmp(d->ref.volume, volume) == 0)
			return d;
	}
	return NULL;
}

static void queue_extend_locked(struct drive *d, unsigned flag)
{
	d->extending = true;
	xq_push(mon.xq, d->ref.domain, d->ref.image, d->ref.volume, flag, mono_ms());
}

/* ---- libvirt events (in the event loop thread: no blocking call here) ---- */

/* Counts the pause of d's VM for ENOSPC on d in vm_pauses, once per pause
 * (qemu reports an error per write that failed, libvirt an event per error):
 * the mark stays on the VM's drives until it runs again. */
static void count_pause_locked(const struct drive *d, const char *how)
{
	bool counted = false;
	size_t pos = 0;
	void *val;
	while (hashmap_next(mon.drives, &pos, NULL, &val) == 0) {
		struct drive *o = val;
		if (strcmp(o->vm, d->vm) == 0) {
			counted = counted || o->pause_counted;
			o->pause_counted = true;
		}
	}
	if (counted)
		return;
	mon.pauses++;
	log_warning("thin monitor: VM %s (%s) %s: no space left on volume %s (drive %s, LV %" PRIu64 " bytes)",
		    d->vm_name, d->vm, how, d->ref.volume, d->dev, d->lv_size);
}

static int on_lifecycle(virConnectPtr c, virDomainPtr dom, int event, int detail, void *opaque)
{
	char vm[VIR_UUID_STRING_BUFLEN];
	(void)c, (void)opaque;
	bool known = virDomainGetUUIDString(dom, vm) == 0;

	bool suspended = event == VIR_DOMAIN_EVENT_SUSPENDED && detail == VIR_DOMAIN_EVENT_SUSPENDED_IOERROR;
	bool runs_or_ends = event == VIR_DOMAIN_EVENT_STARTED || event == VIR_DOMAIN_EVENT_RESUMED ||
			    event == VIR_DOMAIN_EVENT_STOPPED || event == VIR_DOMAIN_EVENT_SHUTDOWN;
	size_t pos = 0;
	void *val;

	MUTEX_SCOPE(&mon.lock);
	while (known && (suspended || runs_or_ends) && hashmap_next(mon.drives, &pos, NULL, &val) == 0) {
		struct drive *d = val;
		if (strcmp(d->vm, vm) != 0)
			continue;
		/* one event per transition into paused: libvirt queues the I/O
		 * error events of the write that stopped the VM before it */
		if (suspended && d->enospc_seen)
			count_pause_locked(d, "paused");
		if (runs_or_ends)
			d->enospc_seen = d->pause_counted = false;
	}
	if (runs_or_ends)
		wake_manager_locked(true);
	return 0;
}

static void on_device_changed(virConnectPtr c, virDomainPtr dom, const char *alias, void *opaque)
{
	(void)c, (void)dom, (void)alias, (void)opaque;
	MUTEX_SCOPE(&mon.lock);
	wake_manager_locked(true);
}

static void on_threshold(virConnectPtr c, virDomainPtr dom, const char *dev, const char *path,
			 unsigned long long threshold, unsigned long long excess, void *opaque)
{
	char vm[VIR_UUID_STRING_BUFLEN];
	(void)c, (void)opaque;

	if (virDomainGetUUIDString(dom, vm) < 0)
		return;
	MUTEX_SCOPE(&mon.lock);
	struct drive *d = drive_find_locked(vm, dev, path);
	if (!d) {
		log_debug("thin monitor: threshold event for %s of VM %s: not a drive watched here", dev, vm);
		return;
	}
	/* libvirt sends it twice, for "vda" and for "vda[N]" (the top's index) */
	if (!d->threshold && d->extending)
		return;
	mon.events_threshold++;
	d->allocation = threshold + excess;
	if (threshold < d->threshold) /* an older threshold's, replaced since */
		return;
	d->threshold = 0; /* it fires once */
	log_debug("thin monitor: VM %s drive %s (volume %s) wrote past %llu (by %llu)", vm, d->dev, d->ref.volume,
		  threshold, excess);
	queue_extend_locked(d, XQ_THRESHOLD);
}

static void on_io_error(virConnectPtr c, virDomainPtr dom, const char *src_path, const char *alias, int action,
			const char *reason, void *opaque)
{
	char vm[VIR_UUID_STRING_BUFLEN];
	(void)c, (void)alias, (void)opaque;

	if (!reason || strcmp(reason, "enospc") != 0 || virDomainGetUUIDString(dom, vm) < 0)
		return;
	MUTEX_SCOPE(&mon.lock);
	struct drive *d = drive_find_locked(vm, NULL, src_path);
	if (!d)
		return; /* not one of our volumes: not ours to resume */
	mon.events_enospc++;
	/* the pause is counted at its lifecycle event, which follows */
	if (action == VIR_DOMAIN_EVENT_IO_ERROR_PAUSE)
		d->enospc_seen = true;
	log_debug("thin monitor: VM %s drive %s (volume %s): a write failed for lack of space", vm, d->dev,
		  d->ref.volume);
	d->enospc = true;
	queue_extend_locked(d, XQ_ENOSPC);
}

static void on_close(virConnectPtr c, int reason, void *opaque)
{
	(void)c, (void)opaque;
	MUTEX_SCOPE(&mon.lock);
	mon.lost = true;
	set_error_locked("connection to libvirtd closed (%s)",
			 reason == VIR_CONNECT_CLOSE_REASON_EOF ? "libvirtd went away" : "error or keepalive timeout");
	wake_manager_locked(false);
}

static void *event_loop(void *arg)
{
	(void)arg;
	for (;;) {
		{
			MUTEX_SCOPE(&mon.lock);
			if (mon.quit)
				break;
		}
		if (virEventRunDefaultImpl() < 0)
			log_warning("thin monitor: libvirt event loop: %s", virt_error());
	}
	return NULL;
}

static void wake_loop(int timer, void *opaque)
{
	(void)opaque;
	virEventRemoveTimeout(timer);
}

/* ---- connection ---- */

static void disconnect(void)
{
	virConnectPtr c;
	{
		MUTEX_SCOPE(&mon.lock);
		c = mon.conn;
		mon.conn = NULL;
		mon.lost = false;
		/* the drives stay: the first scan after reconnecting sorts them out */
	}
	if (!c)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(mon.cb); i++)
		if (mon.cb[i] >= 0)
			virConnectDomainEventDeregisterAny(c, mon.cb[i]);
	virConnectUnregisterCloseCallback(c, on_close);
	virConnectClose(c);
}

static bool connect_libvirt(bool *logged_failure)
{
	virConnectPtr c = virConnectOpen(mon.uri);

	if (!c) {
		MUTEX_SCOPE(&mon.lock);
		set_error_locked("cannot connect to libvirtd: %s", virt_error());
		if (!*logged_failure)
			log_warning("thin monitor: %s (trying again every %d s)", mon.last_error, POLL_MS / 1000);
		*logged_failure = true;
		return false;
	}
	static const struct {
		int id;
		virConnectDomainEventGenericCallback cb;
	} events[] = {
		{ VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle) },
		{ VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD, VIR_DOMAIN_EVENT_CALLBACK(on_threshold) },
		{ VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON, VIR_DOMAIN_EVENT_CALLBACK(on_io_error) },
		{ VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, VIR_DOMAIN_EVENT_CALLBACK(on_device_changed) },
		{ VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, VIR_DOMAIN_EVENT_CALLBACK(on_device_changed) },
	};
	_Static_assert(ARRAY_SIZE(events) == ARRAY_SIZE(mon.cb), "one id per event");
	for (size_t i = 0; i < ARRAY_SIZE(events); i++)
		mon.cb[i] = virConnectDomainEventRegisterAny(c, NULL, events[i].id, events[i].cb, NULL, NULL);
	/* keepalive: a libvirtd that hangs counts as gone after ~15 s */
	if (virConnectSetKeepAlive(c, 5, 3) < 0 || virConnectRegisterCloseCallback(c, on_close, NULL, NULL) < 0 ||
	    mon.cb[1] < 0 || mon.cb[2] < 0) {
		log_warning("thin monitor: cannot watch events on %s: %s", mon.uri, virt_error());
		MUTEX_SCOPE(&mon.lock);
		mon.conn = c;
		mon.lost = true;
		return false;
	}
	MUTEX_SCOPE(&mon.lock);
	mon.conn = c;
	mon.lost = false;
	mon.rescan = true;
	mon.last_error[0] = '\0';
	mon.connects++;
	*logged_failure = false;
	log_info("thin monitor: connected to %s", mon.uri);
	return true;
}

/* ---- discovery ---- */

/* The volume a drive's path names, if it is a thin qcow2 volume of a block domain here. */
static bool thin_volume_of(const char *path, struct thin_drive_ref *ret, uint64_t *ret_lv_size)
{
	struct volume_meta m;
	struct domain d;
	bool active;

	if (thin_drive_resolve(mon.run_dir, "/sys", path, ret) < 0 || store_get_volume(ret->volume, &m) < 0 ||
	    strcmp(m.domain, ret->domain) != 0 || (ret->image[0] && strcmp(m.image, ret->image) != 0) ||
	    store_get_domain(ret->domain, &d) < 0 || strcmp(d.ops->kind, "block") != 0 ||
	    m.format != VOL_FORMAT_QCOW2 || m.alloc != VOL_ALLOC_SPARSE ||
	    d.ops->volume_state(&d, m.uuid, &active, ret_lv_size) < 0) {
		sp_error_clear();
		return false;
	}
	snprintf(ret->image, sizeof(ret->image), "%s", m.image);
	return true;
}

/* The disk errors qemu reports for the VM (what paused it): their number, or
 * -1; *ret to be freed by disk_errors_free. */
static int disk_errors(virDomainPtr dom, virDomainDiskError **ret)
{
	int n = virDomainGetDiskErrors(dom, NULL, 0, 0);
	*ret = NULL;
	if (n <= 0)
		return n;
	*ret = xcalloc((size_t)n, sizeof(**ret));
	if ((n = virDomainGetDiskErrors(dom, *ret, (unsigned)n, 0)) < 0) {
		free(*ret);
		*ret = NULL;
	}
	return n;
}

static void disk_errors_free(virDomainDiskError *errs, int n)
{
	for (int i = 0; i < n; i++)
		free(errs[i].disk);
	free(errs);
}

/* Paused for ENOSPC, on watched drives only: the VM to resume once they grew.
 * An error of any other kind, or on a drive that is not ours, leaves it paused. */
static bool paused_for_enospc_only(virDomainPtr dom, const char *vm)
{
	virDomainDiskError *errs;
	int state, reason, n;

	if (virDomainGetState(dom, &state, &reason, 0) < 0 || state != VIR_DOMAIN_PAUSED ||
	    reason != VIR_DOMAIN_PAUSED_IOERROR || (n = disk_errors(dom, &errs)) < 0)
		return false;
	bool ours = true;
	{
		MUTEX_SCOPE(&mon.lock);
		for (int i = 0; i < n; i++)
			if (errs[i].error != VIR_DOMAIN_DISK_ERROR_NO_SPACE || !drive_find_locked(vm, errs[i].disk, NULL))
				ours = false;
	}
	disk_errors_free(errs, n);
	/* no error left: qemu cleared it (a resume by someone else) */
	return ours && n > 0;
}

static void arm(virDomainPtr dom, struct drive *snap)
{
	uint64_t t = threshold_of(snap->lv_size);

	if (t && virDomainSetBlockThreshold(dom, snap->dev, t, 0) < 0) {
		char why[512];
		snprintf(why, sizeof(why), "%s", virt_error());
		/* a VM going away meanwhile is no news: the next scan forgets it */
		log_msg(virDomainIsActive(dom) == 1 ? LOG_LVL_WARNING : LOG_LVL_DEBUG,
			"thin monitor: VM %s drive %s: cannot set the block threshold: %s", snap->vm_name, snap->dev,
			why);
		return;
	}
	MUTEX_SCOPE(&mon.lock);
	char key[VIR_UUID_STRING_BUFLEN + 33];
	snprintf(key, sizeof(key), "%s/%s", snap->vm, snap->dev);
	struct drive *d = hashmap_get(mon.drives, key);
	if (d) {
		d->threshold = t;
		/* written past it already, or too little room for any threshold */
		if (d->allocation >= t && !d->extending && !d->full)
			queue_extend_locked(d, XQ_THRESHOLD);
	}
	log_debug("thin monitor: VM %s drive %s (volume %s): threshold %" PRIu64 " of LV %" PRIu64, snap->vm_name,
		  snap->dev, snap->ref.volume, t, snap->lv_size);
}

static void scan_drive(virDomainPtr dom, const char *vm, const char *vm_name, virTypedParameterPtr p, int np,
		       unsigned i)
{
	char name[64];
	const char *dev = NULL, *path = NULL;
	unsigned long long alloc = 0, cap = 0, armed = 0;
	struct thin_drive_ref ref;
	uint64_t lv_size;

#define BLK(field) (snprintf(name, sizeof(name), "block.%u." field, i), name)
	if (virTypedParamsGetString(p, np, BLK("name"), &dev) != 1 ||
	    virTypedParamsGetString(p, np, BLK("path"), &path) != 1 || strlen(dev) >= 32)
		return;
	virTypedParamsGetULLong(p, np, BLK("allocation"), &alloc);
	virTypedParamsGetULLong(p, np, BLK("capacity"), &cap);
	bool has_threshold = virTypedParamsGetULLong(p, np, BLK("threshold"), &armed) == 1;
#undef BLK

	char key[VIR_UUID_STRING_BUFLEN + 33];
	snprintf(key, sizeof(key), "%s/%s", vm, dev);
	struct drive snap;
	{
		MUTEX_SCOPE(&mon.lock);
		struct drive *d = hashmap_get(mon.drives, key);
		if (d && strcmp(d->path, path) == 0) {
			d->seen = true;
			d->allocation = alloc;
			d->capacity = cap;
			if (d->extending || d->full || (d->threshold && has_threshold && armed == d->threshold))
				return;
			/* not armed: never was, or it fired without its event reaching us (libvirtd away) */
			if (alloc >= threshold_of(d->lv_size)) {
				queue_extend_locked(d, XQ_THRESHOLD);
				return;
			}
			d->threshold = 0;
			snap = *d;
			goto arm_it;
		}
	}
	if (!thin_volume_of(path, &ref, &lv_size))
		return;
	{
		MUTEX_SCOPE(&mon.lock);
		struct drive *d = xcalloc(1, sizeof(*d));
		snprintf(d->vm, sizeof(d->vm), "%s", vm);
		snprintf(d->vm_name, sizeof(d->vm_name), "%s", vm_name);
		snprintf(d->dev, sizeof(d->dev), "%s", dev);
		snprintf(d->path, sizeof(d->path), "%s", path);
		d->ref = ref;
		d->lv_size = lv_size;
		d->allocation = alloc;
		d->capacity = cap;
		d->retried_at = THIN_NOT_RETRIED;
		d->seen = true;
		hashmap_put(mon.drives, key, d);
		log_info("thin monitor: watching VM %s (%s) drive %s: volume %s of image %s, LV %" PRIu64
			 " bytes, written up to %llu", vm_name, vm, dev, ref.volume, ref.image, lv_size, alloc);
		snap = *d;
	}
	extend_prepare(ref.domain, ref.image, ref.volume);
arm_it:
	arm(dom, &snap);
}

/* A VM found paused for ENOSPC on drives of ours (before the agent started,
 * or while libvirtd was away, or an event was lost): as if the events came. */
static void check_paused(virDomainPtr dom, const char *vm)
{
	virDomainDiskError *errs;
	int n = disk_errors(dom, &errs);

	if (n <= 0)
		return;
	{
		MUTEX_SCOPE(&mon.lock);
		for (int i = 0; i < n; i++) {
			struct drive *d = errs[i].error == VIR_DOMAIN_DISK_ERROR_NO_SPACE ?
						  drive_find_locked(vm, errs[i].disk, NULL) : NULL;
			if (!d)
				continue;
			count_pause_locked(d, "found paused");
			if (d->enospc || d->extending || d->full)
				continue;
			d->enospc = true;
			queue_extend_locked(d, XQ_ENOSPC);
		}
	}
	disk_errors_free(errs, n);
}

static void scan(virConnectPtr c)
{
	virDomainStatsRecordPtr *recs = NULL;
	int n = virConnectGetAllDomainStats(c, VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_BLOCK, &recs,
					    VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
	if (n < 0) {
		log_debug("thin monitor: cannot list the VMs' drives: %s", virt_error());
		return;
	}
	{
		MUTEX_SCOPE(&mon.lock);
		size_t pos = 0;
		void *val;
		while (hashmap_next(mon.drives, &pos, NULL, &val) == 0)
			((struct drive *)val)->seen = false;
	}
	for (int i = 0; i < n; i++) {
		virDomainStatsRecordPtr r = recs[i];
		char vm[VIR_UUID_STRING_BUFLEN];
		int state = 0, reason = 0;
		unsigned count = 0;
		if (virDomainGetUUIDString(r->dom, vm) < 0)
			continue;
		virTypedParamsGetInt(r->params, r->nparams, "state.state", &state);
		virTypedParamsGetInt(r->params, r->nparams, "state.reason", &reason);
		virTypedParamsGetUInt(r->params, r->nparams, "block.count", &count);
		const char *vm_name = virDomainGetName(r->dom);
		for (unsigned b = 0; b < count; b++)
			scan_drive(r->dom, vm, vm_name ? vm_name : "", r->params, r->nparams, b);
		if (state == VIR_DOMAIN_PAUSED && reason == VIR_DOMAIN_PAUSED_IOERROR)
			check_paused(r->dom, vm);
	}
	virDomainStatsRecordListFree(recs);

	MUTEX_SCOPE(&mon.lock);
	size_t pos = 0;
	const char *key;
	void *val;
	char gone[64][VIR_UUID_STRING_BUFLEN + 33];
	size_t ngone = 0;
	while (hashmap_next(mon.drives, &pos, &key, &val) == 0 && ngone < ARRAY_SIZE(gone)) {
		struct drive *d = val;
		if (!d->seen && !d->extending) {
			log_info("thin monitor: VM %s (%s) drive %s is gone", d->vm_name, d->vm, d->dev);
			snprintf(gone[ngone++], sizeof(gone[0]), "%s", key);
		}
	}
	for (size_t i = 0; i < ngone; i++)
		hashmap_remove(mon.drives, gone[i]);
}

static void *manager(void *arg)
{
	bool logged_failure = false;
	int64_t next_poll = 0;
	(void)arg;

	for (;;) {
		bool rescan, lost, connected;
		{
			MUTEX_SCOPE(&mon.lock);
			if (mon.quit)
				break;
			rescan = mon.rescan || mono_ms() >= next_poll;
			mon.rescan = false;
			lost = mon.lost;
			connected = mon.conn != NULL;
		}
		if (lost) {
			log_warning("thin monitor: %s: reconnecting", mon.last_error);
			disconnect(); /* and try again after a pause */
		} else if (!connected) {
			if (connect_libvirt(&logged_failure))
				continue; /* a scan follows at once */
		} else if (rescan) {
			virConnectPtr c = conn_get();
			if (c) {
				scan(c);
				conn_put(&c);
			}
			next_poll = mono_ms() + POLL_MS;
		}
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += POLL_MS / 1000;
		MUTEX_SCOPE(&mon.lock);
		if (!mon.quit && !mon.rescan && !mon.lost)
			pthread_cond_timedwait(&mon.cond, &mon.lock, &until);
	}
	disconnect();
	return NULL;
}

/* ---- extends ---- */

static void record_recent(const struct drive *d, const struct extend_result *res, uint64_t latency_us, bool enospc)
{
	struct recent *r = &mon.recent[mon.recent_next];
	mon.recent_next = (mon.recent_next + 1) % RECENT;
	if (mon.recent_n < RECENT)
		mon.recent_n++;
	snprintf(r->vm, sizeof(r->vm), "%s", d->vm);
	snprintf(r->volume, sizeof(r->volume), "%s", d->ref.volume);
	r->from = res->from;
	r->to = res->to;
	r->latency_us = latency_us;
	r->enospc = enospc;
	r->at_ms = wall_ms();
}

static void maybe_resume(virDomainPtr dom, const char *vm)
{
	{
		/* another of its drives still waits for room: resuming would pause it again */
		MUTEX_SCOPE(&mon.lock);
		size_t pos = 0;
		void *val;
		while (hashmap_next(mon.drives, &pos, NULL, &val) == 0) {
			const struct drive *d = val;
			if (strcmp(d->vm, vm) == 0 && d->enospc)
				return;
		}
	}
	if (!paused_for_enospc_only(dom, vm)) {
		int state = 0, reason = 0;
		if (virDomainGetState(dom, &state, &reason, 0) == 0 && state == VIR_DOMAIN_PAUSED)
			log_warning("thin monitor: VM %s stays paused (state reason %d, or an I/O error that is not ENOSPC "
				    "on a volume of ours)", vm, reason);
		return;
	}
	if (virDomainResume(dom) < 0) {
		log_warning("thin monitor: VM %s: cannot resume it: %s", vm, virt_error());
		return;
	}
	MUTEX_SCOPE(&mon.lock);
	mon.resumes++;
	log_info("thin monitor: VM %s resumed after its volumes grew", vm);
}

static bool wait_quit(int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	MUTEX_SCOPE(&mon.lock);
	if (!mon.quit)
		pthread_cond_timedwait(&mon.cond, &mon.lock, &until);
	return mon.quit;
}

/* An ENOSPC with no threshold event beside it needs no extend when an extend
 * that ended before it reached us made the room already: libvirt's I/O error
 * event can come after it (seen with a real guest writing). Decided on what
 * the VM's qemu and the LV say, not on when the event came: the VM runs again
 * (a VM still short of room pauses again, with a new event), or the LV has the
 * room the failed write wanted (thin_enospc_has_room) and the VM is resumed.
 * True when the request is served so. */
static bool enospc_served(const struct xq_item *it, const struct drive *snap)
{
	_cleanup_(conn_put) virConnectPtr c = conn_get();
	_cleanup_(domain_put) virDomainPtr dom = c ? virDomainLookupByUUIDString(c, snap->vm) : NULL;
	virDomainBlockInfo info;
	int state, reason;

	if (!dom || virDomainGetState(dom, &state, &reason, 0) < 0)
		return false;
	bool paused = state != VIR_DOMAIN_RUNNING;
	if (paused && (state != VIR_DOMAIN_PAUSED || virDomainGetBlockInfo(dom, snap->dev, &info, 0) < 0))
		return false;
	{
		MUTEX_SCOPE(&mon.lock);
		struct drive *d = drive_of_volume_locked(it->volume);
		if (!d)
			return true; /* its VM went away */
		if (paused && !thin_enospc_has_room(d->lv_size, info.allocation, mon.s.chunk, d->retried_at))
			return false;
		d->extending = false;
		d->enospc = false;
		if (!paused) {
			log_info("thin monitor: VM %s drive %s: its ENOSPC was served by the last extend (it runs)",
				 d->vm_name, d->dev);
			return true;
		}
		d->allocation = info.allocation;
		d->retried_at = info.allocation;
		mon.enospc_had_room++;
		/* the same pause's later errors are served by this resume too */
		if (xq_take(mon.xq, it->volume) & XQ_THRESHOLD)
			queue_extend_locked(d, XQ_THRESHOLD);
		log_info("thin monitor: VM %s drive %s: volume %s has room (LV %" PRIu64 " bytes, qemu wrote up to %llu): "
			 "an earlier extend served its ENOSPC, resuming it without another",
			 d->vm_name, d->dev, it->volume, d->lv_size, info.allocation);
	}
	maybe_resume(dom, snap->vm);
	return true;
}

static void serve(const struct xq_item *it)
{
	struct drive snap;
	struct extend_result res = { 0 };
	int r = -1;

	{
		MUTEX_SCOPE(&mon.lock);
		struct drive *d = drive_of_volume_locked(it->volume);
		if (!d)
			return; /* its VM went away */
		snap = *d;
	}
	if (it->flags == XQ_ENOSPC && enospc_served(it, &snap))
		return;
	uint64_t want = snap.lv_size + mon.s.chunk;
	for (int attempt = 1; attempt <= EXTEND_TRIES; attempt++) {
		r = extend_volume(it->domain, it->image, it->volume, want, &res);
		if (r >= 0 || r == -SP_E_CONFLICT || r == -SP_E_NOT_FOUND || r == -SP_E_BAD_REQUEST ||
		    attempt == EXTEND_TRIES)
			break;
		log_warning("thin monitor: volume %s: extend failed (try %d of %d): %s", it->volume, attempt,
			    EXTEND_TRIES, sp_error_last()->message);
		if (wait_quit(1000))
			break;
	}
	uint64_t latency_us = (uint64_t)(mono_ms() - it->first_event_ms) * 1000;
	/* ENOSPC events that came while it ran are served by it */
	unsigned flags = it->flags | xq_take(mon.xq, it->volume);
	bool enospc;
	{
		MUTEX_SCOPE(&mon.lock);
		struct drive *d = drive_of_volume_locked(it->volume);
		if (!d)
			return;
		d->extending = false;
		enospc = d->enospc || (flags & XQ_ENOSPC);
		if (r < 0) {
			mon.extend_failures++;
			set_error_locked("%s", sp_error_last()->message);
			/* the LV cannot grow any more (or the volume is gone): stop watching it */
			d->full = r == -SP_E_CONFLICT;
			log_error("thin monitor: VM %s drive %s: cannot extend volume %s: %s", d->vm_name, d->dev,
				  it->volume, sp_error_last()->message);
			return;
		}
		d->lv_size = res.to;
		d->enospc = false;
		d->retried_at = THIN_NOT_RETRIED;
		/* capped: what the full capacity needs; no threshold from now on */
		d->full = res.to < want;
		if (d->full)
			log_info("thin monitor: VM %s drive %s: volume %s has its largest LV (%" PRIu64 " bytes)",
				 d->vm_name, d->dev, it->volume, res.to);
		snap = *d;
		if (res.to > res.from) {
			mon.extends++;
			record_recent(d, &res, latency_us, enospc);
		}
		log_info("thin monitor: VM %s drive %s: volume %s grew %" PRIu64 " -> %" PRIu64 " bytes, %.1f ms after "
			 "the event%s", d->vm_name, d->dev, it->volume, res.from, res.to, latency_us / 1000.0,
			 enospc ? " (the VM had paused)" : "");
	}
	_cleanup_(conn_put) virConnectPtr c = conn_get();
	_cleanup_(domain_put) virDomainPtr dom = c ? virDomainLookupByUUIDString(c, snap.vm) : NULL;
	if (dom) {
		virDomainBlockInfo info;
		if (virDomainGetBlockInfo(dom, snap.dev, &info, 0) == 0) {
			MUTEX_SCOPE(&mon.lock);
			struct drive *d = drive_of_volume_locked(it->volume);
			if (d)
				d->allocation = info.allocation;
			snap.allocation = info.allocation;
		}
		if (!snap.full)
			arm(dom, &snap);
		/* also when its ENOSPC event has not come yet: the VM may have
		 * paused on the old LV end while this extend ran (qemu says) */
		maybe_resume(dom, snap.vm);
	}
}

static void *worker(void *arg)
{
	struct xq_item it;
	(void)arg;
	/* the extend (the mailbox request and the polls for its answer run in
	 * this thread) must not wait behind the VMs it serves (lib/util/prio.h) */
	(void)prio_raise_self();
	while (xq_pop(mon.xq, -1, &it) == 0) {
		serve(&it);
		sp_error_clear();
		xq_done(mon.xq, it.volume);
	}
	return NULL;
}

/* ---- start, stop ---- */

int thinmon_start(const struct thinmon_settings *s)
{
	int r;

	mon.s = *s;
	snprintf(mon.uri, sizeof(mon.uri), "%s", s->uri);
	snprintf(mon.run_dir, sizeof(mon.run_dir), "%s", s->run_dir);
	mon.s.uri = mon.uri;
	mon.s.run_dir = mon.run_dir;
	if (!s->enabled)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(mon.cb); i++)
		mon.cb[i] = -1;
	mon.drives = hashmap_new(free);
	mon.xq = xq_new();
	virSetErrorFunc(NULL, quiet_errors);
	if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0)
		return log_error_errno(-EIO, "thin monitor: cannot start libvirt's event loop: %s", virt_error());
	/* small stacks: LVM locks every mapping of the process in memory while it
	 * suspends a device (an lvextend of an active LV), 8 MiB stacks included */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	if ((r = -pthread_create(&mon.loop, &attr, event_loop, NULL)) < 0 ||
	    (r = -pthread_create(&mon.manager, &attr, manager, NULL)) < 0) {
		pthread_attr_destroy(&attr);
		return log_error_errno(r, "thin monitor: cannot start its threads: %m");
	}
	for (int i = 0; i < WORKERS; i++)
		if ((r = -pthread_create(&mon.workers[i], &attr, worker, NULL)) < 0) {
			pthread_attr_destroy(&attr);
			return log_error_errno(r, "thin monitor: cannot start its threads: %m");
		}
	pthread_attr_destroy(&attr);
	mon.started = true;
	log_info("thin monitor: watching VMs through %s (chunk %" PRIu64 " MiB, watermark %u%%)", mon.uri,
		 s->chunk >> 20, s->watermark_percent);
	return 0;
}

/* A thread stuck in a libvirt call (a libvirtd that accepted the connection
 * and never answers: libvirt's open has no timeout) must not hold up the
 * agent's shutdown: after a few seconds it is left behind. */
static bool join_or_leave(pthread_t t, const char *what)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	if (pthread_timedjoin_np(t, NULL, &until) == 0)
		return true;
	log_warning("thin monitor: its %s does not stop (stuck in a call to libvirtd): left behind", what);
	pthread_detach(t);
	return false;
}

void thinmon_stop(void)
{
	bool joined = true;

	if (!mon.started)
		return;
	{
		MUTEX_SCOPE(&mon.lock);
		mon.quit = true;
		pthread_cond_broadcast(&mon.cond);
	}
	xq_stop(mon.xq);
	for (int i = 0; i < WORKERS; i++)
		joined &= join_or_leave(mon.workers[i], "extend worker");
	joined &= join_or_leave(mon.manager, "manager");
	/* a timer interrupts the loop's poll, which then sees quit */
	virEventAddTimeout(0, wake_loop, NULL, NULL);
	joined &= join_or_leave(mon.loop, "event loop");
	mon.started = false;
	if (!joined)
		return; /* what is left behind may still use the state */
	xq_free(mon.xq);
	hashmap_free(mon.drives);
	mon.xq = NULL;
	mon.drives = NULL;
}

void thinmon_image_prepared(const char *domain, const char *image)
{
	(void)domain, (void)image;
	if (!mon.started)
		return;
	MUTEX_SCOPE(&mon.lock);
	wake_manager_locked(true);
}

/* ---- state ---- */

static void add_u64(json_object *o, const char *k, uint64_t v) { json_object_object_add(o, k, json_object_new_int64((int64_t)v)); }

static json_object *summary_locked(void)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "enabled", json_object_new_boolean(mon.s.enabled));
	if (!mon.s.enabled)
		return o;
	json_object_object_add(o, "uri", json_object_new_string(mon.uri));
	json_object_object_add(o, "connected", json_object_new_boolean(mon.conn && !mon.lost));
	if (mon.last_error[0])
		json_object_object_add(o, "last_error", json_object_new_string(mon.last_error));
	add_u64(o, "connects", mon.connects);
	add_u64(o, "watched_drives", mon.drives ? hashmap_size(mon.drives) : 0);
	add_u64(o, "extends", mon.extends);
	add_u64(o, "extend_failures", mon.extend_failures);
	add_u64(o, "vm_pauses", mon.pauses);
	add_u64(o, "vm_resumes", mon.resumes);
	add_u64(o, "enospc_had_room", mon.enospc_had_room);
	add_u64(o, "threshold_events", mon.events_threshold);
	add_u64(o, "enospc_events", mon.events_enospc);
	if (mon.xq) {
		unsigned waiting, in_flight;
		uint64_t merged;
		xq_counts(mon.xq, &waiting, &in_flight, &merged);
		add_u64(o, "extends_waiting", waiting);
		add_u64(o, "extends_running", in_flight);
		add_u64(o, "events_coalesced", merged);
	}
	return o;
}

json_object *thinmon_summary_json(void)
{
	MUTEX_SCOPE(&mon.lock);
	return summary_locked();
}

static json_object *drive_json(const struct drive *d)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "vm", json_object_new_string(d->vm));
	json_object_object_add(o, "vm_name", json_object_new_string(d->vm_name));
	json_object_object_add(o, "drive", json_object_new_string(d->dev));
	json_object_object_add(o, "path", json_object_new_string(d->path));
	json_object_object_add(o, "domain", json_object_new_string(d->ref.domain));
	json_object_object_add(o, "image", json_object_new_string(d->ref.image));
	json_object_object_add(o, "volume", json_object_new_string(d->ref.volume));
	add_u64(o, "lv_size", d->lv_size);
	add_u64(o, "allocation", d->allocation);
	add_u64(o, "capacity", d->capacity);
	add_u64(o, "threshold", d->threshold);
	json_object_object_add(o, "paused_enospc", json_object_new_boolean(d->enospc));
	json_object_object_add(o, "extending", json_object_new_boolean(d->extending));
	json_object_object_add(o, "full", json_object_new_boolean(d->full));
	return o;
}

json_object *thinmon_state_json(void)
{
	MUTEX_SCOPE(&mon.lock);
	json_object *o = summary_locked();
	if (!mon.s.enabled)
		return o;
	json_object *drives = json_object_new_array();
	size_t pos = 0;
	void *val;
	while (mon.drives && hashmap_next(mon.drives, &pos, NULL, &val) == 0)
		json_object_array_add(drives, drive_json(val));
	json_object_object_add(o, "drives", drives);
	json_object *recent = json_object_new_array();
	for (size_t i = 0; i < mon.recent_n; i++) {
		const struct recent *r = &mon.recent[(mon.recent_next + RECENT - mon.recent_n + i) % RECENT];
		json_object *e = json_object_new_object();
		json_object_object_add(e, "vm", json_object_new_string(r->vm));
		json_object_object_add(e, "volume", json_object_new_string(r->volume));
		add_u64(e, "from", r->from);
		add_u64(e, "to", r->to);
		add_u64(e, "latency_us", r->latency_us);
		json_object_object_add(e, "vm_paused", json_object_new_boolean(r->enospc));
		json_object_object_add(e, "time_ms", json_object_new_int64(r->at_ms));
		json_object_array_add(recent, e);
	}
	json_object_object_add(o, "recent_extends", recent);
	return o;
}

void thinmon_volume_json(json_object *o, const char *volume)
{
	MUTEX_SCOPE(&mon.lock);
	if (!mon.drives)
		return;
	const struct drive *d = drive_of_volume_locked(volume);
	if (!d)
		return;
	add_u64(o, "qemu_allocation", d->allocation);
	add_u64(o, "block_threshold", d->threshold);
	json_object *vm = json_object_new_object();
	json_object_object_add(vm, "uuid", json_object_new_string(d->vm));
	json_object_object_add(vm, "name", json_object_new_string(d->vm_name));
	json_object_object_add(vm, "drive", json_object_new_string(d->dev));
	json_object_object_add(o, "vm", vm);
}
