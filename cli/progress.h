/* The progress of a task on stderr: a bar redrawn in place on a terminal,
 * and one final line either way (so logs of scripts show the outcome). */
#pragma once
#include <stdbool.h>

struct progress {
	bool tty;     /* draw the bar (stderr is a terminal) */
	bool drawn;   /* a bar is on the line and must be cleared */
	int percent;  /* last drawn, to redraw only on change */
	char state[16];
};

void progress_init(struct progress *p);

/* Redraws the bar when the state or progress changed (no-op off a terminal). */
void progress_update(struct progress *p, const char *op, const char *state, int percent);

/* Clears the bar and prints "task UUID OP: STATE". */
void progress_done(struct progress *p, const char *task, const char *op, const char *state);
