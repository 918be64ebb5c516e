/* Submit side (srun, sbatch, salloc): validate the image reference before the job is queued
 * and hand the canonical reference and scheduler id to slurmctld (job_submit.lua) and the nodes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slurm/spank.h>

#include "placement.h"
#include "placement_core.h"
#include "refmemo.h"

/* Slurm's environment name of a plugin's option (plugstack.c, _opt_env_name): "_SLURM_SPANK_OPTION_<plugin>_<option>",
 * every character other than a letter or digit as '_'. 0 on success. */
static int option_env_name(char *buf, size_t len, const char *prefix, const char *plugin, const char *option)
{
	int n = snprintf(buf, len, "%s_SLURM_SPANK_OPTION_%s_%s", prefix, plugin, option);
	if (n < 0 || (size_t)n >= len)
		return -1;
	for (char *c = buf + strlen(prefix) + strlen("_SLURM_SPANK_OPTION_"); *c != '\0'; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
			*c = '_';
	}
	return 0;
}

/* A step inside an allocation whose image was validated when the job was submitted: Slurm passes the
 * option to srun through the environment (SLURM_SPANK_ + its option name, of this plugin or of the followed one),
 * next to what this plugin handed to the job at submit time (SLURM_SPANK_PLACEMENT_IMAGE/_ID). When the value is that
 * same option value, reuse the result and do not load the core library (which costs a runtime start per step). */
static int inherited(const char *plugin, const char *option, const char *value, char *canonical, size_t canonical_len, char *id, size_t id_len)
{
	char name[256];
	const char *given, *known_ref, *known_id;

	if (option_env_name(name, sizeof(name), "SLURM_SPANK_", plugin, option) != 0)
		return 0;
	given = getenv(name);
	known_ref = getenv("SLURM_SPANK_PLACEMENT_IMAGE");
	known_id = getenv("SLURM_SPANK_PLACEMENT_IMAGE_ID");
	if (given == NULL || known_ref == NULL || known_id == NULL || strcmp(given, value) != 0 ||
	    strlen(known_ref) >= canonical_len || strlen(known_id) >= id_len || known_ref[0] == '\0' || known_id[0] == '\0')
		return 0;
	strcpy(canonical, known_ref);
	strcpy(id, known_id);
	return 1;
}

/* follow=PLUGIN[:OPTION]: the value the user gave the other plugin's option, or NULL. Slurm puts every option a user
 * gave into the environment before it calls init_post_opt (spank_option_getopt is not available there); pyxis also
 * takes its image from PYXIS_CONTAINER_IMAGE when the option is not given. */
static const char *followed_value(void)
{
	char name[256];
	const char *value;

	if (placement.args.follow_plugin[0] == '\0' ||
	    option_env_name(name, sizeof(name), "", placement.args.follow_plugin, placement.args.follow_option) != 0)
		return NULL;
	value = getenv(name);
	if ((value == NULL || value[0] == '\0') && strcmp(placement.args.follow_plugin, "pyxis") == 0 &&
	    strcmp(placement.args.follow_option, "container-image") == 0)
		value = getenv("PYXIS_CONTAINER_IMAGE");
	return value != NULL && value[0] != '\0' ? value : NULL;
}

/* The core's answer for the reference: from this user's memo when nothing it depends on changed (refmemo.c), else
 * from the core library (a runtime start), remembered for the next submission. */
static int normalize(const char *image, char *canonical, size_t canonical_len, char *id, size_t id_len, char *err, size_t err_len)
{
	const char *config = placement.args.config[0] ? placement.args.config : NULL;
	char memo[4096], plugin[PATH_MAX], core[PATH_MAX];
	int use_memo = placement.args.ref_cache && placement_core_paths(plugin, sizeof(plugin), core, sizeof(core)) == 0 &&
		       placement_memo_path(memo, sizeof(memo)) == 0;
	uint64_t context = use_memo ? placement_memo_context(config, plugin, core) : 0;

	if (use_memo && placement_memo_get(memo, context, image, canonical, canonical_len, id, id_len)) {
		slurm_debug("placement: submit: %s validated before (memo %s)", image, memo);
		return 0;
	}
	int rc = placement_ref_normalize(config, image, canonical, canonical_len, id, id_len, err, err_len);
	if (rc == 0 && use_memo && placement_memo_put(memo, context, image, canonical, id) != 0)
		slurm_debug("placement: submit: cannot remember %s in %s", image, memo);
	return rc;
}

int placement_submit_post_opt(spank_t sp)
{
	char canonical[PLACEMENT_REF_MAX];
	char id[PLACEMENT_ID_MAX];
	char err[PLACEMENT_ERR_MAX];
	char followed_ref[PLACEMENT_REF_MAX];
	const char *image = placement.image;
	const char *plugin = "placement", *option = placement.args.option, *value = placement.image;
	const char *followed = placement.image_given ? NULL : followed_value();

	if (followed != NULL) {
		/* What pyxis does with the value: a path ('.' or '/' first) is a squashfs file it uses in place, which no node
		 * caches; anything else is an image it imports as docker://VALUE, which is what its importer (the node agent)
		 * then caches under the id computed here. */
		if (strspn(followed, "./") > 0) {
			slurm_verbose("placement: submit: --%s=%s (%s) is a file, used in place: not steered",
				      placement.args.follow_option, followed, placement.args.follow_plugin);
			return 0;
		}
		int n = snprintf(followed_ref, sizeof(followed_ref), "%s%s", strstr(followed, "://") ? "" : "docker://", followed);
		if (n < 0 || (size_t)n >= sizeof(followed_ref)) {
			slurm_verbose("placement: submit: --%s value is too long to steer", placement.args.follow_option);
			return 0;
		}
		image = followed_ref;
		plugin = placement.args.follow_plugin;
		option = placement.args.follow_option;
		value = followed;
	} else if (!placement.image_given) {
		if (placement.args.default_image[0] == '\0')
			return 0;
		if (placement.args.default_gpu_image[0] != '\0' &&
		    strcmp(placement.args.default_gpu_image, placement.args.default_image) != 0) {
			/* Which default a job gets is decided on the node, by whether its step has GPUs; here the job's GPU
			 * request cannot be read. Steering by default_image would send GPU jobs to nodes holding the wrong image
			 * (or, in hard mode, to none), so jobs that name no image are not steered. */
			slurm_verbose("placement: submit: no image named; with default_gpu_image= the node picks the default by the "
				      "step's GPUs, so the job is not steered");
			return 0;
		}
		image = placement.args.default_image;
		value = NULL;
	}

	if (value == NULL || !inherited(plugin, option, value, canonical, sizeof(canonical), id, sizeof(id))) {
		if (normalize(image, canonical, sizeof(canonical), id, sizeof(id), err, sizeof(err)) != 0) {
			if (followed != NULL) {
				/* The option is the other plugin's: it decides what it accepts and reports its own errors. One line
				 * says why the job is not steered (the forms Placement accepts would read as an error here). */
				char *forms = strstr(err, " Accepted forms");
				if (forms != NULL)
					*forms = '\0';
				slurm_info("placement: submit: --%s=%s (%s) is not steered, %s runs it as usual: %s",
					      placement.args.follow_option, followed, placement.args.follow_plugin, placement.args.follow_plugin, err);
				return 0;
			}
			slurm_error("placement: submit: --%s: %s", placement.args.option, err);
			return -1;
		}
	}
	if (spank_job_control_setenv(sp, "PLACEMENT_IMAGE", canonical, 1) != ESPANK_SUCCESS ||
	    spank_job_control_setenv(sp, "PLACEMENT_IMAGE_ID", id, 1) != ESPANK_SUCCESS ||
	    spank_job_control_setenv(sp, "PLACEMENT_MODE", placement.args.mode == PLACEMENT_MODE_HARD ? "hard" : "soft", 1) != ESPANK_SUCCESS) {
		slurm_error("placement: submit: cannot pass the image to the job (spank_job_control_setenv failed)");
		return -1;
	}
	slurm_verbose("placement: submit: image %s (%s)%s%s", canonical, id, followed ? " from --" : "", followed ? placement.args.follow_option : "");
	return 0;
}
