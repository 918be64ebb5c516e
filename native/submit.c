/* Submit side (srun, sbatch, salloc): validate the image reference before the job is queued
 * and hand the canonical reference and scheduler id to slurmctld (job_submit.lua) and the nodes. */
#include <stdio.h>
#include <string.h>

#include <slurm/spank.h>

#include "placement.h"
#include "placement_core.h"

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

	int rc = placement_ref_normalize(placement.args.config[0] ? placement.args.config : NULL, image,
					 canonical, sizeof(canonical), id, sizeof(id), err, sizeof(err));
	if (rc != 0) {
		slurm_error("placement: submit: --%s: %s", placement.args.option, err);
		return -1;
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
