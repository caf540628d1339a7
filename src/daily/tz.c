/*
 * tz: TZif files (RFC 8536) read without the C library's TZ machinery
 * (tz.h).
 */
#include "tz.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Offsets beyond +-26 h are refused (RFC 8536 3.2: -89999..93599). */
#define TZ_OFF_MAX (26 * 3600)

/* A POSIX TZ rule's date: Jn, n or Mm.w.d, and its time of day. */
struct tz_rdate {
	char kind; /* 'J', 'N' (zero-based day), 'M' */
	int n, m, w, d;
	int32_t time; /* seconds after local midnight (-167 h .. 167 h) */
};

struct tz_zone {
	int64_t *trans; /* n_trans ascending transition times */
	uint8_t *idx;   /* type of each transition */
	int32_t *utoff; /* n_types offsets, s east of UTC */
	size_t n_trans, n_types;
	/* Footer rule: std_off, and when has_dst, dst_off between start and end. */
	bool has_rule, has_dst;
	int32_t std_off, dst_off;
	struct tz_rdate start, end;
};

/* ---- civil dates ------------------------------------------------------------ */

/* Days since 1970-01-01 of y-m-d (proleptic Gregorian, m 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int mdays(int64_t y, int m)
{
	static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && leap(y) ? 29 : n[m - 1];
}

/* ---- the POSIX TZ footer ------------------------------------------------------ */

/* A zone abbreviation: <...> or 3+ letters. */
static const char *p_name(const char *s)
{
	const char *b = s;

	if (*s == '<') {
		while (*++s && *s != '>')
			if (!(*s == '+' || *s == '-' || (*s >= '0' && *s <= '9') ||
			      (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
				return NULL;
		return *s == '>' && s - b >= 4 ? s + 1 : NULL;
	}
	while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
		s++;
	return s - b >= 3 ? s : NULL;
}

static const char *p_num(const char *s, int lo, int hi, int *v)
{
	int n = 0, k = 0;

	while (*s >= '0' && *s <= '9' && k < 4)
		n = n * 10 + (*s++ - '0'), k++;
	if (k == 0 || n < lo || n > hi)
		return NULL;
	*v = n;
	return s;
}

/* [+-]h[:mm[:ss]] with h at most maxh, in seconds. */
static const char *p_hms(const char *s, int maxh, int32_t *v)
{
	int sign = 1, h, mi = 0, se = 0;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	if (!(s = p_num(s, 0, maxh, &h)))
		return NULL;
	if (*s == ':' && !(s = p_num(s + 1, 0, 59, &mi)))
		return NULL;
	if (*s == ':' && !(s = p_num(s + 1, 0, 59, &se)))
		return NULL;
	*v = sign * (h * 3600 + mi * 60 + se);
	return s;
}

static const char *p_rdate(const char *s, struct tz_rdate *r)
{
	if (*s == 'J') {
		r->kind = 'J';
		s = p_num(s + 1, 1, 365, &r->n);
	} else if (*s == 'M') {
		r->kind = 'M';
		if ((s = p_num(s + 1, 1, 12, &r->m)) && *s == '.' &&
		    (s = p_num(s + 1, 1, 5, &r->w)) && *s == '.')
			s = p_num(s + 1, 0, 6, &r->d);
		else
			s = NULL;
	} else {
		r->kind = 'N';
		s = p_num(s, 0, 365, &r->n);
	}
	r->time = 2 * 3600;
	if (s && *s == '/')
		s = p_hms(s + 1, 167, &r->time);
	return s;
}

/* The footer's TZ string (NUL-terminated); an empty one sets no rule. */
static int parse_rule(const char *s, struct tz_zone *z)
{
	int32_t o;

	if (!*s)
		return 0;
	if (!(s = p_name(s)) || !(s = p_hms(s, 24, &o)))
		return -EINVAL;
	z->has_rule = true;
	z->std_off = -o;
	if (!*s)
		return 0;
	if (!(s = p_name(s)))
		return -EINVAL;
	z->has_dst = true;
	z->dst_off = z->std_off + 3600;
	if (*s && *s != ',') {
		if (!(s = p_hms(s, 24, &o)))
			return -EINVAL;
		z->dst_off = -o;
	}
	if (!*s) {
		/* No rule: the US rule of POSIX's default. */
		z->start = (struct tz_rdate){.kind = 'M', .m = 3, .w = 2, .d = 0, .time = 7200};
		z->end = (struct tz_rdate){.kind = 'M', .m = 11, .w = 1, .d = 0, .time = 7200};
		return 0;
	}
	if (*s != ',' || !(s = p_rdate(s + 1, &z->start)) || *s != ',' ||
	    !(s = p_rdate(s + 1, &z->end)) || *s)
		return -EINVAL;
	return 0;
}

/* Local seconds since the epoch at which r happens in year y (before its time zone applies). */
static int64_t rdate_local(const struct tz_rdate *r, int64_t y)
{
	int64_t day;

	if (r->kind == 'J')
		day = days_from_civil(y, 1, 1) + r->n - 1 + (leap(y) && r->n >= 60);
	else if (r->kind == 'N')
		day = days_from_civil(y, 1, 1) + r->n;
	else {
		int64_t first = days_from_civil(y, r->m, 1);
		int wd1 = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
		int md = 1 + (r->d - wd1 + 7) % 7 + (r->w - 1) * 7;
		while (md > mdays(y, r->m))
			md -= 7;
		day = first + md - 1;
	}
	return day * 86400 + r->time;
}

static int32_t rule_offset(const struct tz_zone *z, int64_t t)
{
	int y, m, d;
	int64_t s, e;

	if (!z->has_dst)
		return z->std_off;
	civil_from_days(floor_div(t + z->std_off, 86400), &y, &m, &d);
	s = rdate_local(&z->start, y) - z->std_off;
	e = rdate_local(&z->end, y) - z->dst_off;
	if (s <= e)
		return t >= s && t < e ? z->dst_off : z->std_off;
	return t >= e && t < s ? z->std_off : z->dst_off;
}

/* ---- TZif ------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct hdr {
	char ver;
	uint32_t isut, isstd, leap, time, type, chars;
};

/* The 44-byte header at p (len bytes left); the data block's size in *blk. */
static int read_hdr(const uint8_t *p, size_t len, int tsz, struct hdr *h, size_t *blk)
{
	uint64_t n;

	if (len < 44 || memcmp(p, "TZif", 4) != 0)
		return -EINVAL;
	h->ver = (char)p[4];
	h->isut = be32(p + 20), h->isstd = be32(p + 24), h->leap = be32(p + 28);
	h->time = be32(p + 32), h->type = be32(p + 36), h->chars = be32(p + 40);
	if (h->type == 0 || h->type > 256 || h->chars == 0 || (h->isut && h->isut != h->type) ||
	    (h->isstd && h->isstd != h->type) || (h->ver != 0 && (h->ver < '2' || h->ver > '9')))
		return -EINVAL;
	n = (uint64_t)h->time * (tsz + 1) + (uint64_t)h->type * 6 + h->chars +
	    (uint64_t)h->leap * (tsz + 4) + h->isstd + h->isut;
	if (n > len - 44)
		return -EINVAL;
	*blk = (size_t)n;
	return 0;
}

int tz_parse(const uint8_t *buf, size_t len, struct tz_zone **out)
{
	struct hdr h;
	size_t blk, i;
	int tsz = 4, rc;
	const uint8_t *p = buf, *end = buf + len;
	struct tz_zone *z;

	*out = NULL;
	if (len > TZ_FILE_MAX || read_hdr(p, len, 4, &h, &blk) != 0)
		return -EINVAL;
	if (h.ver >= '2') {
		p += 44 + blk;
		if (read_hdr(p, (size_t)(end - p), 8, &h, &blk) != 0)
			return -EINVAL;
		tsz = 8;
	}
	p += 44;
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	z->n_trans = h.time, z->n_types = h.type;
	z->trans = malloc((h.time ? h.time : 1) * sizeof(*z->trans));
	z->idx = malloc(h.time ? h.time : 1);
	z->utoff = malloc(h.type * sizeof(*z->utoff));
	if (!z->trans || !z->idx || !z->utoff) {
		tz_free(z);
		return -ENOMEM;
	}
	for (i = 0; i < h.time; i++) {
		z->trans[i] = tsz == 8 ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
		if (i > 0 && z->trans[i] <= z->trans[i - 1])
			goto bad;
	}
	p += (size_t)h.time * tsz;
	for (i = 0; i < h.time; i++)
		if ((z->idx[i] = p[i]) >= h.type)
			goto bad;
	p += h.time;
	for (i = 0; i < h.type; i++, p += 6) {
		int32_t o = (int32_t)be32(p);
		if (o < -TZ_OFF_MAX || o > TZ_OFF_MAX || p[4] > 1 || p[5] >= h.chars)
			goto bad;
		z->utoff[i] = o;
	}
	p += h.chars + (size_t)h.leap * (tsz + 4) + h.isstd + h.isut;
	if (tsz == 8) {
		/* Footer: '\n' TZ string '\n'. */
		const uint8_t *nl;
		char rule[256];

		if (p >= end || *p != '\n')
			goto bad;
		nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
		if (!nl || (size_t)(nl - p - 1) >= sizeof(rule) ||
		    memchr(p + 1, 0, (size_t)(nl - p - 1)))
			goto bad;
		memcpy(rule, p + 1, (size_t)(nl - p - 1));
		rule[nl - p - 1] = '\0';
		if ((rc = parse_rule(rule, z)) != 0)
			goto bad;
	}
	*out = z;
	return 0;
bad:
	tz_free(z);
	return -EINVAL;
}

void tz_free(struct tz_zone *z)
{
	if (!z)
		return;
	free(z->trans);
	free(z->idx);
	free(z->utoff);
	free(z);
}

int32_t tz_offset(const struct tz_zone *z, int64_t t)
{
	size_t lo = 0, hi;

	if (z->n_trans == 0 || t < z->trans[0])
		return z->n_trans == 0 && z->has_rule ? rule_offset(z, t) : z->utoff[0];
	if (t >= z->trans[z->n_trans - 1] && z->has_rule)
		return rule_offset(z, t);
	/* The last transition at or before t. */
	hi = z->n_trans;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (z->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->utoff[z->idx[lo]];
}

void tz_local_date(const struct tz_zone *z, int64_t t, int *y, int *m, int *d)
{
	civil_from_days(floor_div(t + tz_offset(z, t), 86400), y, m, d);
}

int64_t tz_local_midnight(const struct tz_zone *z, int y, int m, int d, int *wy, int *wm, int *wd)
{
	int64_t ym = (int64_t)y * 12 + (m - 1);
	int64_t L, best = INT64_MAX, gap = INT64_MAX;
	int32_t cand[3];

	/* Normalise the month, then count the day from the month's 1st. */
	L = (days_from_civil(floor_div(ym, 12), (int)(ym - floor_div(ym, 12) * 12) + 1, 1) + d -
	     1) *
	    86400;
	/* The instant lies within 26 h of L: the offsets in effect around there. */
	cand[0] = tz_offset(z, L - TZ_OFF_MAX - 3600);
	cand[1] = tz_offset(z, L);
	cand[2] = tz_offset(z, L + TZ_OFF_MAX + 3600);
	for (int i = 0; i < 3; i++) {
		int64_t t = L - cand[i];
		if (tz_offset(z, t) == cand[i] && t < best)
			best = t;
	}
	if (best == INT64_MAX) {
		/*
		 * A gap: L taken with the offset before the jump is the first
		 * instant after it (mktime gives that one).
		 */
		for (int i = 0; i < 3; i++) {
			int64_t t = L - cand[i];
			if (tz_offset(z, t - 1) == cand[i] && t < gap)
				gap = t;
		}
		best = gap != INT64_MAX ? gap : L - cand[0];
	}
	tz_local_date(z, best, wy, wm, wd);
	return best;
}

/* ---- loading and the cache ---------------------------------------------------- */

static const struct tz_zone utc_zone = {.utoff = (int32_t[]){0}, .n_types = 1};

static int tz_load(const char *name, struct tz_zone **out)
{
	char path[1024];
	const char *dir = getenv("TZDIR");
	uint8_t *buf;
	ssize_t n;
	size_t len = 0;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(TZ_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (len <= TZ_FILE_MAX && (n = read(fd, buf + len, TZ_FILE_MAX + 1 - len)) > 0)
		len += (size_t)n;
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc == 0)
		rc = len > TZ_FILE_MAX ? -EINVAL : tz_parse(buf, len, out);
	free(buf);
	return rc;
}

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char name[64];
	struct tz_zone *z;
} cache[TZ_CACHE_MAX];
static size_t n_cache;

int tz_get(const char *name, const struct tz_zone **z, struct tz_zone **owned)
{
	struct tz_zone *nz;
	int rc;

	*owned = NULL;
	if (!name || !*name || strcmp(name, "UTC") == 0) {
		*z = &utc_zone;
		return 0;
	}
	if (strlen(name) >= sizeof(cache[0].name))
		return -EINVAL;
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < n_cache; i++)
		if (strcmp(cache[i].name, name) == 0) {
			*z = cache[i].z;
			pthread_mutex_unlock(&cache_lock);
			return 0;
		}
	rc = tz_load(name, &nz);
	if (rc == 0) {
		if (n_cache < TZ_CACHE_MAX) {
			snprintf(cache[n_cache].name, sizeof(cache[0].name), "%s", name);
			cache[n_cache++].z = nz;
		} else {
			*owned = nz;
		}
		*z = nz;
	}
	pthread_mutex_unlock(&cache_lock);
	return rc;
}
