/* placement-holder: the one process per job step and node that owns the step's container (docs/slurm.md).
 *
 * slurmstepd (remote context, root) fork/execs it once per step, before any task is forked, and reads one line from
 * fd 3: "ready <pid>" (tasks join the mount namespace and root of <pid>) or "error <message>". Built statically: the
 * same binary also runs *inside* the container as the process that keeps it alive ("hold" mode), and a container
 * image has no host libraries.
 *
 *   placement-holder start --runtime bwrap|apptainer|enroot --runtime-path PATH --image ARTIFACT
 *                          [--squashfuse PATH] [--bind SRC DST ro|rw|user]...   (three arguments: paths may hold ':')
 *                          [--uid UID --gid GID --groups GID,... --home DIR]   (the job's user: see below)
 *   placement-holder hold FD          (inside the container: "ready <pid>" to FD, then wait to be killed)
 *   placement-holder exec NAME FILE [ARG]...   (FILE run as NAME, argv[0]: the Grid Engine starter's login shells)
 *
 * Privileges: the holder itself runs as root (it unshares and mounts for bwrap). bwrap runs as root too, but nothing
 * of the image runs under it before the job's tasks: only `hold`. apptainer and enroot execute code of the image while
 * they set the container up (apptainer's /.singularity.d scripts through the image's /bin/sh, enroot's /etc/rc), so
 * they run as the job's user (--uid/--gid/--groups, as the tasks do; pyxis runs enroot as the user too): the holder's
 * child drops to those ids right before it execs the runtime. The same image code could write its own "ready <pid>"
 * line on the inherited descriptor: the holder only accepts a pid that is its own descendant and runs this binary
 * (/proc/<pid>/exe), and passes on a line it formats itself.
 *
 * Binds in mode "user" (read-write) have a source the job's user names: the step's working directory and $HOME. bwrap
 * runs as root and would follow that path (and any symlink a user swaps into it meanwhile) with root's rights, so the
 * holder opens it itself, as the job's user (fsuid/fsgid and groups), and bwrap binds that open directory
 * (/proc/self/fd/N, inherited):
 * a job never gets a directory its user cannot reach, however its paths change while the step starts. One the user
 * cannot open is left out. apptainer and enroot run as the user already and get the path.
 *
 * Lifetime: slurmstepd holds the write end of a pipe whose read end is the holder's fd 4 (the lifeline);
 * slurm_spank_exit closes it, and at its end of file the holder kills its children and, as a child subreaper, reaps
 * every descendant before it exits. Not SIGTERM: slurmstepd blocks SIGTERM, SIGINT, SIGUSR1, ... in its main thread,
 * the holder inherits that mask, and it leaves it so (squashfuse and the runtime must not die of a signal the job's
 * tasks get, `scancel --signal=USR1`). It also dies with slurmstepd (PR_SET_PDEATHSIG), and its children die with it (PDEATHSIG
 * again, plus bwrap --die-with-parent); it leads its own process group, which slurm_spank_exit kills as a last resort. Nothing is
 * mounted in the host's mount namespace: the squashfs is mounted (squashfuse) inside a private namespace that the
 * holder unshares, so every mount disappears with the last process of the step, however the step ends. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <linux/openat2.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STATUS_FD 3
#define LIFELINE_FD 4                          /* end of file: slurmstepd ends the step */
#define RUN_DIR "/run/placement"               /* host dir; a private tmpfs covers it in the holder's namespace */
#define IMAGE_DIR RUN_DIR "/image"             /* the squashfs, mounted there by squashfuse */
#define MAX_BINDS 64
#define BWRAP_MAX_OPTIONS 8990                 /* bubblewrap refuses more than 9000 arguments (MAX_ARGS) */
#define READY_TIMEOUT_MS 60000                 /* each: squashfuse's mount, the runtime's ready line (container.c's
                                                * START_TIMEOUT_MS, slurmstepd's wait for this holder, exceeds both) */

struct bind {
	const char *src;
	const char *dst;
	int ro;
	int user;  /* mode "user": opened as the job's user (bwrap), see the top */
	int fd;    /* that descriptor, inherited by bwrap; -1 until opened */
};

static struct bind binds[MAX_BINDS];
static int nbinds;
static const char *runtime, *runtime_path, *image, *squashfuse = "squashfuse";
static const char **args;         /* the runtime's argv, grown as needed (a grafted directory adds 3 per entry) */
static size_t nargs, args_cap;
static int args_fd = -1;           /* bwrap: its options, NUL-separated, read with --args (inherited) */
static pid_t children[4];
static int nchildren;
static int lifeline = -1;       /* LIFELINE_FD when slurmstepd gave one */
static char child_err[2048];    /* the last output of a child, for the error message */
static size_t child_err_len;
static int err_pipe[2] = { -1, -1 };  /* children's stdout/stderr: read end non-blocking */
/* the job's user, for runtimes that execute the image's code (apptainer, enroot): see the top of the file */
#define MAX_GROUPS 65536  /* Linux's NGROUPS_MAX */
static int have_user;
static uid_t user_uid;
static gid_t user_gid;
static gid_t user_groups[MAX_GROUPS];
static int nuser_groups;
static const char *user_home;

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	char msg[3072];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(STATUS_FD, "error %s\n", msg);
	for (int i = 0; i < nchildren; i++)
		kill(children[i], SIGKILL);
	_exit(1);
}

static void add(const char *arg)
{
	if (nargs + 2 > args_cap) {
		size_t cap = args_cap ? args_cap * 2 : 256;
		const char **grown = realloc(args, cap * sizeof(*args));
		if (grown == NULL)
			fail("container: out of memory for %zu runtime arguments", nargs);
		args = grown, args_cap = cap;
	}
	args[nargs++] = arg;
	args[nargs] = NULL;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *fmt(const char *f, ...)
{
	char *s;
	va_list ap;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		fail("container: out of memory");
	va_end(ap);
	return s;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* fork + exec argv with PDEATHSIG, output into err_pipe, only the keep_fds inherited. */
static void close_span(unsigned from, unsigned to)
{
	if (close_range(from, to, 0) == 0)
		return;
	for (unsigned fd = from; fd <= to && fd < 1024; fd++)  /* no close_range (kernel < 5.9) */
		close((int)fd);
}

/* Closes every descriptor from 3 up except keep1, keep2 (-1 = none), the user binds' open directories and bwrap's
 * options descriptor, with
 * close_range around them: a loop over
 * 1024 descriptors costs ~0.7 ms under gVisor, on the start path of every step. */
static void close_others(int keep1, int keep2)
{
	int keeps[3 + MAX_BINDS], n = 0;
	if (keep1 >= 0)
		keeps[n++] = keep1;
	if (keep2 >= 0)
		keeps[n++] = keep2;
	for (int i = 0; i < nbinds; i++)  /* the user binds' directories, bound through /proc/self/fd by bwrap */
		if (binds[i].fd >= 0)
			keeps[n++] = binds[i].fd;
	if (args_fd >= 0)
		keeps[n++] = args_fd;
	for (int i = 1; i < n; i++)  /* insertion sort: a handful */
		for (int k = i; k > 0 && keeps[k - 1] > keeps[k]; k--) {
			int t = keeps[k];
			keeps[k] = keeps[k - 1], keeps[k - 1] = t;
		}
	unsigned from = 3;
	for (int i = 0; i < n; i++) {
		if (keeps[i] < (int)from)
			continue;
		if ((unsigned)keeps[i] > from)
			close_span(from, (unsigned)keeps[i] - 1);
		from = (unsigned)keeps[i] + 1;
	}
	close_span(from, ~0U);
}

/* as_user: the child switches to the job's user (groups, gid, uid: real, effective and saved) before exec */
static pid_t spawn(const char *const *argv, int keep_fd, int keep_fd2, int as_user)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		fail("container: fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(err_pipe[1], 1);
		dup2(err_pipe[1], 2);
		close_others(keep_fd, keep_fd2);
		if (as_user) {
			if (setgroups((size_t)nuser_groups, user_groups) != 0 || setresgid(user_gid, user_gid, user_gid) != 0 ||
			    setresuid(user_uid, user_uid, user_uid) != 0) {
				dprintf(2, "cannot switch to uid %d gid %d: %s", (int)user_uid, (int)user_gid, strerror(errno));
				_exit(126);
			}
			if (user_home != NULL)
				setenv("HOME", user_home, 1);
		}
		/* after the switch: changing credentials clears the parent-death signal */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	children[nchildren++] = pid;
	return pid;
}

/* Keep the tail of what children print (read end non-blocking). */
static void drain(int fd)
{
	char buf[1024];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {  /* buf is smaller than child_err: keep the tail */
		if (child_err_len + n >= sizeof(child_err)) {
			size_t drop = child_err_len + n - (sizeof(child_err) - 1);
			memmove(child_err, child_err + drop, child_err_len - drop);
			child_err_len -= drop;
		}
		memcpy(child_err + child_err_len, buf, n);
		child_err_len += n;
	}
	child_err[child_err_len] = '\0';
	/* one line for the message */
	for (size_t i = 0; i < child_err_len; i++)
		if (child_err[i] == '\n' && i + 1 < child_err_len)
			child_err[i] = ' ';
	if (child_err_len > 0 && child_err[child_err_len - 1] == '\n')
		child_err[child_err_len - 1] = '\0';
}

static const char *exited(pid_t pid, int *status)
{
	static char why[64];
	if (waitpid(pid, status, WNOHANG) != pid)
		return NULL;
	if (WIFEXITED(*status))
		snprintf(why, sizeof(why), "exited with %d", WEXITSTATUS(*status));
	else
		snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(*status));
	return why;
}

/* --- bwrap: the image's entries are bound one by one on bwrap's tmpfs root (like deploy/sge/placement-starter.sh),
 * because a read-only squashfs cannot take the mount points the binds need. --- */

static int is_bind(const char *p)
{
	for (int i = 0; i < nbinds; i++)
		if (strcmp(binds[i].dst, p) == 0)
			return 1;
	return 0;
}

static int leads_to_bind(const char *p)
{
	size_t len = strlen(p);
	for (int i = 0; i < nbinds; i++)
		if (strncmp(binds[i].dst, p, len) == 0 && binds[i].dst[len] == '/')
			return 1;
	return 0;
}

/* The image's directory at in-image path dir ("" for /), its symlinks resolved inside the image: an absolute target is
 * the image's, never the host's (an image with /home -> /root must not show the host's /root). openat2's
 * RESOLVE_IN_ROOT does it in the kernel; where there is no openat2 (Linux < 5.6, or a seccomp filter) the caller does
 * not look into symlinked directories at all. Returns the descriptor and its path in this namespace in real. */
static int image_root = -1;

static int open_in_image(const char *dir, int via_symlink, char *real, size_t real_len)
{
	struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	const char *rel = dir[0] ? dir + 1 : ".";
	int fd = (int)syscall(SYS_openat2, image_root, rel, &how, sizeof(how));
	/* no openat2: the directories graft reaches without a symlink are real ones (lstat'ed by the level above, on a
	 * read-only squashfs), so a plain openat below the image root opens them; nothing through a symlink */
	if (fd < 0 && (errno == ENOSYS || errno == EPERM) && !via_symlink)
		fd = openat(image_root, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, real, real_len - 1);
	size_t root_len = strlen(IMAGE_DIR);
	if (n <= 0 || (size_t)n >= real_len - 1 || (real[n] = '\0', strncmp(real, IMAGE_DIR, root_len) != 0) ||
	    (real[root_len] != '\0' && real[root_len] != '/')) {
		close(fd);
		errno = EXDEV;
		return -1;
	}
	return fd;
}

static const char *widest_graft = "/";  /* the grafted directory with the most entries, for the error below */
static size_t widest_entries;

/* Recursive, one level per directory of the image on the way to a bind: a job's working directory (a user bind) nested
 * two thousand directories deep in an image with those directories is as deep. Its buffers are on the heap, so the
 * depth costs a few hundred bytes of stack a level (8 KiB a level crashed the holder within slurmstepd's 8 MiB). */
static void graft(const char *dir, int via_symlink)  /* dir: "" for / */
{
	size_t entries = 0;
	char *real = malloc(PATH_MAX);
	if (real == NULL)
		fail("container: out of memory");
	int fd = open_in_image(dir, via_symlink, real, PATH_MAX);
	if (fd < 0 && via_symlink) {
		free(real);
		return;  /* a dangling symlink, or no openat2 here: an empty directory under the binds */
	}
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL)
		fail("container: cannot read %s in the image: %s", dir[0] ? dir : "/", strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (++entries > widest_entries)
			widest_entries = entries, widest_graft = dir[0] ? dir : "/";
		char *p = fmt("%s/%s", dir, e->d_name);
		struct stat st;
		if (strcmp(p, "/proc") == 0 || strcmp(p, "/dev") == 0 || strcmp(p, "/sys") == 0 || strcmp(p, "/tmp") == 0 ||
		    is_bind(p) || fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			static char target[PATH_MAX];  /* not used past the recursion */
			ssize_t n = readlinkat(fd, e->d_name, target, sizeof(target) - 1);
			if (n < 0)
				continue;
			target[n] = '\0';
			if (leads_to_bind(p))  /* e.g. /home -> /var/home in the image with /home/u bound: the bind wins */
				add("--dir"), add(p), graft(p, 1);
			else
				add("--symlink"), add(fmt("%s", target)), add(p);
		} else if (S_ISDIR(st.st_mode) && leads_to_bind(p)) {
			add("--dir"), add(p);
			graft(p, 0);
		} else {
			/* real has no symlink left and e->d_name is none: bwrap binds this very entry of the image */
			add("--ro-bind"), add(fmt("%s/%s", real, e->d_name)), add(p);
		}
	}
	closedir(d);
	free(real);
}

/* Opens path as the job's user (fsuid, fsgid and supplementary groups: the rights its tasks have), following
 * symlinks as that user would; -1 with errno when it cannot. The holder is single-threaded: switching its fs ids
 * and groups for the open and back affects nothing else. */
static int open_as_user(const char *path)
{
	static gid_t saved[MAX_GROUPS];
	int nsaved = getgroups(MAX_GROUPS, saved);
	if (nsaved < 0)
		fail("binds: getgroups: %s", strerror(errno));
	if (setgroups((size_t)nuser_groups, user_groups) != 0)
		fail("binds: setgroups to the job's groups: %s", strerror(errno));
	setfsgid(user_gid);
	setfsuid(user_uid);
	int fd = -1, err = EPERM;
	if ((uid_t)setfsuid((uid_t)-1) == user_uid && (gid_t)setfsgid((gid_t)-1) == user_gid) {
		fd = open(path, O_PATH | O_DIRECTORY);  /* inherited by bwrap: no O_CLOEXEC */
		err = errno;
	}
	setfsuid(0);
	setfsgid(0);
	if ((uid_t)setfsuid((uid_t)-1) != 0 || setgroups((size_t)nsaved, saved) != 0)
		fail("binds: cannot switch back to root after opening %s as uid %d", path, (int)user_uid);
	errno = err;
	return fd;
}

/* Whether path is canonical: absolute, not "/", no empty, "." or ".." component, no trailing '/'. */
static int canonical(const char *path)
{
	if (path[0] != '/' || path[1] == '\0')
		return 0;
	for (const char *c = path; *c != '\0';) {
		const char *next = strchr(c + 1, '/');
		size_t len = next ? (size_t)(next - c - 1) : strlen(c + 1);
		if (len == 0 || (len == 1 && c[1] == '.') || (len == 2 && c[1] == '.' && c[2] == '.'))
			return 0;
		c = next ? next : c + 1 + len;
	}
	return 1;
}

/* Whether path is dir or lies below it. */
static int within(const char *path, const char *dir)
{
	size_t len = strlen(dir);
	return strncmp(path, dir, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

/* Whether bwrap must not create the destination of user bind i. bwrap (root) creates a bind's mount point by following
 * its destination inside the new root: it must only ever walk bwrap's own tmpfs and --dir entries (graft() replaces
 * the image's symlinks on that way). A destination under /proc (/proc/self/cwd/... leads out to the host root), /dev or
 * /sys (the host's), or with "." or ".." would walk elsewhere; one inside another bind, or holding a non-user one,
 * would walk a host directory the user may change meanwhile (a symlink swapped in to a host path makes root mkdir
 * there). A working directory inside $HOME is reached through the $HOME bind anyway. */
static int user_bind_refused(int i)
{
	const char *dst = binds[i].dst;
	if (!canonical(dst) || within(dst, "/proc") || within(dst, "/dev") || within(dst, "/sys"))
		return 1;
	for (int j = 0; j < nbinds; j++) {
		if (j == i)
			continue;
		if (within(dst, binds[j].dst) && !(binds[j].user && strcmp(binds[j].dst, dst) == 0 && j > i))
			return 1;  /* inside another bind (the same user bind twice: the first stays) */
		if (!within(dst, binds[j].dst) && within(binds[j].dst, dst) && !binds[j].user)
			return 1;  /* holding a site, script or image bind (a user bind inside it is the one left out) */
	}
	return 0;
}

/* bwrap: every "user" bind opened as the job's user; one it cannot open is left out (its user could not use it
 * either), and so is one whose destination bwrap could not create safely (user_bind_refused: e.g. the working
 * directory inside $HOME, which the $HOME bind shows), before graft() looks at the binds. */
static void open_user_binds(void)
{
	int kept = 0;
	int refused[MAX_BINDS];
	for (int i = 0; i < nbinds; i++)  /* all judged before any is left out */
		refused[i] = binds[i].user && user_bind_refused(i);
	for (int i = 0; i < nbinds; i++) {
		if (binds[i].user) {
			if (have_user != 3)
				fail("binds: %s: a user bind needs the job's user (--uid and --gid)", binds[i].src);
			if (refused[i])
				continue;
			if ((binds[i].fd = open_as_user(binds[i].src)) < 0)
				continue;
		}
		binds[kept++] = binds[i];
	}
	nbinds = kept;
}

/* Whether path is a bind's destination or lies inside one (a host directory in the container). */
static int inside_bind(const char *path)
{
	for (int i = 0; i < nbinds; i++)
		if (within(path, binds[i].dst))
			return 1;
	return 0;
}

/* The parents of a bind's destination that the image does not have (a working directory /srv/x/work in an image with
 * only /srv, the slurmd spool, the cache's image path) as directories the job's user may enter: bwrap, run as root,
 * creates a mount point's missing parents 0700, so a job of any other user could not reach its script, its working
 * directory or its image path. --dir on a directory that exists (the image's, grafted) changes nothing. Not under
 * /proc, /dev or /sys (the host's), nor inside another bind (a host directory: bwrap creates that mount point there). */
static void bind_parents(const char *dst)
{
	if (!canonical(dst))
		return;  /* bwrap resolves it as it always did */
	for (const char *s = strchr(dst + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
		char *parent = fmt("%.*s", (int)(s - dst), dst);
		if (within(parent, "/proc") || within(parent, "/dev") || within(parent, "/sys") || inside_bind(parent))
			free(parent);
		else
			add("--perms"), add("0755"), add("--dir"), add(parent);
	}
}

static void bwrap_args(int self_fd, int ready_fd)
{
	add(runtime_path);
	add("--die-with-parent");
	graft("", 0);
	add("--proc"), add("/proc");
	add("--dev-bind"), add("/dev"), add("/dev");   /* host devices: GPUs, InfiniBand, /dev/shm */
	add("--ro-bind"), add("/sys"), add("/sys");
	/* one per step, shared by its tasks; bwrap (root) would make it 0755 root, which no other user may write to */
	add("--perms"), add("1777"), add("--tmpfs"), add("/tmp");
	for (int i = 0; i < nbinds; i++) {
		/* nested binds: bwrap creates the mount point in the bind above it (needs it writable) or on its tmpfs */
		bind_parents(binds[i].dst);
		if (binds[i].fd >= 0)  /* the magic link binds the very directory opened (--bind-fd needs bwrap 0.8) */
			add("--bind"), add(fmt("/proc/self/fd/%d", binds[i].fd)), add(binds[i].dst);
		else
			add(binds[i].ro ? "--ro-bind" : "--bind"), add(binds[i].src), add(binds[i].dst);
	}
	add("--remount-ro"), add("/");
	add("--");
	add(fmt("/proc/self/fd/%d", self_fd)), add("hold"), add(fmt("%d", ready_fd));
}

/* bwrap's options (everything between the program and "--") go through a memfd that bwrap reads with --args: a
 * grafted image directory adds three arguments per entry (a bind into /usr/lib/x86_64-linux-gnu: a thousand or more),
 * more than this holder's argv needs to carry. bwrap itself stops at 9000 arguments: past that, a clear error. */
static void options_through_fd(void)
{
	size_t end = 1;
	while (end < nargs && strcmp(args[end], "--") != 0)
		end++;
	if (end < 3)
		return;
	if (end - 1 > BWRAP_MAX_OPTIONS)
		fail("binds: bwrap would need %zu arguments, it takes at most %d: the image's %s has %zu entries, each bound on its "
		     "own around the binds inside it; bind to a directory with fewer entries (or one the image lacks)",
		     end - 1, BWRAP_MAX_OPTIONS, widest_graft, widest_entries);
	int fd = memfd_create("placement-bwrap-args", 0);  /* no MFD_CLOEXEC: bwrap reads it */
	if (fd < 0)
		fail("container: memfd_create: %s", strerror(errno));
	for (size_t i = 1; i < end; i++) {
		const char *p = args[i];
		size_t left = strlen(p) + 1;  /* with its NUL */
		while (left > 0) {
			ssize_t w = write(fd, p, left);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				fail("container: writing bwrap's arguments: %s", strerror(errno));
			p += w, left -= (size_t)w;
		}
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
		fail("container: lseek: %s", strerror(errno));
	args_fd = fd;
	size_t rest = nargs - end;  /* "--" and the command */
	args[1] = "--args";
	args[2] = fmt("%d", fd);
	memmove(&args[3], &args[end], rest * sizeof(*args));
	nargs = 3 + rest;
	args[nargs] = NULL;
}

/* apptainer splits --bind on ',' (several binds) and ':' (SRC:DST:OPTS), enroot's --mount on ':' and blanks (it
 * becomes an fstab line): such paths cannot be passed, and would bind something else */
static void refuse_in_binds(const char *chars)
{
	for (int i = 0; i < nbinds; i++)
		for (int k = 0; k < 2; k++) {
			const char *p = k == 0 ? binds[i].src : binds[i].dst;
			if (strpbrk(p, chars) != NULL)
				fail("binds: %s: runtime %s cannot bind a path containing any of \"%s\" (use runtime=bwrap, or another directory)",
				     p, runtime, chars);
		}
}

static void apptainer_args(int self_fd, int ready_fd)
{
	refuse_in_binds(",:");
	add(runtime_path), add("exec"), add("--contain"), add("--pwd"), add("/");
	for (int i = 0; i < nbinds; i++)
		add("--bind"), add(fmt("%s:%s:%s", binds[i].src, binds[i].dst, binds[i].ro ? "ro" : "rw"));
	add(image);
	add(fmt("/proc/self/fd/%d", self_fd)), add("hold"), add(fmt("%d", ready_fd));
}

/* x-create=auto: enroot-mount creates the mount point as what the source is (a directory, or an empty file for a
 * file: the image artifact, a site bind of /etc/krb5.conf); x-create=dir would make a directory there, and binding a
 * file onto it fails (ENOTDIR). pyxis mounts with x-create=auto too. */
static void enroot_args(int self_fd, int ready_fd)
{
	refuse_in_binds(": \t\n");
	add(runtime_path), add("start"), add("--root");
	for (int i = 0; i < nbinds; i++)
		add("--mount"), add(fmt("%s:%s:%s", binds[i].src, binds[i].dst, binds[i].ro ? "x-create=auto,bind,ro" : "x-create=auto,bind,rw"));
	add(image);
	add(fmt("/proc/self/fd/%d", self_fd)), add("hold"), add(fmt("%d", ready_fd));
}

static void mount_image(void)
{
	struct stat run, img;

	if (unshare(CLONE_NEWNS) != 0)
		fail("container: unshare(CLONE_NEWNS): %s", strerror(errno));
	/* slave: host mounts (automounted /home, ...) still reach the container; ours never reach the host */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0)
		fail("container: cannot make / a slave mount: %s", strerror(errno));
	if (mount("placement", RUN_DIR, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0)
		fail("container: cannot mount a tmpfs on %s: %s", RUN_DIR, strerror(errno));
	if (mkdir(IMAGE_DIR, 0755) != 0)
		fail("container: mkdir %s: %s", IMAGE_DIR, strerror(errno));
	/* nosuid,nodev: setuid files and device nodes of an image grant nothing (asked for, not left to libfuse) */
	const char *argv[] = { squashfuse, "-f", "-o", "ro,nosuid,nodev,allow_other", image, IMAGE_DIR, NULL };
	pid_t pid = spawn(argv, -1, -1, 0);
	if (stat(RUN_DIR, &run) != 0)
		fail("container: stat %s: %s", RUN_DIR, strerror(errno));
	for (long deadline = now_ms() + READY_TIMEOUT_MS;;) {
		int status;
		const char *why;
		if (stat(IMAGE_DIR, &img) == 0 && img.st_dev != run.st_dev)
			return;
		if ((why = exited(pid, &status)) != NULL) {
			drain(err_pipe[0]);
			fail("mount: squashfuse %s %s: %s", image, why, child_err);
		}
		if (now_ms() > deadline)
			fail("mount: squashfuse %s did not mount within %d s", image, READY_TIMEOUT_MS / 1000);
		usleep(2000);
	}
}

static int __attribute__((noreturn)) hold(int fd)
{
	dprintf(fd, "ready %d\n", (int)getpid());
	close(fd);
	for (;;)
		pause();
}

/* exec NAME FILE [ARG]...: FILE (looked up on PATH without a '/') runs under the name NAME as its argv[0], with the
 * environment and everything else unchanged. For the Grid Engine starter (deploy/sge/placement-starter.sh), which starts
 * a login shell as Grid Engine does, as "-csh", "-bash": csh and tcsh take -l only without a script, bash's own
 * `exec -a` would pass bash's environment on instead of the job's, and bubblewrap 0.8 has no --argv0. Runs as the job's
 * user, in a job's image too (static); there the starter runs it as /proc/self/fd/N, a descriptor bwrap passes on,
 * which the job does not inherit. */
static void __attribute__((noreturn)) exec_as(char **argv)
{
	int fd;
	char rest;
	if (sscanf(argv[0], "/proc/self/fd/%d%c", &fd, &rest) == 1 && fd > 2)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	const char *file = argv[3];
	argv[3] = argv[2];  /* argv + 3: NAME ARG... NULL */
	execvp(file, argv + 3);
	int err = errno;
	fprintf(stderr, "placement-holder: cannot run %s: %s\n", file, strerror(err));
	_exit(err == ENOENT ? 127 : 126);
}

/* The parent of pid, from /proc/<pid>/stat; -1 if unknown. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *end = strrchr(buf, ')');  /* the command name may contain anything, ')' included */
	char state;
	int ppid;
	if (end == NULL || sscanf(end + 1, " %c %d", &state, &ppid) != 2)
		return -1;
	return (pid_t)ppid;
}

/* "ready <pid>\n" from the descriptor the runtime (and the image's code it runs) inherited: only a pid of a process
 * below this holder that runs this very binary (hold) is believed. Returns the pid, or 0. */
static pid_t ready_pid(const char *line, int self_fd)
{
	char *end;
	if (strncmp(line, "ready ", 6) != 0 || line[6] < '1' || line[6] > '9')
		return 0;
	errno = 0;
	long pid = strtol(line + 6, &end, 10);
	if (errno != 0 || pid <= 1 || pid > 0x7fffffffL || strcmp(end, "\n") != 0)
		return 0;
	pid_t up = (pid_t)pid;
	if (up == getpid())
		return 0;
	for (int depth = 0; up != getpid(); depth++)
		if (depth == 64 || (up = parent_of(up)) <= 1)
			return 0;
	char path[64];
	struct stat exe, self;
	snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
	if (stat(path, &exe) != 0 || fstat(self_fd, &self) != 0 || exe.st_dev != self.st_dev || exe.st_ino != self.st_ino)
		return 0;
	return (pid_t)pid;
}

static int start(void)
{
	int ready[2], as_user = 0;

	if (runtime == NULL || runtime_path == NULL || image == NULL)
		fail("container: placement-holder start needs --runtime, --runtime-path and --image");
	if (access(runtime_path, X_OK) != 0)
		fail("runtime %s: %s: %s", runtime, runtime_path, strerror(errno));
	setpgid(0, 0);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	/* slurmstepd passes on the job's umask: with 077, /run/placement (shared with the node agent's socket, which
	 * users' importers reach) and the image's mount point would be created 0700 */
	umask(022);
	if (mkdir(RUN_DIR, 0755) != 0 && errno != EEXIST)
		fail("container: mkdir %s: %s", RUN_DIR, strerror(errno));
	/* children's output: kept for the error message, read non-blocking */
	if (pipe2(err_pipe, O_NONBLOCK | O_CLOEXEC) != 0 || pipe2(ready, O_CLOEXEC) != 0)
		fail("container: pipe: %s", strerror(errno));
	int self = open("/proc/self/exe", O_RDONLY);   /* no O_CLOEXEC: the runtime execs it inside the container */
	if (self < 0)
		fail("container: cannot open /proc/self/exe: %s", strerror(errno));

	if (strcmp(runtime, "bwrap") == 0) {
		if (access(squashfuse, X_OK) != 0)
			fail("mount: squashfuse: %s: %s (install squashfuse)", squashfuse, strerror(errno));
		mount_image();
		if ((image_root = open(IMAGE_DIR, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			fail("container: %s: %s", IMAGE_DIR, strerror(errno));
		open_user_binds();
		bwrap_args(self, ready[1]);
		options_through_fd();
	} else if (strcmp(runtime, "apptainer") == 0) {
		as_user = 1;
		apptainer_args(self, ready[1]);
	} else if (strcmp(runtime, "enroot") == 0) {
		as_user = 1;
		enroot_args(self, ready[1]);
	} else {
		fail("container: unknown runtime '%s'", runtime);
	}
	if (as_user && have_user != 3)
		fail("container: runtime %s needs the job's user (--uid and --gid)", runtime);
	int flags = fcntl(ready[1], F_GETFD);
	fcntl(ready[1], F_SETFD, flags & ~FD_CLOEXEC);  /* inherited by the runtime, then by hold */
	pid_t pid = spawn(args, ready[1], self, as_user);
	close(ready[1]);
	/* the hold process inside the container writes "ready <pid>" once the runtime has set everything up */
	char line[64];
	size_t len = 0;
	long deadline = now_ms() + READY_TIMEOUT_MS;
	while (len < sizeof(line) - 1) {
		struct pollfd p = { .fd = ready[0], .events = POLLIN };
		long left = deadline - now_ms();
		if (left <= 0)
			fail("container: %s did not start the container within %d s", runtime, READY_TIMEOUT_MS / 1000);
		int n = poll(&p, 1, left > 200 ? 200 : (int)left);
		if (n > 0) {
			ssize_t r = read(ready[0], line + len, sizeof(line) - 1 - len);
			if (r <= 0)
				break;
			len += r;
			if (memchr(line, '\n', len) != NULL)
				break;
		}
	}
	line[len] = '\0';
	int status;
	const char *why = exited(pid, &status);
	drain(err_pipe[0]);
	if (strncmp(line, "ready ", 6) != 0 || why != NULL)
		fail("container: %s %s%s%s", runtime, why ? why : "did not start the container",
		     child_err[0] ? ": " : "", child_err);
	pid_t container = ready_pid(line, self);
	if (container == 0)
		fail("container: %s: the container's ready line is not from placement-holder hold below this holder: %.40s",
		     runtime, line);
	dprintf(STATUS_FD, "ready %d\n", (int)container);
	close(STATUS_FD);
	int null = open("/dev/null", O_RDWR);
	dup2(null, 0), dup2(null, 1), dup2(null, 2);

	/* Keep the container until slurm_spank_exit closes the lifeline (or slurmstepd dies: PDEATHSIG). If a child
	 * dies, the container is broken: take everything down as well. SIGCHLD is blocked and read from a signalfd, now
	 * that every child is started (they keep slurmstepd's mask). */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	int stopped = 0;
	for (;;) {
		pid_t dead;
		int ours = 0;  /* orphans of the runtime's own helpers also come here (subreaper): only ours count */
		while ((dead = waitpid(-1, &status, WNOHANG)) > 0)
			for (int i = 0; i < nchildren; i++)
				ours |= dead == children[i];
		if (ours || (dead < 0 && errno == ECHILD))
			break;
		struct pollfd p[2] = { { .fd = lifeline, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		if (poll(p, 2, sfd < 0 ? 200 : -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents != 0) {  /* end of file (or anything written): stop */
			stopped = 1;
			break;
		}
		struct signalfd_siginfo si;
		while (sfd >= 0 && read(sfd, &si, sizeof(si)) > 0)
			;
	}
	for (int i = 0; i < nchildren; i++)
		kill(children[i], SIGKILL);
	/* a subreaper: the runtime's own children come back to us when it dies; reap everything, so that nothing of
	 * the step is left, not even a zombie, when slurmstepd sees us exit */
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return stopped ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "hold") == 0)
		return hold(atoi(argv[2]));
	if (argc >= 4 && strcmp(argv[1], "exec") == 0)
		exec_as(argv);
	struct stat st;  /* before anything is opened: fd 4 is the lifeline only if it was there at exec */
	if (fstat(LIFELINE_FD, &st) == 0 && S_ISFIFO(st.st_mode))
		lifeline = LIFELINE_FD;
	/* Die with slurmstepd; if it is already gone, do not start anything. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		fail("container: slurmstepd is gone");
	if (argc < 2 || strcmp(argv[1], "start") != 0)
		fail("usage: placement-holder start --runtime R --runtime-path P --image F [--squashfuse P] [--bind SRC DST ro|rw|user]... [--uid U --gid G --groups G,... --home D] | hold FD | exec NAME FILE [ARG]...");
	for (int i = 2; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL)
			fail("container: %s needs a value", argv[i]);
		if (strcmp(argv[i], "--runtime") == 0)
			runtime = v;
		else if (strcmp(argv[i], "--runtime-path") == 0)
			runtime_path = v;
		else if (strcmp(argv[i], "--image") == 0)
			image = v;
		else if (strcmp(argv[i], "--squashfuse") == 0)
			squashfuse = v;
		else if (strcmp(argv[i], "--uid") == 0 || strcmp(argv[i], "--gid") == 0) {
			char *end;
			errno = 0;
			unsigned long id = strtoul(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' || id >= 0xffffffffUL)
				fail("container: bad %s '%s'", argv[i], v);
			if (argv[i][2] == 'u')
				user_uid = (uid_t)id, have_user |= 1;
			else
				user_gid = (gid_t)id, have_user |= 2;
		} else if (strcmp(argv[i], "--groups") == 0) {
			for (const char *c = v; *c != '\0';) {
				char *end;
				errno = 0;
				unsigned long id = strtoul(c, &end, 10);
				if (errno != 0 || end == c || (*end != ',' && *end != '\0') || id >= 0xffffffffUL)
					fail("container: bad --groups: '%.40s' is not a group id", c);
				if (nuser_groups == MAX_GROUPS)
					fail("container: more than %d supplementary groups", MAX_GROUPS);
				user_groups[nuser_groups++] = (gid_t)id;
				c = *end == ',' ? end + 1 : end;
			}
		} else if (strcmp(argv[i], "--home") == 0)
			user_home = v;
		else if (strcmp(argv[i], "--bind") == 0) {
			if (nbinds == MAX_BINDS)
				fail("container: more than %d binds", MAX_BINDS);
			if (i + 3 >= argc)
				fail("container: --bind needs SRC DST ro|rw");
			const char *dst = argv[i + 2], *mode = argv[i + 3];
			if (v[0] != '/' || dst[0] != '/' || (strcmp(mode, "ro") != 0 && strcmp(mode, "rw") != 0 && strcmp(mode, "user") != 0))
				fail("container: bad --bind '%s' '%s' '%s' (SRC DST ro|rw|user, absolute paths)", v, dst, mode);
			binds[nbinds++] = (struct bind){ v, dst, strcmp(mode, "ro") == 0, strcmp(mode, "user") == 0, -1 };
			i += 2;
		} else
			fail("container: unknown argument '%s'", argv[i]);
		i++;
	}
	return start();
}
