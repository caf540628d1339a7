/*
 * cpulist: CPU sets written as "0-3,6". See cpulist.h.
 */
#include "nfsentry/cpulist.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A decimal number below CPUS_MAX at *p (moved past it). False: none or too large. */
static bool cpu_number(const char **p, unsigned *out)
{
	const char *s = *p;
	unsigned v = 0;

	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		v = v * 10 + (unsigned)(*s - '0');
		if (v >= CPUS_MAX)
			return false;
	}
	*p = s;
	*out = v;
	return true;
}

__attribute__((format(printf, 4, 5))) static int bad(struct cpu_list *out, char *why,
                                                     size_t why_len, const char *fmt, ...)
{
	va_list ap;

	memset(out, 0, sizeof(*out));
	if (why && why_len) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int cpu_list_parse(const char *s, struct cpu_list *out, char *why, size_t why_len)
{
	const char *p = s;

	memset(out, 0, sizeof(*out));
	if (!*p)
		return bad(out, why, why_len, "an empty list of CPUs");
	for (;;) {
		unsigned lo, hi;
		unsigned at = (unsigned)(p - s) + 1;
		if (!cpu_number(&p, &lo))
			return bad(out, why, why_len,
			           "at character %u: not a CPU number below %u (\"2\", \"0-3,6\")", at,
			           CPUS_MAX);
		hi = lo;
		if (*p == '-') {
			p++;
			at = (unsigned)(p - s) + 1;
			if (!cpu_number(&p, &hi))
				return bad(out, why, why_len,
				           "at character %u: not a CPU number below %u after '-'", at,
				           CPUS_MAX);
			if (hi < lo)
				return bad(out, why, why_len, "the range %u-%u runs backwards", lo, hi);
		}
		for (unsigned c = lo; c <= hi; c++)
			out->w[c / 64] |= (uint64_t)1 << (c % 64);
		if (*p == '\0')
			return 0;
		if (*p != ',')
			return isprint((unsigned char)*p)
			           ? bad(out, why, why_len, "at character %u: '%c' is not ',' or '-'",
			                 (unsigned)(p - s) + 1, *p)
			           : bad(out, why, why_len, "at character %u: byte 0x%02x is not ',' or '-'",
			                 (unsigned)(p - s) + 1, (unsigned char)*p);
		p++;
	}
}

bool cpu_list_has(const struct cpu_list *l, unsigned cpu)
{
	return cpu < CPUS_MAX && (l->w[cpu / 64] >> (cpu % 64) & 1);
}

bool cpu_list_empty(const struct cpu_list *l)
{
	return cpu_list_max(l) < 0;
}

int cpu_list_max(const struct cpu_list *l)
{
	for (size_t i = CPUS_MAX / 64; i-- > 0;)
		if (l->w[i])
			return (int)(i * 64 + 63 - (unsigned)__builtin_clzll(l->w[i]));
	return -1;
}

size_t cpu_list_format(const struct cpu_list *l, char *buf, size_t len)
{
	size_t n = 0;

	if (len)
		buf[0] = '\0';
	for (unsigned c = 0; c < CPUS_MAX; c++) {
		if (!cpu_list_has(l, c))
			continue;
		unsigned e = c;
		while (e + 1 < CPUS_MAX && cpu_list_has(l, e + 1))
			e++;
		/* Past the end of buf: only counted (snprintf into nothing). */
		char *at = n < len ? buf + n : NULL;
		size_t room = n < len ? len - n : 0;
		int k = e == c ? snprintf(at, room, "%s%u", n ? "," : "", c)
		               : snprintf(at, room, "%s%u-%u", n ? "," : "", c, e);
		n += (size_t)k;
		c = e;
	}
	return n;
}
