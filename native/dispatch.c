/* SPANK entry points: register the option in every context, then dispatch per context. */
#include <stdio.h>
#include <string.h>

#include <slurm/spank.h>

#include "placement.h"

SPANK_PLUGIN(placement, 1);

struct placement_state placement;

static int option_cb(int val, const char *optarg, int remote)
{
	(void)val;
	(void)remote;
	if (optarg == NULL || optarg[0] == '\0') {
		slurm_error("placement: option: --%s needs an image reference", placement.args.option);
		return -1;
	}
	if (strlen(optarg) >= sizeof(placement.image)) {
		slurm_error("placement: option: --%s value is longer than %zu characters", placement.args.option, sizeof(placement.image) - 1);
		return -1;
	}
	strcpy(placement.image, optarg);
	placement.image_given = 1;
	return 0;
}

static struct spank_option image_option = {
	.name = "container-image",
	.arginfo = "REF",
	.usage = "[placement] run the job with this container image, cached on the node "
		 "(docker://host/repo:tag, repo:tag, host#repo:tag, https://.../x.sif, /path/x.sqsh)",
	.has_arg = 1,
	.val = 0,
	.cb = option_cb,
};

int slurm_spank_init(spank_t sp, int ac, char **av)
{
	char err[PLACEMENT_ERR_MAX];

	memset(&placement, 0, sizeof(placement));
	if (placement_args_parse(&placement.args, ac, av, err, sizeof(err)) != 0) {
		slurm_error("placement: plugstack.conf: %s", err);
		return -1;
	}
	image_option.name = placement.args.option;
	/* The static spank_options table is not read by sbatch: register in every context. */
	if (spank_option_register(sp, &image_option) != ESPANK_SUCCESS) {
		slurm_error("placement: init: cannot register option --%s (is another plugin using it?)", placement.args.option);
		return -1;
	}
	return 0;
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	switch (spank_context()) {
	case S_CTX_LOCAL:
	case S_CTX_ALLOCATOR:
		return placement_submit_post_opt(sp);
	case S_CTX_REMOTE:
		return placement_remote_post_opt(sp);
	default:
		return 0;
	}
}

/* slurmstepd, after its chdir to the job's working directory, before tasks fork (container.c says why here). Never
 * fails: a failing user_init drains the node; failures are recorded for task_init. */
int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (spank_context() == S_CTX_REMOTE && !placement_remote_followed(sp))
		placement_container_start(sp);
	return 0;
}

int slurm_spank_task_init_privileged(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	return placement_container_join(sp);
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	return placement_task_init(sp);
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (spank_context() != S_CTX_REMOTE)
		return 0;
	placement_container_stop(sp); /* before the lease is dropped: the container uses the image until then */
	return placement_remote_exit(sp);
}
