/*
 * ytree: YAML event stream to a line-numbered node tree. See ytree.h.
 *
 * The tree is built iteratively with an explicit stack bounded by
 * YTREE_MAX_DEPTH, so hostile nesting cannot exhaust the C stack. Every
 * failure path frees the partial tree and the libyaml parser and event.
 */
#include "ytree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

void ytree_free(struct ytree *t)
{
	if (!t)
		return;
	/*
	 * Depth is bounded by YTREE_MAX_DEPTH, so recursion here is bounded
	 * too.
	 */
	for (size_t i = 0; i < t->n; i++)
		ytree_free(t->items[i]);
	free(t->items);
	free(t->str);
	free(t);
}

bool ytree_is_null(const struct ytree *t)
{
	if (t->kind != YTREE_SCALAR || !t->plain)
		return false;
	return t->len == 0 || strcmp(t->str, "~") == 0 || strcmp(t->str, "null") == 0 ||
	       strcmp(t->str, "Null") == 0 || strcmp(t->str, "NULL") == 0;
}

static void set_err(struct ytree_error *err, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(struct ytree_error *err, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;

	err->line = (unsigned)m->line + 1;
	err->col = (unsigned)m->column + 1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

static struct ytree *node_new(enum ytree_kind kind, const yaml_mark_t *m)
{
	struct ytree *t = fault_malloc(sizeof(*t));

	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->line = (unsigned)m->line + 1;
	t->col = (unsigned)m->column + 1;
	return t;
}

/* Append child to parent; on failure child is not adopted. */
static int node_add(struct ytree *parent, struct ytree *child)
{
	if (grow_array((void **)&parent->items, &parent->cap, parent->n + 1, sizeof(struct ytree *),
	               8, SIZE_MAX / sizeof(struct ytree *)) != 0)
		return -ENOMEM;
	parent->items[parent->n++] = child;
	return 0;
}

/* libyaml's problem text, with its context when it has one. */
static void set_syntax_err(struct ytree_error *err, const yaml_parser_t *p, const char *buf,
                           size_t len)
{
	if (p->error == YAML_MEMORY_ERROR) {
		err->line = err->col = 0;
		snprintf(err->msg, sizeof(err->msg), "out of memory while reading YAML");
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		/*
		 * Reader errors (bad UTF-8, control characters) carry only a
		 * byte offset; count the newlines before it to name a line.
		 */
		unsigned line = 1, col = 1;
		size_t end = p->problem_offset < len ? p->problem_offset : len;

		for (size_t i = 0; i < end; i++) {
			if (buf[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		err->line = line;
		err->col = col;
		if (p->problem_value != -1)
			snprintf(err->msg, sizeof(err->msg), "YAML syntax error: %s (byte 0x%02x)",
			         p->problem ? p->problem : "unreadable input",
			         (unsigned)p->problem_value & 0xffu);
		else
			snprintf(err->msg, sizeof(err->msg), "YAML syntax error: %s",
			         p->problem ? p->problem : "unreadable input");
		return;
	}
	err->line = (unsigned)p->problem_mark.line + 1;
	err->col = (unsigned)p->problem_mark.column + 1;
	if (p->context)
		snprintf(err->msg, sizeof(err->msg),
		         "YAML syntax error: %s (%s that starts at line %u)",
		         p->problem ? p->problem : "invalid YAML", p->context,
		         (unsigned)p->context_mark.line + 1);
	else
		snprintf(err->msg, sizeof(err->msg), "YAML syntax error: %s",
		         p->problem ? p->problem : "invalid YAML");
}

int ytree_parse(const char *buf, size_t len, struct ytree **out, struct ytree_error *err)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct ytree *stack[YTREE_MAX_DEPTH];
	size_t depth = 0;
	struct ytree *root = NULL;
	unsigned docs = 0;
	int rc = 0;
	bool done = false;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err->msg, sizeof(err->msg), "out of memory while reading YAML");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);

	while (!done) {
		struct ytree *node = NULL;

		if (!yaml_parser_parse(&parser, &ev)) {
			set_syntax_err(err, &parser, buf, len);
			rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
			break;
		}
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				set_err(err, &ev.start_mark, "more than one YAML document");
				rc = -EINVAL;
			}
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_ALIAS_EVENT:
			set_err(err, &ev.start_mark, "YAML aliases are not supported (*%s)",
			        (const char *)ev.data.alias.anchor);
			rc = -EINVAL;
			break;
		case YAML_SCALAR_EVENT:
			if (strlen((const char *)ev.data.scalar.value) != ev.data.scalar.length) {
				set_err(err, &ev.start_mark, "NUL byte in a value");
				rc = -EINVAL;
				break;
			}
			node = node_new(YTREE_SCALAR, &ev.start_mark);
			if (node) {
				node->str = fault_strdup((const char *)ev.data.scalar.value);
				node->len = ev.data.scalar.length;
				node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
				if (!node->str) {
					ytree_free(node);
					node = NULL;
				}
			}
			if (!node)
				rc = -ENOMEM;
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (depth == YTREE_MAX_DEPTH) {
				set_err(err, &ev.start_mark, "nesting deeper than %d levels",
				        YTREE_MAX_DEPTH);
				rc = -EINVAL;
				break;
			}
			node = node_new(ev.type == YAML_MAPPING_START_EVENT ? YTREE_MAP : YTREE_SEQ,
			                &ev.start_mark);
			if (!node)
				rc = -ENOMEM;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			/* libyaml guarantees balance; refuse rather than underflow. */
			if (depth == 0) {
				set_err(err, &ev.start_mark, "unbalanced YAML events");
				rc = -EINVAL;
				break;
			}
			depth--;
			break;
		default: /* stream start, document end */
			break;
		}

		if (rc == 0 && node) {
			/* Attach first, so a later failure frees it with the tree. */
			if (depth == 0) {
				if (root) { /* cannot happen: one document has one root */
					ytree_free(node);
					set_err(err, &ev.start_mark,
					        "several roots in one document");
					rc = -EINVAL;
				} else {
					root = node;
				}
			} else if (node_add(stack[depth - 1], node) < 0) {
				ytree_free(node);
				rc = -ENOMEM;
			}
			if (rc == 0 && node->kind != YTREE_SCALAR)
				stack[depth++] = node;
		}
		yaml_event_delete(&ev);
		if (rc < 0)
			break;
	}
	yaml_parser_delete(&parser);

	if (rc < 0) {
		if (rc == -ENOMEM && err->msg[0] == '\0')
			snprintf(err->msg, sizeof(err->msg), "out of memory while reading YAML");
		ytree_free(root);
		return rc;
	}
	*out = root;
	return 0;
}
