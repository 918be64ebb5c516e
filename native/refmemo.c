/* The submit side's memo of validated references (srun, sbatch, salloc; the user's own process).
 *
 * Validating a reference needs the core library, and the first call into it starts the .NET runtime and reads
 * placement.json: ~8 ms of every srun, most of a step's launch overhead (docs/benchmarks.md). Users submit the same
 * few images again and again, so the plugin remembers, per user, what the core answered for a reference (canonical
 * form and scheduler id) and reuses it while nothing it depends on has changed: the configuration file (path, inode,
 * size, mtime, ctime), the PLACEMENT__* environment overrides, and the plugin and core library files themselves (an
 * upgrade forgets everything). Only successes are remembered: a bad reference always reaches the parser and gets its
 * message.
 *
 * Nothing here is trusted beyond the user's own submission: a user who edits their memo can only put a different
 * canonical reference or id into their own job, which they can do with --container-image and --prefer anyway; the
 * node side resolves the reference again before anything is run.
 *
 * Where: $XDG_RUNTIME_DIR/placement-refs (the per-user tmpfs of a login session), else /tmp/placement-<uid>/refs.
 * The directory must be the user's, not a symbolic link, and closed to group and others (as tmux and ssh-agent check
 * their /tmp directories); otherwise the memo is not used and every submission validates in full. At most
 * MEMO_ENTRIES entries, newest first, replaced whole (temporary file + rename), so concurrent submissions never read a
 * torn file; a lost update only costs one more validation. */
#define _GNU_SOURCE /* mkostemp */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "refmemo.h"

#define MEMO_ENTRIES 64
#define MEMO_BYTES (64 * 1024)
#define MEMO_MAGIC "placement-refs 1"

extern char **environ;

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

#define FNV_OFFSET 14695981039346656037ULL

static uint64_t hash_stat(uint64_t h, const char *path)
{
	struct stat st;
	if (path == NULL || stat(path, &st) != 0) {
		int e = errno;
		return fnv1a(h, &e, sizeof(e));
	}
	uint64_t v[] = { (uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec,
			 (uint64_t)st.st_mtim.tv_nsec, (uint64_t)st.st_ctim.tv_sec, (uint64_t)st.st_ctim.tv_nsec };
	return fnv1a(h, v, sizeof(v));
}

uint64_t placement_memo_context(const char *config_path, const char *plugin_path, const char *core_path)
{
	/* The same file the core reads: the explicit path, else $PLACEMENT_CONFIG, else the default
	 * (PlacementConfiguration.ResolvePath). */
	const char *config = config_path != NULL && config_path[0] != '\0' ? config_path : getenv("PLACEMENT_CONFIG");
	if (config == NULL || config[0] == '\0')
		config = PLACEMENT_DEFAULT_CONFIG;
	uint64_t h = fnv1a(FNV_OFFSET, MEMO_MAGIC, sizeof(MEMO_MAGIC));
	h = fnv1a(h, plugin_path, strlen(plugin_path) + 1);
	h = hash_stat(h, plugin_path);
	h = fnv1a(h, config, strlen(config) + 1);
	h = hash_stat(h, config);
	h = fnv1a(h, core_path, strlen(core_path) + 1);
	h = hash_stat(h, core_path);
	/* PLACEMENT__Section__Key overrides, in any order: combine each variable's own hash commutatively. */
	uint64_t env = 0;
	for (char **e = environ; e != NULL && *e != NULL; e++) {
		if (strncmp(*e, "PLACEMENT__", 11) == 0)
			env += fnv1a(FNV_OFFSET, *e, strlen(*e));
	}
	return fnv1a(h, &env, sizeof(env));
}

/* A directory of ours: a real directory owned by this user, closed to group and others. */
static int own_private_dir(const char *dir)
{
	struct stat st;
	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid() && (st.st_mode & 077) == 0;
}

int placement_memo_path(char *out, size_t len)
{
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (runtime != NULL && runtime[0] == '/' && lstat(runtime, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == getuid() && (st.st_mode & 022) == 0) {
		n = snprintf(out, len, "%s/placement-refs", runtime);
		return n > 0 && (size_t)n < len ? 0 : -1;
	}
	char dir[64];
	snprintf(dir, sizeof(dir), "/tmp/placement-%u", (unsigned)getuid());
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	if (!own_private_dir(dir))
		return -1;
	n = snprintf(out, len, "%s/refs", dir);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Reads the memo into buf (NUL-terminated); 0 on success. Refuses files that are not ours or are links. */
static int read_memo(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	size_t used = 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 022) != 0) {
		close(fd);
		return -1;
	}
	while (used + 1 < len) {
		ssize_t r = read(fd, buf + used, len - 1 - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		used += (size_t)r;
	}
	close(fd);
	buf[used] = '\0';
	if (used + 1 >= len)
		return -1; /* larger than any memo this plugin writes: not ours to trust */
	return strncmp(buf, MEMO_MAGIC "\n", sizeof(MEMO_MAGIC)) == 0 ? 0 : -1;
}

/* Splits one line "context\treference\tcanonical\tid" in place; 0 when it has exactly four fields. */
static int split(char *line, char **fields)
{
	int n = 0;
	fields[n++] = line;
	for (char *c = line; *c != '\0'; c++) {
		if (*c == '\t') {
			if (n == 4)
				return -1;
			*c = '\0';
			fields[n++] = c + 1;
		}
	}
	return n == 4 ? 0 : -1;
}

/* Values with a tab, a newline or another control character are never stored (and cannot be valid references). */
static int storable(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	}
	return 1;
}

int placement_memo_get(const char *path, uint64_t context, const char *reference, char *canonical, size_t canonical_len,
		       char *id, size_t id_len)
{
	static char buf[MEMO_BYTES];
	char key[17];

	if (!storable(reference) || read_memo(path, buf, sizeof(buf)) != 0)
		return 0;
	snprintf(key, sizeof(key), "%016llx", (unsigned long long)context);
	char *save = NULL;
	for (char *line = strtok_r(buf + sizeof(MEMO_MAGIC), "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *f[4];
		if (split(line, f) != 0 || strcmp(f[0], key) != 0 || strcmp(f[1], reference) != 0)
			continue;
		if (strlen(f[2]) >= canonical_len || strlen(f[3]) >= id_len || f[2][0] == '\0' || f[3][0] == '\0')
			return 0;
		strcpy(canonical, f[2]);
		strcpy(id, f[3]);
		return 1;
	}
	return 0;
}

int placement_memo_put(const char *path, uint64_t context, const char *reference, const char *canonical, const char *id)
{
	static char old[MEMO_BYTES];
	char key[17], tmp[4200];
	int kept = 0;
	size_t total;

	if (!storable(reference) || !storable(canonical) || !storable(id))
		return -1;
	snprintf(key, sizeof(key), "%016llx", (unsigned long long)context);
	int n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -1;
	FILE *out = fdopen(fd, "w");
	if (out == NULL) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	total = sizeof(MEMO_MAGIC) + strlen(key) + strlen(reference) + strlen(canonical) + strlen(id) + 4;
	if (total >= MEMO_BYTES) {
		fclose(out);
		unlink(tmp);
		return -1;
	}
	fprintf(out, MEMO_MAGIC "\n%s\t%s\t%s\t%s\n", key, reference, canonical, id);
	/* Keep the other entries of this context, newest first; entries of another context are stale. */
	if (read_memo(path, old, sizeof(old)) == 0) {
		char *save = NULL;
		for (char *line = strtok_r(old + sizeof(MEMO_MAGIC), "\n", &save); line != NULL && kept < MEMO_ENTRIES - 1;
		     line = strtok_r(NULL, "\n", &save)) {
			char *f[4];
			if (split(line, f) != 0 || strcmp(f[0], key) != 0 || strcmp(f[1], reference) == 0)
				continue;
			size_t line_len = strlen(f[0]) + strlen(f[1]) + strlen(f[2]) + strlen(f[3]) + 4;
			if (total + line_len >= MEMO_BYTES)
				break;
			total += line_len;
			fprintf(out, "%s\t%s\t%s\t%s\n", f[0], f[1], f[2], f[3]);
			kept++;
		}
	}
	if (fclose(out) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}
