/* Shared by the libFuzzer harnesses (fuzz/README.md). A harness is one file,
 * fuzz_<parser>.c, defining LLVMFuzzerTestOneInput, and one line in
 * fuzz/CMakeLists.txt; its seeds live in fuzz/corpus/<parser>/. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/log.h"
#include "lib/util/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string (the parsers of tool output and files take one).
 * An embedded NUL ends it early, as it would for the real caller. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A property the parser promises broke: report it as a crash, so libFuzzer
 * saves the input. abort() is right here and only here: this is a test. */
#define FUZZ_ASSERT(cond)                                                                       \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                \
		}                                                                               \
	} while (0)

/* Parsers log their complaints; thousands of lines a second would only slow the run. */
static inline void fuzz_quiet(void)
{
	log_set_level((enum log_level)0);
}
