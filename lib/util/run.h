/* The one runner of outside programs: argv arrays only, never a shell. */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>

struct run_result {
	int exit_status; /* exit code, or 128+signal */
	char *out;       /* captured stdout, NUL-terminated */
	char *err;       /* captured stderr, NUL-terminated */
};

struct run_opts {
	/* Called for each line of stdout as it arrives (qemu-img -p progress). */
	void (*on_line)(const char *line, void *userdata);
	void *userdata;
	/* When it becomes true the child gets SIGTERM and run returns -SP_E_ABORTED. */
	const atomic_bool *abort;
	/* Bit i set: argv[i] is a secret (a CHAP password): shown as "********"
	 * in every log line and error message; only the child sees it. */
	unsigned secret_args;
};

/* Runs argv[0] (searched in PATH) with argv; returns 0 when it ran (see
 * ret->exit_status), -errno if it could not be started. */
int run_argv(const char *const argv[], const struct run_opts *opts, struct run_result *ret);
void run_result_free(struct run_result *r);
/* The command line for logs and error messages, secrets masked (allocated). */
char *run_argv_display(const char *const argv[], const struct run_opts *opts);

/* Tests observe the exact command lines: the hook sees every argv before it runs. */
typedef void (*run_observer_fn)(const char *const argv[]);
void run_set_observer(run_observer_fn fn);
