/* Unit test of placement_place_fds (native/childfds.c): the holder's descriptors 0-4 are right whatever numbers the
 * pipes got in slurmstepd, which may run with some of 0-2 closed. Each case runs in a forked child, which closes and
 * arranges descriptors freely. `make -C native check`. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "childfds.h"

static int failures;

#define EXPECT(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* what a descriptor refers to */
struct id { dev_t dev; ino_t ino; };

static struct id id_of(int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return (struct id){ 0, 0 };
	return (struct id){ st.st_dev, st.st_ino };
}

static int same(struct id a, struct id b) { return a.ino != 0 && a.dev == b.dev && a.ino == b.ino; }

/* moves fd to exactly `to`, close-on-exec as pipe2(O_CLOEXEC) made it (to == fd: only the flag) */
static int move_to(int fd, int to)
{
	if (fd == to)
		return fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 ? to : -1;
	if (dup3(fd, to, O_CLOEXEC) < 0)
		return -1;
	close(fd);
	return to;
}

/* In the child: stderr may be closed, so failures are reported through the exit status (bit per check). */
static int check_placed(const struct id *want, int n)
{
	int bad = 0;
	for (int i = 0; i < n; i++) {
		if (!same(id_of(i), want[i]))
			bad |= 1 << i;
		int flags = fcntl(i, F_GETFD);
		if (flags < 0 || (flags & FD_CLOEXEC))
			bad |= 1 << (i + 8);
	}
	return bad;
}

/* The layout container.c makes: /dev/null on 0-2, the status pipe's write end on 3, the lifeline's read end on 4.
 * status_at/lifeline_at: where the pipe ends are before placing (-1: wherever pipe2 put them); closed: how many of
 * 0-2 are closed first, as in a slurmstepd started without them. */
static void layout(const char *what, int closed, int status_at, int lifeline_at)
{
	int status[2], lifeline[2];
	pid_t pid = fork();
	if (pid == 0) {
		for (int fd = 0; fd < closed; fd++)
			close(fd);
		if (pipe2(status, O_CLOEXEC) != 0 || pipe2(lifeline, O_CLOEXEC) != 0)
			_exit(250);
		/* the ends the child keeps (container.c closes them: the parent's) out of the way of the targets */
		if ((status[0] = move_to(status[0], 20)) < 0 || (lifeline[1] = move_to(lifeline[1], 21)) < 0)
			_exit(249);
		/* the placed ends to where the case wants them, through free numbers so neither lands on the other */
		if (status_at >= 0 && ((status[1] = move_to(status[1], 22)) < 0 || (status[1] = move_to(status[1], status_at)) < 0))
			_exit(251);
		if (lifeline_at >= 0 && ((lifeline[0] = move_to(lifeline[0], 23)) < 0 || (lifeline[0] = move_to(lifeline[0], lifeline_at)) < 0))
			_exit(252);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null < 0)
			_exit(253);
		struct id want[5] = { id_of(null), id_of(null), id_of(null), id_of(status[1]), id_of(lifeline[0]) };
		int src[5] = { null, null, null, status[1], lifeline[0] };
		if (placement_place_fds(src, 5) != 0)
			_exit(254);
		int bad = check_placed(want, 5);
		/* the placed pipe ends work: what fd 3 writes arrives, what is written to the lifeline is read on fd 4 */
		char c = 0;
		if (write(3, "s", 1) != 1 || read(status[0], &c, 1) != 1 || c != 's')
			bad |= 1 << 16;
		if (write(lifeline[1], "l", 1) != 1 || read(4, &c, 1) != 1 || c != 'l')
			bad |= 1 << 17;
		_exit(bad == 0 ? 0 : 1 + (bad % 200)); /* 1-200: never one of the set-up failures, 249-254 */
	}
	int status_code = 0;
	EXPECT(pid > 0 && waitpid(pid, &status_code, 0) == pid, "%s: fork or wait failed", what);
	EXPECT(WIFEXITED(status_code) && WEXITSTATUS(status_code) == 0,
	       "%s: descriptors 0-4 not as placed (child exit %d, signal %d)", what,
	       WIFEXITED(status_code) ? WEXITSTATUS(status_code) : -1, WIFSIGNALED(status_code) ? WTERMSIG(status_code) : 0);
}

int main(void)
{
	layout("pipes above the targets", 0, 7, 8);
	layout("stdin, stdout and stderr closed: the pipes take 0-3", 3, -1, -1);
	layout("status pipe already on 3, close-on-exec", 0, 3, 9);
	layout("the two pipe ends swapped (status on 4, lifeline on 3)", 0, 4, 3);
	layout("status pipe on 0, lifeline on 2", 0, 0, 2);

	/* bad input: more than 8, or a closed source, fails without touching the targets */
	int src[9] = { 0 };
	EXPECT(placement_place_fds(src, 9) == -1, "n = 9 accepted");
	int closed = open("/dev/null", O_RDONLY | O_CLOEXEC); /* a number known to be free: just closed */
	EXPECT(closed >= 0 && close(closed) == 0, "open/close for a closed descriptor failed");
	int closed_src[2] = { 1, closed };
	struct id before = id_of(0);
	errno = 0;
	EXPECT(placement_place_fds(closed_src, 2) == -1 && errno == EBADF, "a closed source descriptor accepted (or errno not EBADF)");
	EXPECT(fcntl(closed, F_GETFD) < 0, "the closed source descriptor was opened");
	EXPECT(same(id_of(0), before), "a failed placement changed descriptor 0");

	if (failures == 0)
		printf("holder descriptors: all checks passed\n");
	return failures == 0 ? 0 : 1;
}
