#ifndef PLACEMENT_H
#define PLACEMENT_H

#include <slurm/spank.h>

#include "args.h"

#define PLACEMENT_REF_MAX 4096
#define PLACEMENT_ID_MAX 64
#define PLACEMENT_ERR_MAX 2048

/* Plugin-wide state, filled by slurm_spank_init in every context. */
struct placement_state {
	struct placement_args args;
	char image[PLACEMENT_REF_MAX];  /* --container-image value, "" if not given */
	int image_given;
};

extern struct placement_state placement;

/* One function per context (pyxis style). */
int placement_submit_post_opt(spank_t sp);  /* srun, sbatch, salloc */

#endif
