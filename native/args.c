#include <stdio.h>
#include <string.h>

#include "args.h"

#define KNOWN_KEYS "option, default_image, default_gpu_image, config, mode, agent_socket, runtime, runtime_path, binds, ref_cache, follow"

static const char *runtimes[] = { "bwrap", "apptainer", "enroot", "none" };

const char *placement_runtime_name(enum placement_runtime runtime)
{
	return runtimes[runtime];
}

/* SRC[:DST][:ro|:rw] entries separated by commas; SRC and DST absolute, no empty entries. */
static int valid_binds(const char *value, char *err, int err_len)
{
	char copy[PLACEMENT_ARG_MAX];
	char *save = NULL;

	snprintf(copy, sizeof(copy), "%s", value);
	if (value[0] == '\0')
		return 0;
	if (value[strlen(value) - 1] == ',' || value[0] == ',' || strstr(value, ",,") != NULL) {
		snprintf(err, err_len, "binds: invalid value '%s': empty entry", value);
		return -1;
	}
	for (char *entry = strtok_r(copy, ",", &save); entry != NULL; entry = strtok_r(NULL, ",", &save)) {
		char *parts[4] = { entry, NULL, NULL, NULL };
		int n = 1;
		for (char *c = entry; *c && n < 4; c++)
			if (*c == ':') {
				*c = '\0';
				parts[n++] = c + 1;
			}
		const char *mode = NULL;
		if (n >= 2 && (strcmp(parts[n - 1], "ro") == 0 || strcmp(parts[n - 1], "rw") == 0))
			mode = parts[--n];
		if (n > 2 || parts[0][0] != '/' || (n == 2 && parts[1][0] != '/')) {
			snprintf(err, err_len, "binds: invalid entry '%s%s%s%s%s': use SRC[:DST][:ro|:rw] with absolute paths, comma-separated",
				 parts[0], n == 2 ? ":" : "", n == 2 ? parts[1] : "", mode ? ":" : "", mode ? mode : "");
			return -1;
		}
	}
	return 0;
}

static int copy_value(char *dst, size_t dst_len, const char *key, const char *value, char *err, int err_len)
{
	if (strlen(value) >= dst_len) {
		snprintf(err, err_len, "argument %s: value is longer than %zu characters", key, dst_len - 1);
		return -1;
	}
	strcpy(dst, value);
	return 0;
}

static int valid_option_name(const char *s)
{
	if (*s == '\0' || *s == '-')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

/* follow=PLUGIN[:OPTION]: PLUGIN as plugin_name in its SPANK_PLUGIN() (pyxis: "pyxis"), OPTION its option. */
static int parse_follow(struct placement_args *args, const char *value, char *err, int err_len)
{
	const char *colon = strchr(value, ':');
	size_t plen = colon ? (size_t)(colon - value) : strlen(value);
	const char *option = colon ? colon + 1 : "container-image";

	if (plen == 0 || plen >= sizeof(args->follow_plugin)) {
		snprintf(err, err_len, "follow: invalid value '%s': use PLUGIN[:OPTION], e.g. follow=pyxis (its --container-image)", value);
		return -1;
	}
	for (size_t i = 0; i < plen; i++) {
		char c = value[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			snprintf(err, err_len, "follow: invalid plugin name in '%s': use the plugin's name (letters, digits, '-', '_'), e.g. follow=pyxis", value);
			return -1;
		}
	}
	if (!valid_option_name(option) || strlen(option) >= sizeof(args->follow_option)) {
		snprintf(err, err_len, "follow: invalid option name in '%s': use lowercase letters, digits, '-' and '_', e.g. follow=pyxis:container-image", value);
		return -1;
	}
	memcpy(args->follow_plugin, value, plen);
	args->follow_plugin[plen] = '\0';
	strcpy(args->follow_option, option);
	if (strcmp(args->follow_plugin, "placement") == 0) {
		snprintf(err, err_len, "follow: invalid value '%s': placement is this plugin; name the plugin whose option to follow, e.g. follow=pyxis", value);
		return -1;
	}
	return 0;
}

int placement_args_parse(struct placement_args *args, int ac, char **av, char *err, int err_len)
{
	memset(args, 0, sizeof(*args));
	strcpy(args->option, "container-image");
	strcpy(args->agent_socket, PLACEMENT_DEFAULT_AGENT_SOCKET);
	args->mode = PLACEMENT_MODE_SOFT;
	args->runtime = PLACEMENT_RUNTIME_BWRAP;
	args->ref_cache = 1;

	for (int i = 0; i < ac; i++) {
		const char *arg = av[i];
		const char *eq = strchr(arg, '=');
		if (eq == NULL) {
			snprintf(err, err_len, "argument '%s' is not key=value (known keys: " KNOWN_KEYS ")", arg);
			return -1;
		}
		size_t klen = (size_t)(eq - arg);
		const char *value = eq + 1;
		if (klen == 6 && strncmp(arg, "option", klen) == 0) {
			if (!valid_option_name(value)) {
				snprintf(err, err_len, "option: invalid value '%s': use lowercase letters, digits, '-' and '_'", value);
				return -1;
			}
			if (copy_value(args->option, sizeof(args->option), "option", value, err, err_len))
				return -1;
		} else if (klen == 13 && strncmp(arg, "default_image", klen) == 0) {
			if (copy_value(args->default_image, sizeof(args->default_image), "default_image", value, err, err_len))
				return -1;
		} else if (klen == 17 && strncmp(arg, "default_gpu_image", klen) == 0) {
			if (copy_value(args->default_gpu_image, sizeof(args->default_gpu_image), "default_gpu_image", value, err, err_len))
				return -1;
		} else if (klen == 6 && strncmp(arg, "config", klen) == 0) {
			if (value[0] != '/') {
				snprintf(err, err_len, "config: invalid value '%s': must be an absolute path", value);
				return -1;
			}
			if (copy_value(args->config, sizeof(args->config), "config", value, err, err_len))
				return -1;
		} else if (klen == 12 && strncmp(arg, "agent_socket", klen) == 0) {
			if (value[0] != '/' && strcmp(value, "none") != 0) {
				snprintf(err, err_len, "agent_socket: invalid value '%s': must be an absolute path (%%n is the node name) or none", value);
				return -1;
			}
			if (copy_value(args->agent_socket, sizeof(args->agent_socket), "agent_socket", value, err, err_len))
				return -1;
		} else if (klen == 4 && strncmp(arg, "mode", klen) == 0) {
			if (strcmp(value, "soft") == 0)
				args->mode = PLACEMENT_MODE_SOFT;
			else if (strcmp(value, "hard") == 0)
				args->mode = PLACEMENT_MODE_HARD;
			else {
				snprintf(err, err_len, "mode: invalid value '%s': use soft or hard", value);
				return -1;
			}
		} else if (klen == 7 && strncmp(arg, "runtime", klen) == 0) {
			size_t i;
			for (i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++)
				if (strcmp(value, runtimes[i]) == 0)
					break;
			if (i == sizeof(runtimes) / sizeof(runtimes[0])) {
				snprintf(err, err_len, "runtime: invalid value '%s': use bwrap, apptainer, enroot or none", value);
				return -1;
			}
			args->runtime = (enum placement_runtime)i;
		} else if (klen == 12 && strncmp(arg, "runtime_path", klen) == 0) {
			if (value[0] != '/') {
				snprintf(err, err_len, "runtime_path: invalid value '%s': must be an absolute path", value);
				return -1;
			}
			if (copy_value(args->runtime_path, sizeof(args->runtime_path), "runtime_path", value, err, err_len))
				return -1;
		} else if (klen == 9 && strncmp(arg, "ref_cache", klen) == 0) {
			if (strcmp(value, "on") == 0)
				args->ref_cache = 1;
			else if (strcmp(value, "off") == 0)
				args->ref_cache = 0;
			else {
				snprintf(err, err_len, "ref_cache: invalid value '%s': use on or off", value);
				return -1;
			}
		} else if (klen == 5 && strncmp(arg, "binds", klen) == 0) {
			/* the length first: valid_binds reads a copy cut to the buffer, whose last entry may be cut in two */
			if (copy_value(args->binds, sizeof(args->binds), "binds", value, err, err_len))
				return -1;
			if (valid_binds(value, err, err_len) != 0)
				return -1;
		} else if (klen == 6 && strncmp(arg, "follow", klen) == 0) {
			if (parse_follow(args, value, err, err_len) != 0)
				return -1;
		} else {
			snprintf(err, err_len, "unknown argument '%.*s' (known keys: " KNOWN_KEYS ")", (int)klen, arg);
			return -1;
		}
	}
	if (args->follow_plugin[0] != '\0' && strcmp(args->follow_option, args->option) == 0) {
		snprintf(err, err_len, "follow: --%s is this plugin's own option (option=%s): two plugins cannot register one option; "
			 "give this plugin another name, e.g. option=placement-image follow=%s", args->option, args->option, args->follow_plugin);
		return -1;
	}
	return 0;
}
