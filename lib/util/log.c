#include "lib/util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level max_level = LOG_LVL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(enum log_level level) { max_level = level; }
enum log_level log_get_level(void) { return max_level; }

int log_level_from_string(const char *s, enum log_level *ret_level)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{ "error", LOG_LVL_ERROR },
		{ "warning", LOG_LVL_WARNING },
		{ "info", LOG_LVL_INFO },
		{ "debug", LOG_LVL_DEBUG },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0) {
			*ret_level = names[i].level;
			return 0;
		}
	return -EINVAL;
}

static const char *level_name(enum log_level level)
{
	switch (level) {
	case LOG_LVL_ERROR: return "ERROR";
	case LOG_LVL_WARNING: return "WARN";
	case LOG_LVL_INFO: return "INFO";
	default: return "DEBUG";
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > max_level)
		return;
	int saved = errno;
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	errno = saved;
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);

	/* journald adds its own timestamps; a terminal user wants them on the line */
	static int journal = -1;
	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;

	pthread_mutex_lock(&log_lock);
	if (journal) {
		fprintf(stderr, "<%d>%s\n", (int)level, line);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "%02d:%02d:%02d.%03ld %-5s %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
			ts.tv_nsec / 1000000, level_name(level), line);
	}
	pthread_mutex_unlock(&log_lock);
	errno = saved;
}
