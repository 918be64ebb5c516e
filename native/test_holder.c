/* Unit test of the runtime arguments placement-holder builds (native/holder.c), without running a runtime:
 * `make -C native check`. holder.c is included for its static functions; its main is renamed. */
#define main holder_main
#include "holder.c"
#undef main

static int failures;

#define EXPECT(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static void reset(void)
{
	free(args);
	args = NULL, nargs = 0, args_cap = 0, nbinds = 0;
}

/* The argument after the n-th (0-based) "--mount", or NULL. */
static const char *mount_arg(int n)
{
	for (size_t i = 0; i + 1 < nargs; i++)
		if (strcmp(args[i], "--mount") == 0 && n-- == 0)
			return args[i + 1];
	return NULL;
}

/* enroot: a bind whose source is a file (the image artifact, a site file such as /etc/krb5.conf) must get a file as
 * its mount point, a directory bind a directory: x-create=auto (enroot-mount creates what the source is), never
 * x-create=dir, on which binding a file fails with ENOTDIR. */
static void enroot_mounts(void)
{
	reset();
	runtime = "enroot", runtime_path = "/usr/bin/enroot", image = "/var/cache/placement/images/ab/image.sqsh";
	binds[nbinds++] = (struct bind){ "/scratch", "/scratch", 0, 0, -1 };
	binds[nbinds++] = (struct bind){ "/etc/krb5.conf", "/etc/krb5.conf", 1, 0, -1 };
	binds[nbinds++] = (struct bind){ image, image, 1, 0, -1 };
	enroot_args(7, 9);
	const char *dir = mount_arg(0), *file = mount_arg(1), *artifact = mount_arg(2);
	EXPECT(dir != NULL && strcmp(dir, "/scratch:/scratch:x-create=auto,bind,rw") == 0, "directory bind: %s", dir ? dir : "(none)");
	EXPECT(file != NULL && strcmp(file, "/etc/krb5.conf:/etc/krb5.conf:x-create=auto,bind,ro") == 0, "file bind: %s",
	       file ? file : "(none)");
	EXPECT(artifact != NULL && strcmp(artifact, "/var/cache/placement/images/ab/image.sqsh:/var/cache/placement/images/ab/image.sqsh:"
					   "x-create=auto,bind,ro") == 0, "artifact bind: %s", artifact ? artifact : "(none)");
	EXPECT(mount_arg(3) == NULL, "more --mount than binds");
	for (size_t i = 0; i < nargs; i++)
		EXPECT(strstr(args[i], "x-create=dir") == NULL, "x-create=dir in %s", args[i]);
	/* the rest: start --root, the image, then hold through the inherited descriptor */
	EXPECT(nargs >= 6 && strcmp(args[0], "/usr/bin/enroot") == 0 && strcmp(args[1], "start") == 0 && strcmp(args[2], "--root") == 0,
	       "enroot start --root not first");
	EXPECT(nargs >= 4 && strcmp(args[nargs - 4], image) == 0 && strcmp(args[nargs - 3], "/proc/self/fd/7") == 0 &&
	       strcmp(args[nargs - 2], "hold") == 0 && strcmp(args[nargs - 1], "9") == 0, "image and hold not last");
	reset();
}

int main(void)
{
	enroot_mounts();
	if (failures == 0)
		printf("holder runtime arguments: all checks passed\n");
	return failures == 0 ? 0 : 1;
}
