/*
 * prefix: longest-prefix-match table from an address to a 32-bit value.
 *
 * The site module fills one table with every inside prefix of every site
 * (value = site index) and asks it, for each record's source and
 * destination, which site the address is inside of. The table is built in
 * two phases: prefix_table_add() collects prefixes, prefix_table_build()
 * freezes them into a compressed multibit trie (see
 * docs/internals/prefix.md). After the build, prefix_table_lookup() does not
 * allocate, lock or write, so any number of threads may look up at once.
 *
 * Addresses are struct flow_addr: IPv4 is held as IPv4-mapped IPv6
 * (::ffff:a.b.c.d), and IPv4 prefix lengths are given as 96 + n. One
 * 128-bit address space serves both families: "::/0" covers every IPv4
 * address too, "0.0.0.0/0" (= ::ffff:0:0/96) covers only IPv4.
 *
 * This module does not know what a site is, does not read configuration and
 * does not log; callers name the input in their own messages.
 */
#ifndef NFSENTRY_PREFIX_H
#define NFSENTRY_PREFIX_H

#include <stdint.h>

#include "nfsentry/flow.h"

/*
 * Most prefixes one table accepts; prefix_table_add() refuses more with
 * -ENOSPC. A million is two orders above the largest deployments seen
 * (thousands) and keeps every internal index well inside 31 bits, even with
 * the worst-case 19 trie nodes per prefix.
 */
#define PREFIX_TABLE_MAX_PREFIXES (1u << 20)

/* Opaque; created by prefix_table_create(), freed by prefix_table_destroy(). */
struct prefix_table;

/*
 * A new empty table, or NULL when out of memory. The caller owns it and frees
 * it with prefix_table_destroy(). An empty table answers -1 to every lookup,
 * before and after a build.
 */
struct prefix_table *prefix_table_create(void);

/* Frees t and everything it holds. NULL is accepted. */
void prefix_table_destroy(struct prefix_table *t);

/*
 * Add the prefix addr/len with its value. len is 0..128 over the 128-bit
 * address (an IPv4 /n is 96 + n). addr is copied, not borrowed.
 * Returns 0 (also when the same prefix is already present with the same
 * value), -EEXIST when it is present with another value, -EINVAL when
 * len > 128 or addr has bits set beyond len ("10.0.0.1/8": an operator
 * mistake the caller must report), -EBUSY after prefix_table_build(),
 * -ENOSPC past PREFIX_TABLE_MAX_PREFIXES, -ENOMEM. On any error the table is
 * unchanged.
 */
int prefix_table_add(struct prefix_table *t, const struct flow_addr *addr, unsigned len,
                     uint32_t value);

/*
 * Freeze the added prefixes into the lookup structure. Call once, after the
 * last add; a table is not rebuilt in place (a configuration reload builds a
 * new table and swaps it). Returns 0, -EBUSY when already built, or -ENOMEM;
 * on -ENOMEM the table is unchanged (still unbuilt, still answering -1) and
 * the build may be retried.
 */
int prefix_table_build(struct prefix_table *t);

/*
 * The value of the longest prefix covering a, or -1 when none does (or the
 * table is not built yet). Does not allocate, lock or write; a is borrowed
 * for the call. Cost: at most 5 dependent memory reads for an IPv4-mapped
 * address (root, 3 nodes, leaf), at most 21 for IPv6 (root, 19 nodes, leaf).
 */
int64_t prefix_table_lookup(const struct prefix_table *t, const struct flow_addr *a);

/*
 * prefix_table_lookup() of n addresses at once: the address of item k is
 * at (const char *)a + k * stride, its answer goes to out[k]. For a batch
 * of records (stride = sizeof(struct flow)): one call instead of one per
 * address, and each root entry is fetched a few addresses ahead (the IPv4
 * root is 256 KiB, and random outside addresses miss the L2 cache).
 */
void prefix_table_lookup_n(const struct prefix_table *t, const struct flow_addr *a, size_t stride,
                           size_t n, int64_t *out);

/*
 * As prefix_table_lookup(), and stores the matched length (0..128) in *len
 * when a prefix covers a; *len is untouched when the result is -1.
 */
int64_t prefix_table_lookup_len(const struct prefix_table *t, const struct flow_addr *a,
                                unsigned *len);

/* Number of distinct prefixes added so far. */
unsigned prefix_table_count(const struct prefix_table *t);

/* Bytes held by t (structure and collected prefixes), for the /metrics page. */
size_t prefix_table_memory(const struct prefix_table *t);

/*
 * Parse "192.0.2.0/24", "2001:db8::/32" or a bare address (= /32 or /128).
 * An IPv4 length n (0..32) is returned as 96 + n; a length written after an
 * IPv6 address (even "::ffff:192.0.2.0/120") is taken as it is (0..128).
 * Returns 0; -EDOM when bits are set beyond the length ("10.0.0.1/8"): then
 * *addr holds the network with those bits cleared and *len the length, so
 * the caller can say "host bits set, did you mean 10.0.0.0/8"; -EINVAL for
 * anything else (bad address, missing/non-decimal/out-of-range length,
 * spaces, signs, more than 3 length digits), leaving *addr and *len untouched.
 *
 * text_bits (NULL: not wanted) says how the address part reads, whatever
 * the result: 32 for IPv4 text, 128 for IPv6 text, 0 when it is no address.
 * So on -EINVAL a non-zero *text_bits means the length is what is wrong
 * (it must be 0..*text_bits), and the length as written is *len minus
 * (128 - *text_bits). The configuration's messages are built from it.
 */
int prefix_parse(const char *s, struct flow_addr *addr, unsigned *len, unsigned *text_bits);

#endif
