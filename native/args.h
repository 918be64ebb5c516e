#ifndef PLACEMENT_ARGS_H
#define PLACEMENT_ARGS_H

#define PLACEMENT_ARG_MAX 1024

enum placement_mode { PLACEMENT_MODE_SOFT = 0, PLACEMENT_MODE_HARD = 1 };

/* plugstack.conf arguments: `required spank_placement.so option=... default_image=... ` */
struct placement_args {
	char option[64];                        /* option name, default "container-image" */
	char default_image[PLACEMENT_ARG_MAX];  /* image for jobs that name none ("" = none) */
	char default_gpu_image[PLACEMENT_ARG_MAX];
	char config[PLACEMENT_ARG_MAX];         /* placement.json path ("" = library default) */
	enum placement_mode mode;
	char agent_socket[108];                 /* node agent's Unix socket (%n = node name), "none" = never ask it */
};

/* Agent:Socket's default (src/Placement.Core/Configuration/AgentOptions.cs). */
#define PLACEMENT_DEFAULT_AGENT_SOCKET "/run/placement/agent.sock"

/* Parses ac/av into args. On error writes a message naming the bad argument into
 * err and returns -1. Unknown keys are errors. */
int placement_args_parse(struct placement_args *args, int ac, char **av, char *err, int err_len);

#endif
