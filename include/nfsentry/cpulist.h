/*
 * cpulist: a set of CPU numbers written as Linux writes them
 * (/sys/devices/system/cpu/online, taskset -c, systemd's CPUAffinity=):
 * numbers and ranges separated by commas, "2", "0-3", "0,2-5,8". The
 * configuration's attack.cpus is one; a thread started with it runs only on
 * those CPUs (docs/attacks.md "Cost").
 *
 * The set is a fixed bit array (comparable with memcmp, copied by
 * assignment) of CPUS_MAX bits: the kernel's CPU_SETSIZE of glibc.
 */
#ifndef NFSENTRY_CPULIST_H
#define NFSENTRY_CPULIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPUS_MAX 1024u

struct cpu_list {
	uint64_t w[CPUS_MAX / 64];
};

/*
 * Parses s ("2", "0-3,6": decimal numbers below CPUS_MAX, ranges low-high
 * with low <= high, no spaces, no empty items) into *out. Returns 0, or
 * -EINVAL with *out cleared and a reason in why (at most why_len bytes,
 * NUL-terminated; why may be NULL).
 */
int cpu_list_parse(const char *s, struct cpu_list *out, char *why, size_t why_len);

/* Whether cpu (any value) is in l. */
bool cpu_list_has(const struct cpu_list *l, unsigned cpu);

/* Whether l has no CPU. */
bool cpu_list_empty(const struct cpu_list *l);

/* The highest CPU of l; -1 when empty. */
int cpu_list_max(const struct cpu_list *l);

/*
 * Writes l as a list ("0-3,6"; "" when empty) into buf of len bytes, always
 * NUL-terminated when len > 0. Returns the length the whole text needs (as
 * snprintf): buf was large enough when it is below len.
 */
size_t cpu_list_format(const struct cpu_list *l, char *buf, size_t len);

#endif
