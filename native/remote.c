/* Node side in slurmstepd (remote context, root, before any task is forked): make sure the image is
 * in this node's cache, lease it for the step, and give tasks PLACEMENT_IMAGE{,_DIGEST,_PATH,_ID}.
 * Failures never fail this hook (that would drain a healthy node): they are recorded, and every
 * task reports them and exits non-zero in task_init, so the job fails with the message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <slurm/slurm.h>
#include <slurm/spank.h>

#include "agent.h"
#include "placement.h"
#include "placement_core.h"

/* How long slurmstepd waits for the node agent's answer before it prepares the image itself (as when there is no
 * agent), when the agent sends no keep-alives (a version before them). Generous: a miss is a download and a squashfs
 * build; if the agent is still at it, the fallback waits for the same cache lock and finds the image built. */
#define AGENT_ENSURE_TIMEOUT_MS (10 * 60 * 1000)
/* An agent that keeps the connection alive (a space every 15 s while it works, docs/architecture.md "Agent socket")
 * is waited for however long the pull or its wait for a pull slot takes: one silent this long is taken for hung... */
#define AGENT_ENSURE_IDLE_MS (60 * 1000)
/* ...and one still without an answer after this long as well (a request stuck in the agent while its keep-alive timer
 * runs; the agent's own waits are bounded by Cache:LockTimeoutSeconds, one hour by default, each). */
#define AGENT_ENSURE_MAX_MS (6 * 3600 * 1000)
#define AGENT_RELEASE_TIMEOUT_MS (60 * 1000)

static int step_has_gpus(spank_t sp)
{
	static const char *vars[] = { "SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "SLURM_GPUS_ON_NODE", NULL };
	char value[256];

	for (int i = 0; vars[i] != NULL; i++) {
		if (spank_getenv(sp, vars[i], value, sizeof(value)) == ESPANK_SUCCESS && value[0] != '\0' && strcmp(value, "0") != 0)
			return 1;
	}
	return 0;
}

/* Entry `index` of a Slurm host list into buf; 0 when there is one. */
static int nth_host(const char *list, uint32_t index, char *buf, size_t len)
{
	hostlist_t hosts = slurm_hostlist_create(list);
	char *name = NULL;
	int rc = -1;

	for (uint32_t i = 0; hosts != NULL && i <= index; i++) {
		free(name);
		name = slurm_hostlist_shift(hosts);
	}
	if (hosts != NULL)
		slurm_hostlist_destroy(hosts);
	if (name != NULL && strlen(name) < len) {
		strcpy(buf, name);
		rc = 0;
	}
	free(name);
	return rc;
}

/* In a heterogeneous job every component has its own job id (S_JOB_ID), but slurmstepd gets srun's environment,
 * whose SLURM_STEP_NODELIST spans every component of a het step while S_JOB_NODEID counts within this component:
 * the component's own node list is SLURM_JOB_NODELIST_HET_GROUP_<k> for the k whose SLURM_JOB_ID_HET_GROUP_<k> is
 * this job id. Returns 0 and that list only when the step spans more nodes than the component (a het step). */
static int het_component_nodelist(spank_t sp, const char *step_list, char *list, size_t len)
{
	uint32_t job_id = 0;
	char name[64], value[32];

	if (spank_get_item(sp, S_JOB_ID, &job_id) != ESPANK_SUCCESS)
		return -1;
	for (int k = 0; k < 1024; k++) {
		snprintf(name, sizeof(name), "SLURM_JOB_ID_HET_GROUP_%d", k);
		if (spank_getenv(sp, name, value, sizeof(value)) != ESPANK_SUCCESS)
			return -1;
		if (strtoul(value, NULL, 10) != job_id)
			continue;
		snprintf(name, sizeof(name), "SLURM_JOB_NODELIST_HET_GROUP_%d", k);
		if (spank_getenv(sp, name, list, len) != ESPANK_SUCCESS)
			return -1;
		hostlist_t step = slurm_hostlist_create(step_list), component = slurm_hostlist_create(list);
		int wider = step != NULL && component != NULL && slurm_hostlist_count(step) > slurm_hostlist_count(component);
		if (step != NULL)
			slurm_hostlist_destroy(step);
		if (component != NULL)
			slurm_hostlist_destroy(component);
		return wider ? 0 : -1;
	}
	return -1;
}

/* This node's Slurm name. SLURMD_NODENAME is not in the environment yet at this point, so: the host's short name when
 * it is one of the step's nodes (one slurmd per host, node named after the host: right for every step, het steps
 * included); otherwise entry S_JOB_NODEID of the step's node list (the batch step runs on node 0 of the job's), of
 * this component's own list in a heterogeneous step. The host name is not the node name when several slurmd share a
 * host or NodeName differs from it. Left wrong there: a het step of a non-het job, whose components share job id,
 * step id, node index 0 and environment (docs/slurm.md). */
static void node_name(spank_t sp, char *buf, size_t len)
{
	char list[8192], component[8192], host[256];
	uint32_t node_id = 0;
	int have_list = spank_getenv(sp, "SLURM_STEP_NODELIST", list, sizeof(list)) == ESPANK_SUCCESS ||
			spank_getenv(sp, "SLURM_JOB_NODELIST", list, sizeof(list)) == ESPANK_SUCCESS;

	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		host[strcspn(host, ".")] = '\0';
		hostlist_t hosts = have_list ? slurm_hostlist_create(list) : NULL;
		int found = hosts != NULL && host[0] != '\0' && slurm_hostlist_find(hosts, host) >= 0;
		if (hosts != NULL)
			slurm_hostlist_destroy(hosts);
		if (found && strlen(host) < len) {
			strcpy(buf, host);
			return;
		}
	}
	if (have_list && spank_get_item(sp, S_JOB_NODEID, &node_id) == ESPANK_SUCCESS) {
		const char *from = het_component_nodelist(sp, list, component, sizeof(component)) == 0 ? component : list;
		if (nth_host(from, node_id, buf, len) == 0)
			return;
	}
	if (gethostname(buf, len) != 0)
		snprintf(buf, len, "localhost");
	buf[len - 1] = '\0';
	buf[strcspn(buf, ".")] = '\0';
}

/* The agent socket path for this node (%n replaced), or 0 when the plugin is told not to use the agent. */
static int agent_socket(char *buf, size_t len)
{
	const char *pattern = placement.args.agent_socket;
	size_t used = 0;

	if (strcmp(pattern, "none") == 0)
		return 0;
	for (const char *c = pattern; *c != '\0'; c++) {
		const char *piece = c[0] == '%' && c[1] == 'n' ? placement.node : NULL;
		size_t n = piece != NULL ? strlen(piece) : 1;
		if (used + n + 1 > len)
			return 0;
		if (piece != NULL) {
			memcpy(buf + used, piece, n);
			c++;
		} else {
			buf[used] = *c;
		}
		used += n;
	}
	buf[used] = '\0';
	return 1;
}

/* Asks the node agent to ensure and lease the image (a hit is one local round trip, no runtime start in
 * slurmstepd). Returns 0 with the outputs filled, a Placement exit code with err set when the agent
 * answered with a failure, or -1 when there is no agent to ask (the caller then does the work itself). */
static int agent_ensure(const char *image, char *canonical, size_t canonical_len, char *id, size_t id_len,
			char *digest, size_t digest_len, char *path, size_t path_len, char *err, size_t err_len)
{
	char socket_path[256], request[PLACEMENT_REF_MAX + 512], uid[16];
	/* as long as the protocol allows: a long error answered by the agent is its answer, not one this plugin fails to
	 * understand (which would pull again in slurmstepd, as root). Static: 64 KiB off slurmstepd's stack. */
	static char answer[PLACEMENT_AGENT_LINE_MAX + 2];
	struct placement_agent_field fields[16];
	snprintf(uid, sizeof(uid), "%d", placement.uid);
	/* "uid" last (it may be left out); an agent of a version before "keepAlive" or "uid" ignores them */
	const char *pairs[] = { "op", "ensure", "ref", image, "holder", placement.holder, "keepAlive", "1",
				placement.uid >= 0 ? "uid" : NULL, uid, NULL };

	if (!agent_socket(socket_path, sizeof(socket_path)))
		return -1;
	if (placement_agent_request(request, sizeof(request), pairs) != 0)
		return -1;
	int rc = placement_agent_call(socket_path, request, answer, sizeof(answer), err, err_len, AGENT_ENSURE_TIMEOUT_MS,
				      AGENT_ENSURE_IDLE_MS, AGENT_ENSURE_MAX_MS);
	if (rc == PLACEMENT_AGENT_UNREACHABLE) {
		slurm_verbose("placement: prepare: %s; preparing the image in slurmstepd", err);
		return -1;
	}
	if (rc == PLACEMENT_AGENT_NOT_ROOT) {
		slurm_error("placement: prepare: %s; preparing the image in slurmstepd", err);
		return -1;
	}
	int n = rc == 0 ? placement_agent_parse(answer, fields, 16) : -1;
	const char *code = n >= 0 ? placement_agent_field(fields, n, "exitCode") : NULL;
	if (code == NULL) {
		slurm_error("placement: prepare: the node agent on %s answered something this plugin does not understand "
			    "(are the agent and the plugin the same Placement version?); preparing the image in slurmstepd", socket_path);
		return -1;
	}
	if (strcmp(code, "2") == 0) {
		/* usage: an agent of another Placement version that does not serve this request */
		const char *message = placement_agent_field(fields, n, "error");
		slurm_error("placement: prepare: the node agent on %s refused the request (%s); preparing the image in slurmstepd",
			    socket_path, message != NULL ? message : "no reason given");
		return -1;
	}
	if (strcmp(code, "0") != 0) {
		const char *message = placement_agent_field(fields, n, "error");
		snprintf(err, err_len, "%s", message != NULL ? message : "the node agent failed without a message");
		int exit_code = atoi(code);
		return exit_code > 0 ? exit_code : 1;
	}
	const char *values[] = { placement_agent_field(fields, n, "ref"), placement_agent_field(fields, n, "imageId"),
				 placement_agent_field(fields, n, "digest"), placement_agent_field(fields, n, "path") };
	char *outputs[] = { canonical, id, digest, path };
	size_t lengths[] = { canonical_len, id_len, digest_len, path_len };
	for (int i = 0; i < 4; i++) {
		if (values[i] == NULL || strlen(values[i]) >= lengths[i]) {
			slurm_error("placement: prepare: the node agent on %s left out a field of its answer; preparing the image in slurmstepd", socket_path);
			return -1;
		}
		strcpy(outputs[i], values[i]);
	}
	return 0;
}

/* Drops the step's lease through the agent; -1 when there is no agent to ask. */
static int agent_release(char *err, size_t err_len)
{
	char socket_path[256], request[512];
	static char answer[PLACEMENT_AGENT_LINE_MAX + 2];
	struct placement_agent_field fields[8];
	const char *pairs[] = { "op", "release", "holder", placement.holder, NULL };

	if (!agent_socket(socket_path, sizeof(socket_path)) || placement_agent_request(request, sizeof(request), pairs) != 0 ||
	    placement_agent_call(socket_path, request, answer, sizeof(answer), err, err_len, AGENT_RELEASE_TIMEOUT_MS, 0, 0) != 0)
		return -1;
	int n = placement_agent_parse(answer, fields, 8);
	const char *code = n >= 0 ? placement_agent_field(fields, n, "exitCode") : NULL;
	return code != NULL && strcmp(code, "0") == 0 ? 0 : -1;
}

static void fail(const char *fmt, const char *detail)
{
	placement.failed = 1;
	snprintf(placement.error, sizeof(placement.error), fmt, detail);
	slurm_error("placement: prepare: %s", placement.error);
}

int placement_remote_post_opt(spank_t sp)
{
	char canonical[PLACEMENT_REF_MAX], id[PLACEMENT_ID_MAX], digest[128], path[PLACEMENT_REF_MAX], err[PLACEMENT_ERR_MAX];
	uint32_t job_id = 0, step_id = 0;
	const char *image = placement.image;
	const char *config = placement.args.config[0] ? placement.args.config : NULL;

	/* The extern step (PrologFlags=contain, also implied by job_container/tmpfs and X11 forwarding) runs during the
	 * prolog on every node of every job, without the job's options and never a task of the user's: with
	 * default_image= it would pull and lease the default image for every job, even jobs that name another image. */
	if (spank_get_item(sp, S_JOB_STEPID, &step_id) == ESPANK_SUCCESS && step_id == SLURM_EXTERN_CONT)
		return 0;
	if (!placement.image_given) {
		if (step_has_gpus(sp) && placement.args.default_gpu_image[0] != '\0')
			image = placement.args.default_gpu_image;
		else if (placement.args.default_image[0] != '\0')
			image = placement.args.default_image;
		else
			return 0;
	}

	node_name(sp, placement.node, sizeof(placement.node));
	if (spank_get_item(sp, S_JOB_ID, &job_id) != ESPANK_SUCCESS || spank_get_item(sp, S_JOB_STEPID, &step_id) != ESPANK_SUCCESS) {
		fail("%s", "cannot read the job and step id from Slurm");
		return 0;
	}
	snprintf(placement.holder, sizeof(placement.holder), "slurm-%u.%u", job_id, step_id);
	uid_t job_uid;
	placement.uid = spank_get_item(sp, S_JOB_UID, &job_uid) == ESPANK_SUCCESS ? (int)job_uid : -1;

	err[0] = '\0';
	int rc = agent_ensure(image, canonical, sizeof(canonical), id, sizeof(id), digest, sizeof(digest), path, sizeof(path), err, sizeof(err));
	if (rc == -1)
		rc = placement_ensure(config, placement.node, image, placement.holder, placement.uid,
				      canonical, sizeof(canonical), id, sizeof(id), digest, sizeof(digest),
				      path, sizeof(path), err, sizeof(err));
	if (rc != 0) {
		placement.holder[0] = '\0';
		fail("%s", err);
		return 0;
	}
	if (spank_setenv(sp, "PLACEMENT_IMAGE", canonical, 1) != ESPANK_SUCCESS ||
	    spank_setenv(sp, "PLACEMENT_IMAGE_ID", id, 1) != ESPANK_SUCCESS ||
	    spank_setenv(sp, "PLACEMENT_IMAGE_DIGEST", digest, 1) != ESPANK_SUCCESS ||
	    spank_setenv(sp, "PLACEMENT_IMAGE_PATH", path, 1) != ESPANK_SUCCESS) {
		fail("%s", "cannot set PLACEMENT_IMAGE* in the job environment (spank_setenv failed)");
		return 0;
	}
	slurm_verbose("placement: prepare: %s (%s) at %s for %s", canonical, digest, path, placement.holder);
	return 0;
}

int placement_remote_exit(spank_t sp)
{
	char err[PLACEMENT_ERR_MAX];
	(void)sp;

	if (placement.holder[0] == '\0')
		return 0;
	if (agent_release(err, sizeof(err)) != 0 && placement_release(placement.args.config[0] ? placement.args.config : NULL, placement.node, placement.holder, err, sizeof(err)) != 0)
		slurm_error("placement: release: %s (the lease expires by itself)", err);
	placement.holder[0] = '\0';
	return 0;
}

/* follow=PLUGIN[:OPTION], in user_init (spank_option_getopt works from there on, not in init_post_opt): a step that
 * gave the followed plugin's option runs in that plugin's image, so the default image prepared in init_post_opt
 * is not this step's: drop its PLACEMENT_IMAGE* variables and any failure preparing it, and mark the step followed.
 * Its lease is left to slurm_spank_exit: user_init runs with slurmstepd's effective uid the job user's (Slurm drops it
 * before spank_user), and the agent takes a named lease holder from root only (SO_PEERCRED is the effective uid), so
 * a release here would be refused and fall back to the .NET core in slurmstepd, which cannot remove root's lease
 * files either. slurm_spank_exit runs as root and releases it through the agent. */
int placement_remote_followed(spank_t sp)
{
	struct spank_option followed = { .name = placement.args.follow_option, .arginfo = "REF", .usage = "", .has_arg = 1 };
	char *value = NULL, env[PLACEMENT_REF_MAX];
	static const char *vars[] = { "PLACEMENT_IMAGE", "PLACEMENT_IMAGE_ID", "PLACEMENT_IMAGE_DIGEST", "PLACEMENT_IMAGE_PATH", NULL };

	if (placement.args.follow_plugin[0] == '\0' || placement.image_given)
		return 0;
	int given = spank_option_getopt(sp, &followed, &value) == ESPANK_SUCCESS && value != NULL && value[0] != '\0';
	if (!given && strcmp(placement.args.follow_plugin, "pyxis") == 0 && strcmp(placement.args.follow_option, "container-image") == 0)
		given = spank_getenv(sp, "PYXIS_CONTAINER_IMAGE", env, sizeof(env)) == ESPANK_SUCCESS && env[0] != '\0';
	if (!given)
		return 0;
	if (placement.holder[0] != '\0' || placement.failed)
		slurm_verbose("placement: prepare: the step gives --%s (%s): the default image is not used", placement.args.follow_option, placement.args.follow_plugin);
	placement.followed = 1;
	for (int i = 0; vars[i] != NULL; i++)
		spank_unsetenv(sp, vars[i]);
	placement.failed = 0;
	placement.error[0] = '\0';
	return 1;
}
