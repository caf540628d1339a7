/*
 * l2poll: when and how the site's devices are polled, and the per-slot
 * join of what they said (METHOD §8, docs/l2.md).
 *
 * Three sources of observations, one shape of result (a finished
 * struct l2_merge per site and slot):
 *  - live (l2poll_start): one worker thread per device polls it over SSH
 *    (l2ssh.h) on its schedule and keeps, per slot, the latest completed
 *    poll. The loop thread never polls and never waits for a device.
 *  - fixtures (l2poll_load_dir, `replay --arp DIR`): each device's command
 *    outputs are read from files once and attached to every slot.
 *  - once (l2poll_once, `nfsentry poll`): every selected device polled in
 *    parallel, now.
 *
 * l2poll_slot_merge is what the closer calls when a slot closes: it never
 * waits for a poll still running; a poll belongs to the slot in which it
 * completed. l2_judge_bind lends a merge to the judge.
 */
#ifndef NFSENTRY_L2POLL_H
#define NFSENTRY_L2POLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nfsentry/judge.h"
#include "nfsentry/l2.h"
#include "nfsentry/l2ssh.h"
#include "nfsentry/site.h"

/* Slots per device whose latest poll is kept (the closing one and its neighbours). */
#define L2POLL_KEEP_SLOTS 3
/* Seconds before a slot's end that a once-per-slot poll must have finished by. */
#define L2POLL_MARGIN_S 5

/* The outcome of one poll of one device. */
struct l2poll_result {
	const char *site;              /* borrowed from the configuration */
	const struct site_device *dev; /* borrowed */
	int rc;                        /* 0 or an enum l2ssh_error */
	char err[512];                 /* one line; "ok" on success */
	uint64_t ts_ms;                /* wall clock when it completed */
	uint64_t took_ms;
	size_t entries; /* observations parsed */
	struct l2_parse_stats st;
	uint32_t truncated;    /* commands whose output hit L2SSH_OUTPUT_MAX */
	uint32_t exit_nonzero; /* commands that exited non-zero */
};

/* One line for logs and `nfsentry poll`'s standard error (no newline). */
void l2poll_result_format(const struct l2poll_result *r, char *buf, size_t len);

/*
 * `nfsentry poll`: poll every device of the n_sites sites (borrowed for
 * the call; or only those of site and/or named device, either may be NULL)
 * in parallel, each on its own thread, and merge per site into slot
 * time_slot. merges gets n_sites entries (NULL for a site not polled); res
 * gets one entry per device polled, *n_res of them, in configuration order
 * (free(*res); its site and dev point into sites). Returns 0 or -ENOMEM.
 */
int l2poll_once(const struct site_config *sites, size_t n_sites, const char *site,
                const char *device, int64_t time_slot, struct l2_merge **merges,
                struct l2poll_result **res, size_t *n_res);

struct l2poll;

/*
 * Live polling of every device of the n_sites sites (borrowed: the array
 * and its devices must outlive the poller): one thread per device. Devices
 * with interval 0 are polled once per slot, starting L2POLL_MARGIN_S +
 * timeout seconds before its end; the others every interval seconds. Each
 * result is logged: info for the first success and each recovery, warn
 * when a failure starts or changes kind, debug otherwise. Returns 0,
 * -ENOMEM or -errno from pthread; *out is NULL only when n_sites is 0 (a
 * poller without devices polls nothing and merges nothing, and takes
 * devices at a reload, l2poll_devices_set). Site indexes
 * (l2poll_slot_merge) are positions in sites, then the ones
 * l2poll_devices_set() adds.
 */
int l2poll_start(const struct site_config *sites, size_t n_sites, struct l2poll **out);

/* Site indexes l2poll_devices_set() takes (the engine's site ids, engine.h). */
#define L2POLL_SITES_MAX 512

/* Devices a reload may replace in all before l2poll_stop() (see l2poll_devices_set). */
#define L2POLL_RETIRED_MAX 1024

/*
 * The configuration reload (docs/configuration.md "Reloading"): every site
 * of sites (borrowed for the call; the devices are copied) whose devices
 * differ from the running ones in number, order or any field gets the new
 * ones at once: the site's old device threads are told to stop (a poll in
 * flight is cancelled at its next read slice, at worst its timeout, and
 * its result dropped; the loop never waits for it) and new threads start
 * with the new devices. The polls the old devices kept for the open slot
 * are no longer merged: that slot's ARP/MAC join for the site has the
 * polls the new devices complete in it. Sites whose devices are the same
 * keep their threads and polls. *changed gets the sites changed. sites
 * are indexed as the running ones (the slots' site indexes): entry i is
 * the site whose index is i, n_sites at least the running count (a site
 * past it is an added one: its devices start; a removed site is an entry
 * without devices: its pollers stop). A replaced device stays in memory (without its polls) until
 * l2poll_stop(), since statuses handed out point at its name; at most
 * L2POLL_RETIRED_MAX are replaced in all. Returns 0; -EINVAL (p NULL, or
 * fewer sites than running or more than L2POLL_SITES_MAX), -ENOSPC (past
 * L2POLL_RETIRED_MAX), -ENOMEM or -errno from pthread: then nothing
 * changed (*changed is 0). Loop thread (one caller at a time, never with
 * l2poll_stop()).
 */
int l2poll_devices_set(struct l2poll *p, const struct site_config *sites, size_t n_sites,
                       size_t *changed);

/*
 * Replay: read DIR/<device>/<command file> for every command of every
 * device of the n_sites sites (borrowed, as for l2poll_start) once; attach
 * them to every slot of the device's site. A missing file, or no device at
 * all, is an error (err names it). Returns 0, -ENOENT/-errno, -ENOMEM.
 */
int l2poll_load_dir(const struct site_config *sites, size_t n_sites, const char *dir,
                    struct l2poll **out, char *err, size_t errlen);

/* The file name of a command's fixture: "show arp" -> "show_arp.txt". */
void l2poll_command_file(const char *command, char *buf, size_t len);

/*
 * Stop the threads (a poll in progress ends at its next read slice, or at
 * worst its timeout) and free. NULL is accepted.
 */
void l2poll_stop(struct l2poll *p);

/*
 * The finished merge of site site_index for slot time_slot, built from the
 * latest poll of each device that completed within the slot (live) or from
 * the fixtures (replay). *out is NULL when the site has no device or no
 * device answered in that slot. Thread-safe against the pollers; the
 * caller owns *out (l2_merge_destroy). Returns 0 or -ENOMEM.
 */
int l2poll_slot_merge(struct l2poll *p, uint32_t site_index, int64_t time_slot,
                      struct l2_merge **out);

/*
 * Lend the finished merge m to the judge: unresolved() is
 * l2_merge_unresolved, arp() is l2_merge_arp (the facts of an IP with the
 * site's gateways, site_device.gateway, marked). (The documents get theirs
 * from l2_merge_doc_bind, l2.h.) m must outlive the use of *out.
 */
void l2_judge_bind(const struct l2_merge *m, struct judge_l2 *out);

/* What a live device's polls came to so far (l2poll_status_get). */
struct l2poll_status {
	struct l2poll_result last; /* the last completed poll; site and dev always set */
	bool polled;               /* false: no poll completed yet (last is empty) */
	uint64_t polls;            /* completed polls (cancelled ones at stop excluded) */
	uint64_t failures;         /* of those, the ones with rc != 0 */
};

/*
 * Copy the status of up to max devices into out, in configuration order;
 * returns how many devices there are (0 for NULL p). last.site and
 * last.dev point at the poller's copies of the site name and device:
 * valid until l2poll_stop(), also after a reload replaced the device. Thread-safe against
 * the pollers (the web server's feed calls it each second). Fixture
 * devices (replay) are never polled: polled stays false.
 */
size_t l2poll_status_get(struct l2poll *p, struct l2poll_status *out, size_t max);

#endif
