/* Submit side (srun, sbatch, salloc): validate the image reference before the job is queued
 * and hand the canonical reference and scheduler id to slurmctld (job_submit.lua) and the nodes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slurm/spank.h>

#include "placement.h"
#include "placement_core.h"
#include "refmemo.h"

/* A step inside an allocation whose image was validated when the job was submitted: Slurm passes the
 * option to srun through the environment, next to what this plugin handed to the job at submit time
 * (SLURM_SPANK_PLACEMENT_IMAGE/_ID). When the value is that same option value, reuse the result and
 * do not load the core library (which costs a runtime start per step). */
static int inherited(const char *image, char *canonical, size_t canonical_len, char *id, size_t id_len)
{
	char name[256];
	const char *given, *known_ref, *known_id;

	int n = snprintf(name, sizeof(name), "SLURM_SPANK__SLURM_SPANK_OPTION_placement_%s", placement.args.option);
	if (n < 0 || (size_t)n >= sizeof(name))
		return 0;
	for (char *c = name + strlen("SLURM_SPANK__SLURM_SPANK_OPTION_placement_"); *c != '\0'; c++) {
		if (*c == '-')
			*c = '_';
	}
	given = getenv(name);
	known_ref = getenv("SLURM_SPANK_PLACEMENT_IMAGE");
	known_id = getenv("SLURM_SPANK_PLACEMENT_IMAGE_ID");
	if (given == NULL || known_ref == NULL || known_id == NULL || strcmp(given, image) != 0 ||
	    strlen(known_ref) >= canonical_len || strlen(known_id) >= id_len || known_ref[0] == '\0' || known_id[0] == '\0')
		return 0;
	strcpy(canonical, known_ref);
	strcpy(id, known_id);
	return 1;
}

/* The core's answer for the reference: from this user's memo when nothing it depends on changed (refmemo.c), else
 * from the core library (a runtime start), remembered for the next submission. */
static int normalize(const char *image, char *canonical, size_t canonical_len, char *id, size_t id_len, char *err, size_t err_len)
{
	const char *config = placement.args.config[0] ? placement.args.config : NULL;
	char memo[4096], plugin[PATH_MAX], core[PATH_MAX];
	int use_memo = placement.args.ref_cache && placement_core_paths(plugin, sizeof(plugin), core, sizeof(core)) == 0 &&
		       placement_memo_path(memo, sizeof(memo)) == 0;
	uint64_t context = use_memo ? placement_memo_context(config, plugin, core) : 0;

	if (use_memo && placement_memo_get(memo, context, image, canonical, canonical_len, id, id_len)) {
		slurm_debug("placement: submit: %s validated before (memo %s)", image, memo);
		return 0;
	}
	int rc = placement_ref_normalize(config, image, canonical, canonical_len, id, id_len, err, err_len);
	if (rc == 0 && use_memo && placement_memo_put(memo, context, image, canonical, id) != 0)
		slurm_debug("placement: submit: cannot remember %s in %s", image, memo);
	return rc;
}

int placement_submit_post_opt(spank_t sp)
{
	char canonical[PLACEMENT_REF_MAX];
	char id[PLACEMENT_ID_MAX];
	char err[PLACEMENT_ERR_MAX];
	const char *image = placement.image;

	if (!placement.image_given) {
		if (placement.args.default_image[0] == '\0')
			return 0;
		image = placement.args.default_image;
	}

	if (!inherited(image, canonical, sizeof(canonical), id, sizeof(id))) {
		if (normalize(image, canonical, sizeof(canonical), id, sizeof(id), err, sizeof(err)) != 0) {
			slurm_error("placement: submit: --%s: %s", placement.args.option, err);
			return -1;
		}
	}
	if (spank_job_control_setenv(sp, "PLACEMENT_IMAGE", canonical, 1) != ESPANK_SUCCESS ||
	    spank_job_control_setenv(sp, "PLACEMENT_IMAGE_ID", id, 1) != ESPANK_SUCCESS ||
	    spank_job_control_setenv(sp, "PLACEMENT_MODE", placement.args.mode == PLACEMENT_MODE_HARD ? "hard" : "soft", 1) != ESPANK_SUCCESS) {
		slurm_error("placement: submit: cannot pass the image to the job (spank_job_control_setenv failed)");
		return -1;
	}
	slurm_verbose("placement: submit: image %s (%s)", canonical, id);
	return 0;
}
