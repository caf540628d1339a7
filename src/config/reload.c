/*
 * cfgreload: the comparison of a running and a newly loaded configuration
 * (cfgreload.h). Which key applies when is decided here, in one table-like
 * function, and documented in docs/configuration.md "Reloading".
 *
 * Values are compared field by field or byte by byte over arrays that
 * config_load() fills from zeroed defaults, so two loads of the same file
 * compare equal. Pointers are never compared, only what they point at.
 */
#include <stdio.h>
#include <string.h>

#include "nfsentry/cfgreload.h"

const char *cfgreload_when_name(enum cfgreload_when w)
{
	switch (w) {
	case CFGRELOAD_AT_ONCE:
		return "at once";
	case CFGRELOAD_NEXT_SLOT:
		return "next slot";
	case CFGRELOAD_RESTART:
		return "restart";
	}
	return "restart";
}

/* Add key, or sites[site].key when site is not NULL. */
static void add(struct cfgreload_diff *d, enum cfgreload_when w, const char *key, const char *site)
{
	if (d->n == CFGRELOAD_MAX_CHANGES) {
		d->more++;
		return;
	}
	if (site)
		snprintf(d->v[d->n].key, sizeof(d->v[d->n].key), "sites[%s].%s", site, key);
	else
		snprintf(d->v[d->n].key, sizeof(d->v[d->n].key), "%s", key);
	d->v[d->n].when = w;
	d->n++;
}

/* Arrays of n and m elements of size sz differ (NULL with 0 is the empty array). */
static bool arr_differ(const void *a, size_t n, const void *b, size_t m, size_t sz)
{
	return n != m || (n && memcmp(a, b, n * sz) != 0);
}

#define DIFFER(field) (memcmp(&old->field, &new_cfg->field, sizeof(old->field)) != 0)

bool cfgreload_sites_same_shape(const struct config *old, const struct config *new_cfg)
{
	if (old->n_sites != new_cfg->n_sites)
		return false;
	for (size_t k = 0; k < old->n_sites; k++) {
		const struct site_config *a = &old->sites[k], *b = &new_cfg->sites[k];
		if (strcmp(a->name, b->name) != 0 ||
		    arr_differ(a->inside, a->n_inside, b->inside, b->n_inside, sizeof(*a->inside)))
			return false;
	}
	return true;
}

/* The thresholds field by field: doubles compared as values, not bytes. */
static bool th_differ(const struct site_thresholds *a, const struct site_thresholds *b)
{
	return a->min_packets != b->min_packets || a->nopayload_max_avg != b->nopayload_max_avg ||
	       a->flood_max_targets != b->flood_max_targets ||
	       a->flood_min_packets != b->flood_min_packets ||
	       a->flood_max_answer != b->flood_max_answer || a->flood_min_pps != b->flood_min_pps ||
	       a->flood_min_seconds != b->flood_min_seconds ||
	       a->synflood_min_packets != b->synflood_min_packets ||
	       a->synflood_min_pps != b->synflood_min_pps ||
	       a->scan_min_share != b->scan_min_share ||
	       a->scan_min_targets != b->scan_min_targets ||
	       a->scan_min_unused != b->scan_min_unused ||
	       a->scan_probe_max_avg != b->scan_probe_max_avg ||
	       a->probe_min_targets != b->probe_min_targets || a->arp_max_age != b->arp_max_age ||
	       a->inside_min_packets != b->inside_min_packets ||
	       a->p2p_min_octets != b->p2p_min_octets || a->p2p_max_avg != b->p2p_max_avg ||
	       a->p2p_min_peers != b->p2p_min_peers ||
	       a->scanout_min_peers != b->scanout_min_peers ||
	       a->scanout_max_avg != b->scanout_max_avg ||
	       a->scanout_max_return != b->scanout_max_return ||
	       a->floodout_min_packets != b->floodout_min_packets ||
	       a->floodout_max_peers != b->floodout_max_peers ||
	       a->floodout_max_return != b->floodout_max_return ||
	       a->attack_min_packets != b->attack_min_packets ||
	       a->attack_min_sources != b->attack_min_sources;
}

/* The site called name in cfg, or NULL. */
static const struct site_config *site_named(const struct config *cfg, const char *name)
{
	for (size_t k = 0; k < cfg->n_sites; k++)
		if (strcmp(cfg->sites[k].name, name) == 0)
			return &cfg->sites[k];
	return NULL;
}

/* What changed in site a (old) that stays as b (new), one key each. */
static void site_compare(const struct site_config *a, const struct site_config *b,
                         struct cfgreload_diff *d)
{
	/* The engine's prefix table is swapped at the next slot boundary (engine_sites_set). */
	if (arr_differ(a->inside, a->n_inside, b->inside, b->n_inside, sizeof(*a->inside)))
		add(d, CFGRELOAD_NEXT_SLOT, "inside", a->name);
	if (th_differ(&a->th, &b->th))
		add(d, CFGRELOAD_NEXT_SLOT, "thresholds", a->name);
	if (arr_differ(a->allow, a->n_allow, b->allow, b->n_allow, sizeof(*a->allow)))
		add(d, CFGRELOAD_NEXT_SLOT, "allow", a->name);
	if (a->peer_cap != b->peer_cap)
		add(d, CFGRELOAD_NEXT_SLOT, "peer_cap", a->name);
	if (a->caps.max_inside != b->caps.max_inside ||
	    a->caps.max_outside != b->caps.max_outside || a->caps.max_pairs != b->caps.max_pairs)
		add(d, CFGRELOAD_NEXT_SLOT, "caps", a->name);
	/* The dashboard takes a copy of the texts (web_feed_sites_set). */
	if (memcmp(a->advice, b->advice, sizeof(a->advice)) != 0)
		add(d, CFGRELOAD_AT_ONCE, "advice", a->name);
	/* The site's pollers restart with the new devices (l2poll_devices_set). */
	if (arr_differ(a->devices, a->n_devices, b->devices, b->n_devices, sizeof(*a->devices)))
		add(d, CFGRELOAD_AT_ONCE, "devices", a->name);
}

/* "sites[NAME] what" (a site added or removed). */
static void add_site(struct cfgreload_diff *d, const char *name, const char *what)
{
	char k[CFGRELOAD_KEY_MAX];

	snprintf(k, sizeof(k), "sites[%s] %s", name, what);
	add(d, CFGRELOAD_NEXT_SLOT, k, NULL);
}

static void sites_compare(const struct config *old, const struct config *new_cfg,
                          struct cfgreload_diff *d)
{
	/* Without sites there is no engine (and no store); with none left, nothing to swap to. */
	if ((old->n_sites == 0) != (new_cfg->n_sites == 0)) {
		add(d, CFGRELOAD_RESTART, "sites", NULL);
		return;
	}
	for (size_t k = 0; k < old->n_sites; k++) {
		const struct site_config *b = site_named(new_cfg, old->sites[k].name);
		if (!b)
			add_site(d, old->sites[k].name, "removed");
		else
			site_compare(&old->sites[k], b, d);
	}
	for (size_t k = 0; k < new_cfg->n_sites; k++)
		if (!site_named(old, new_cfg->sites[k].name))
			add_site(d, new_cfg->sites[k].name, "added");
}

/*
 * The attack sections differ other than in their thresholds and hook: the
 * scalars, or the per-site overrides' sites, groups or group prefixes (the
 * shape the detector's tables are built on).
 */
static bool attack_differ(const struct attack_config *a, const struct attack_config *b)
{
	struct attack_config ac, bc;

	/* The sites pointers differ always; their contents are compared apart. */
	memcpy(&ac, a, sizeof(ac));
	memcpy(&bc, b, sizeof(bc));
	ac.sites = bc.sites = NULL;
	ac.n_sites = bc.n_sites = 0;
	memset(&ac.th, 0, sizeof(ac.th));
	memset(&bc.th, 0, sizeof(bc.th));
	memset(ac.hook, 0, sizeof(ac.hook));
	memset(bc.hook, 0, sizeof(bc.hook));
	ac.hook_timeout_ms = bc.hook_timeout_ms = 0;
	if (memcmp(&ac, &bc, sizeof(ac)) != 0 || a->n_sites != b->n_sites)
		return true;
	for (size_t k = 0; k < a->n_sites; k++) {
		const struct attack_site *x = &a->sites[k], *y = &b->sites[k];
		if (strcmp(x->site, y->site) != 0 || x->n_groups != y->n_groups)
			return true;
		for (size_t g = 0; g < x->n_groups; g++)
			if (memcmp(&x->groups[g].prefix, &y->groups[g].prefix,
			           sizeof(x->groups[g].prefix)) != 0)
				return true;
	}
	return false;
}

/* The thresholds differ: the defaults, a site's or a group's (same shape assumed). */
static bool attack_th_differ(const struct attack_config *a, const struct attack_config *b)
{
	if (memcmp(&a->th, &b->th, sizeof(a->th)) != 0)
		return true;
	for (size_t k = 0; k < a->n_sites && k < b->n_sites; k++) {
		const struct attack_site *x = &a->sites[k], *y = &b->sites[k];
		if (memcmp(&x->th, &y->th, sizeof(x->th)) != 0)
			return true;
		for (size_t g = 0; g < x->n_groups && g < y->n_groups; g++)
			if (memcmp(&x->groups[g].th, &y->groups[g].th, sizeof(x->groups[g].th)))
				return true;
	}
	return false;
}

void cfgreload_compare(const struct config *old, const struct config *new_cfg,
                       struct cfgreload_diff *out)
{
	struct cfgreload_diff *d = out;
	const struct decoder_config *od = &old->decoder, *nd = &new_cfg->decoder;

	memset(out, 0, sizeof(*out));
	if (old->log_level != new_cfg->log_level)
		add(d, CFGRELOAD_AT_ONCE, "log.level", NULL);
	if (old->log_syslog != new_cfg->log_syslog)
		add(d, CFGRELOAD_RESTART, "log.syslog", NULL);
	if (arr_differ(old->listen, old->n_listen, new_cfg->listen, new_cfg->n_listen,
	               sizeof(old->listen[0])))
		add(d, CFGRELOAD_RESTART, "listen", NULL);
	if (old->rcvbuf_bytes != new_cfg->rcvbuf_bytes)
		add(d, CFGRELOAD_RESTART, "receive_buffer_bytes", NULL);
	if (arr_differ(od->allow, od->n_allow, nd->allow, nd->n_allow, sizeof(*od->allow)))
		add(d, CFGRELOAD_AT_ONCE, "exporters.allow", NULL);
	/* Every session, running ones too, takes the new override (decoder_sampling_set). */
	if (arr_differ(od->sampling, od->n_sampling, nd->sampling, nd->n_sampling,
	               sizeof(*od->sampling)))
		add(d, CFGRELOAD_AT_ONCE, "exporters.sampling", NULL);
	if (od->template_lifetime_s != nd->template_lifetime_s ||
	    od->max_templates_per_exporter != nd->max_templates_per_exporter ||
	    od->max_template_bytes != nd->max_template_bytes ||
	    od->template_scope != nd->template_scope)
		add(d, CFGRELOAD_RESTART, "templates", NULL);
	if (od->max_exporters != nd->max_exporters ||
	    od->max_domains_per_address != nd->max_domains_per_address ||
	    od->max_ports_per_address != nd->max_ports_per_address)
		add(d, CFGRELOAD_RESTART, "limits", NULL);
	sites_compare(old, new_cfg, d);
	if (old->grace_s != new_cfg->grace_s)
		add(d, CFGRELOAD_RESTART, "slots.grace_s", NULL);
	if (strcmp(old->store_path, new_cfg->store_path) != 0)
		add(d, CFGRELOAD_RESTART, "store.path", NULL);
	if (old->retention_days != new_cfg->retention_days ||
	    strcmp(old->spool_path, new_cfg->spool_path) != 0 ||
	    old->spool_max_mib != new_cfg->spool_max_mib ||
	    old->write_retry_s != new_cfg->write_retry_s)
		add(d, CFGRELOAD_RESTART, "store", NULL);
	if (old->docs_outside_all != new_cfg->docs_outside_all ||
	    old->docs_outside_top != new_cfg->docs_outside_top ||
	    old->docs_outside_max != new_cfg->docs_outside_max ||
	    old->docs_offender_max != new_cfg->docs_offender_max)
		add(d, CFGRELOAD_RESTART, "documents", NULL);
	if (DIFFER(es))
		add(d, CFGRELOAD_RESTART, "elasticsearch", NULL);
	if (arr_differ(old->web.listen, old->web.n_listen, new_cfg->web.listen,
	               new_cfg->web.n_listen, sizeof(old->web.listen[0])))
		add(d, CFGRELOAD_RESTART, "web.listen", NULL);
	/* The server checks each request against the token in force (web_token_reload). */
	if (strcmp(old->web.token_file, new_cfg->web.token_file) != 0)
		add(d, CFGRELOAD_AT_ONCE, "web.token_file", NULL);
	if (strcmp(old->web.cert_file, new_cfg->web.cert_file) != 0 ||
	    strcmp(old->web.key_file, new_cfg->web.key_file) != 0 ||
	    old->web.max_connections != new_cfg->web.max_connections ||
	    old->web.timeout_s != new_cfg->web.timeout_s)
		add(d, CFGRELOAD_RESTART, "web", NULL);
	/* The alerter takes a new copy; its hook thread reads it at each run (alert_config_set). */
	if (old->alerts.n_hook != new_cfg->alerts.n_hook ||
	    memcmp(old->alerts.hook, new_cfg->alerts.hook, sizeof(old->alerts.hook)) != 0)
		add(d, CFGRELOAD_AT_ONCE, "alerts.hook", NULL);
	if (old->alerts.timeout_s != new_cfg->alerts.timeout_s ||
	    old->alerts.rate_limit_s != new_cfg->alerts.rate_limit_s)
		add(d, CFGRELOAD_AT_ONCE, "alerts", NULL);
	/* What the sites' texts default to; they are what the dashboard serves. */
	if (memcmp(old->advice, new_cfg->advice, sizeof(old->advice)) != 0)
		add(d, CFGRELOAD_AT_ONCE, "advice", NULL);
	{
		const struct reputation_config *a = &old->reputation, *b = &new_cfg->reputation;
		struct reputation_config ac = *a, bc = *b;
		/* The allow pointers differ always; their contents are compared apart. */
		ac.allow = bc.allow = NULL;
		ac.n_allow = bc.n_allow = 0;
		/* The hook thread takes these at its next run (reputation_hook_set). */
		memset(ac.hook, 0, sizeof(ac.hook));
		memset(bc.hook, 0, sizeof(bc.hook));
		ac.hook_timeout_s = bc.hook_timeout_s = 0;
		if (memcmp(&ac, &bc, sizeof(ac)) != 0)
			add(d, CFGRELOAD_RESTART, "reputation", NULL);
		if (strcmp(a->hook, b->hook) != 0 || a->hook_timeout_s != b->hook_timeout_s)
			add(d, CFGRELOAD_AT_ONCE, "reputation.hook", NULL);
		/* The offender database takes a copy (reputation_exempt_set). */
		if (arr_differ(a->allow, a->n_allow, b->allow, b->n_allow, sizeof(*a->allow)))
			add(d, CFGRELOAD_NEXT_SLOT, "reputation.allow", NULL);
	}
	{
		/* The runner takes the hook at its next site-day (daily_runner_hook_set). */
		const struct daily_config *a = &old->daily, *b = &new_cfg->daily;
		struct daily_config ac, bc;
		/* Byte copies, padding included, as config_load() zeroed it. */
		memcpy(&ac, a, sizeof(ac));
		memcpy(&bc, b, sizeof(bc));
		memset(ac.hook, 0, sizeof(ac.hook));
		memset(bc.hook, 0, sizeof(bc.hook));
		ac.n_hook = bc.n_hook = 0;
		ac.hook_timeout_s = bc.hook_timeout_s = 0;
		if (memcmp(&ac, &bc, sizeof(ac)) != 0)
			add(d, CFGRELOAD_RESTART, "daily", NULL);
		if (a->n_hook != b->n_hook || memcmp(a->hook, b->hook, sizeof(a->hook)) != 0 ||
		    a->hook_timeout_s != b->hook_timeout_s)
			add(d, CFGRELOAD_AT_ONCE, "daily.hook", NULL);
	}
	/*
	 * The detector and its hook are built once, on the engine (pipeline.c);
	 * its threshold table is replaced whole (attack_thresholds_set) when
	 * the rest of the section keeps its shape.
	 */
	if (attack_differ(&old->attack, &new_cfg->attack))
		add(d, CFGRELOAD_RESTART, "attack", NULL);
	else if (attack_th_differ(&old->attack, &new_cfg->attack))
		add(d, CFGRELOAD_AT_ONCE, "attack.thresholds", NULL);
	/* The hook thread takes the command at its next run (attack_hook_set). */
	if (strcmp(old->attack.hook, new_cfg->attack.hook) != 0 ||
	    old->attack.hook_timeout_ms != new_cfg->attack.hook_timeout_ms)
		add(d, CFGRELOAD_AT_ONCE, "attack.hook", NULL);
}
