/*
 * jscan: a small reader of the top-level members of one JSON object, for
 * the daily analysis (daily.c). The analysis reads a day's documents,
 * millions on a busy site; building a jansson tree per document (a heap
 * object per value) cost most of the run, while the analysis needs a dozen
 * figures of each. jscan finds a member's value in place, without copying
 * or allocating. It checks the shape it walks and reports a malformed
 * document (false / -1) rather than reading past the text's end.
 *
 * Not its job: validating JSON fully (numbers are read with strtoll on the
 * bytes the document holds; strings keep their escapes).
 */
#ifndef NFSENTRY_DAILY_JSCAN_H
#define NFSENTRY_DAILY_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A value in the text: [p, p + n). */
struct jval {
	const char *p;
	size_t n;
};

/*
 * Find the top-level member named key (no escapes in it) of the object
 * text[0..len). True with *v set to its value's bytes; false when absent
 * or when the text is not an object.
 */
bool jscan_get(const char *text, size_t len, const char *key, struct jval *v);

/*
 * Find several top-level members in one walk of the object: vals[j] gets
 * the value of keys[j] (no escapes in them), or {NULL, 0} when absent (or
 * past a malformed part). The walk stops once every key is found. Returns
 * how many were found. The first of repeated members counts. At most
 * JSCAN_KEYS_MAX keys (more are not looked for and not set).
 */
#define JSCAN_KEYS_MAX 16
size_t jscan_getv(const char *text, size_t len, const char *const *keys, size_t n_keys,
                  struct jval *vals);

/* The value as a whole number (false when it is not one). */
bool jscan_i64(const struct jval *v, int64_t *out);

/* true / false (anything else: false). */
bool jscan_true(const struct jval *v);

/*
 * The string value without its quotes into buf (escapes \" and \\ undone,
 * others kept); false when it is no string or does not fit.
 */
bool jscan_str(const struct jval *v, char *buf, size_t len);

/*
 * Walk the elements of an array value: *pos starts at 0; each call sets *e
 * to the next element and returns 1, 0 at the end, -1 when malformed.
 */
int jscan_next(const struct jval *arr, size_t *pos, struct jval *e);

/* Walk an object value's members likewise: key (the string, quoted) and value. */
int jscan_member(const struct jval *obj, size_t *pos, struct jval *key, struct jval *val);

#endif
