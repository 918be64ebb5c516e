/* The node agent's Unix socket, from C: slurmstepd asks the running agent (a warm process that owns the
 * cache) to ensure and lease the image, so a cache hit costs one local round trip instead of starting
 * the .NET runtime inside slurmstepd. The protocol (src/Placement.Core/AgentSocket, docs/slurm.md) is
 * one JSON object per line each way; answers are flat objects of strings, numbers and booleans. */
#define _GNU_SOURCE /* struct ucred */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

unsigned int placement_agent_uid = 0;

/* Appends s as a JSON string (quotes included); returns 0, or -1 when out does not have room. */
static int put_string(char *out, size_t len, size_t *used, const char *s)
{
	char buf[8];
	if (*used + 1 >= len)
		return -1;
	out[(*used)++] = '"';
	for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
		const char *piece = buf;
		if (*c == '"')
			piece = "\\\"";
		else if (*c == '\\')
			piece = "\\\\";
		else if (*c < 0x20)
			snprintf(buf, sizeof(buf), "\\u%04x", *c);
		else
			buf[0] = (char)*c, buf[1] = '\0';
		size_t n = strlen(piece);
		if (*used + n + 1 >= len)
			return -1;
		memcpy(out + *used, piece, n);
		*used += n;
	}
	if (*used + 2 >= len)
		return -1;
	out[(*used)++] = '"';
	out[*used] = '\0';
	return 0;
}

int placement_agent_request(char *out, size_t len, const char *const *pairs)
{
	size_t used = 0;
	if (len < 4)
		return -1;
	out[used++] = '{';
	for (int i = 0; pairs[i] != NULL && pairs[i + 1] != NULL; i += 2) {
		if (i > 0)
			out[used++] = ',';
		if (put_string(out, len, &used, pairs[i]) != 0 || used + 2 >= len)
			return -1;
		out[used++] = ':';
		if (put_string(out, len, &used, pairs[i + 1]) != 0 || used + 3 >= len)
			return -1;
	}
	out[used++] = '}';
	out[used++] = '\n';
	out[used] = '\0';
	return 0;
}

static void encode_utf8(uint32_t cp, char **w)
{
	if (cp < 0x80) {
		*(*w)++ = (char)cp;
	} else if (cp < 0x800) {
		*(*w)++ = (char)(0xC0 | (cp >> 6));
		*(*w)++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*(*w)++ = (char)(0xE0 | (cp >> 12));
		*(*w)++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*(*w)++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*(*w)++ = (char)(0xF0 | (cp >> 18));
		*(*w)++ = (char)(0x80 | ((cp >> 12) & 0x3F));
		*(*w)++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*(*w)++ = (char)(0x80 | (cp & 0x3F));
	}
}

static int hex4(const char *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		*v = *v * 16 + (uint32_t)d;
	}
	return 0;
}

/* Decodes the JSON string starting at *p (on its opening quote) in place into dst (which may be *p's
 * buffer: the decoded text is never longer). Leaves *p after the closing quote. */
static int take_string(char **p, char **dst)
{
	char *r = *p + 1, *w = r;
	*dst = w;
	while (*r != '"') {
		if (*r == '\0')
			return -1;
		if (*r != '\\') {
			*w++ = *r++;
			continue;
		}
		r++;
		switch (*r) {
		case '"': case '\\': case '/': *w++ = *r++; break;
		case 'b': *w++ = '\b'; r++; break;
		case 'f': *w++ = '\f'; r++; break;
		case 'n': *w++ = '\n'; r++; break;
		case 'r': *w++ = '\r'; r++; break;
		case 't': *w++ = '\t'; r++; break;
		case 'u': {
			uint32_t cp, low;
			if (hex4(r + 1, &cp) != 0)
				return -1;
			r += 5;
			if (cp >= 0xD800 && cp < 0xDC00 && r[0] == '\\' && r[1] == 'u' && hex4(r + 2, &low) == 0 && low >= 0xDC00 && low < 0xE000) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
				r += 6;
			}
			if (cp == 0)
				return -1; /* a C string ends at NUL: "/c/images/ab\u0000/../x" would be read as "/c/images/ab" */
			encode_utf8(cp, &w); /* at most 4 bytes for 6 (or 12) read */
			break;
		}
		default:
			return -1;
		}
	}
	*w = '\0';
	*p = r + 1;
	return 0;
}

static void skip_space(char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\r' || **p == '\n')
		(*p)++;
}

int placement_agent_parse(char *line, struct placement_agent_field *fields, int max_fields)
{
	char *p = line;
	int n = 0;

	skip_space(&p);
	if (*p++ != '{')
		return -1;
	skip_space(&p);
	if (*p == '}')
		return 0;
	for (;;) {
		char *key, *value, delim;
		skip_space(&p);
		if (*p != '"' || take_string(&p, &key) != 0)
			return -1;
		skip_space(&p);
		if (*p++ != ':')
			return -1;
		skip_space(&p);
		if (*p == '"') {
			if (take_string(&p, &value) != 0)
				return -1;
			skip_space(&p);
			delim = *p++;
		} else {
			/* a number, true, false or null, kept as its text; objects and arrays are not expected */
			if (*p == '{' || *p == '[')
				return -1;
			value = p;
			while (*p != '\0' && strchr(",} \t\r\n", *p) == NULL)
				p++;
			if (p == value || *p == '\0')
				return -1;
			delim = *p;
			*p++ = '\0';
			if (delim != ',' && delim != '}') {
				skip_space(&p);
				delim = *p++;
			}
		}
		if (n >= max_fields)
			return -1;
		fields[n++] = (struct placement_agent_field){ key, value };
		if (delim == '}')
			return n;
		if (delim != ',')
			return -1;
	}
}

const char *placement_agent_field(const struct placement_agent_field *fields, int n, const char *key)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(fields[i].key, key) == 0)
			return fields[i].value;
	}
	return NULL;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int placement_agent_call(const char *socket_path, const char *request, char *answer, size_t answer_len,
			 char *err, size_t err_len, int timeout_ms, int idle_ms, int max_ms)
{
	long start = now_ms(), deadline = start + timeout_ms;
	int alive = 0; /* the agent sent a keep-alive: from then on, it must only keep sending within idle_ms */
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t got = 0, want = strlen(request);

	if (strlen(socket_path) >= sizeof(addr.sun_path)) {
		snprintf(err, err_len, "agent socket path %s is longer than %zu bytes", socket_path, sizeof(addr.sun_path) - 1);
		return PLACEMENT_AGENT_UNREACHABLE;
	}
	strcpy(addr.sun_path, socket_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, err_len, "socket(): %s", strerror(errno));
		return PLACEMENT_AGENT_UNREACHABLE;
	}
	/* an agent that stopped accepting fills its backlog, and connect and send then block: bounded as well */
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		snprintf(err, err_len, "cannot connect to the node agent on %s: %s", socket_path, strerror(errno));
		close(fd);
		return PLACEMENT_AGENT_UNREACHABLE;
	}
	/* the listener's credentials (taken by the kernel when it called listen()): only root's process is the agent */
	struct ucred peer;
	socklen_t peer_len = sizeof(peer);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) != 0 || peer_len != sizeof(peer)) {
		snprintf(err, err_len, "cannot tell who listens on the node agent's socket %s (SO_PEERCRED: %s); not asking it",
			 socket_path, strerror(errno));
		close(fd);
		return PLACEMENT_AGENT_NOT_ROOT;
	}
	if ((unsigned int)peer.uid != placement_agent_uid) {
		snprintf(err, err_len, "the process listening on %s (pid %d) runs as uid %u, not as %s: it is not the node agent, "
			 "not asking it (is the socket's directory writable by users? agent_socket= in plugstack.conf, Agent:Socket)",
			 socket_path, (int)peer.pid, (unsigned int)peer.uid, placement_agent_uid == 0 ? "root" : "the agent's uid");
		close(fd);
		return PLACEMENT_AGENT_NOT_ROOT;
	}
	for (size_t sent = 0; sent < want;) {
		ssize_t n = send(fd, request + sent, want - sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, err_len, "sending to the node agent on %s: %s", socket_path, strerror(errno));
			close(fd);
			return PLACEMENT_AGENT_UNREACHABLE;
		}
		sent += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	/* A miss can take minutes (download + squashfs): wait for the agent up to the deadline, which the caller makes
	 * generous. An agent that accepted and hangs must not block every step for ever: past the deadline the caller
	 * does the work itself, as when there is no agent. An agent that sends keep-alives (spaces before its answer line,
	 * when the request asked for them) is waited for as long as they keep coming within idle_ms, up to max_ms in all:
	 * it is alive, and its own waits are bounded (Cache:LockTimeoutSeconds each); doing the work here would wait in
	 * the same queue. max_ms only bounds a request stuck inside an agent whose keep-alive timer still runs. */
	while (got + 1 < answer_len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		int ready = left > 0 ? poll(&p, 1, left > 60000 ? 60000 : (int)left) : 0;
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready == 0 && now_ms() < deadline)
			continue;
		if (ready == 0) {
			if (alive && now_ms() - start >= max_ms)
				snprintf(err, err_len, "the node agent on %s kept the request alive but gave no answer within %d min",
					 socket_path, max_ms / 60000);
			else if (alive)
				snprintf(err, err_len, "the node agent on %s sent no keep-alive for %d s", socket_path, idle_ms / 1000);
			else
				snprintf(err, err_len, "the node agent on %s did not answer within %d s", socket_path, timeout_ms / 1000);
			close(fd);
			return PLACEMENT_AGENT_UNREACHABLE;
		}
		ssize_t n = recv(fd, answer + got, answer_len - 1 - got, 0);
		if (n > 0 && got == 0 && idle_ms > 0) {
			/* keep-alives come before the answer: drop them, and wait idle_ms more */
			ssize_t skip = 0;
			while (skip < n && answer[skip] == ' ')
				skip++;
			if (skip > 0) {
				alive = 1;
				deadline = now_ms() + idle_ms;
				if (deadline > start + max_ms)
					deadline = start + max_ms;
				memmove(answer, answer + skip, (size_t)(n - skip));
				n -= skip;
				if (n == 0)
					continue;
			}
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, err_len, "reading the node agent's answer on %s: %s", socket_path, strerror(errno));
			close(fd);
			return PLACEMENT_AGENT_UNREACHABLE;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (memchr(answer + got - (size_t)n, '\n', (size_t)n) != NULL)
			break;
	}
	close(fd);
	answer[got] = '\0';
	if (got == 0) {
		snprintf(err, err_len, "the node agent on %s closed the connection without an answer", socket_path);
		return PLACEMENT_AGENT_UNREACHABLE;
	}
	if (memchr(answer, '\n', got) == NULL && got + 1 >= answer_len) {
		snprintf(err, err_len, "the node agent's answer on %s is longer than %zu bytes", socket_path, answer_len - 1);
		return PLACEMENT_AGENT_BAD_ANSWER;
	}
	return 0;
}
