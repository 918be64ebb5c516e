#ifndef PLACEMENT_REFMEMO_H
#define PLACEMENT_REFMEMO_H

#include <stddef.h>
#include <stdint.h>

/* PlacementConfiguration.DefaultPath (src/Placement.Core/Configuration/PlacementConfiguration.cs). */
#define PLACEMENT_DEFAULT_CONFIG "/etc/placement/placement.json"

/* The submit side's memo of validated references (refmemo.c says what it is and why it is safe). */

/* A hash of everything the core's answer depends on besides the reference: the configuration file the core would
 * read (config_path, else $PLACEMENT_CONFIG, else the default) and its identity, the PLACEMENT__* environment, and
 * the identity of the plugin and core library files. */
uint64_t placement_memo_context(const char *config_path, const char *plugin_path, const char *core_path);

/* This user's memo file, if there is a private place for it; -1 = do not memoize. */
int placement_memo_path(char *out, size_t len);

/* 1 and canonical/id filled when the memo holds the reference under this context, else 0. */
int placement_memo_get(const char *path, uint64_t context, const char *reference, char *canonical, size_t canonical_len,
		       char *id, size_t id_len);

/* Remembers a validated reference (newest first, bounded); -1 if it could not (never fatal). */
int placement_memo_put(const char *path, uint64_t context, const char *reference, const char *canonical, const char *id);

#endif
