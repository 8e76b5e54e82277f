/* Fault injection for the fast tier: a fake by design. A device whose I/O
 * blocks (a dead LUN with queue_if_no_path) needs device-mapper, which the
 * build machine lacks, so a test cannot make one on demand. Instead, when
 * the file named by SANPOOL_TEST_STALL exists and its first line is this
 * point's name, stallpoint() blocks the calling thread, as a command stuck
 * on such a device would, until the file is removed or rewritten (polled
 * every 20 ms). Never set by the agent's packaging. */
#pragma once

void stallpoint(const char *name);
