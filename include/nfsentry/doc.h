/*
 * doc: the JSON documents of a judged slot (DESIGN "Documents", METHOD §6).
 *
 * Kinds: `inside` (array A: inside IPs that sent egress), `outside` (array B
 * and the outside IPs that sent into the site: all of them, or the labelled
 * ones plus the top N by octets), `offender` (array C), and one `slot`
 * summary per site and slot with totals, label counts, caps hit and the
 * collector's health counters. Every document has kind, site, timeSlot and
 * @timestamp (the slot's start, ISO 8601 UTC). Field names are lower
 * camelCase; docs/documents.md is the schema.
 *
 * Documents are built on the worker that closes the slot; nothing here
 * touches the loop thread's state.
 */
#ifndef NFSENTRY_DOC_H
#define NFSENTRY_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/attack.h"
#include "nfsentry/judge.h"
#include "nfsentry/slot.h"

#define DOC_KEY_MAX 48

struct doc {
	const char *kind; /* static string: "inside", "outside", "offender", "slot" */
	char key[DOC_KEY_MAX]; /* the IP in text form; "summary" for the slot summary */
	char *json;       /* owned, NUL-terminated, one line */
	size_t len;
};

/* Documents of one slot; owns every json string. */
struct doc_batch {
	struct doc *v;
	size_t n, cap;
};

struct doc_opts {
	bool outside_all;      /* write every outside IP */
	uint32_t outside_top;  /* else: labelled ones plus the top N by octets */
};

/* A named counter for the slot summary's "collector" object. */
struct doc_counter {
	const char *name; /* static */
	uint64_t value;
};

struct doc_health {
	const struct doc_counter *v;
	size_t n;
};

/*
 * Append the documents of the judged view v to out (which may already hold
 * documents). Order: slot summary, inside by address, outside by address,
 * offenders by address. Returns 0, or -ENOMEM with out holding what was
 * appended before the failure (free it with doc_batch_free()).
 */
int doc_slot_build(const struct slot_view *v, const struct judge_result *jr,
                   const struct doc_opts *opts, const struct doc_health *health,
                   struct doc_batch *out);

/*
 * doc_slot_build with the slot's layer-2 knowledge (borrowed, may be NULL):
 * inside documents get l2->inside_fields (MACs, devices, interfaces) and
 * the arpUnused reason lists the unresolved IPs each offender touched.
 */
int doc_slot_build_l2(const struct slot_view *v, const struct judge_result *jr,
                      const struct doc_opts *opts, const struct doc_health *health,
                      const struct judge_l2 *l2, struct doc_batch *out);

void doc_batch_free(struct doc_batch *b);

/*
 * Append the document of one attack event callback (kind "attack",
 * docs/documents.md) to out, stored in slot time_slot of the event's site.
 * Its key, "<id>-<seq>", is unique within the slot: id is 16 hex digits
 * derived from (site, ip, direction, class, start), the same in every
 * replay of the same export; seq counts the event's documents from 0 (the
 * start). Returns 0 or -ENOMEM (out keeps what it held).
 */
int doc_attack_build(const struct attack_event *ev, enum attack_phase p, int64_t time_slot,
                     struct doc_batch *out);

/*
 * Move every document of src to the end of dst; src is left empty (its
 * array freed). Returns 0, or -ENOMEM with both unchanged.
 */
int doc_batch_move(struct doc_batch *dst, struct doc_batch *src);

/* Format the start of time_slot as "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes). */
void doc_timestamp(int64_t time_slot, char *buf, size_t len);

#endif
