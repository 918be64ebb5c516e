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
	/* node side (slurmstepd) */
	char node[256];                 /* this node's name (SLURMD_NODENAME) */
	char holder[64];                /* lease holder "slurm-<job>.<step>", "" when no lease was taken */
	int failed;                     /* the image could not be prepared: tasks report error and fail */
	char error[PLACEMENT_ERR_MAX];
};

extern struct placement_state placement;

/* One function per context (pyxis style). */
int placement_submit_post_opt(spank_t sp);  /* srun, sbatch, salloc */
int placement_remote_post_opt(spank_t sp);  /* slurmstepd, root, before tasks are forked */
int placement_remote_exit(spank_t sp);      /* slurmstepd, root, step end */
int placement_task_init(spank_t sp);        /* forked task, as the user: C only */

#endif
