/* Unit test of what slurmstepd makes of the node agent's answers (native/remote.c: the socket path's %n, and
 * agent_ensure/agent_release reading an answer into fixed buffers), with hostile answers from a stand-in agent:
 * `make -C native check`. remote.c is included for its static functions; Slurm's functions are stubs here. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "remote.c"

struct placement_state placement;

/* --- stubs of what slurmstepd and libslurm provide --- */
void slurm_verbose(const char *format, ...) { (void)format; }
void slurm_error(const char *format, ...) { (void)format; }
spank_err_t spank_get_item(spank_t spank, spank_item_t item, ...) { (void)spank, (void)item; return ESPANK_ERROR; }
spank_err_t spank_getenv(spank_t spank, const char *var, char *buf, int len) { (void)spank, (void)var, (void)buf, (void)len; return ESPANK_ERROR; }
spank_err_t spank_setenv(spank_t spank, const char *var, const char *val, int overwrite) { (void)spank, (void)var, (void)val, (void)overwrite; return ESPANK_ERROR; }
static int unsets;          /* spank_unsetenv calls */
static char *followed_value; /* what spank_option_getopt gives (the followed plugin's option), NULL: not given */
spank_err_t spank_unsetenv(spank_t spank, const char *var) { (void)spank, (void)var; unsets++; return ESPANK_SUCCESS; }
spank_err_t spank_option_getopt(spank_t spank, struct spank_option *opt, char **optarg)
{
	(void)spank, (void)opt;
	if (followed_value == NULL)
		return ESPANK_ERROR;
	*optarg = followed_value;
	return ESPANK_SUCCESS;
}
hostlist_t slurm_hostlist_create(const char *hostlist) { (void)hostlist; return NULL; }
int slurm_hostlist_count(hostlist_t hl) { (void)hl; return 0; }
void slurm_hostlist_destroy(hostlist_t hl) { (void)hl; }
int slurm_hostlist_find(hostlist_t hl, const char *hostname) { (void)hl, (void)hostname; return -1; }
char *slurm_hostlist_shift(hostlist_t hl) { (void)hl; return NULL; }
int placement_ensure(const char *config_path, const char *node, const char *reference, const char *holder, int uid, char *canonical,
		     size_t canonical_len, char *id, size_t id_len, char *digest, size_t digest_len, char *path, size_t path_len,
		     char *err, size_t err_len)
{
	(void)config_path, (void)node, (void)reference, (void)holder, (void)uid, (void)canonical, (void)canonical_len, (void)id, (void)id_len;
	(void)digest, (void)digest_len, (void)path, (void)path_len;
	snprintf(err, err_len, "stub");
	return 1;
}
static int core_releases;  /* placement_release calls: the .NET core loaded into slurmstepd */
int placement_release(const char *config_path, const char *node, const char *holder, char *err, size_t err_len)
{
	(void)config_path, (void)node, (void)holder;
	core_releases++;
	snprintf(err, err_len, "stub");
	return 1;
}

static int failures;

#define EXPECT(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static char dir[] = "/tmp/placement-test-remote-XXXXXX";
static char sock[108];

/* A stand-in agent: accepts one connection, reads the request to its end, writes answer (len bytes), and exits.
 * Returns its pid. */
static pid_t agent_answering(const char *answer, size_t len)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock);
	unlink(sock);
	int listener = socket(AF_UNIX, SOCK_STREAM, 0);
	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(listener, 1) != 0) {
		fprintf(stderr, "cannot listen on %s: %s\n", sock, strerror(errno));
		exit(2);
	}
	pid_t pid = fork();
	if (pid == 0) {
		int fd = accept(listener, NULL, NULL);
		char buf[4096], rest[512], path[160];
		size_t got = 0;
		ssize_t r;
		/* the first 4 KiB kept, the rest read to the end and dropped */
		while ((r = got < sizeof(buf) ? read(fd, buf + got, sizeof(buf) - got) : read(fd, rest, sizeof(rest))) > 0) {
			if (got < sizeof(buf))
				got += (size_t)r;
		}
		/* the request, for the parent to check */
		snprintf(path, sizeof(path), "%s/request", dir);
		FILE *f = fopen(path, "w");
		if (f != NULL) {
			fwrite(buf, 1, got, f);
			fclose(f);
		}
		for (size_t sent = 0; sent < len;) {
			ssize_t n = write(fd, answer + sent, len - sent);
			if (n <= 0)
				break;
			sent += (size_t)n;
		}
		_exit(0);
	}
	close(listener);
	return pid;
}

struct outputs {
	char canonical[PLACEMENT_REF_MAX], id[PLACEMENT_ID_MAX], digest[128], path[PLACEMENT_REF_MAX], err[PLACEMENT_ERR_MAX];
};

static int ensure_with(const char *answer, size_t len, struct outputs *o)
{
	memset(o, 0, sizeof(*o));
	pid_t agent = agent_answering(answer, len);
	int rc = agent_ensure("ubuntu:22.04", o->canonical, sizeof(o->canonical), o->id, sizeof(o->id), o->digest, sizeof(o->digest),
			      o->path, sizeof(o->path), o->err, sizeof(o->err));
	kill(agent, SIGKILL);
	waitpid(agent, NULL, 0);
	return rc;
}

static int ensure_answer(const char *answer, struct outputs *o)
{
	return ensure_with(answer, strlen(answer), o);
}

/* {"exitCode":0,"ref":"r","imageId":ID,"digest":"sha256:d","path":PATH} with a field of n characters c */
static char *answer_with(const char *key, char c, size_t n)
{
	char *value = malloc(n + 1);
	memset(value, c, n);
	value[n] = '\0';
	char *s = NULL;
	if (asprintf(&s, "{\"exitCode\":0,\"ref\":\"%s\",\"imageId\":\"%s\",\"digest\":\"%s\",\"path\":\"%s\"}\n",
		     strcmp(key, "ref") == 0 ? value : "docker://r", strcmp(key, "imageId") == 0 ? value : "img_1",
		     strcmp(key, "digest") == 0 ? value : "sha256:d", strcmp(key, "path") == 0 ? value : "/c/image.sqsh") < 0)
		exit(2);
	free(value);
	return s;
}

static void socket_path_pattern(void)
{
	char *buf;
	snprintf(placement.args.agent_socket, sizeof(placement.args.agent_socket), "/run/%%n/agent-%%n.sock%%");
	snprintf(placement.node, sizeof(placement.node), "node7");
	buf = malloc(256);
	EXPECT(agent_socket(buf, 256) == 1 && strcmp(buf, "/run/node7/agent-node7.sock%") == 0, "expanded to '%s'", buf);
	free(buf);
	/* exactly full, and one byte short: never written past */
	size_t want = strlen("/run/node7/agent-node7.sock%") + 1;
	buf = malloc(want);
	EXPECT(agent_socket(buf, want) == 1, "a buffer of exactly the path's size refused");
	free(buf);
	buf = malloc(want - 1);
	EXPECT(agent_socket(buf, want - 1) == 0, "a path longer than the buffer accepted");
	free(buf);
	/* a node name of 255 characters, three times */
	memset(placement.node, 'n', sizeof(placement.node) - 1);
	placement.node[sizeof(placement.node) - 1] = '\0';
	snprintf(placement.args.agent_socket, sizeof(placement.args.agent_socket), "/%%n/%%n/%%n");
	buf = malloc(256);
	EXPECT(agent_socket(buf, 256) == 0, "a socket path of 3 x 255 characters accepted");
	free(buf);
	snprintf(placement.args.agent_socket, sizeof(placement.args.agent_socket), "none");
	EXPECT(agent_socket(NULL, 0) == 0, "none asks the agent");
}

static void answers(void)
{
	struct outputs o;
	char *a;

	snprintf(placement.args.agent_socket, sizeof(placement.args.agent_socket), "%s", sock);
	snprintf(placement.node, sizeof(placement.node), "node1");
	snprintf(placement.holder, sizeof(placement.holder), "slurm-1.0");

	EXPECT(ensure_answer("{\"exitCode\":0,\"ref\":\"docker://r\",\"imageId\":\"img_1\",\"digest\":\"sha256:d\",\"path\":\"/c/i.sqsh\",\"hit\":true}\n", &o) == 0 &&
	       strcmp(o.canonical, "docker://r") == 0 && strcmp(o.id, "img_1") == 0 && strcmp(o.digest, "sha256:d") == 0 &&
	       strcmp(o.path, "/c/i.sqsh") == 0, "a good answer not taken: %s", o.err);

	/* the request asks for keep-alives (so a long pull is waited out), and keep-alives before the answer are dropped */
	EXPECT(ensure_answer("   {\"exitCode\":0,\"ref\":\"docker://r\",\"imageId\":\"img_1\",\"digest\":\"sha256:d\",\"path\":\"/c/i.sqsh\"}\n", &o) == 0 &&
	       strcmp(o.path, "/c/i.sqsh") == 0, "an answer after keep-alives not taken: %s", o.err);
	char request[4096] = "", request_path[160];
	snprintf(request_path, sizeof(request_path), "%s/request", dir);
	FILE *f = fopen(request_path, "r");
	if (f != NULL) {
		request[fread(request, 1, sizeof(request) - 1, f)] = '\0';
		fclose(f);
		unlink(request_path);
	}
	EXPECT(strstr(request, "\"op\":\"ensure\"") != NULL && strstr(request, "\"keepAlive\":\"1\"") != NULL,
	       "the ensure request does not ask for keep-alives: %s", request);

	/* every output at its largest, and one past it: the agent's answer is not trusted with the buffers' sizes */
	static const struct { const char *key; size_t max; } outputs[] = {
		{ "ref", PLACEMENT_REF_MAX - 1 }, { "imageId", PLACEMENT_ID_MAX - 1 }, { "digest", 127 }, { "path", PLACEMENT_REF_MAX - 1 } };
	for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
		a = answer_with(outputs[i].key, 'v', outputs[i].max);
		EXPECT(ensure_answer(a, &o) == 0, "%s of %zu characters refused", outputs[i].key, outputs[i].max);
		free(a);
		a = answer_with(outputs[i].key, 'v', outputs[i].max + 1);
		EXPECT(ensure_answer(a, &o) == -1, "%s of %zu characters taken", outputs[i].key, outputs[i].max + 1);
		free(a);
	}
	/* a field longer than the answer buffer, without a newline: prepared locally */
	a = answer_with("path", 'p', 3 * PLACEMENT_REF_MAX);
	EXPECT(ensure_with(a, strlen(a) - 1, &o) == -1, "an answer longer than the buffer taken");
	free(a);

	/* failures: the agent's message, cut to the error buffer */
	EXPECT(ensure_answer("{\"exitCode\":3,\"error\":\"bad reference\"}\n", &o) == 3 && strcmp(o.err, "bad reference") == 0,
	       "a failure not reported: '%s'", o.err);
	EXPECT(ensure_answer("{\"exitCode\":99999999999999999999999,\"error\":\"x\"}\n", &o) > 0, "a huge exit code is not a failure");
	EXPECT(ensure_answer("{\"exitCode\":-7,\"error\":\"x\"}\n", &o) > 0, "a negative exit code is not a failure");
	EXPECT(ensure_answer("{\"exitCode\":\"\",\"error\":\"x\"}\n", &o) > 0, "an empty exit code is not a failure");
	EXPECT(ensure_answer("{\"exitCode\":5}\n", &o) == 5 && o.err[0] != '\0', "a failure without a message has none");
	a = malloc(3 * PLACEMENT_ERR_MAX);
	int n = snprintf(a, 3 * PLACEMENT_ERR_MAX, "{\"exitCode\":3,\"error\":\"");
	memset(a + n, 'e', 2 * PLACEMENT_ERR_MAX);
	strcpy(a + n + 2 * PLACEMENT_ERR_MAX, "\"}\n");
	EXPECT(ensure_answer(a, &o) == 3 && strlen(o.err) == sizeof(o.err) - 1, "a long message not cut to the buffer (%zu)", strlen(o.err));
	free(a);

	/* a failure answer as long as the protocol allows (64 KiB, SocketLines.MaxBytes) is the agent's answer, not one
	 * this plugin fails to read (which would repeat the pull in slurmstepd); one byte more is not understood */
	for (int extra = 0; extra < 2; extra++) {
		size_t line = PLACEMENT_AGENT_LINE_MAX + (size_t)extra;
		a = malloc(line + 2);
		n = snprintf(a, line + 2, "{\"exitCode\":6,\"error\":\"");
		memset(a + n, 'e', line - (size_t)n - 2);
		memcpy(a + line - 2, "\"}\n", 4);
		int long_rc = ensure_with(a, line + 1, &o);
		if (extra == 0)
			EXPECT(long_rc == 6 && strlen(o.err) == sizeof(o.err) - 1, "a %zu-byte failure answer not taken (rc %d)", line, long_rc);
		else
			EXPECT(long_rc == -1, "a %zu-byte answer, past the protocol's limit, taken (rc %d)", line, long_rc);
		free(a);
	}

	/* answers this plugin does not understand: prepared locally (-1), never half taken */
	EXPECT(ensure_answer("{\"exitCode\":2,\"error\":\"unknown op\"}\n", &o) == -1, "usage error not a fallback");
	EXPECT(ensure_answer("{\"ref\":\"docker://r\"}\n", &o) == -1, "no exitCode taken");
	EXPECT(ensure_answer("{\"exitCode\":0,\"ref\":\"docker://r\"}\n", &o) == -1, "missing fields taken");
	EXPECT(ensure_answer("", &o) == -1, "no answer taken");
	EXPECT(ensure_answer("\n", &o) == -1, "an empty line taken");
	EXPECT(ensure_answer("{\"exitCode\":0,\"ref\":\"unterminated\n", &o) == -1, "an unterminated string taken");
	EXPECT(ensure_with("{\"exitCode\":0,\0\"ref\":\"x\"}\n", 26, &o) == -1, "an answer with a NUL byte taken");
	int rc = ensure_answer("{\"exitCode\":0,\"ref\":\"docker://r\\u0000/x\",\"imageId\":\"img_1\",\"digest\":\"sha256:d\",\"path\":\"/c\"}\n", &o);
	EXPECT(rc == -1 || (rc == 0 && strlen(o.canonical) <= strlen("docker://r")), "an escaped NUL: rc %d, '%s'", rc, o.canonical);
	EXPECT(ensure_answer("{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1,\"j\":1,\"k\":1,\"l\":1,\"m\":1,"
			     "\"n\":1,\"o\":1,\"p\":1,\"exitCode\":0}\n", &o) == -1, "more fields than room taken");

	/* release: only exitCode 0 is a release */
	pid_t agent = agent_answering("{\"exitCode\":0}\n", 15);
	char err[64];
	EXPECT(agent_release(err, sizeof(err)) == 0, "a release not taken");
	waitpid(agent, NULL, 0);
	agent = agent_answering("{\"exitCode\":00}", 15);
	EXPECT(agent_release(err, sizeof(err)) == -1, "a release with exitCode 00 taken");
	waitpid(agent, NULL, 0);
}

/* follow=pyxis: a step that gives pyxis's option drops the default image in user_init, where slurmstepd's effective
 * uid is the job user's and the agent would refuse the release (root only): nothing is released there, neither
 * through the agent nor by loading the core; slurm_spank_exit (root) releases the lease through the agent. */
static void followed_step(void)
{
	char request[4096] = "", request_path[160];

	snprintf(placement.args.agent_socket, sizeof(placement.args.agent_socket), "%s", sock);
	snprintf(placement.args.follow_plugin, sizeof(placement.args.follow_plugin), "pyxis");
	snprintf(placement.args.follow_option, sizeof(placement.args.follow_option), "container-image");
	snprintf(placement.holder, sizeof(placement.holder), "slurm-7.0");
	snprintf(request_path, sizeof(request_path), "%s/request", dir);
	unlink(request_path);
	placement.image_given = 0, placement.failed = 1, placement.followed = 0, unsets = 0, core_releases = 0;
	snprintf(placement.error, sizeof(placement.error), "default image failed");
	followed_value = "ubuntu:24.04";
	unlink(sock);  /* no agent listening: a release attempt would fall back to the core */

	EXPECT(placement_remote_followed(NULL) == 1, "a step giving pyxis's option not seen as followed");
	EXPECT(placement.followed == 1, "the followed step not marked");
	EXPECT(strcmp(placement.holder, "slurm-7.0") == 0, "the lease holder dropped in user_init: '%s'", placement.holder);
	EXPECT(core_releases == 0, "user_init loaded the core to release the lease (%d calls)", core_releases);
	EXPECT(unsets == 4, "PLACEMENT_IMAGE* not unset (%d)", unsets);
	EXPECT(placement.failed == 0 && placement.error[0] == '\0', "the default image's failure kept for a followed step");

	/* slurm_spank_exit: the release goes to the agent, once */
	pid_t agent = agent_answering("{\"exitCode\":0}\n", 15);
	placement_remote_exit(NULL);
	kill(agent, SIGKILL);  /* done, if it was asked: it answered before placement_remote_exit returned */
	waitpid(agent, NULL, 0);
	FILE *f = fopen(request_path, "r");
	if (f != NULL) {
		request[fread(request, 1, sizeof(request) - 1, f)] = '\0';
		fclose(f);
		unlink(request_path);
	}
	EXPECT(strstr(request, "\"op\":\"release\"") != NULL && strstr(request, "\"holder\":\"slurm-7.0\"") != NULL,
	       "slurm_spank_exit did not release the lease through the agent: %s", request);
	EXPECT(core_releases == 0 && placement.holder[0] == '\0', "release at exit: core calls %d, holder '%s'", core_releases, placement.holder);

	/* a step not giving the option keeps the default image */
	snprintf(placement.holder, sizeof(placement.holder), "slurm-8.0");
	placement.followed = 0, followed_value = NULL;
	EXPECT(placement_remote_followed(NULL) == 0 && placement.followed == 0 && strcmp(placement.holder, "slurm-8.0") == 0,
	       "a step without the followed option treated as followed");
	placement.holder[0] = '\0', placement.args.follow_plugin[0] = '\0';
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	placement_agent_uid = (unsigned int)getuid();  /* the stand-in agents run as this test's user */
	if (mkdtemp(dir) == NULL)
		return 2;
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	socket_path_pattern();
	answers();
	followed_step();
	unlink(sock);
	snprintf(sock, sizeof(sock), "%s/request", dir);
	unlink(sock);
	rmdir(dir);
	if (failures == 0)
		printf("agent answers in slurmstepd: all checks passed\n");
	return failures == 0 ? 0 : 1;
}
