#include "cli/progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BAR_WIDTH 30

void progress_init(struct progress *p)
{
	*p = (struct progress){ .tty = isatty(STDERR_FILENO) == 1, .percent = -1 };
}

static int clamp(int percent)
{
	return percent < 0 ? 0 : percent > 100 ? 100 : percent;
}

void progress_update(struct progress *p, const char *op, const char *state, int percent)
{
	char bar[BAR_WIDTH + 1];
	int filled;

	percent = clamp(percent);
	if (!p->tty || (percent == p->percent && strcmp(state, p->state) == 0))
		return;
	filled = percent * BAR_WIDTH / 100;
	memset(bar, '#', (size_t)filled);
	memset(bar + filled, '.', (size_t)(BAR_WIDTH - filled));
	bar[BAR_WIDTH] = '\0';
	/* \r and erase-to-end-of-line: the bar overwrites itself in place. */
	fprintf(stderr, "\r%s [%s] %3d%% %s\033[K", op, bar, percent, state);
	fflush(stderr);
	p->drawn = true;
	p->percent = percent;
	snprintf(p->state, sizeof(p->state), "%s", state);
}

void progress_done(struct progress *p, const char *task, const char *op, const char *state)
{
	if (p->drawn)
		fputs("\r\033[K", stderr);
	p->drawn = false;
	fprintf(stderr, "task %s%s%s: %s\n", task, *op ? " " : "", op, state);
}
