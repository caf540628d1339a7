/*
 * l2poll: device poll scheduling on worker threads, fixtures for replay,
 * the one-shot poll, and the per-slot join handed to the closer. See
 * l2poll.h; the SSH work itself is ssh.c, the parsing parse.c, the merge
 * merge.c.
 *
 * Threads: one per device (live) or per polled device (once). The shared
 * state is each device's kept polls, guarded by l2poll.mu; a poll runs
 * without the lock. The closer's l2poll_slot_merge only takes what has
 * completed, so a slow or dead device delays nobody but itself.
 */
#include "nfsentry/l2poll.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nfsentry/clock.h"
#include "nfsentry/config.h"
#include "nfsentry/log.h"
#include "nfsentry/slot.h"

#define SLOT_MS ((uint64_t)SLOT_SECONDS * 1000u)

/* The latest completed poll of one device in one slot. */
struct kept_poll {
	bool used;
	int64_t slot;
	uint64_t ts_ms;
	struct l2_obs_list obs;
};

struct dev_state {
	struct l2poll *p;
	uint32_t site;
	const char *site_name;         /* site_name_copy */
	const struct site_device *dev; /* dev_copy */
	char site_name_copy[SITE_NAME_MAX];
	struct site_device dev_copy;
	pthread_t th;
	bool th_started;
	struct dev_state *next_retired; /* l2poll.retired */
	/* Written under p->mu; read by the device's poll as its cancel flag. */
	volatile bool stop;
	bool done; /* the thread has left its loop (under p->mu) */
	/* Guarded by p->mu. */
	struct kept_poll keep[L2POLL_KEEP_SLOTS];
	struct l2poll_status status; /* the last completed poll, for l2poll_status_get() */
	/* Replay: the fixtures, attached to every slot. */
	bool fixed;
	struct l2_obs_list fixed_obs;
	/* Only the device's own thread touches these. */
	int last_rc;
	bool polled;
};

struct l2poll {
	size_t n_sites; /* site indexes below it; grows with l2poll_devices_set, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Owned, each allocated apart (threads hold them); swapped under mu by a reload. */
	struct dev_state **devs;
	size_t n_devs;
	/*
	 * Devices a reload replaced (l2poll_devices_set): told to stop, joined
	 * once done; kept until l2poll_stop() because the statuses handed out
	 * point at their names. Loop thread only, n_retired at most
	 * L2POLL_RETIRED_MAX.
	 */
	struct dev_state *retired;
	size_t n_retired;
};

void l2poll_result_format(const struct l2poll_result *r, char *buf, size_t len)
{
	const struct site_device *d = r->dev;
	int n = snprintf(buf, len, "site %s device %s (%s %s@%s:%u): ", r->site, d->name,
	                 l2_kind_name((enum l2_kind)d->kind), d->user, d->host, (unsigned)d->port);

	if (n < 0 || (size_t)n >= len)
		return;
	if (r->rc != 0) {
		snprintf(buf + n, len - (size_t)n, "FAILED (%s) after %llu ms: %s",
		         l2ssh_error_name(r->rc), (unsigned long long)r->took_ms, r->err);
		return;
	}
	int m = snprintf(buf + n, len - (size_t)n,
	                 "ok: %zu entries from %zu command%s in %llu ms; %llu lines: %llu parsed",
	                 r->entries, d->n_commands, d->n_commands == 1 ? "" : "s",
	                 (unsigned long long)r->took_ms, (unsigned long long)r->st.lines,
	                 (unsigned long long)r->st.parsed);
	for (int k = 0; k < L2_SKIP__COUNT && m >= 0 && (size_t)(n + m) < len; k++) {
		if (!r->st.skipped[k])
			continue;
		m += snprintf(buf + n + m, len - (size_t)(n + m), ", %llu %s",
		              (unsigned long long)r->st.skipped[k], l2_skip_name((enum l2_skip)k));
	}
	if (m >= 0 && (size_t)(n + m) < len && r->st.pager_marks)
		m +=
		    snprintf(buf + n + m, len - (size_t)(n + m), "; %llu pager markers (pager on?)",
		             (unsigned long long)r->st.pager_marks);
	if (m >= 0 && (size_t)(n + m) < len && r->exit_nonzero)
		m += snprintf(buf + n + m, len - (size_t)(n + m), "; %u command%s exited non-zero",
		              r->exit_nonzero, r->exit_nonzero == 1 ? "" : "s");
	if (m >= 0 && (size_t)(n + m) < len && r->truncated)
		snprintf(buf + n + m, len - (size_t)(n + m), "; %u output%s cut at %u bytes",
		         r->truncated, r->truncated == 1 ? "" : "s", L2SSH_OUTPUT_MAX);
}

/* Parse one command's output into obs; counts into res. 0 or -ENOMEM. */
static int parse_output(const struct site_device *dev, const char *cmd, const char *text,
                        size_t len, struct l2_obs_list *obs, struct l2poll_result *res)
{
	int kind = l2_cmd_classify((enum l2_kind)dev->kind, cmd);
	int n;

	if (kind < 0)
		return 0; /* the configuration check refuses such commands */
	n = l2_parse((enum l2_kind)dev->kind, (enum l2_cmd)kind, text, len, obs, &res->st);
	if (n < 0)
		return n == -ENOMEM ? -ENOMEM : 0;
	res->entries += (size_t)n;
	return 0;
}

/*
 * Poll one device now (blocking; bounded by its timeout) and parse its
 * outputs into obs (appended). Fills *res. Returns res->rc.
 */
static int l2poll_device(const char *site, const struct site_device *dev,
                         struct l2_obs_list *obs, const volatile bool *cancel,
                         struct l2poll_result *res)
{
	struct l2ssh_output out[SITE_DEVICE_CMDS_MAX];
	uint64_t t0 = clock_ms(CLOCK_MONOTONIC);
	int rc;

	memset(res, 0, sizeof(*res));
	res->site = site;
	res->dev = dev;
	rc = l2ssh_poll(dev, out, cancel, res->err, sizeof(res->err));
	for (size_t i = 0; rc == 0 && i < dev->n_commands; i++) {
		if (out[i].truncated)
			res->truncated++;
		if (out[i].exit_status > 0)
			res->exit_nonzero++;
		if (parse_output(dev, dev->commands[i], out[i].text, out[i].len, obs, res) != 0) {
			rc = L2SSH_E_NOMEM;
			snprintf(res->err, sizeof(res->err), "out of memory parsing the output");
		}
	}
	l2ssh_output_free(out, dev->n_commands);
	res->rc = rc;
	res->ts_ms = clock_ms(CLOCK_REALTIME);
	res->took_ms = clock_ms(CLOCK_MONOTONIC) - t0;
	return rc;
}

/* ---- once ------------------------------------------------------------- */

struct once_job {
	const char *site;
	const struct site_device *dev;
	uint32_t site_index;
	struct l2_obs_list obs;
	struct l2poll_result *res;
	pthread_t th;
	bool started;
};

static void *once_thread(void *arg)
{
	struct once_job *j = arg;

	l2poll_device(j->site, j->dev, &j->obs, NULL, j->res);
	return NULL;
}

int l2poll_once(const struct site_config *sites, size_t n_sites, const char *site,
                const char *device, int64_t time_slot, struct l2_merge **merges,
                struct l2poll_result **res, size_t *n_res)
{
	size_t n = 0, k = 0;
	int rc = 0;

	*res = NULL;
	*n_res = 0;
	for (size_t s = 0; s < n_sites; s++) {
		merges[s] = NULL;
		if (site && strcmp(site, sites[s].name) != 0)
			continue;
		for (size_t d = 0; d < sites[s].n_devices; d++)
			if (!device || strcmp(device, sites[s].devices[d].name) == 0)
				n++;
	}
	if (n == 0)
		return 0;
	struct once_job *jobs = calloc(n, sizeof(*jobs));
	struct l2poll_result *r = calloc(n, sizeof(*r));
	if (!jobs || !r) {
		free(jobs);
		free(r);
		return -ENOMEM;
	}
	for (size_t s = 0; s < n_sites; s++) {
		if (site && strcmp(site, sites[s].name) != 0)
			continue;
		for (size_t d = 0; d < sites[s].n_devices; d++) {
			const struct site_device *dev = &sites[s].devices[d];
			if (device && strcmp(device, dev->name) != 0)
				continue;
			struct once_job *j = &jobs[k];
			j->site = sites[s].name;
			j->dev = dev;
			j->site_index = (uint32_t)s;
			j->res = &r[k++];
			l2_obs_list_init(&j->obs, 0);
			j->started = pthread_create(&j->th, NULL, once_thread, j) == 0;
			if (!j->started) /* no thread to spare: poll here, still bounded */
				once_thread(j);
		}
	}
	for (size_t i = 0; i < n; i++)
		if (jobs[i].started)
			pthread_join(jobs[i].th, NULL);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct once_job *j = &jobs[i];
		if (j->res->rc != 0)
			continue;
		if (!merges[j->site_index]) {
			merges[j->site_index] = l2_merge_create(j->site, time_slot, NULL);
			if (!merges[j->site_index]) {
				rc = -ENOMEM;
				break;
			}
		}
		int arc = l2_merge_add(merges[j->site_index], j->dev->name, j->res->ts_ms, j->obs.v,
		                       j->obs.n);
		if (arc == -ENOMEM)
			rc = -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		l2_obs_list_free(&jobs[i].obs);
	free(jobs);
	for (size_t s = 0; s < n_sites; s++) {
		if (!merges[s])
			continue;
		if (rc != 0) {
			l2_merge_destroy(merges[s]);
			merges[s] = NULL;
		} else {
			l2_merge_finish(merges[s]);
		}
	}
	if (rc != 0) {
		free(r);
		return rc;
	}
	*res = r;
	*n_res = n;
	return 0;
}

/* ---- live and fixtures ---------------------------------------------------- */

/* Keep obs (moved) as dev's latest poll of the slot it completed in. Under mu. */
static void keep_poll(struct dev_state *d, uint64_t ts_ms, struct l2_obs_list *obs)
{
	int64_t slot = (int64_t)(ts_ms / SLOT_MS);
	struct kept_poll *k = NULL;

	for (size_t i = 0; i < L2POLL_KEEP_SLOTS && !k; i++)
		if (d->keep[i].used && d->keep[i].slot == slot)
			k = &d->keep[i];
	for (size_t i = 0; i < L2POLL_KEEP_SLOTS && !k; i++)
		if (!d->keep[i].used)
			k = &d->keep[i];
	if (!k) { /* the oldest slot goes: its slot has closed long ago */
		k = &d->keep[0];
		for (size_t i = 1; i < L2POLL_KEEP_SLOTS; i++)
			if (d->keep[i].slot < k->slot)
				k = &d->keep[i];
	}
	if (k->used)
		l2_obs_list_free(&k->obs);
	k->used = true;
	k->slot = slot;
	k->ts_ms = ts_ms;
	k->obs = *obs;
	l2_obs_list_init(obs, 0);
}

/*
 * When the next poll starts. Once per slot: early enough that it completes
 * (at worst, times out) L2POLL_MARGIN_S before the slot ends, so it belongs
 * to the slot it was meant for. With an interval: interval after the last
 * start, or now if that has passed.
 */
static uint64_t next_due(const struct site_device *dev, uint64_t now, uint64_t last_start,
                         bool first)
{
	if (dev->interval_s) {
		if (first)
			return now;
		uint64_t due = last_start + (uint64_t)dev->interval_s * 1000u;
		return due > now ? due : now;
	}
	uint64_t lead = ((uint64_t)dev->timeout_s + L2POLL_MARGIN_S) * 1000u;
	if (lead > SLOT_MS)
		lead = SLOT_MS;
	uint64_t due = (now / SLOT_MS + 1) * SLOT_MS - lead;
	return due > now ? due : due + SLOT_MS;
}

static void *dev_thread(void *arg)
{
	struct dev_state *d = arg;
	struct l2poll *p = d->p;
	uint64_t last_start = 0, due = next_due(d->dev, clock_ms(CLOCK_REALTIME), 0, true);
	char line[1024];

	pthread_mutex_lock(&p->mu);
	while (!d->stop) {
		uint64_t now = clock_ms(CLOCK_REALTIME);
		if (now < due) {
			struct timespec ts = {.tv_sec = (time_t)(due / 1000),
			                      .tv_nsec = (long)(due % 1000) * 1000000};
			pthread_cond_timedwait(&p->cv, &p->mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		struct l2_obs_list obs;
		struct l2poll_result r;
		l2_obs_list_init(&obs, 0);
		last_start = now;
		l2poll_device(d->site_name, d->dev, &obs, &d->stop, &r);
		l2poll_result_format(&r, line, sizeof(line));
		/* A dead device says so once per change, not at every poll. */
		if (r.rc != 0 && r.rc != L2SSH_E_CANCELLED && (!d->polled || d->last_rc != r.rc))
			log_warn("poll: %s", line);
		else if (r.rc == 0 && (!d->polled || d->last_rc != 0))
			log_info("poll: %s", line);
		else
			log_debug("poll: %s", line);
		d->polled = true;
		d->last_rc = r.rc;
		pthread_mutex_lock(&p->mu);
		if (r.rc != L2SSH_E_CANCELLED) {
			d->status.last = r;
			d->status.polled = true;
			d->status.polls++;
			d->status.failures += r.rc != 0;
		}
		if (r.rc == 0)
			keep_poll(d, r.ts_ms, &obs);
		l2_obs_list_free(&obs);
		due = next_due(d->dev, clock_ms(CLOCK_REALTIME), last_start, false);
	}
	d->done = true;
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* A device of site s (its copies filled), no thread yet; NULL on ENOMEM. */
static struct dev_state *dev_new(struct l2poll *p, uint32_t s, const char *site_name,
                                 const struct site_device *dev)
{
	struct dev_state *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->p = p;
	d->site = s;
	snprintf(d->site_name_copy, sizeof(d->site_name_copy), "%s", site_name);
	d->dev_copy = *dev;
	d->site_name = d->site_name_copy;
	d->dev = &d->dev_copy;
	l2_obs_list_init(&d->fixed_obs, 0);
	return d;
}

/* Join d's thread (if any) and free its observations; d itself stays. */
static void dev_join(struct dev_state *d)
{
	if (d->th_started)
		pthread_join(d->th, NULL);
	d->th_started = false;
	for (size_t k = 0; k < L2POLL_KEEP_SLOTS; k++)
		if (d->keep[k].used)
			l2_obs_list_free(&d->keep[k].obs);
	memset(d->keep, 0, sizeof(d->keep));
	l2_obs_list_free(&d->fixed_obs);
}

static int dev_thread_start(struct dev_state *d)
{
	int rc = pthread_create(&d->th, NULL, dev_thread, d);

	if (rc != 0)
		return -rc;
	pthread_setname_np(d->th, "nfs-l2poll"); /* top -H, perf --comm */
	d->th_started = true;
	return 0;
}

static int poller_new(const struct site_config *sites, size_t n_sites, struct l2poll **out)
{
	size_t n = 0;

	*out = NULL;
	for (size_t s = 0; s < n_sites; s++)
		n += sites[s].n_devices;
	if (n_sites == 0)
		return 0;
	struct l2poll *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->devs = calloc(n ? n : 1, sizeof(*p->devs));
	if (!p->devs) {
		free(p);
		return -ENOMEM;
	}
	p->n_sites = n_sites;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (size_t s = 0; s < n_sites; s++) {
		for (size_t i = 0; i < sites[s].n_devices; i++) {
			struct dev_state *d =
			    dev_new(p, (uint32_t)s, sites[s].name, &sites[s].devices[i]);
			if (!d) {
				l2poll_stop(p);
				return -ENOMEM;
			}
			p->devs[p->n_devs++] = d;
		}
	}
	*out = p;
	return 0;
}

int l2poll_start(const struct site_config *sites, size_t n_sites, struct l2poll **out)
{
	struct l2poll *p;
	int rc = poller_new(sites, n_sites, &p);

	*out = NULL;
	if (rc != 0 || !p)
		return rc;
	for (size_t i = 0; i < p->n_devs; i++) {
		rc = dev_thread_start(p->devs[i]);
		if (rc != 0) {
			l2poll_stop(p);
			return rc;
		}
	}
	*out = p;
	return 0;
}

/* Join and keep the retired devices whose threads have ended. Loop thread. */
static void retired_reap(struct l2poll *p)
{
	for (struct dev_state *d = p->retired; d; d = d->next_retired) {
		pthread_mutex_lock(&p->mu);
		bool done = d->done;
		pthread_mutex_unlock(&p->mu);
		if (done && d->th_started)
			dev_join(d);
	}
}

/* The devices of site s in p (in order) are exactly sites[s]'s. Under mu or loop thread. */
static bool site_same(const struct l2poll *p, uint32_t s, const struct site_config *site)
{
	size_t j = 0;

	for (size_t i = 0; i < p->n_devs; i++) {
		const struct dev_state *d = p->devs[i];
		if (d->site != s)
			continue;
		if (j == site->n_devices || memcmp(d->dev, &site->devices[j], sizeof(*d->dev)) != 0)
			return false;
		j++;
	}
	return j == site->n_devices;
}

int l2poll_devices_set(struct l2poll *p, const struct site_config *sites, size_t n_sites,
                       size_t *changed)
{
	size_t n = 0, n_old = 0, k = 0;
	bool same[L2POLL_SITES_MAX];
	int rc = 0;

	*changed = 0;
	/* n_sites only changes here, on the loop thread: read without mu. */
	if (!p || n_sites < p->n_sites || n_sites > L2POLL_SITES_MAX)
		return -EINVAL;
	retired_reap(p);
	for (size_t s = 0; s < n_sites; s++) {
		same[s] = site_same(p, (uint32_t)s, &sites[s]);
		*changed += !same[s];
		n += same[s] ? 0 : sites[s].n_devices;
	}
	if (!*changed) {
		pthread_mutex_lock(&p->mu);
		p->n_sites = n_sites;
		pthread_mutex_unlock(&p->mu);
		return 0;
	}
	for (size_t i = 0; i < p->n_devs; i++) {
		if (same[p->devs[i]->site])
			n++;
		else
			n_old++;
	}
	if (n_old > L2POLL_RETIRED_MAX - p->n_retired) {
		*changed = 0;
		return -ENOSPC;
	}
	/* The new table: unchanged sites keep their devices (and threads), the others get new. */
	struct dev_state **v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		*changed = 0;
		return -ENOMEM;
	}
	for (size_t s = 0; s < n_sites && rc == 0; s++) {
		for (size_t i = 0; same[s] && i < p->n_devs; i++)
			if (p->devs[i]->site == s)
				v[k++] = p->devs[i];
		for (size_t i = 0; !same[s] && i < sites[s].n_devices && rc == 0; i++) {
			struct dev_state *d =
			    dev_new(p, (uint32_t)s, sites[s].name, &sites[s].devices[i]);
			if (!d || (rc = dev_thread_start(d)) != 0) {
				rc = d ? rc : -ENOMEM;
				free(d);
				break;
			}
			v[k++] = d;
		}
	}
	if (rc != 0) {
		/* Nothing changes: the new devices stop again before they were ever seen. */
		pthread_mutex_lock(&p->mu);
		for (size_t i = 0; i < k; i++)
			if (!same[v[i]->site])
				v[i]->stop = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		for (size_t i = 0; i < k; i++)
			if (!same[v[i]->site]) {
				dev_join(v[i]);
				free(v[i]);
			}
		free(v);
		*changed = 0;
		return rc;
	}
	/*
	 * The swap: a poll in flight on a replaced device is cancelled (its
	 * next read slice, at worst its timeout) and its result dropped; its
	 * thread is joined later (retired_reap, l2poll_stop), never waited for
	 * here, on the loop thread.
	 */
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->n_devs; i++) {
		struct dev_state *d = p->devs[i];
		if (same[d->site])
			continue;
		d->stop = true;
		d->next_retired = p->retired;
		p->retired = d;
		p->n_retired++;
	}
	struct dev_state **old = p->devs;
	p->devs = v;
	p->n_devs = k;
	p->n_sites = n_sites;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	free(old);
	return 0;
}

void l2poll_command_file(const char *command, char *buf, size_t len)
{
	size_t n = 0;
	bool sep = false;

	for (const char *s = command; *s && n + 5 < len; s++) {
		if (isalnum((unsigned char)*s)) {
			if (sep && n)
				buf[n++] = '_';
			if (n + 5 < len)
				buf[n++] = (char)tolower((unsigned char)*s);
			sep = false;
		} else {
			sep = true;
		}
	}
	snprintf(buf + n, len - n, ".txt");
}

/* The whole file at path into a new buffer (at most L2SSH_OUTPUT_MAX bytes). */
static int read_fixture(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return -errno;
	buf = malloc(L2SSH_OUTPUT_MAX);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, L2SSH_OUTPUT_MAX, f);
	fclose(f);
	*out = buf;
	*len = n;
	return 0;
}

int l2poll_load_dir(const struct site_config *sites, size_t n_sites, const char *dir,
                    struct l2poll **out, char *err, size_t errlen)
{
	struct l2poll *p;
	int rc = poller_new(sites, n_sites, &p);

	*out = NULL;
	snprintf(err, errlen, "out of memory");
	if (rc != 0)
		return rc;
	if (!p || !p->n_devs) {
		l2poll_stop(p);
		snprintf(err, errlen, "--arp %s: the configuration has no devices", dir);
		return -ENOENT;
	}
	for (size_t i = 0; i < p->n_devs && rc == 0; i++) {
		struct dev_state *d = p->devs[i];
		struct l2poll_result r = {.site = d->site_name, .dev = d->dev};
		d->fixed = true;
		for (size_t c = 0; c < d->dev->n_commands && rc == 0; c++) {
			char name[SITE_DEVICE_CMD_MAX + 8], path[4096];
			char *text = NULL;
			size_t len = 0;
			l2poll_command_file(d->dev->commands[c], name, sizeof(name));
			snprintf(path, sizeof(path), "%s/%s/%s", dir, d->dev->name, name);
			rc = read_fixture(path, &text, &len);
			if (rc != 0) {
				snprintf(err, errlen, "--arp: %s (device %s, command \"%s\"): %s",
				         path, d->dev->name, d->dev->commands[c], strerror(-rc));
				break;
			}
			rc =
			    parse_output(d->dev, d->dev->commands[c], text, len, &d->fixed_obs, &r);
			free(text);
		}
		if (rc == 0) {
			char line[1024];
			r.err[0] = '\0';
			l2poll_result_format(&r, line, sizeof(line));
			log_info("replay ARP fixtures: %s", line);
		}
	}
	if (rc != 0) {
		l2poll_stop(p);
		return rc;
	}
	*out = p;
	return 0;
}

void l2poll_stop(struct l2poll *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->n_devs; i++)
		p->devs[i]->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < p->n_devs; i++) {
		dev_join(p->devs[i]);
		free(p->devs[i]);
	}
	while (p->retired) {
		struct dev_state *d = p->retired;
		p->retired = d->next_retired;
		dev_join(d);
		free(d);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->devs);
	free(p);
}

int l2poll_slot_merge(struct l2poll *p, uint32_t site_index, int64_t time_slot,
                      struct l2_merge **out)
{
	struct l2_merge *m = NULL;
	int rc = 0;

	*out = NULL;
	if (!p)
		return 0;
	pthread_mutex_lock(&p->mu);
	if (site_index >= p->n_sites) {
		pthread_mutex_unlock(&p->mu);
		return 0;
	}
	for (size_t i = 0; i < p->n_devs && rc == 0; i++) {
		struct dev_state *d = p->devs[i];
		const struct l2_obs_list *obs = NULL;
		uint64_t ts = 0;
		if (d->site != site_index)
			continue;
		if (d->fixed) {
			obs = &d->fixed_obs;
			/* Replay: as if polled once, just before the slot ended. */
			ts =
			    (uint64_t)(time_slot + 1) * SLOT_MS - (uint64_t)L2POLL_MARGIN_S * 1000u;
		} else {
			for (size_t k = 0; k < L2POLL_KEEP_SLOTS; k++) {
				if (d->keep[k].used && d->keep[k].slot == time_slot) {
					obs = &d->keep[k].obs;
					ts = d->keep[k].ts_ms;
				}
			}
		}
		if (!obs)
			continue;
		if (!m) {
			m = l2_merge_create(d->site_name, time_slot, NULL);
			if (!m) {
				rc = -ENOMEM;
				break;
			}
		}
		int arc = l2_merge_add(m, d->dev->name, ts, obs->v, obs->n);
		if (arc == -ENOMEM)
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&p->mu);
	if (rc != 0) {
		l2_merge_destroy(m);
		return rc;
	}
	if (m)
		l2_merge_finish(m);
	*out = m;
	return 0;
}

/* ---- judge ---------------------------------------------------------------- */

static bool bind_unresolved(const void *ud, const struct flow_addr *ip)
{
	return l2_merge_unresolved(ud, ip);
}

static void bind_arp(const void *ud, const struct site_config *site, const struct flow_addr *ip,
                     struct judge_arp *out)
{
	l2_merge_arp(ud, site, ip, out);
}

void l2_judge_bind(const struct l2_merge *m, struct judge_l2 *out)
{
	out->arp = bind_arp;
	out->unresolved = bind_unresolved;
	out->ud = m;
}

size_t l2poll_status_get(struct l2poll *p, struct l2poll_status *out, size_t max)
{
	if (!p)
		return 0;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->n_devs && i < max; i++) {
		out[i] = p->devs[i]->status;
		out[i].last.site = p->devs[i]->site_name;
		out[i].last.dev = p->devs[i]->dev;
	}
	pthread_mutex_unlock(&p->mu);
	return p->n_devs;
}
