#include "lib/extend.h"

#include <string.h>

#include "lib/activation.h"
#include "lib/domain.h"
#include "lib/metrics.h"
#include "lib/store.h"
#include "lib/util/cleanup.h"
#include "lib/util/error.h"
#include "lib/util/log.h"

/* First version: the direct path only (SPM or a host managing its pools alone). */
int extend_volume(const char *domain, const char *image, const char *volume, uint64_t min_size,
		  struct extend_result *ret)
{
	uint64_t t0 = metric_now_ns(), from = 0, to = 0;
	struct domain d;
	bool active;
	int r;

	if ((r = store_get_domain(domain, &d)) < 0)
		return r;
	if ((r = d.ops->volume_state(&d, volume, &active, &from)) < 0)
		return r == -ENOTSUP ? sp_conflict("volume %s is a file: it grows by itself", volume) : r;
	if (!min_size || min_size > from) {
		if ((r = store_check_writer(&d)) < 0)
			return r;
		_cleanup_json_ json_object *o = NULL;
		if ((r = activation_extend(domain, image, volume, min_size, &o)) < 0)
			return r;
	}
	if (active && (r = d.ops->volume_refresh(&d, image, volume)) < 0)
		return r;
	if ((r = d.ops->volume_state(&d, volume, &active, &to)) < 0)
		return r;
	uint64_t ns = metric_now_ns() - t0;
	if (to != from)
		metrics_extend(domain, ns);
	*ret = (struct extend_result){ from, to, ns / 1000 };
	return 0;
}
