/*
 * ytree: a YAML document read into a small tree that remembers where each
 * node came from. Private to src/config/.
 *
 * The configuration validator needs the line of every key and value to
 * report "FILE:LINE: key.path: ..." and needs to see the whole document
 * before applying any of it. libyaml's own document API does not give
 * per-node lines in a convenient form and accepts aliases, so this module
 * builds its own tree from the event stream.
 *
 * Not this module's job: what the keys mean (config.c does that).
 *
 * Deliberately refused, reported as a syntax-level error: aliases (*x),
 * a second document in the stream, nesting deeper than YTREE_MAX_DEPTH and
 * scalars that contain a NUL byte. Tags and anchors are ignored.
 */
#ifndef NFSENTRY_CONFIG_YTREE_H
#define NFSENTRY_CONFIG_YTREE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Everything this directory keeps (tree and configuration) is allocated
 * through fault.h (fault_malloc, fault_realloc, fault_strdup; its lists
 * grow with grow.h, which does too), so that a test can make any of those
 * allocations fail.
 */
#include "nfsentry/fault.h"
#include "nfsentry/grow.h"

/* A configuration has three levels today; 32 leaves room and stops runaway input. */
#define YTREE_MAX_DEPTH 32

enum ytree_kind {
	YTREE_SCALAR,
	YTREE_MAP,
	YTREE_SEQ,
};

struct ytree {
	enum ytree_kind kind;
	unsigned line; /* 1-based, where the node starts */
	unsigned col;  /* 1-based */
	/* Scalar: the text, NUL-terminated, owned. plain = written without quotes. */
	char *str;
	size_t len;
	bool plain;
	/*
	 * Map: items[2i] is a key, items[2i + 1] its value (n counts both).
	 * Sequence: items[i]. Owned, as are the nodes they point to.
	 */
	struct ytree **items;
	size_t n;
	size_t cap;
};

/* Where and why parsing stopped. */
struct ytree_error {
	unsigned line, col; /* 1-based; 0 when unknown */
	char msg[256];
};

/*
 * Parse buf[0..len) (not necessarily NUL-terminated; borrowed). On success
 * returns 0 and sets *out to the root node, or to NULL for an empty stream
 * (no document, or comments only); free it with ytree_free(). On failure
 * returns -EINVAL (syntax) or -ENOMEM, fills *err, sets *out to NULL and
 * keeps nothing allocated.
 */
int ytree_parse(const char *buf, size_t len, struct ytree **out, struct ytree_error *err);

/* Free a tree. NULL is accepted. */
void ytree_free(struct ytree *t);

/* True for a plain scalar that YAML reads as null: empty, "~", "null". */
bool ytree_is_null(const struct ytree *t);

#endif
