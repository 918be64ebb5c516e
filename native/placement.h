#ifndef PLACEMENT_H
#define PLACEMENT_H

#include <limits.h>
#include <sys/types.h>

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
	int uid;                        /* the job owner's uid (Cache:MaxConcurrentPullsPerUser), -1 when unknown */
	int failed;                     /* the image could not be prepared: tasks report error and fail */
	int followed;                   /* the step gives the followed plugin's image (follow=): no container; the default
	                                 * image's lease is dropped in slurm_spank_exit, as root */
	char error[PLACEMENT_ERR_MAX];
	/* the step's container (container.c): slurmstepd starts it, forked tasks inherit these and join it */
	pid_t holder_pid;               /* placement-holder, leader of its process group; 0 = no container */
	int holder_pidfd;               /* pidfd of holder_pid (signals reach the holder, never a reused pid); -1 = none */
	pid_t container_pid;            /* a process inside the container: tasks join its mount namespace and root */
	int lifeline_fd;                /* write end of the holder's lifeline (close: the step ends); 0 or -1 = none */
	/* task side (each forked task has its own copy) */
	int joined;
	char cwd[PATH_MAX];             /* the step's working directory (slurmstepd's in user_init), entered inside */
};

extern struct placement_state placement;

/* One function per context (pyxis style). */
int placement_submit_post_opt(spank_t sp);  /* srun, sbatch, salloc */
int placement_remote_post_opt(spank_t sp);  /* slurmstepd, root, before tasks are forked */
int placement_remote_exit(spank_t sp);      /* slurmstepd, root, step end */
int placement_remote_followed(spank_t sp);  /* slurmstepd user_init: 1 when the step gives the followed plugin's image */
int placement_task_init(spank_t sp);        /* forked task, as the user: C only */

/* The step's container (container.c). */
void placement_container_start(spank_t sp); /* slurmstepd user_init, in the job's cwd; failures are recorded */
int placement_container_join(spank_t sp);   /* task_init_privileged: setns + chroot into the container */
int placement_container_enter(void);        /* task_init, as the user: chdir to the job's directory inside */
void placement_container_stop(spank_t sp);  /* slurm_spank_exit in slurmstepd: kill the holder's group */

#endif
