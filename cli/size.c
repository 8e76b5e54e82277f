#include "cli/size.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char units[] = "KMGT";

/* The exponent of 1024 a suffix stands for, or -1. */
static int suffix_shift(const char *s)
{
	const char *u;

	if (*s == '\0')
		return 0;
	u = strchr(units, toupper((unsigned char)*s));
	if (!u)
		return -1;
	s++;
	if (strcasecmp(s, "") != 0 && strcasecmp(s, "i") != 0 && strcasecmp(s, "iB") != 0 && strcasecmp(s, "B") != 0)
		return -1;
	return (int)(u - units + 1);
}

int size_parse(const char *s, uint64_t *ret)
{
	uint64_t n = 0;
	const char *p = s;
	int shift;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if ((shift = suffix_shift(p)) < 0)
		return -EINVAL;
	if (n > ((uint64_t)INT64_MAX >> (10 * shift)))
		return -ERANGE;
	*ret = n << (10 * shift);
	return 0;
}

void size_format(uint64_t bytes, char *buf, size_t len)
{
	static const char *const names[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	int i = 0;

	while (i < 6 && bytes >= ((uint64_t)1024 << (10 * i)))
		i++;
	if (i == 0) {
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
		return;
	}
	/* Whole units print without a fraction: capacities are usually round. */
	uint64_t unit = (uint64_t)1 << (10 * i);
	if (bytes % unit == 0)
		snprintf(buf, len, "%llu %s", (unsigned long long)(bytes / unit), names[i]);
	else
		snprintf(buf, len, "%.1f %s", (double)bytes / (double)unit, names[i]);
}
