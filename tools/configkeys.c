/*
 * configkeys: print the configuration schema for the documentation checks
 * (tests/docs/keys.py): one "key PATH" line per key, one "env VAR PATH"
 * line per environment override. Not installed.
 */
#include <stdio.h>

#include "nfsentry/config.h"

static void print_key(const char *path, void *ud)
{
	(void)ud;
	printf("key %s\n", path);
}

static void print_env(const char *var, const char *path, void *ud)
{
	(void)ud;
	printf("env %s %s\n", var, path);
}

int main(void)
{
	config_keys_list(print_key, NULL);
	config_env_list(print_env, NULL);
	return fflush(stdout) == 0 ? 0 : 1;
}
