/* The node agent's Unix socket protocol from C (native/agent.c). */
#ifndef PLACEMENT_AGENT_H
#define PLACEMENT_AGENT_H
#include <stddef.h>

/* The longest line either side accepts, its newline not counted (SocketLines.MaxBytes in src/Placement.Core/AgentSocket):
 * an answer buffer needs two bytes more, for the newline and the NUL. */
#define PLACEMENT_AGENT_LINE_MAX (64 * 1024)

#define PLACEMENT_AGENT_UNREACHABLE 1 /* no agent, or the connection broke: do the work locally */
#define PLACEMENT_AGENT_BAD_ANSWER 2
#define PLACEMENT_AGENT_NOT_ROOT 3    /* the socket's listener does not run as placement_agent_uid: not asked */

/* The uid the node agent runs as: root. A process of another user listening on the socket path (its directory
 * writable by users: a %n path under /tmp, a bad /run/placement) is not the agent and is never sent a request or
 * believed: it could answer with a squashfs of its own. Tests running as another user set it to theirs. */
extern unsigned int placement_agent_uid;

struct placement_agent_field {
	const char *key;
	const char *value; /* strings decoded; numbers, true, false, null as their text */
};

/* Writes {"k1":"v1",...}\n from a NULL-terminated list of key, value pairs. 0, or -1 if out is too small. */
int placement_agent_request(char *out, size_t len, const char *const *pairs);

/* Sends request and reads one answer line into answer, for at most timeout_ms in all (connect, send and answer).
 * idle_ms > 0 (a request with "keepAlive"): once the agent sends keep-alives (spaces before its answer line, dropped
 * here), it is waited for as long as the next one comes within idle_ms, past timeout_ms, up to max_ms in all; an agent
 * that sends none (a version before them, or one hung before its first) gets timeout_ms. 0, or PLACEMENT_AGENT_* with
 * err set: an agent that does not answer in time is PLACEMENT_AGENT_UNREACHABLE; a listener whose uid (SO_PEERCRED) is
 * not placement_agent_uid is PLACEMENT_AGENT_NOT_ROOT, and gets no request. */
int placement_agent_call(const char *socket_path, const char *request, char *answer, size_t answer_len,
			 char *err, size_t err_len, int timeout_ms, int idle_ms, int max_ms);

/* Parses a flat JSON object in place; returns the number of fields, or -1 when it is not one. */
int placement_agent_parse(char *line, struct placement_agent_field *fields, int max_fields);

/* The value of key, or NULL. */
const char *placement_agent_field(const struct placement_agent_field *fields, int n, const char *key);

#endif
