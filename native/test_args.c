/* Unit test of the plugstack.conf argument parser (native/args.c), hostile values included: `make -C native check`
 * (`make -C native sanitize` runs it under AddressSanitizer and UBSan). Every argument is copied into a heap block of
 * exactly its size, so a read past its terminator is caught. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

static int failures;

#define EXPECT(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static struct placement_args args;
static char err[512];

/* Parses the NULL-terminated arguments; the return value of placement_args_parse. */
static int parse_list(const char *const *list)
{
	char *av[16];
	int ac = 0;
	for (; list[ac] != NULL; ac++)
		av[ac] = strdup(list[ac]);
	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	int rc = placement_args_parse(&args, ac, av, err, (int)sizeof(err));
	for (int i = 0; i < ac; i++)
		free(av[i]);
	return rc;
}

#define PARSE(...) parse_list((const char *const[]){ __VA_ARGS__, NULL })

static void accepts(const char *arg)
{
	int rc = PARSE(arg);
	EXPECT(rc == 0, "'%.80s' refused: %s", arg, err);
}

static void refuses(const char *arg, const char *message)
{
	int rc = PARSE(arg);
	EXPECT(rc != 0, "'%.80s' accepted", arg);
	EXPECT(rc == 0 || strstr(err, message) != NULL, "'%.80s': error '%.200s' does not say '%s'", arg, err, message);
}

/* key=<c repeated n times>, on the heap */
static char *long_arg(const char *key, char c, size_t n)
{
	size_t klen = strlen(key);
	char *s = malloc(klen + 1 + n + 1);
	memcpy(s, key, klen);
	s[klen] = '=';
	memset(s + klen + 1, c, n);
	s[klen + 1 + n] = '\0';
	return s;
}

static void defaults(void)
{
	EXPECT(parse_list((const char *const[]){ NULL }) == 0, "no arguments refused: %s", err);
	EXPECT(strcmp(args.option, "container-image") == 0, "option '%s'", args.option);
	EXPECT(strcmp(args.agent_socket, PLACEMENT_DEFAULT_AGENT_SOCKET) == 0, "agent_socket '%s'", args.agent_socket);
	EXPECT(args.mode == PLACEMENT_MODE_SOFT && args.runtime == PLACEMENT_RUNTIME_BWRAP && args.ref_cache == 1, "defaults");
	EXPECT(PARSE("mode=hard", "runtime=enroot", "ref_cache=off", "default_image=ubuntu:22.04", "binds=/scratch,/opt/a:/a:ro") == 0,
	       "a valid line refused: %s", err);
	EXPECT(args.mode == PLACEMENT_MODE_HARD && args.runtime == PLACEMENT_RUNTIME_ENROOT && args.ref_cache == 0, "values not taken");
	EXPECT(strcmp(placement_runtime_name(args.runtime), "enroot") == 0, "runtime name");
	EXPECT(PARSE("follow=pyxis", "option=placement-image") == 0 && strcmp(args.follow_plugin, "pyxis") == 0 && strcmp(args.follow_option, "container-image") == 0,
	       "follow=pyxis not taken: %s", err);
}

static void malformed(void)
{
	refuses("", "is not key=value");
	refuses("mode", "is not key=value");
	refuses("=soft", "unknown argument ''");
	refuses("mode=", "mode: invalid value ''");
	refuses("modes=hard", "unknown argument 'modes'");
	refuses("mod=hard", "unknown argument 'mod'");
	refuses("mode=hard\n", "mode: invalid value");
	refuses("runtime=bwrap ", "runtime: invalid value");
	refuses("ref_cache=", "ref_cache: invalid value");
	refuses("option=", "option: invalid value");
	refuses("option=-x", "option: invalid value");
	refuses("option=a\nb", "option: invalid value");
	refuses("option=Image", "option: invalid value");
	refuses("config=relative.json", "must be an absolute path");
	refuses("config=", "must be an absolute path");
	refuses("agent_socket=", "must be an absolute path");
	refuses("runtime_path=bwrap", "must be an absolute path");
	accepts("default_image=");
	accepts("binds=");
	accepts("agent_socket=none");
}

static void binds(void)
{
	accepts("binds=/a");
	accepts("binds=/a:ro");
	accepts("binds=/a:/b:rw");
	refuses("binds=,", "empty entry");
	refuses("binds=/a,", "empty entry");
	refuses("binds=,/a", "empty entry");
	refuses("binds=/a,,/b", "empty entry");
	refuses("binds=:", "invalid entry");
	refuses("binds=/a:", "invalid entry");
	refuses("binds=/a:b", "invalid entry");
	refuses("binds=a", "invalid entry");
	refuses("binds=/a:/b:/c", "invalid entry");
	refuses("binds=/a:/b:ro:rw", "invalid entry");
	refuses("binds=/a:/b:/c:/d:/e:/f", "invalid entry");
}

static void follow(void)
{
	refuses("follow=", "follow: invalid value");
	refuses("follow=:", "follow: invalid value");
	refuses("follow=:x", "follow: invalid value");
	refuses("follow=pyxis:", "invalid option name");
	refuses("follow=pyxis:-x", "invalid option name");
	refuses("follow=py xis", "invalid plugin name");
	refuses("follow=py\nxis", "invalid plugin name");
	refuses("follow=placement", "placement is this plugin");
	EXPECT(PARSE("follow=pyxis:image", "option=image") != 0 && strstr(err, "two plugins cannot register one option") != NULL,
	       "follow of this plugin's own option accepted: %s", err);
	EXPECT(PARSE("follow=pyxis", "option=placement-image") == 0, "follow with another option refused: %s", err);
}

/* Each bounded field at its largest and one past it. */
static void lengths(void)
{
	static const struct { const char *key; char c; size_t max; const char *prefix; } fields[] = {
		{ "option", 'o', sizeof(args.option) - 1, NULL },
		{ "default_image", 'i', PLACEMENT_ARG_MAX - 1, NULL },
		{ "default_gpu_image", 'g', PLACEMENT_ARG_MAX - 1, NULL },
		{ "config", 'c', PLACEMENT_ARG_MAX - 1, "/" },
		{ "agent_socket", 's', sizeof(args.agent_socket) - 1, "/" },
		{ "runtime_path", 'r', PLACEMENT_ARG_MAX - 1, "/" },
		{ "binds", 'b', PLACEMENT_ARG_MAX - 1, "/" },
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		for (size_t n = fields[i].max; n <= fields[i].max + 1; n++) {
			char *arg = long_arg(fields[i].key, fields[i].c, n);
			if (fields[i].prefix != NULL)
				arg[strlen(fields[i].key) + 1] = fields[i].prefix[0];
			int rc = parse_list((const char *const[]){ arg, NULL });
			if (n == fields[i].max)
				EXPECT(rc == 0, "%s of %zu characters refused: %s", fields[i].key, n, err);
			else
				EXPECT(rc != 0 && strstr(err, "is longer than") != NULL, "%s of %zu characters: rc %d, '%.200s'", fields[i].key, n, rc, err);
			free(arg);
		}
	}
	/* follow=PLUGIN:OPTION: 63 characters each at most */
	char *plugin = long_arg("follow", 'p', sizeof(args.follow_plugin) - 1);
	EXPECT(parse_list((const char *const[]){ plugin, "option=placement-image", NULL }) == 0 && strlen(args.follow_plugin) == sizeof(args.follow_plugin) - 1,
	       "a plugin name of %zu characters refused: %s", sizeof(args.follow_plugin) - 1, err);
	free(plugin);
	plugin = long_arg("follow", 'p', sizeof(args.follow_plugin));
	EXPECT(parse_list((const char *const[]){ plugin, NULL }) != 0, "a plugin name of %zu characters accepted", sizeof(args.follow_plugin));
	free(plugin);
	char option[200];
	snprintf(option, sizeof(option), "follow=pyxis:%0*d", (int)sizeof(args.follow_option) - 1, 0);
	EXPECT(PARSE(option) == 0 && strlen(args.follow_option) == sizeof(args.follow_option) - 1, "a followed option of 63 characters refused: %s", err);
	snprintf(option, sizeof(option), "follow=pyxis:%0*d", (int)sizeof(args.follow_option), 0);
	EXPECT(PARSE(option) != 0, "a followed option of 64 characters accepted");

	/* far past every buffer: 1 MiB */
	char *huge = long_arg("default_image", 'h', 1 << 20);
	EXPECT(parse_list((const char *const[]){ huge, NULL }) != 0 && strstr(err, "is longer than") != NULL, "1 MiB image: '%.100s'", err);
	free(huge);
	huge = long_arg("mode", 'h', 1 << 20);
	EXPECT(parse_list((const char *const[]){ huge, NULL }) != 0 && strlen(err) == sizeof(err) - 1, "1 MiB mode: error not cut to the buffer");
	free(huge);
	huge = long_arg("k", 'h', 1 << 20);
	huge[1 << 19] = '\0'; /* a key of 512 KiB without '=' */
	EXPECT(parse_list((const char *const[]){ huge, NULL }) != 0, "1 MiB key accepted");
	free(huge);
}

/* binds= longer than its buffer: the length is the error, whatever the entry the buffer would cut in two. */
static void overlong_binds(void)
{
	char value[PLACEMENT_ARG_MAX + 64];
	size_t used = (size_t)snprintf(value, sizeof(value), "binds=");
	while (used < 6 + PLACEMENT_ARG_MAX - 3)  /* entries "/a" up to where the buffer ends after "/x:" */
		used += (size_t)snprintf(value + used, sizeof(value) - used, "/a,");
	snprintf(value + 6 + PLACEMENT_ARG_MAX - 4, sizeof(value) - (6 + PLACEMENT_ARG_MAX - 4), "/x:/destination:ro");
	char *arg = strdup(value);
	EXPECT(parse_list((const char *const[]){ arg, NULL }) != 0, "binds= of %zu characters accepted", strlen(arg) - 6);
	EXPECT(strstr(err, "binds: value is longer than 1023 characters") != NULL, "binds= of %zu characters: '%.200s'", strlen(arg) - 6, err);
	free(arg);
}

/* A tiny error buffer: messages are cut, never written past it. */
static void small_error_buffer(void)
{
	char *av[] = { strdup("mode=nonsense-nonsense-nonsense") };
	char *small = malloc(8);
	EXPECT(placement_args_parse(&args, 1, av, small, 8) != 0 && strlen(small) == 7, "error in 8 bytes: '%s'", small);
	free(small);
	free(av[0]);
}

int main(void)
{
	defaults();
	malformed();
	binds();
	follow();
	lengths();
	overlong_binds();
	small_error_buffer();
	if (failures == 0)
		printf("plugstack arguments: all checks passed\n");
	return failures == 0 ? 0 : 1;
}
