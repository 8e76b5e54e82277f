/* The consistency checker: a domain's storage read afresh and compared with
 * itself (chains, templates, qcow2 headers, data beside every metadata) and
 * with the agent's model. It changes nothing. */
#pragma once
#include <json-c/json.h>

/* Checks domain; returns 0 with *ret = {"domain", "name", "kind", "quiet",
 * "checked": {"images", "volumes", "journal_records"}, "problems": [{"code",
 * "object", "id", "image", "message"}], "skipped": [...]}, or -SP_E_NOT_FOUND
 * (recorded). Images with a task queued or running (at the start or the end
 * of the check) are not judged: they are listed as skipped, and "quiet" is
 * false. */
int check_domain(const char *domain, json_object **ret);
