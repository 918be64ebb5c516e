#ifndef PLACEMENT_ARGS_H
#define PLACEMENT_ARGS_H

#define PLACEMENT_ARG_MAX 1024

enum placement_mode { PLACEMENT_MODE_SOFT = 0, PLACEMENT_MODE_HARD = 1 };

/* How tasks run (docs/slurm.md, "Inside the image"). */
enum placement_runtime { PLACEMENT_RUNTIME_BWRAP = 0, PLACEMENT_RUNTIME_APPTAINER, PLACEMENT_RUNTIME_ENROOT, PLACEMENT_RUNTIME_NONE };

/* plugstack.conf arguments: `required spank_placement.so option=... default_image=... ` */
struct placement_args {
	char option[64];                        /* option name, default "container-image" */
	char default_image[PLACEMENT_ARG_MAX];  /* image for jobs that name none ("" = none) */
	char default_gpu_image[PLACEMENT_ARG_MAX];
	char config[PLACEMENT_ARG_MAX];         /* placement.json path ("" = library default) */
	enum placement_mode mode;
	char agent_socket[108];                 /* node agent's Unix socket (%n = node name), "none" = never ask it */
	enum placement_runtime runtime;         /* default bwrap */
	char runtime_path[PLACEMENT_ARG_MAX];   /* the runtime's binary ("" = looked up in the usual directories) */
	char binds[PLACEMENT_ARG_MAX];          /* site binds: comma-separated SRC[:DST][:ro|:rw], absolute paths */
	int ref_cache;                          /* submit side: remember validated references per user (refmemo.c); default on */
	char follow_plugin[64];                 /* follow=PLUGIN[:OPTION]: another plugin's image option steers too ("" = none) */
	char follow_option[64];                 /* its option name, default "container-image" */
};

/* The runtime's name as written in plugstack.conf. */
const char *placement_runtime_name(enum placement_runtime runtime);

/* Agent:Socket's default (src/Placement.Core/Configuration/AgentOptions.cs). */
#define PLACEMENT_DEFAULT_AGENT_SOCKET "/run/placement/agent.sock"

/* Parses ac/av into args. On error writes a message naming the bad argument into
 * err and returns -1. Unknown keys are errors. */
int placement_args_parse(struct placement_args *args, int ac, char **av, char *err, int err_len);

#endif
