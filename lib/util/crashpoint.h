/* Fault injection for the crash tests: a fake by design (a real crash cannot
 * be placed between two steps on demand). When SANPOOL_CRASH_AT names this
 * point, the process kills itself with SIGKILL, as `kill -9` would. */
#pragma once

void crashpoint(const char *name);
