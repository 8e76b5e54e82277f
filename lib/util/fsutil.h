/* File system helpers with the durability the metadata needs. */
#pragma once
#include <stddef.h>
#include <stdbool.h>

/* Writes data to path atomically and durably: temp file + fsync + rename +
 * fsync of the directory. A reader sees the old or the new content, never a
 * mix, and after a crash the new content is there once this returned 0. */
int atomic_write_file(const char *path, const char *data, size_t len);
/* Reads a whole file (up to max bytes) into a NUL-terminated buffer. */
int read_file(const char *path, size_t max, char **ret_data, size_t *ret_len);
/* fsync of the directory that holds entries just created, renamed or removed. */
int fsync_dir(const char *dir);
/* mkdir -p; returns 0 if the directory exists afterwards. */
int mkdir_p(const char *path, unsigned mode);
/* Removes path and everything below it; 0 if it does not exist. */
int rm_rf(const char *path);
bool path_exists(const char *path);
/* Returns the directory part of path (newly allocated). */
char *path_dirname(const char *path);
