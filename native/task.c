/* Task context: runs in the process slurmstepd forked for a task. No managed code here (the .NET runtime must not
 * run in a forked child), only system calls:
 *   task_init_privileged (root): join the step's container (container.c) when there is one;
 *   task_init (the user): report a failure recorded by slurmstepd or by the join, else enter the job's working
 *   directory inside the container. */
#include <stdio.h>

#include <slurm/spank.h>

#include "placement.h"

int placement_task_init(spank_t sp)
{
	(void)sp;
	if (!placement.failed)
		placement_container_enter();
	if (!placement.failed)
		return 0;
	fprintf(stderr, "placement: error: %s\n", placement.error);
	fflush(stderr);
	return -1;
}
