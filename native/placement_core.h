/* The NativeAOT library libplacement.so (src/SpankShim), loaded on first use by core.c; its exports
 * are named placement_core_*.
 * Only call these from srun/sbatch/salloc or slurmstepd itself, never from a
 * process forked by slurmstepd for a task. Every function returns a Placement
 * exit code (0 ok, 3 bad reference, 78 bad configuration, ...) and writes a
 * NUL-terminated message into err on failure. */
#ifndef PLACEMENT_CORE_H
#define PLACEMENT_CORE_H
#include <stddef.h>

int placement_ref_normalize(const char *config_path, const char *reference,
                            char *canonical, size_t canonical_len,
                            char *id, size_t id_len,
                            char *err, size_t err_len);

/* slurmstepd (remote context, root): ensure the image is in this node's cache and lease it for
 * holder ("slurm-<job>.<step>"), pulling it under the job owner uid's share (Cache:MaxConcurrentPullsPerUser; -1:
 * unknown). May take minutes on a miss (download + squashfs). */
int placement_ensure(const char *config_path, const char *node, const char *reference, const char *holder, int uid,
                     char *canonical, size_t canonical_len, char *id, size_t id_len,
                     char *digest, size_t digest_len, char *path, size_t path_len,
                     char *err, size_t err_len);

/* Drops every lease of holder on this node; idempotent. */
int placement_release(const char *config_path, const char *node, const char *holder, char *err, size_t err_len);

/* The paths of this plugin and of libplacement.so next to it, without loading the library; -1 if unknown. */
int placement_core_paths(char *plugin, size_t plugin_len, char *lib, size_t lib_len);

#endif
