/* LVM's `--reportformat json` output (lib/lvm_report.c): lvs, vgs and
 * pvs --segments reports, as lib/lvm.c hands them over (the JSON lines of one
 * command joined by '\n'). Input: the VG name asked for on the first line,
 * then the report. Each of the three parsers reads the same report, and the
 * tags of every LV go on to block_tags_to_meta, as lib/domain_block.c does. */
#include "fuzz/fuzz.h"

#include "lib/block_tags.h"
#include "lib/lvm_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	const char *vg = "", *report = text;
	char *nl = strchr(text, '\n');
	struct lvm_lv *lvs;
	struct lvm_vg v;
	struct lvm_pvseg *segs;
	size_t n;

	fuzz_quiet();
	if (nl) {
		*nl = '\0';
		vg = text;
		report = nl + 1;
	}
	if (lvm_report_parse_lvs(report, &lvs, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct volume_meta m;
			FUZZ_ASSERT(lvs[i].name[0] && lvs[i].tags);
			for (size_t k = 0; lvs[i].tags[k]; k++)
				FUZZ_ASSERT(lvs[i].tags[k][0] && !strchr(lvs[i].tags[k], ','));
			if (i > 0)
				FUZZ_ASSERT(strcmp(lvs[i - 1].name, lvs[i].name) <= 0);
			(void)block_tags_to_meta(vg, lvs[i].name, lvs[i].tags, &m);
		}
		lvm_lvs_free(lvs, n);
	}
	if (lvm_report_parse_vg(report, vg, &v) == 0) {
		FUZZ_ASSERT(strcmp(v.name, vg) == 0 && v.tags);
		lvm_vg_clear(&v);
	}
	if (lvm_report_parse_pvsegs(report, vg, &segs, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			FUZZ_ASSERT(segs[i].dev[0]);
		free(segs);
	}
	free(text);
	return 0;
}
