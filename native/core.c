/* Loads libplacement.so (the NativeAOT core) on first use, so jobs that ask for no image pay nothing:
 * srun and every slurmstepd load this small shim, never the 11 MB runtime unless an image is involved. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <slurm/spank.h>

#include "placement_core.h"

typedef int (*ref_normalize_fn)(const char *, const char *, char *, size_t, char *, size_t, char *, size_t);
typedef int (*ensure_fn)(const char *, const char *, const char *, const char *, int, char *, size_t, char *, size_t,
			 char *, size_t, char *, size_t, char *, size_t);
typedef int (*release_fn)(const char *, const char *, const char *, char *, size_t);

static void *core;

/* Where this plugin is installed and libplacement.so next to it (the installed layout: /usr/lib/placement/). */
int placement_core_paths(char *plugin, size_t plugin_len, char *lib, size_t lib_len)
{
	Dl_info self;

	if (dladdr((void *)placement_core_paths, &self) == 0 || self.dli_fname == NULL)
		return -1;
	const char *slash = strrchr(self.dli_fname, '/');
	int dir_len = slash == NULL ? 0 : (int)(slash - self.dli_fname);
	int a = snprintf(plugin, plugin_len, "%s", self.dli_fname);
	int b = snprintf(lib, lib_len, "%.*s%slibplacement.so", dir_len, self.dli_fname, dir_len ? "/" : "");
	return a < 0 || (size_t)a >= plugin_len || b < 0 || (size_t)b >= lib_len ? -1 : 0;
}

static void *load(char *err, size_t err_len)
{
	char plugin[PATH_MAX], path[PATH_MAX];

	if (core != NULL)
		return core;
	if (placement_core_paths(plugin, sizeof(plugin), path, sizeof(path)) != 0) {
		snprintf(err, err_len, "cannot find where spank_placement.so is installed");
		return NULL;
	}
	/* RTLD_NODELETE: a NativeAOT runtime cannot be unloaded, and Slurm dlcloses plugins. */
	core = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (core == NULL)
		snprintf(err, err_len, "cannot load %s: %s", path, dlerror());
	return core;
}

static void *symbol(const char *name, char *err, size_t err_len)
{
	void *lib = load(err, err_len);
	if (lib == NULL)
		return NULL;
	void *fn = dlsym(lib, name);
	if (fn == NULL)
		snprintf(err, err_len, "libplacement.so has no %s (version mismatch with spank_placement.so?)", name);
	return fn;
}

int placement_ref_normalize(const char *config_path, const char *reference, char *canonical, size_t canonical_len,
			    char *id, size_t id_len, char *err, size_t err_len)
{
	ref_normalize_fn fn = (ref_normalize_fn)symbol("placement_core_ref_normalize", err, err_len);
	return fn == NULL ? 1 : fn(config_path, reference, canonical, canonical_len, id, id_len, err, err_len);
}

int placement_ensure(const char *config_path, const char *node, const char *reference, const char *holder, int uid,
		     char *canonical, size_t canonical_len, char *id, size_t id_len, char *digest, size_t digest_len,
		     char *path, size_t path_len, char *err, size_t err_len)
{
	ensure_fn fn = (ensure_fn)symbol("placement_core_ensure_as", err, err_len);
	return fn == NULL ? 1 : fn(config_path, node, reference, holder, uid, canonical, canonical_len, id, id_len,
				   digest, digest_len, path, path_len, err, err_len);
}

int placement_release(const char *config_path, const char *node, const char *holder, char *err, size_t err_len)
{
	release_fn fn = (release_fn)symbol("placement_core_release", err, err_len);
	return fn == NULL ? 1 : fn(config_path, node, holder, err, err_len);
}
