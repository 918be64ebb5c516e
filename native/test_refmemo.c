/* Unit test of the submit side's memo of validated references (native/refmemo.c): `make -C native check`. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "refmemo.h"

static int failures;

#define EXPECT(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static char dir[256], memo[300], config[300], plugin[300], core[300];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static int hit(uint64_t context, const char *reference, const char *want_canonical, const char *want_id)
{
	char canonical[4096] = "", id[64] = "";
	int found = placement_memo_get(memo, context, reference, canonical, sizeof(canonical), id, sizeof(id));
	if (found && want_canonical != NULL) {
		EXPECT(strcmp(canonical, want_canonical) == 0, "%s: canonical '%s', want '%s'", reference, canonical, want_canonical);
		EXPECT(strcmp(id, want_id) == 0, "%s: id '%s', want '%s'", reference, id, want_id);
	}
	return found;
}

static void remembers_and_answers(void)
{
	unlink(memo);
	uint64_t ctx = placement_memo_context(config, plugin, core);
	EXPECT(!hit(ctx, "ubuntu:22.04", NULL, NULL), "empty memo answered");
	EXPECT(placement_memo_put(memo, ctx, "ubuntu:22.04", "docker://docker.io/library/ubuntu:22.04", "img_02190f3b766d") == 0, "put failed");
	EXPECT(hit(ctx, "ubuntu:22.04", "docker://docker.io/library/ubuntu:22.04", "img_02190f3b766d"), "not remembered");
	EXPECT(!hit(ctx, "ubuntu:24.04", NULL, NULL), "another reference answered");
	EXPECT(!hit(ctx, "ubuntu:22.0", NULL, NULL), "a prefix answered");
	EXPECT(!hit(ctx + 1, "ubuntu:22.04", NULL, NULL), "another context answered");
	struct stat st;
	EXPECT(stat(memo, &st) == 0 && (st.st_mode & 077) == 0, "memo readable by others: %o", st.st_mode & 0777);
	/* the same reference again replaces its entry */
	EXPECT(placement_memo_put(memo, ctx, "ubuntu:22.04", "docker://docker.io/library/ubuntu:22.04", "img_ubuntu") == 0, "put failed");
	EXPECT(hit(ctx, "ubuntu:22.04", "docker://docker.io/library/ubuntu:22.04", "img_ubuntu"), "not replaced");
}

static void context_follows_what_the_core_reads(void)
{
	uint64_t a = placement_memo_context(config, plugin, core);
	EXPECT(a == placement_memo_context(config, plugin, core), "context not stable");
	/* the configuration file changes (a new mtime even within the same second) */
	struct timespec times[2] = { { 0, UTIME_OMIT }, { 1000000000, 123 } };
	EXPECT(utimensat(AT_FDCWD, config, times, 0) == 0, "utimensat");
	uint64_t b = placement_memo_context(config, plugin, core);
	EXPECT(a != b, "a changed configuration file kept the context");
	write_file(config, "{ \"Catalog\": { \"x\": \"y\" } }");
	EXPECT(b != placement_memo_context(config, plugin, core), "rewritten configuration kept the context");
	b = placement_memo_context(config, plugin, core);
	/* an environment override */
	setenv("PLACEMENT__Catalog__tiny__Reference", "docker://r/tiny:1", 1);
	uint64_t c = placement_memo_context(config, plugin, core);
	EXPECT(c != b, "a PLACEMENT__ variable kept the context");
	setenv("PLACEMENT__Catalog__tiny__Reference", "docker://r/tiny:2", 1);
	EXPECT(c != placement_memo_context(config, plugin, core), "a changed PLACEMENT__ value kept the context");
	unsetenv("PLACEMENT__Catalog__tiny__Reference");
	EXPECT(b == placement_memo_context(config, plugin, core), "context not restored");
	setenv("UNRELATED", "1", 1);
	EXPECT(b == placement_memo_context(config, plugin, core), "an unrelated variable changed the context");
	/* the core library or the plugin is replaced */
	write_file(core, "new build");
	EXPECT(b != placement_memo_context(config, plugin, core), "a new core kept the context");
	b = placement_memo_context(config, plugin, core);
	write_file(plugin, "new plugin");
	EXPECT(b != placement_memo_context(config, plugin, core), "a new plugin kept the context");
	b = placement_memo_context(config, plugin, core);
	/* no explicit config: $PLACEMENT_CONFIG names the file the core reads */
	setenv("PLACEMENT_CONFIG", config, 1);
	uint64_t d = placement_memo_context(NULL, plugin, core);
	EXPECT(d == b, "$PLACEMENT_CONFIG is not the same file as config=");
	unsetenv("PLACEMENT_CONFIG");
	EXPECT(placement_memo_context(NULL, plugin, core) != b, "the default file is the same as config=");
	/* a missing file is a context of its own */
	char missing[320];
	snprintf(missing, sizeof(missing), "%s.missing", config);
	EXPECT(placement_memo_context(missing, plugin, core) != b, "a missing file has the same context");
}

static void stays_bounded_and_drops_stale_contexts(void)
{
	unlink(memo);
	char ref[64], can[128];
	for (int i = 0; i < 70; i++) {
		snprintf(ref, sizeof(ref), "r%d:1", i);
		snprintf(can, sizeof(can), "docker://docker.io/library/r%d:1", i);
		EXPECT(placement_memo_put(memo, 7, ref, can, "img_aaaaaaaaaaaa") == 0, "put %d", i);
	}
	EXPECT(hit(7, "r69:1", "docker://docker.io/library/r69:1", "img_aaaaaaaaaaaa"), "newest lost");
	EXPECT(hit(7, "r6:1", "docker://docker.io/library/r6:1", "img_aaaaaaaaaaaa"), "64th newest lost");
	EXPECT(!hit(7, "r5:1", NULL, NULL), "65th newest kept: the memo is unbounded");
	EXPECT(placement_memo_put(memo, 8, "x:1", "docker://docker.io/library/x:1", "img_bbbbbbbbbbbb") == 0, "put");
	EXPECT(!hit(7, "r69:1", NULL, NULL), "an entry of a stale context kept");
	EXPECT(hit(8, "x:1", "docker://docker.io/library/x:1", "img_bbbbbbbbbbbb"), "new context lost");
}

static void refuses_what_it_should_not_trust(void)
{
	unlink(memo);
	EXPECT(placement_memo_put(memo, 1, "a\tb", "c", "d") != 0, "stored a reference with a tab");
	EXPECT(placement_memo_put(memo, 1, "a\nb", "c", "d") != 0, "stored a reference with a newline");
	EXPECT(placement_memo_put(memo, 1, "a", "c\n", "d") != 0, "stored a canonical form with a newline");
	EXPECT(placement_memo_put(memo, 1, "", "c", "d") != 0, "stored an empty reference");
	EXPECT(access(memo, F_OK) != 0, "a refused entry created the file");

	EXPECT(placement_memo_put(memo, 1, "a:1", "docker://h/a:1", "img_cccccccccccc") == 0, "put");
	EXPECT(hit(1, "a:1", NULL, NULL), "not remembered");
	chmod(memo, 0620);
	EXPECT(!hit(1, "a:1", NULL, NULL), "used a group-writable memo");
	chmod(memo, 0600);

	char other[320];
	snprintf(other, sizeof(other), "%s.real", memo);
	rename(memo, other);
	EXPECT(symlink(other, memo) == 0, "symlink");
	EXPECT(!hit(1, "a:1", NULL, NULL), "followed a symbolic link");
	unlink(memo);
	rename(other, memo);
	EXPECT(hit(1, "a:1", NULL, NULL), "lost after the rename back");

	write_file(memo, "something else\n0000000000000001\ta:1\tdocker://h/a:1\timg_cccccccccccc\n");
	EXPECT(!hit(1, "a:1", NULL, NULL), "used a file without the header");
	write_file(memo, "placement-refs 1\n0000000000000001\ta:1\tdocker://h/a:1\n0000000000000001\ta:1\tx\ty\tz\n");
	EXPECT(!hit(1, "a:1", NULL, NULL), "used a line with three or five fields");

	/* a file larger than the plugin ever writes (it could have been cut) */
	FILE *f = fopen(memo, "w");
	fputs("placement-refs 1\n", f);
	for (int i = 0; i < 2000; i++)
		fputs("0000000000000002\tfiller:1\tdocker://h/filler:1\timg_dddddddddddd\n", f);
	fputs("0000000000000001\ta:1\tdocker://h/a:1\timg_cccccccccccc\n", f);
	fclose(f);
	EXPECT(!hit(1, "a:1", NULL, NULL), "used an oversized memo");
	EXPECT(placement_memo_put(memo, 1, "a:1", "docker://h/a:1", "img_cccccccccccc") == 0, "put over an oversized memo");
	EXPECT(hit(1, "a:1", NULL, NULL), "not remembered after replacing an oversized memo");

	/* answers that do not fit the caller's buffers are misses, not truncations */
	char canonical[8], id[64];
	EXPECT(!placement_memo_get(memo, 1, "a:1", canonical, sizeof(canonical), id, sizeof(id)), "truncated an answer");
}

static void finds_a_private_place(void)
{
	char path[512], xdg[300];
	snprintf(xdg, sizeof(xdg), "%s/xdg", dir);
	mkdir(xdg, 0700);
	setenv("XDG_RUNTIME_DIR", xdg, 1);
	EXPECT(placement_memo_path(path, sizeof(path)) == 0 && strncmp(path, xdg, strlen(xdg)) == 0, "not in XDG_RUNTIME_DIR: %s", path);
	chmod(xdg, 0777);
	char fallback[64];
	snprintf(fallback, sizeof(fallback), "/tmp/placement-%u/refs", (unsigned)getuid());
	int rc = placement_memo_path(path, sizeof(path));
	EXPECT(rc != 0 || strcmp(path, fallback) == 0, "a world-writable XDG_RUNTIME_DIR used: %s", path);
	unsetenv("XDG_RUNTIME_DIR");
	rc = placement_memo_path(path, sizeof(path));
	EXPECT(rc != 0 || strcmp(path, fallback) == 0, "fallback is %s", path);
	if (rc == 0) {
		struct stat st;
		snprintf(fallback, sizeof(fallback), "/tmp/placement-%u", (unsigned)getuid());
		EXPECT(lstat(fallback, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 077) == 0, "fallback directory not private");
	}
	chmod(xdg, 0700);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test-refmemo-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(memo, sizeof(memo), "%s/refs", dir);
	snprintf(config, sizeof(config), "%s/placement.json", dir);
	snprintf(plugin, sizeof(plugin), "%s/spank_placement.so", dir);
	snprintf(core, sizeof(core), "%s/libplacement.so", dir);
	write_file(config, "{}");
	write_file(plugin, "plugin");
	write_file(core, "core");

	remembers_and_answers();
	context_follows_what_the_core_reads();
	stays_bounded_and_drops_stale_contexts();
	refuses_what_it_should_not_trust();
	finds_a_private_place();

	char cmd[320];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	if (failures) {
		fprintf(stderr, "%d refmemo check(s) failed\n", failures);
		return 1;
	}
	printf("refmemo: all checks passed\n");
	return 0;
}
