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
 *
 * This module's JSON writer is the only one that writes documents: the
 * slot's kinds here, the layer-2 kinds (arpIp, arpMac) in src/l2/merge.c
 * through the doc_writer calls below. The text is what jansson prints with
 * JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6).
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
	/*
	 * Caps on documents per slot (0: none). Of the outside IPs chosen
	 * above, and of the offenders (array C), at most this many get a
	 * document: the labelled first, by how far their labels crossed the
	 * thresholds, then by octets. The slot document's documentsLeftOut
	 * counts and sums the rest.
	 */
	uint32_t outside_max;
	uint32_t offender_max;
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

/* Where the site's devices saw one MAC: a device and its interfaces. */
struct doc_l2_place {
	const char *device;   /* borrowed */
	char *const *ifnames; /* borrowed; n_ifnames of them, sorted */
	uint32_t n_ifnames;
};

/*
 * The layer-2 facts of the slot's site that the documents print (METHOD §8),
 * lent by the l2 module (l2.h: l2_merge_doc_bind). Everything returned is
 * borrowed from ud and valid for the whole build.
 */
struct doc_l2 {
	/* True when the site's devices showed ip in this slot only as unresolved. */
	bool (*unresolved)(const void *ud, const struct flow_addr *ip);
	/* As judge_l2.arp (judge.h): the facts of ip, for arpUnused, arpMissing, zeroMac. */
	void (*arp)(const void *ud, const struct site_config *site, const struct flow_addr *ip,
	            struct judge_arp *out);
	/* The MACs the devices showed for ip (sorted, 6 bytes each) into *out; how many. */
	uint32_t (*macs)(const void *ud, const struct flow_addr *ip, const uint8_t (**out)[6]);
	/* Place k (from 0) of mac into *out: true, or false past the last. */
	bool (*place)(const void *ud, const uint8_t mac[6], uint32_t k, struct doc_l2_place *out);
	const void *ud;
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
 * doc_slot_build with the slot's layer-2 facts (borrowed, may be NULL): an
 * inside document whose IP has MACs gets "arpMacList" and "arpLocations"
 * [{mac, device, interfaceList}], and the arpUnused reason lists the
 * unresolved IPs each offender touched.
 */
int doc_slot_build_l2(const struct slot_view *v, const struct judge_result *jr,
                      const struct doc_opts *opts, const struct doc_health *health,
                      const struct doc_l2 *l2, struct doc_batch *out);

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

/*
 * The document writer, for documents built outside this file (the l2
 * module's). One writer builds one document at a time in a buffer it keeps
 * between documents; doc_writer_emit() copies the finished one into a
 * batch. Commas between members and elements are placed by the writer.
 * Errors are sticky: once an append fails (out of memory, or a document
 * past the 128 MiB limit) later appends do nothing and doc_writer_emit()
 * returns -ENOMEM, so callers check only that.
 */
struct doc_writer;

/* A writer (free with doc_writer_destroy()), or NULL when out of memory. */
struct doc_writer *doc_writer_create(void);
void doc_writer_destroy(struct doc_writer *w);

/*
 * Start a document (the previous one is discarded, its error too): "{" and
 * the members every document has, kind, site, timeSlot and @timestamp.
 */
void doc_writer_begin(struct doc_writer *w, const char *kind, const char *site, int64_t time_slot,
                      const char *timestamp);
/* A member's key (escaped); its value is the next value written. */
void doc_writer_key(struct doc_writer *w, const char *key);
/* Open ('{' or '[') and close ('}' or ']') an object or array. */
void doc_writer_open(struct doc_writer *w, char bracket);
void doc_writer_close(struct doc_writer *w, char bracket);
void doc_writer_i64(struct doc_writer *w, int64_t v);
void doc_writer_null(struct doc_writer *w);
/* A string known to be UTF-8 (names, states): escaped, written as is. */
void doc_writer_str(struct doc_writer *w, const char *s);
/* An address, as flow_addr_format() writes it. */
void doc_writer_addr(struct doc_writer *w, const struct flow_addr *a);
/* A MAC as "52:54:00:11:00:96". */
void doc_writer_mac(struct doc_writer *w, const uint8_t mac[6]);
/*
 * Text that came from outside (an interface name a device printed): written
 * when it is valid UTF-8 (RFC 3629), left out otherwise, as jansson's
 * json_string() refuses it. False when left out. doc_writer_member_text()
 * writes key and text, or neither.
 */
bool doc_writer_text(struct doc_writer *w, const char *s);
void doc_writer_member_text(struct doc_writer *w, const char *key, const char *s);
/*
 * Close the document ("}") and append a copy to out under kind (static) and
 * key (copied, cut to DOC_KEY_MAX - 1). Returns 0, or -ENOMEM (an append
 * failed, or no memory for the copy) with out unchanged.
 */
int doc_writer_emit(struct doc_writer *w, const char *kind, const char *key, struct doc_batch *out);

/* Format the start of time_slot as "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes). */
void doc_timestamp(int64_t time_slot, char *buf, size_t len);

#endif
