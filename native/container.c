/* The step's container: one per job step and node, shared by every task of the step (docs/slurm.md).
 *
 * slurmstepd (remote context) starts it in user_init, after init_post_opt put the image in the cache and after
 * slurmstepd's chdir to the job's working directory, before any task is forked: it fork/execs placement-holder (holder.c), which mounts the squashfs in a private mount
 * namespace and has the runtime build the container around a process that keeps it alive. Every task then joins
 * that process's mount namespace and root in task_init_privileged (setns + chroot, C only: tasks are forked
 * children of slurmstepd) and enters the job's working directory in task_init, as the user. slurm_spank_exit
 * closes the holder's lifeline (a pipe: slurmstepd blocks SIGTERM, and the holder inherits that) and kills the
 * holder's process group if it is still there after 5 s; the holder also dies with slurmstepd (PR_SET_PDEATHSIG), and nothing is ever
 * mounted in the host's namespace, so nothing outlives the step.
 *
 * Why slurmstepd and not the first task (pyxis uses a process-shared robust mutex so the first task starts
 * enroot as the user): the holder gets the job's uid, gid and groups from here and runs apptainer and enroot, which
 * execute code of the image, as that user (holder.c); bwrap runs as root but runs no code of the image;
 * slurmstepd is one process per step and node and runs user_init once, before any task exists (and in the job's
 * working directory, which tells what to bind), so there is no race to arbitrate, the pid is simply inherited by the forked tasks, and the holder is a child of slurmstepd that
 * slurm_spank_exit (same process) can kill and reap. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slurm/slurm.h>
#include <slurm/spank.h>

#include "placement.h"
#include "childfds.h"

#define MAX_BINDS 64
/* How long slurmstepd waits for the holder's "ready"/"error" line: more than the holder's own bounds (holder.c
 * READY_TIMEOUT_MS, 60 s for squashfuse to mount and 60 s more for the runtime's ready line) plus the binds it opens and
 * the image directories it grafts in between, so a slow start ends with the holder's own message naming the cause, not
 * with slurmstepd giving up first and killing it ("gave no answer"). */
#define START_TIMEOUT_MS 180000

struct bind {
	char src[PATH_MAX];
	char dst[PATH_MAX];
	int ro;
	int user;  /* the source is the job user's word (working directory, $HOME): the holder opens it as that user */
};

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A failure fails every task of the step with the message (task_init prints it); slurmstepd's hook still
 * returns 0, so the node is never drained for it. */
static void record(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(placement.error, sizeof(placement.error), fmt, ap);
	va_end(ap);
	placement.failed = 1;
	slurm_error("placement: container: %s", placement.error);
}

static int is_dir(const char *p)
{
	struct stat st;
	return p[0] == '/' && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* PROGRAM as configured (runtime_path=), else the first executable in the usual directories. slurmstepd's own
 * PATH is not the user's, and may be minimal. */
static int find_program(const char *name, const char *configured, char *out, size_t len)
{
	static const char *dirs[] = { "/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin", "/usr/local/sbin", NULL };

	if (configured != NULL && configured[0] != '\0') {
		snprintf(out, len, "%s", configured);
		return access(out, X_OK) == 0 ? 0 : -1;
	}
	for (int i = 0; dirs[i] != NULL; i++) {
		snprintf(out, len, "%s/%s", dirs[i], name);
		if (access(out, X_OK) == 0)
			return 0;
	}
	snprintf(out, len, "%s", name);
	return -1;
}

/* placement-holder is installed next to spank_placement.so. */
static int holder_path(char *out, size_t len)
{
	Dl_info self;

	if (dladdr((void *)holder_path, &self) == 0 || self.dli_fname == NULL)
		return -1;
	const char *slash = strrchr(self.dli_fname, '/');
	int dir_len = slash == NULL ? 0 : (int)(slash - self.dli_fname);
	snprintf(out, len, "%.*s%splacement-holder", dir_len, self.dli_fname, dir_len ? "/" : "");
	return access(out, X_OK);
}

static int add_bind(struct bind *binds, int *n, const char *src, const char *dst, int ro)
{
	if (*n == MAX_BINDS || strlen(src) >= PATH_MAX || strlen(dst) >= PATH_MAX)
		return -1;
	snprintf(binds[*n].src, PATH_MAX, "%s", src);
	snprintf(binds[*n].dst, PATH_MAX, "%s", dst);
	binds[*n].ro = ro;
	binds[*n].user = 0;
	(*n)++;
	return 0;
}

/* Site binds from plugstack binds=SRC[:DST][:ro|:rw],... (validated by args.c). A missing source is an error:
 * a job that expects /scratch must not silently run without it. */
static int site_binds(struct bind *binds, int *n)
{
	char copy[PLACEMENT_ARG_MAX];
	char *save = NULL;

	snprintf(copy, sizeof(copy), "%s", placement.args.binds);
	for (char *entry = strtok_r(copy, ",", &save); entry != NULL; entry = strtok_r(NULL, ",", &save)) {
		char *src = entry, *dst = entry, *mode = NULL;
		char *c = strchr(entry, ':');
		if (c != NULL) {
			*c = '\0';
			char *rest = c + 1;
			if (strcmp(rest, "ro") == 0 || strcmp(rest, "rw") == 0)
				mode = rest;
			else {
				dst = rest;
				char *c2 = strchr(rest, ':');
				if (c2 != NULL) {
					*c2 = '\0';
					mode = c2 + 1;
				}
			}
		}
		struct stat st;
		if (stat(src, &st) != 0) {
			record("binds: %s: %s on this node (plugstack.conf binds=)", src, strerror(errno));
			return -1;
		}
		if (add_bind(binds, n, src, dst, mode != NULL && strcmp(mode, "ro") == 0) != 0) {
			record("binds: more than %d binds", MAX_BINDS);
			return -1;
		}
	}
	return 0;
}

static int covered(const struct bind *binds, int n, const char *dst)
{
	for (int i = 0; i < n; i++) {
		size_t len = strlen(binds[i].dst);
		if (strncmp(binds[i].dst, dst, len) == 0 && (dst[len] == '\0' || dst[len] == '/' || len == 1))
			return 1;
	}
	return 0;
}

/* A default bind (working directory, home, batch script, artifact) unless a site bind already covers it. */
static void default_bind(struct bind *binds, int *n, const char *path, int ro, int user)
{
	if (path[0] != '/' || strcmp(path, "/") == 0 || covered(binds, *n, path))
		return;
	if (add_bind(binds, n, path, path, ro) == 0)
		binds[*n - 1].user = user;
}

static int by_depth(const void *a, const void *b)
{
	return (int)strlen(((const struct bind *)a)->dst) - (int)strlen(((const struct bind *)b)->dst);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void placement_container_start(spank_t sp)
{
	static struct bind binds[MAX_BINDS];
	char image[PATH_MAX], runtime[PATH_MAX], squashfuse[PATH_MAX], holder[PATH_MAX], value[PATH_MAX];
	const char *name = placement_runtime_name(placement.args.runtime);
	int n = 0;

	if (placement.args.runtime == PLACEMENT_RUNTIME_NONE || placement.failed || placement.followed || placement.holder[0] == '\0')
		return;
	uint32_t step_id = 0;
	if (spank_get_item(sp, S_JOB_STEPID, &step_id) == ESPANK_SUCCESS && step_id == SLURM_EXTERN_CONT)
		return; /* the extern step (PrologFlags=contain) runs no task of the user's */
	if (spank_getenv(sp, "PLACEMENT_IMAGE_PATH", image, sizeof(image)) != ESPANK_SUCCESS) {
		record("container: PLACEMENT_IMAGE_PATH is not set (spank_getenv failed)");
		return;
	}
	if (find_program(name, placement.args.runtime_path, runtime, sizeof(runtime)) != 0) {
		record("runtime %s: %s not found or not executable (install it, set runtime_path= or runtime= in plugstack.conf)", name, runtime);
		return;
	}
	if (placement.args.runtime == PLACEMENT_RUNTIME_BWRAP) {
		size_t len = strlen(image);
		if (len < 5 || strcmp(image + len - 5, ".sqsh") != 0) {
			record("runtime bwrap: %s is not a squashfs image; bwrap runs squashfs images only (use runtime=apptainer for SIF images)", image);
			return;
		}
		if (find_program("squashfuse", NULL, squashfuse, sizeof(squashfuse)) != 0) {
			record("mount: squashfuse not found in /usr/bin, /usr/local/bin, /bin (install squashfuse; runtime bwrap needs it)");
			return;
		}
	}
	if (holder_path(holder, sizeof(holder)) != 0) {
		record("container: %s: %s (install it next to spank_placement.so)", holder, strerror(errno));
		return;
	}

	/* binds: the site's, then the job's working directory and home (read-write), the batch script's directory in
	 * slurmd's spool (read-only) and the image artifact itself (read-only, so PLACEMENT_IMAGE_PATH stays valid) */
	if (site_binds(binds, &n) != 0)
		return;
	/* user_init runs after slurmstepd's chdir(job->cwd) (--chdir, else the submit directory): the only place the
	 * step's working directory is known. Kept for the tasks, which enter it in task_init: by task_init_privileged
	 * their own cwd may be / already (job_container/tmpfs joins its namespace with setns, which resets it). /tmp is
	 * where Slurm falls back when that chdir failed: keep the tmpfs. */
	if (getcwd(placement.cwd, sizeof(placement.cwd)) == NULL)
		snprintf(placement.cwd, sizeof(placement.cwd), "/");
	if (strcmp(placement.cwd, "/tmp") != 0)
		default_bind(binds, &n, placement.cwd, 0, 1);
	if (spank_getenv(sp, "HOME", value, sizeof(value)) == ESPANK_SUCCESS && is_dir(value))
		default_bind(binds, &n, value, 0, 1);
	int argc = 0;
	char **argv = NULL;
	if (step_id == SLURM_BATCH_SCRIPT &&
	    spank_get_item(sp, S_JOB_ARGV, &argc, &argv) == ESPANK_SUCCESS && argc > 0 && argv[0][0] == '/') {
		snprintf(value, sizeof(value), "%s", argv[0]);
		default_bind(binds, &n, dirname(value), 1, 0);
	}
	default_bind(binds, &n, image, 1, 0);
	qsort(binds, n, sizeof(binds[0]), by_depth);  /* parents before the binds nested in them */

	/* argv built before fork: slurmstepd is multithreaded (and may host the .NET runtime), so the child only
	 * calls dup2/close/execv */
	/* groups_arg: one argument holds at most 128 KiB (MAX_ARG_STRLEN), some 11,900 group ids */
	static char uid_arg[16], gid_arg[16], groups_arg[128 * 1024], home_arg[PATH_MAX];
	const char *args[24 + 4 * MAX_BINDS];
	int a = 0;
	args[a++] = holder;
	args[a++] = "start";
	args[a++] = "--runtime", args[a++] = name;
	args[a++] = "--runtime-path", args[a++] = runtime;
	args[a++] = "--image", args[a++] = image;
	if (placement.args.runtime == PLACEMENT_RUNTIME_BWRAP)
		args[a++] = "--squashfuse", args[a++] = squashfuse;
	/* the job's user: apptainer and enroot run as the user (holder.c), with the groups the tasks get */
	uid_t uid;
	gid_t gid, *gids = NULL;
	int ngids = 0;
	if (spank_get_item(sp, S_JOB_UID, &uid) != ESPANK_SUCCESS || spank_get_item(sp, S_JOB_GID, &gid) != ESPANK_SUCCESS) {
		record("container: cannot read the job's uid and gid from Slurm");
		return;
	}
	if (spank_get_item(sp, S_JOB_SUPPLEMENTARY_GIDS, &gids, &ngids) != ESPANK_SUCCESS)
		ngids = 0;
	snprintf(uid_arg, sizeof(uid_arg), "%u", (unsigned)uid);
	snprintf(gid_arg, sizeof(gid_arg), "%u", (unsigned)gid);
	size_t used = 0;
	groups_arg[0] = '\0';
	for (int i = 0; i < ngids && gids != NULL; i++) {
		int w = snprintf(groups_arg + used, sizeof(groups_arg) - used, "%s%u", i ? "," : "", (unsigned)gids[i]);
		if (w < 0 || (size_t)w >= sizeof(groups_arg) - used) {
			/* never fewer groups than the tasks have: the runtime would act with other rights than the job's */
			record("container: the job's user has %d supplementary groups; the container holder takes at most %zu bytes of "
			       "group ids (about 11,900 groups); the step cannot run inside the image for this user "
			       "(reduce the user's supplementary groups)", ngids, sizeof(groups_arg) - 1);
			return;
		}
		used += (size_t)w;
	}
	args[a++] = "--uid", args[a++] = uid_arg;
	args[a++] = "--gid", args[a++] = gid_arg;
	args[a++] = "--groups", args[a++] = groups_arg;
	if (spank_getenv(sp, "HOME", home_arg, sizeof(home_arg)) == ESPANK_SUCCESS && home_arg[0] == '/')
		args[a++] = "--home", args[a++] = home_arg;
	/* three arguments each: a working directory or home may contain ':' (run_2024-01-01T12:00) */
	for (int i = 0; i < n; i++)
		args[a++] = "--bind", args[a++] = binds[i].src, args[a++] = binds[i].dst,
		args[a++] = binds[i].user ? "user" : binds[i].ro ? "ro" : "rw";
	args[a] = NULL;

	int status_pipe[2], lifeline[2];
	if (pipe2(status_pipe, O_CLOEXEC) != 0) {
		record("container: pipe: %s", strerror(errno));
		return;
	}
	if (pipe2(lifeline, O_CLOEXEC) != 0) {
		record("container: pipe: %s", strerror(errno));
		close(status_pipe[0]), close(status_pipe[1]);
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		record("container: fork: %s", strerror(errno));
		close(status_pipe[0]), close(status_pipe[1]), close(lifeline[0]), close(lifeline[1]);
		return;
	}
	if (pid == 0) {
		/* user_init runs with slurmstepd's effective ids dropped to the user's (real and saved ids stay root):
		 * the holder mounts and unshares, so it runs as root */
		if (setresuid(0, 0, 0) != 0 || setresgid(0, 0, 0) != 0 || setgroups(0, NULL) != 0)
			_exit(126);
		setpgid(0, 0);
		/* /dev/null on 0-2, the status pipe on 3, the lifeline on 4 (end of file when slurmstepd closes the write end,
		 * placement_container_stop); the pipes may themselves be on 0-4 (slurmstepd started with 0-2 closed) */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		int fds[5] = { null, null, null, status_pipe[1], lifeline[0] };
		if (null < 0 || placement_place_fds(fds, 5) != 0)
			_exit(126);
		if (close_range(5, ~0U, 0) != 0) /* one system call; the loop costs ~0.7 ms under gVisor */
			for (int fd = 5; fd < 4096; fd++)
				close(fd);
		execv(holder, (char *const *)args);
		_exit(127);
	}
	setpgid(pid, pid); /* also in the child: whichever runs first */
	close(status_pipe[1]);
	close(lifeline[0]);
	/* a pidfd now, while the holder is certainly our unreaped child: slurmstepd's own wait loop may reap it when it
	 * exits, and its pid (and process group id) can then go to another process before slurm_spank_exit */
	placement.holder_pidfd = (int)syscall(SYS_pidfd_open, pid, 0);  /* O_CLOEXEC; -1 before Linux 5.3 */
	placement.holder_pid = pid;
	placement.lifeline_fd = lifeline[1];

	char line[PLACEMENT_ERR_MAX];
	size_t len = 0;
	for (long deadline = now_ms() + START_TIMEOUT_MS; len < sizeof(line) - 1;) {
		struct pollfd p = { .fd = status_pipe[0], .events = POLLIN };
		long left = deadline - now_ms();
		if (left <= 0)
			break;
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		ssize_t got = read(status_pipe[0], line + len, sizeof(line) - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;  /* a signal is not the holder's answer: do not kill a healthy holder for it */
		if (got <= 0)
			break;
		len += got;
		if (memchr(line, '\n', len) != NULL)
			break;
	}
	close(status_pipe[0]);
	line[len] = '\0';
	char *nl = strchr(line, '\n');
	if (nl != NULL)
		*nl = '\0';
	long ready = 0;
	if (strncmp(line, "ready ", 6) == 0 && (ready = strtol(line + 6, NULL, 10)) > 1) {
		placement.container_pid = (pid_t)ready;
		slurm_verbose("placement: container: %s container for %s ready (holder %d, container process %d)",
			      name, placement.holder, (int)pid, (int)ready);
		return;
	}
	placement_container_stop(sp);
	if (strncmp(line, "error ", 6) == 0)
		record("%s", line + 6);
	else if (len == 0)
		record("container: %s: placement-holder gave no answer (exited, or nothing within %d s)", name, START_TIMEOUT_MS / 1000);
	else
		record("container: %s: unexpected answer from placement-holder: %s", name, line);
}

int placement_container_join(spank_t sp)
{
	char path[64];
	(void)sp;

	if (placement.container_pid <= 0 || placement.failed)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)placement.container_pid);
	int ns = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/root", (int)placement.container_pid);
	int root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* setns into a mount namespace resets root and cwd to the namespace's root mount; chroot to the container
	 * process's root as well (what nsenter -m -r does), which is the container's / on every kernel */
	if (ns < 0 || root < 0) {
		snprintf(placement.error, sizeof(placement.error), "container: the step's container (process %d) is gone: %s",
			 (int)placement.container_pid, strerror(errno));
		placement.failed = 1;
	} else if (setns(ns, CLONE_NEWNS) != 0 || fchdir(root) != 0 || chroot(".") != 0 || chdir("/") != 0) {
		snprintf(placement.error, sizeof(placement.error), "container: cannot join the step's container (process %d): %s",
			 (int)placement.container_pid, strerror(errno));
		placement.failed = 1;
	} else {
		placement.joined = 1;
	}
	if (ns >= 0)
		close(ns);
	if (root >= 0)
		close(root);
	return 0; /* a failure is printed by task_init, where the task's stderr is the job's */
}

int placement_container_enter(void)
{
	if (!placement.joined)
		return 0;
	if (chdir(placement.cwd) != 0) {
		snprintf(placement.error, sizeof(placement.error),
			 "container: working directory %.1500s: %s inside the image (bind it with binds= in plugstack.conf)",
			 placement.cwd, strerror(errno));
		placement.failed = 1;
		return -1;
	}
	return 0;
}

void placement_container_stop(spank_t sp)
{
	(void)sp;
	pid_t pid = placement.holder_pid;

	if (pid <= 0)
		return;
	placement.holder_pid = 0;
	placement.container_pid = 0;
	/* end of file on its lifeline: the holder kills squashfuse and the runtime and reaps everything below it
	 * (holder.c). Not SIGTERM: slurmstepd blocks it, and the holder inherits the mask. */
	if (placement.lifeline_fd > 0)
		close(placement.lifeline_fd);
	placement.lifeline_fd = -1;
	int pidfd = placement.holder_pidfd;
	placement.holder_pidfd = -1;
	int gone = 0;  /* exited (reaped by us or by slurmstepd's wait loop, or a zombie) */
	if (pidfd >= 0) {
		/* up to 5 s: a pidfd is readable once the process has exited, whoever reaps it */
		for (long deadline = now_ms() + 5000; !gone;) {
			struct pollfd p = { .fd = pidfd, .events = POLLIN };
			long left = deadline - now_ms();
			int r = left > 0 ? poll(&p, 1, (int)left) : 0;
			if (r < 0 && errno == EINTR)
				continue;
			gone = r > 0;
			if (r <= 0)
				break;
		}
		if (!gone) {
			/* last resort (a stuck holder): its process group, which is ours as long as its leader lives */
			kill(-pid, SIGKILL);
			syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
			struct pollfd p = { .fd = pidfd, .events = POLLIN };
			poll(&p, 1, 1000);
		}
		/* reap this very process (waitpid on the number could take another child that got the pid); ECHILD when
		 * slurmstepd's wait loop reaped it */
		siginfo_t info;
		waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG);
		close(pidfd);
		return;
	}
	/* no pidfd (Linux < 5.3): up to 5 s, polled every millisecond for the first 50 ms (the holder usually exits
	 * within a few), then every 10 */
	for (int i = 0; i < 545 && !gone; i++) {
		pid_t r = waitpid(pid, NULL, WNOHANG);
		gone = r == pid || (r < 0 && errno == ECHILD); /* ECHILD: reaped by slurmstepd: the pid is not ours now */
		if (!gone)
			usleep(i < 50 ? 1000 : 10000);
	}
	if (!gone) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}
