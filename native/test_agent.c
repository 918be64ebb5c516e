/* Unit test of the agent protocol's C side (native/agent.c): `make -C native check`. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

static int failures;

#define EXPECT(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static void parses(const char *json, const char *key, const char *want)
{
	char buf[1024];
	struct placement_agent_field f[16];
	snprintf(buf, sizeof(buf), "%s", json);
	int n = placement_agent_parse(buf, f, 16);
	EXPECT(n >= 0, "%s: not parsed", json);
	if (n < 0)
		return;
	const char *got = placement_agent_field(f, n, key);
	EXPECT(got != NULL && strcmp(got, want) == 0, "%s: %s = '%s', want '%s'", json, key, got ? got : "(missing)", want);
}

static void rejects(const char *json)
{
	char buf[1024];
	struct placement_agent_field f[4];
	snprintf(buf, sizeof(buf), "%s", json);
	EXPECT(placement_agent_parse(buf, f, 4) < 0, "%s: accepted", json);
}

/* A fake agent in a child: accepts one connection, reads the request, sends `beats` spaces `every_ms` apart, then
 * `answer` (if any) and closes. */
static pid_t keepalive_agent(int *listener, const struct sockaddr_un *addr, int beats, int every_ms, const char *answer)
{
	/* a new listener each time: an earlier call's connection left in the backlog is not this call's */
	close(*listener);
	unlink(addr->sun_path);
	*listener = socket(AF_UNIX, SOCK_STREAM, 0);
	if (*listener < 0 || bind(*listener, (const struct sockaddr *)addr, sizeof(*addr)) != 0 || listen(*listener, 8) != 0) {
		failures++;
		fprintf(stderr, "FAIL: cannot listen on %s: %s\n", addr->sun_path, strerror(errno));
	}
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int fd = accept(*listener, NULL, NULL);
	char buf[512];
	while (fd >= 0 && recv(fd, buf, sizeof(buf), 0) > 0) {
	}
	for (int i = 0; fd >= 0 && i < beats; i++) {
		if (i > 0)
			usleep((useconds_t)every_ms * 1000);
		if (send(fd, " ", 1, MSG_NOSIGNAL) != 1)
			_exit(1);
	}
	if (fd >= 0 && answer != NULL) {
		usleep((useconds_t)every_ms * 1000);
		send(fd, answer, strlen(answer), MSG_NOSIGNAL);
	}
	if (fd >= 0 && answer == NULL)
		usleep((useconds_t)every_ms * 1000);
	_exit(0);
}

/* A stand-in "agent" of another user: binds as root, switches to uid/gid 65534 (nobody) and then listens, so
 * SO_PEERCRED shows nobody (the kernel takes the listener's credentials at listen()). It answers like an agent; it
 * exits 3 if it was sent any request, 0 if not. Tells the parent through a pipe once it listens. */
static pid_t nobody_agent(int *listener, const struct sockaddr_un *addr)
{
	int ready[2];
	close(*listener);
	unlink(addr->sun_path);
	if (pipe(ready) != 0)
		return -1;
	pid_t pid = fork();
	if (pid != 0) {
		char c = 0;
		close(ready[1]);
		*listener = -1;
		if (read(ready[0], &c, 1) != 1 || c != 'y')
			pid = -1;
		close(ready[0]);
		return pid;
	}
	close(ready[0]);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 || setgroups(0, NULL) != 0 ||
	    setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0 || listen(fd, 8) != 0)
		_exit(2);
	if (write(ready[1], "y", 1) != 1)
		_exit(2);
	int conn = accept(fd, NULL, NULL);
	char buf[512];
	ssize_t got = conn >= 0 ? recv(conn, buf, sizeof(buf), 0) : -1;
	send(conn, "{\"exitCode\":0,\"path\":\"/tmp/mine.sqsh\"}\n", 39, MSG_NOSIGNAL);
	_exit(got > 0 ? 3 : 0);
}

/* placement_agent_call, timed: *ms is how long it took. */
static int timed_call(const char *path, const char *req, char *answer, size_t len, char *err, size_t err_len, int timeout_ms,
		      int idle_ms, int max_ms, long *ms)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = placement_agent_call(path, req, answer, len, err, err_len, timeout_ms, idle_ms, max_ms);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	return rc;
}

/* Ends the fake agent in the child. */
static void reap(pid_t child)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

int main(void)
{
	placement_agent_uid = (unsigned int)getuid();  /* the stand-in agents run as this test's user (root, normally) */
	parses("{\"exitCode\":0,\"path\":\"/c/images/ab/image.sqsh\",\"hit\":true}\n", "path", "/c/images/ab/image.sqsh");
	parses("{\"exitCode\":0,\"path\":\"/x\",\"hit\":true}", "exitCode", "0");
	parses("{\"exitCode\":0,\"path\":\"/x\",\"hit\":true}", "hit", "true");
	parses("{ \"exitCode\" : 5 , \"error\" : \"a \\\"quoted\\\" \\\\ thing\" }", "error", "a \"quoted\" \\ thing");
	parses("{\"error\":\"line\\nbreak\\ttab\"}", "error", "line\nbreak\ttab");
	parses("{\"error\":\"ellipsis \\u2026 and \\u00e9\"}", "error", "ellipsis \xe2\x80\xa6 and \xc3\xa9");
	parses("{\"error\":\"emoji \\ud83d\\ude00\"}", "error", "emoji \xf0\x9f\x98\x80");
	parses("{\"error\":\"\\\"path\\\":\\\"/evil\\\"\",\"path\":\"/good\"}", "path", "/good");
	parses("{\"a\":null,\"b\":\"x\"}", "b", "x");
	parses("{\"a\":-12}", "a", "-12");
	rejects("");
	rejects("[]");
	rejects("{\"a\":{\"b\":1}}");
	rejects("{\"a\":[1,2]}");
	rejects("{\"a\":\"unterminated}");
	rejects("{\"a\" \"b\"}");
	rejects("{\"a\":\"b\"");
	rejects("{\"a\":\"\\q\"}");
	rejects("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}"); /* more fields than room */
	rejects("{\"path\":\"/c/images/ab\\u0000/../x\"}"); /* NUL would cut the value short in C */
	rejects("{\"p\\u0000ath\":\"/x\"}");

	char req[256];
	const char *pairs[] = { "op", "ensure", "ref", "a\"b\\c\n", NULL };
	EXPECT(placement_agent_request(req, sizeof(req), pairs) == 0, "request not written");
	EXPECT(strcmp(req, "{\"op\":\"ensure\",\"ref\":\"a\\\"b\\\\c\\u000a\"}\n") == 0, "request is %s", req);
	char tiny[8];
	EXPECT(placement_agent_request(tiny, sizeof(tiny), pairs) != 0, "a request larger than the buffer was written");

	char answer[64], err[256];
	EXPECT(placement_agent_call("/nonexistent/agent.sock", req, answer, sizeof(answer), err, sizeof(err), 1000, 0, 0) == PLACEMENT_AGENT_UNREACHABLE,
	       "a missing socket is not 'unreachable'");
	EXPECT(strstr(err, "/nonexistent/agent.sock") != NULL, "the error does not name the socket: %s", err);

	/* an agent that accepts connections (here: its backlog does) but never answers */
	char dir[] = "/tmp/placement-test-agent-XXXXXX";
	EXPECT(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/agent.sock", dir);
	int listener = socket(AF_UNIX, SOCK_STREAM, 0);
	EXPECT(listener >= 0 && bind(listener, (struct sockaddr *)&addr, sizeof(addr)) == 0 && listen(listener, 8) == 0,
	       "cannot listen on %s: %s", addr.sun_path, strerror(errno));
	long ms;
	int rc = timed_call(addr.sun_path, req, answer, sizeof(answer), err, sizeof(err), 300, 0, 0, &ms);
	EXPECT(rc == PLACEMENT_AGENT_UNREACHABLE, "a silent agent is not 'unreachable' (rc %d)", rc);
	EXPECT(ms >= 250 && ms < 3000, "waited %ld ms for a silent agent, want about 300", ms);
	EXPECT(strstr(err, "did not answer") != NULL, "the error does not say the agent did not answer: %s", err);

	/* an agent that sends keep-alives (spaces, every 100 ms) for longer than timeout_ms, then answers: waited for,
	 * and the spaces are not part of the answer (margins for a loaded machine: 1 s to the first, 2 s between) */
	pid_t child = keepalive_agent(&listener, &addr, 20, 100, "{\"exitCode\":0}\n");
	rc = timed_call(addr.sun_path, req, answer, sizeof(answer), err, sizeof(err), 1000, 2000, 60000, &ms);
	EXPECT(rc == 0, "an agent sending keep-alives was given up after %ld ms (rc %d): %s", ms, rc, err);
	EXPECT(rc != 0 || strcmp(answer, "{\"exitCode\":0}\n") == 0, "answer after keep-alives is '%s'", answer);
	EXPECT(rc != 0 || ms >= 1900, "answered after %ld ms, before the agent sent its answer", ms);
	waitpid(child, NULL, 0);

	/* the same agent without idle_ms (a release): the usual total timeout */
	child = keepalive_agent(&listener, &addr, 20, 100, "{\"exitCode\":0}\n");
	rc = placement_agent_call(addr.sun_path, req, answer, sizeof(answer), err, sizeof(err), 300, 0, 0);
	EXPECT(rc == PLACEMENT_AGENT_UNREACHABLE, "without idle_ms, keep-alives extended the wait (rc %d)", rc);
	reap(child);

	/* an agent that sent one keep-alive and then went silent: given up idle_ms after it, with a clear error */
	child = keepalive_agent(&listener, &addr, 1, 5000, NULL);
	rc = timed_call(addr.sun_path, req, answer, sizeof(answer), err, sizeof(err), 10000, 300, 60000, &ms);
	EXPECT(rc == PLACEMENT_AGENT_UNREACHABLE, "an agent silent after its keep-alive is not 'unreachable' (rc %d)", rc);
	EXPECT(ms >= 250 && ms < 3000, "waited %ld ms for an agent silent after a keep-alive, want about 300", ms);
	EXPECT(strstr(err, "no keep-alive") != NULL, "the error does not say the keep-alives stopped: %s", err);
	reap(child);

	/* an agent that keeps sending keep-alives but never answers: given up after max_ms in all */
	child = keepalive_agent(&listener, &addr, 100, 100, NULL);
	rc = timed_call(addr.sun_path, req, answer, sizeof(answer), err, sizeof(err), 1000, 2000, 2500, &ms);
	EXPECT(rc == PLACEMENT_AGENT_UNREACHABLE, "an agent that only keeps alive was waited for (rc %d)", rc);
	EXPECT(ms >= 2400 && ms < 6000, "waited %ld ms for an agent that only keeps alive, want about 2500", ms);
	EXPECT(strstr(err, "gave no answer within") != NULL, "the error does not say there was no answer: %s", err);
	reap(child);

	/* a listener of another uid than the agent's is not the agent: it gets no request and its answer is not read */
	if (getuid() == 0) {
		child = nobody_agent(&listener, &addr);
		EXPECT(child > 0, "the stand-in agent of uid 65534 did not start");
		if (child > 0) {
			placement_agent_uid = 0;
			rc = placement_agent_call(addr.sun_path, req, answer, sizeof(answer), err, sizeof(err), 2000, 0, 0);
			EXPECT(rc == PLACEMENT_AGENT_NOT_ROOT, "an agent of uid 65534 was asked (rc %d): %s", rc, err);
			EXPECT(strstr(err, "uid 65534") != NULL && strstr(err, "not as root") != NULL && strstr(err, addr.sun_path) != NULL,
			       "the error does not name the socket and the uid: %s", err);
			int status = 0;
			waitpid(child, &status, 0);
			EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the stand-in of uid 65534 was sent a request (status %#x)", status);
		}
	} else {
		printf("agent protocol: not root: the check against an agent of another uid runs with the uid parameter only\n");
	}
	/* the same through the parameter: a listener of this test's uid when the agent's is another */
	placement_agent_uid = (unsigned int)getuid() + 1;
	child = keepalive_agent(&listener, &addr, 0, 10, "{\"exitCode\":0}\n");
	rc = placement_agent_call(addr.sun_path, req, answer, sizeof(answer), err, sizeof(err), 2000, 0, 0);
	EXPECT(rc == PLACEMENT_AGENT_NOT_ROOT, "a listener of another uid than the agent's was asked (rc %d): %s", rc, err);
	reap(child);
	placement_agent_uid = (unsigned int)getuid();

	if (listener >= 0)
		close(listener);
	unlink(addr.sun_path);
	rmdir(dir);

	if (failures == 0)
		printf("agent protocol: all checks passed\n");
	return failures == 0 ? 0 : 1;
}
