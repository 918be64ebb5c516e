/* Task context: runs in the process slurmstepd forked for a task, as the user. No managed code here
 * (the .NET runtime must not run in a forked child): only report a failure recorded by slurmstepd. */
#include <stdio.h>

#include <slurm/spank.h>

#include "placement.h"

int placement_task_init(spank_t sp)
{
	(void)sp;
	if (!placement.failed)
		return 0;
	fprintf(stderr, "placement: error: %s\n", placement.error);
	fflush(stderr);
	return -1;
}
