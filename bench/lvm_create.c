/* lvcreate latency through lib/lvm.c (one liblvm2cmd handle, private
 * lvm.conf, per-command device filter) against the bare `lvcreate` command
 * with the system's default lvm.conf, both with the same 7 tags, at growing
 * numbers of LVs in the VG; and the VG metadata text each such LV adds.
 * Root only: makes two loop devices on sparse files in TMPDIR and removes
 * them (and their VGs) at the end.
 *
 *   bench_lvm_create [sizes...]      default: 10 100 1000
 * Prints `figure NAME VALUE UNIT` lines. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/lvm.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/fsutil.h"
#include "lib/util/run.h"
#include "lib/util/xalloc.h"

#define SAMPLES 21
#define EXTENT ((uint64_t)4 << 20)

static char *dir, *files[2], *devs[2];
static const char *vgs[2] = { "spbench_mod", "spbench_bare" };
static bool made[2];
static const char *const TAGS7[] = { "IU_6f1e8a38-5a8e-4c39-9c8f-0d4b2f0a1b2c",
				     "PU_00000000-0000-0000-0000-000000000000",
				     "FMT_qcow2", "ALLOC_sparse", "CAP_10737418240",
				     "LEGALITY_LEGAL", "GEN_0", NULL };

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int run_ok(const char *const argv[], char **ret_out)
{
	struct run_result res = { 0 };
	int r = run_argv(argv, NULL, &res);
	if (r == 0 && res.exit_status != 0) {
		fprintf(stderr, "%s failed: %s", argv[0], res.err);
		r = -EIO;
	}
	if (r == 0 && ret_out) {
		res.out[strcspn(res.out, "\n")] = '\0';
		*ret_out = xstrdup(res.out);
	}
	run_result_free(&res);
	return r;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Metadata text size of vg, from vgcfgbackup (private lvm.conf + filter). */
static long metadata_bytes(int i)
{
	_cleanup_free_ char *path = xasprintf("%s/%s.vg", dir, vgs[i]);
	_cleanup_free_ char *filter = xasprintf("devices { filter = [ \"a|^%s$|\", \"r|.*|\" ] }", devs[i]);
	const char *argv[] = { "lvm", "vgcfgbackup", "--config", filter, "-f", path, vgs[i], NULL };
	struct stat st;
	if (run_ok(argv, NULL) < 0 || stat(path, &st) < 0)
		return -1;
	return (long)st.st_size;
}

static int create_module(const char *vg, int n)
{
	char name[64];
	snprintf(name, sizeof(name), "lv%05d", n);
	return lvm_lvcreate(vg, name, EXTENT, TAGS7);
}

static int create_bare(int n)
{
	char name[64], size[32];
	snprintf(name, sizeof(name), "--name=lv%05d", n);
	snprintf(size, sizeof(size), "--size=%" PRIu64 "b", EXTENT);
	/* the system's lvm.conf: no LVM_SYSTEM_DIR; --driverloaded n as this
	 * machine has no device-mapper */
	const char *argv[] = { "env", "-u", "LVM_SYSTEM_DIR", "lvcreate", "--driverloaded", "n",
			       "--activate", "n", "--zero", "n", "--wipesignatures", "n", size,
			       "--addtag", TAGS7[0], "--addtag", TAGS7[1], "--addtag", TAGS7[2],
			       "--addtag", TAGS7[3], "--addtag", TAGS7[4], "--addtag", TAGS7[5],
			       "--addtag", TAGS7[6], name, vgs[1], NULL };
	return run_ok(argv, NULL);
}

int main(int argc, char **argv)
{
	int sizes[8] = { 10, 100, 1000 }, nsizes = 3, rc = 1;
	if (argc > 1) {
		nsizes = 0;
		for (int i = 1; i < argc && nsizes < 8; i++)
			sizes[nsizes++] = strtol(argv[i], NULL, 10) > 0 ? (int)strtol(argv[i], NULL, 10) : 10;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "bench_lvm_create: needs root (loop devices)\n");
		return 77;
	}
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	dir = xasprintf("%s/sanpool-lvmbench-XXXXXX", base);
	if (!mkdtemp(dir))
		return 1;
	_cleanup_free_ char *run_dir = xasprintf("%s/lvm", dir);
	struct lvm_options o = { .run_dir = run_dir, .activation = false };
	int count = 0; /* LVs in each VG */
	long md_first = -1, md_last = -1;
	int md_first_n = 0, md_last_n = 0;

	if (lvm_start(&o) < 0) {
		fprintf(stderr, "lvm_start: %s\n", sp_error_last()->message);
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		char size[32];
		snprintf(size, sizeof(size), "%dG", 8 + sizes[nsizes - 1] / 200);
		files[i] = xasprintf("%s/dev%d.img", dir, i);
		const char *trunc[] = { "truncate", "-s", size, files[i], NULL };
		const char *los[] = { "losetup", "-f", "--show", files[i], NULL };
		if (run_ok(trunc, NULL) < 0 || run_ok(los, &devs[i]) < 0)
			goto out;
		const char *d[] = { devs[i], NULL };
		if (lvm_pvcreate(d, 128ull << 20) < 0 || lvm_vgcreate(vgs[i], d, EXTENT, NULL) < 0) {
			fprintf(stderr, "%s\n", sp_error_last()->message);
			goto out;
		}
		made[i] = true;
	}

	for (int s = 0; s < nsizes; s++) {
		/* fill both VGs to sizes[s] LVs through the module */
		for (; count < sizes[s]; count++)
			for (int i = 0; i < 2; i++)
				if (create_module(vgs[i], count) < 0) {
					fprintf(stderr, "%s\n", sp_error_last()->message);
					goto out;
				}
		long md = metadata_bytes(0);
		if (md_first < 0)
			md_first = md, md_first_n = count;
		md_last = md, md_last_n = count;

		double mod[SAMPLES], bare[SAMPLES];
		for (int k = 0; k < SAMPLES; k++, count++) {
			double t0 = now_ms();
			if (create_module(vgs[0], count) < 0) {
				fprintf(stderr, "%s\n", sp_error_last()->message);
				goto out;
			}
			double t1 = now_ms();
			if (create_bare(count) < 0)
				goto out;
			double t2 = now_ms();
			mod[k] = t1 - t0;
			bare[k] = t2 - t1;
		}
		qsort(mod, SAMPLES, sizeof(double), cmp_d);
		qsort(bare, SAMPLES, sizeof(double), cmp_d);
		printf("figure lvm_lvcreate_module_p50_at_%d %.1f ms\n", sizes[s], mod[SAMPLES / 2]);
		printf("figure lvm_lvcreate_module_max_at_%d %.1f ms\n", sizes[s], mod[SAMPLES - 1]);
		printf("figure lvm_lvcreate_bare_p50_at_%d %.1f ms\n", sizes[s], bare[SAMPLES / 2]);
		printf("figure lvm_lvcreate_bare_max_at_%d %.1f ms\n", sizes[s], bare[SAMPLES - 1]);
		fflush(stdout);
	}
	if (md_last_n > md_first_n)
		printf("figure lvm_metadata_bytes_per_lv_7tags %.0f bytes\n",
		       (double)(md_last - md_first) / (md_last_n - md_first_n));
	struct lvm_vg vg;
	if (lvm_vg_info(vgs[0], NULL, &vg) == 0) {
		printf("figure lvm_metadata_bytes_total_at_%d_lvs %ld bytes (area %" PRIu64 ", free %" PRIu64 ")\n",
		       count, metadata_bytes(0), vg.mda_size, vg.mda_free);
		lvm_vg_clear(&vg);
	}
	rc = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (made[i] && lvm_vgremove(vgs[i]) < 0)
			fprintf(stderr, "vgremove %s: %s\n", vgs[i], sp_error_last()->message);
		if (devs[i]) {
			const char *d[] = { "losetup", "-d", devs[i], NULL };
			run_ok(d, NULL);
		}
		free(devs[i]);
		free(files[i]);
	}
	lvm_stop();
	rm_rf(dir);
	free(dir);
	return rc;
}
