/* Leveled logging to stderr; under systemd (JOURNAL_STREAM set) lines carry
 * the <N> priority prefix so journald stores the level. */
#pragma once
#include <errno.h>

enum log_level { LOG_LVL_ERROR = 3, LOG_LVL_WARNING = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Returns 0 and sets *ret_level for "error|warning|info|debug", -EINVAL otherwise. */
int log_level_from_string(const char *s, enum log_level *ret_level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* Log at error level with errno set from r (so %m works) and return r. */
#define log_error_errno(r, ...)                          \
	({                                               \
		int _r_ = (r);                           \
		errno = _r_ < 0 ? -_r_ : _r_;            \
		log_msg(LOG_LVL_ERROR, __VA_ARGS__);     \
		_r_ < 0 ? _r_ : -_r_;                    \
	})
