/* The configuration file (agent/config.c), read through config_load as the
 * daemon does: the input is written to a memory file and loaded by its
 * /proc/self/fd path, so the harness needs no change to the parser.
 *
 * Property: a file that loads leaves every value within the limits the
 * daemon relies on. */
#include "fuzz/fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

#include "agent/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64];
	struct config c;

	fuzz_quiet();
	if (fd < 0)
		fd = memfd_create("fuzz_config", MFD_CLOEXEC);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(ftruncate(fd, 0) == 0);
	FUZZ_ASSERT(pwrite(fd, data, size, 0) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	config_defaults(&c);
	if (config_load(path, &c) == 0) {
		FUZZ_ASSERT(c.port >= 0 && c.port <= 65535);
		FUZZ_ASSERT(c.task_workers >= 1 && c.task_workers <= 64);
		FUZZ_ASSERT(c.host_id >= 1 && c.host_id <= 2000);
		FUZZ_ASSERT(c.max_body_bytes >= 1024 && c.max_body_bytes <= 16 * 1024 * 1024);
		FUZZ_ASSERT(c.data_dir[0] && strlen(c.data_dir) < sizeof(c.data_dir) - 200);
		FUZZ_ASSERT(c.run_dir[0] == '/' && strlen(c.run_dir) < sizeof(c.run_dir) - 200);
		FUZZ_ASSERT(strlen(c.listen_address) < sizeof(c.listen_address));
		FUZZ_ASSERT(c.thin_initial_size >= (128ULL << 20) && c.thin_initial_size <= (1ULL << 40));
	}
	return 0;
}
