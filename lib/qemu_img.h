/* qemu-img, run through the one runner with argv arrays. */
#pragma once
#include <stdatomic.h>
#include <stdint.h>

#include "lib/volume.h"

/* Reports progress 0..100 of a long qemu-img command. */
struct qemu_img_progress {
	void (*fn)(int percent, void *userdata);
	void *userdata;
	const atomic_bool *abort;
};

struct qemu_img_info {
	char format[16];
	uint64_t virtual_size;
	char backing[4096]; /* "" when none; as written in the header */
};

/* Creates an image at path. backing may be NULL; backing_fmt then ignored. */
int qemu_img_create(const char *path, enum vol_format fmt, enum vol_alloc alloc, uint64_t capacity,
		    const char *backing, enum vol_format backing_fmt);
int qemu_img_info(const char *path, struct qemu_img_info *ret);
/* Copies the whole chain under src into the existing standalone image dst. */
int qemu_img_convert(const char *src, enum vol_format src_fmt, const char *dst, enum vol_format dst_fmt,
		     const struct qemu_img_progress *p);
/* Writes top's data into its backing file (top itself is left for the caller). */
int qemu_img_commit(const char *top, const struct qemu_img_progress *p);
/* Safe rebase: path gets new_backing (NULL for none) with content preserved. */
int qemu_img_rebase(const char *path, const char *new_backing, enum vol_format backing_fmt,
		    const struct qemu_img_progress *p);
int qemu_img_resize(const char *path, enum vol_format fmt, enum vol_alloc alloc, uint64_t capacity);

/* Frees clusters a killed qemu-img left allocated but unused (qemu-img
 * check -r leaks); other damage is reported, not repaired. */
int qemu_img_repair_leaks(const char *path);

/* Bytes a fully allocated image of this format and capacity needs (qemu-img
 * measure): the most a thin qcow2 volume on a block domain may ever take.
 * The answer depends on nothing else: the last answers are remembered (every
 * extend asks, and running qemu-img costs ~20 ms). */
int qemu_img_measure(enum vol_format fmt, uint64_t capacity, uint64_t *ret_bytes);

/* Parses a progress line of `qemu-img -p` ("    (42.50/100%)"); -EINVAL if not one. */
int qemu_img_parse_progress(const char *line, int *ret_percent);
