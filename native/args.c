#include <stdio.h>
#include <string.h>

#include "args.h"

#define KNOWN_KEYS "option, default_image, default_gpu_image, config, mode, agent_socket"

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

int placement_args_parse(struct placement_args *args, int ac, char **av, char *err, int err_len)
{
	memset(args, 0, sizeof(*args));
	strcpy(args->option, "container-image");
	strcpy(args->agent_socket, PLACEMENT_DEFAULT_AGENT_SOCKET);
	args->mode = PLACEMENT_MODE_SOFT;

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
		} else {
			snprintf(err, err_len, "unknown argument '%.*s' (known keys: " KNOWN_KEYS ")", (int)klen, arg);
			return -1;
		}
	}
	return 0;
}
