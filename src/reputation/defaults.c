/*
 * reputation defaults: the documented defaults of struct reputation_config
 * and the names of the labels that may block. A library of its own
 * (nfs_reputation_cfg) so that the configuration reader links it without
 * SQLite or the footprint code. See reputation.h and docs/offenders.md.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nfsentry/judge.h"
#include "nfsentry/reputation.h"

void reputation_config_defaults(struct reputation_config *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = true;
	/* noPayload alone is a weak signal (a broken client): recorded, not blocked. */
	c->block_labels =
	    1u << JUDGE_SCAN | 1u << JUDGE_PROBEUNUSED | 1u << JUDGE_ARPUNUSED | 1u << JUDGE_FLOOD;
	c->min_offences = 1;
	c->block_base_s = 3600;
	c->block_factor = 4;
	c->block_max_s = 30u * 86400u;
	c->memory_s = 30u * 86400u;
	c->history_max = 32;
	c->max_offenders = 1000000;
	c->hook_timeout_s = 10;
	c->hook_queue = 1024;
	c->watch_window_s = 86400;
	c->watch_max = 65536;
	c->footprint_max = 4096;
}

int reputation_label_bit(const char *name, uint32_t *bit)
{
	/* Only rule I's labels: they are the ones that put an outside IP in C. */
	static const enum judge_label outside[] = {JUDGE_NOPAYLOAD, JUDGE_FLOOD, JUDGE_SCAN,
	                                           JUDGE_PROBEUNUSED, JUDGE_ARPUNUSED};

	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		if (strcmp(judge_label_name(outside[i]), name) == 0) {
			*bit = 1u << outside[i];
			return 0;
		}
	return -EINVAL;
}

/* DIR/name where DIR is store_path's directory ("" for the working directory). */
static void beside(const char *store_path, const char *name, char *out, size_t len)
{
	const char *slash = strrchr(store_path, '/');

	if (slash)
		snprintf(out, len, "%.*s/%s", (int)(slash - store_path), store_path, name);
	else
		snprintf(out, len, "%s", name);
}

void reputation_paths(const struct reputation_config *cfg, const char *store_path, char *db,
                      size_t db_len, char *blocklist, size_t bl_len)
{
	if (cfg->path[0])
		snprintf(db, db_len, "%s", cfg->path);
	else
		beside(store_path, "reputation.db", db, db_len);
	if (cfg->blocklist_path[0])
		snprintf(blocklist, bl_len, "%s", cfg->blocklist_path);
	else
		beside(store_path, "blocklist.txt", blocklist, bl_len);
}
