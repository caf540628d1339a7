/*
 * state: the attack detector's restart file (attack_state_save,
 * attack_state_load; docs/internals/attack.md, "Restart state"). A
 * collector restarted during an attack keeps the attack's event -- the
 * same id and start, its peak, counts and top lists -- instead of ending
 * it at the stop and raising a new one once its windows fill again.
 *
 * What is kept is each open event as its callbacks see it, plus its count
 * of quiet windows; the per-host windows are not (they are seconds old
 * after any restart, and refill in window_s seconds). All integers are
 * big-endian and doubles are stored as their IEEE bits, so the file reads
 * the same on every machine; a trailer checksum refuses a damaged one.
 *
 * Not here: where the file lives and when it is written (pipeline.c), the
 * events themselves (attack.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "nfsentry/attackring.h"
#include "nfsentry/fault.h"
#include "nfsentry/fileio.h"

/*
 * Layout:
 *   header  magic[8] "NFSATTCK", version u32, event count u32, saved_at_ms u64
 *   event   site[64] (NUL-terminated), ip[16], dir u8, class u8, below u8,
 *           n_sources u8, n_ports u8, n_protocols u8, reserved u16 (0),
 *           seq u32, sampling u32 (0: none; else a power of two up to
 *           2^ATTACK_RING_SHED_MAX -- written 0 for an unsampled event, so a
 *           file without sampling reads the same in the versions before it
 *           was kept), start_ms u64, detected_ms u64,
 *           now_ms u64 (last callback), quiet_from_ms u64, cur[3], peak[3],
 *           threshold[3] (float64 bits), packets u64, octets u64, flows
 *           (float64 bits), then 3 x ATTACK_TOP_MAX entries (sources, ports,
 *           protocols): address[16], key u32, reserved u32 (0), packets u64
 *   trailer FNV-1a 64 of every byte before it
 */
#define STATE_MAGIC "NFSATTCK"
#define STATE_HDR 24u
#define STATE_TOP 32u
#define STATE_EVENT                                                                                \
	(SITE_NAME_MAX + 16u + 8u + 8u + 32u + 72u + 24u + 3u * ATTACK_TOP_MAX * STATE_TOP)
#define STATE_SUM 8u
#define STATE_MAX_BYTES (STATE_HDR + (size_t)ATTACK_EVENTS_MAX * STATE_EVENT + STATE_SUM)

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
	return put32(put32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

static uint8_t *putd(uint8_t *p, double d)
{
	uint64_t v;

	memcpy(&v, &d, sizeof(v));
	return put64(p, v);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static double getd(const uint8_t *p)
{
	uint64_t v = get64(p);
	double d;

	memcpy(&d, &v, sizeof(d));
	return d;
}

static uint64_t fnv64(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint8_t *put_tops(uint8_t *p, const struct attack_top *t, size_t n)
{
	for (size_t j = 0; j < ATTACK_TOP_MAX; j++) {
		struct attack_top z = {0};
		const struct attack_top *e = j < n ? &t[j] : &z;
		memcpy(p, e->addr.b, 16);
		p = put32(p + 16, e->key);
		p = put32(p, 0);
		p = put64(p, e->packets);
	}
	return p;
}

static void event_encode(uint8_t *p, const struct attack_saved *s)
{
	const struct attack_event *e = &s->ev;

	memset(p, 0, STATE_EVENT);
	memcpy(p, s->site, strnlen(s->site, SITE_NAME_MAX - 1));
	p += SITE_NAME_MAX;
	memcpy(p, e->ip.b, 16);
	p += 16;
	p[0] = (uint8_t)e->dir;
	p[1] = (uint8_t)e->cls;
	p[2] = s->below;
	p[3] = (uint8_t)e->n_sources;
	p[4] = (uint8_t)e->n_ports;
	p[5] = (uint8_t)e->n_protocols;
	p += 8;
	p = put32(p, e->seq);
	p = put32(p, e->sampling > 1 ? e->sampling : 0);
	p = put64(p, e->start_ms);
	p = put64(p, e->detected_ms);
	p = put64(p, e->now_ms);
	p = put64(p, s->quiet_from_ms);
	for (unsigned m = 0; m < ATTACK_METRIC__COUNT; m++)
		p = putd(p, e->cur[m]);
	for (unsigned m = 0; m < ATTACK_METRIC__COUNT; m++)
		p = putd(p, e->peak[m]);
	for (unsigned m = 0; m < ATTACK_METRIC__COUNT; m++)
		p = putd(p, e->threshold[m]);
	p = put64(p, e->packets);
	p = put64(p, e->octets);
	p = putd(p, e->flows);
	p = put_tops(p, e->sources, e->n_sources);
	p = put_tops(p, e->ports, e->n_ports);
	put_tops(p, e->protocols, e->n_protocols);
}

static bool rate_ok(double d)
{
	return isfinite(d) && d >= 0;
}

/* Read the tops of one list; false when a reserved field is set. */
static bool get_tops(const uint8_t *p, struct attack_top *t)
{
	for (size_t j = 0; j < ATTACK_TOP_MAX; j++, p += STATE_TOP) {
		memcpy(t[j].addr.b, p, 16);
		t[j].key = get32(p + 16);
		if (get32(p + 20) != 0)
			return false;
		t[j].packets = get64(p + 24);
	}
	return true;
}

/* One event record into *s. Returns 0, or -EBADMSG for values no writer makes. */
static int event_decode(const uint8_t *p, struct attack_saved *s)
{
	struct attack_event *e = &s->ev;

	memset(s, 0, sizeof(*s));
	if (!memchr(p, '\0', SITE_NAME_MAX) || p[0] == '\0')
		return -EBADMSG;
	memcpy(s->site, p, SITE_NAME_MAX);
	p += SITE_NAME_MAX;
	memcpy(e->ip.b, p, 16);
	p += 16;
	if (p[0] >= ATTACK_DIR__COUNT || p[1] >= ATTACK_CLASS__COUNT || p[3] > ATTACK_TOP_MAX ||
	    p[4] > ATTACK_TOP_MAX || p[5] > ATTACK_TOP_MAX || p[6] || p[7])
		return -EBADMSG;
	e->dir = (enum attack_dir)p[0];
	e->cls = (enum attack_class)p[1];
	s->below = p[2];
	e->n_sources = p[3];
	e->n_ports = p[4];
	e->n_protocols = p[5];
	p += 8;
	e->seq = get32(p);
	uint32_t smp = get32(p + 4);
	if (smp == 1 || smp > 1u << ATTACK_RING_SHED_MAX || (smp & (smp - 1)))
		return -EBADMSG;
	e->sampling = smp;
	p += 8;
	e->start_ms = get64(p);
	e->detected_ms = get64(p + 8);
	e->now_ms = get64(p + 16);
	s->quiet_from_ms = get64(p + 24);
	p += 32;
	for (unsigned m = 0; m < ATTACK_METRIC__COUNT; m++) {
		e->cur[m] = getd(p + 8 * m);
		e->peak[m] = getd(p + 24 + 8 * m);
		e->threshold[m] = getd(p + 48 + 8 * m);
		if (!rate_ok(e->cur[m]) || !rate_ok(e->peak[m]) || !rate_ok(e->threshold[m]))
			return -EBADMSG;
	}
	p += 72;
	e->packets = get64(p);
	e->octets = get64(p + 8);
	e->flows = getd(p + 16);
	if (!rate_ok(e->flows))
		return -EBADMSG;
	p += 24;
	if (!get_tops(p, e->sources) || !get_tops(p + ATTACK_TOP_MAX * STATE_TOP, e->ports) ||
	    !get_tops(p + 2 * ATTACK_TOP_MAX * STATE_TOP, e->protocols))
		return -EBADMSG;
	if (e->start_ms > e->detected_ms)
		return -EBADMSG;
	return 0;
}

int attack_state_save(struct attack *a, const char *path, uint64_t now_ms, size_t *n_events)
{
	struct attack_saved *sv = fault_calloc(ATTACK_EVENTS_MAX, sizeof(*sv));

	if (!sv)
		return -ENOMEM;
	size_t n = attack_saved_get(a, sv, ATTACK_EVENTS_MAX);
	size_t len = STATE_HDR + n * STATE_EVENT + STATE_SUM;
	uint8_t *buf = fault_malloc(len);
	if (!buf) {
		free(sv);
		return -ENOMEM;
	}
	memcpy(buf, STATE_MAGIC, 8);
	put32(buf + 8, ATTACK_STATE_VERSION);
	put32(buf + 12, (uint32_t)n);
	put64(buf + 16, now_ms);
	for (size_t k = 0; k < n; k++)
		event_encode(buf + STATE_HDR + k * STATE_EVENT, &sv[k]);
	put64(buf + len - STATE_SUM, fnv64(buf, len - STATE_SUM));
	free(sv);
	int rc = fileio_replace_write(path, 0640, buf, len);
	free(buf);
	if (rc != 0)
		return rc;
	if (n_events)
		*n_events = n;
	return 0;
}

/* The whole file at path into a new buffer (owned by the caller), at most max bytes. */
static int read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		close(fd);
		return -EBADMSG;
	}
	size_t n = (size_t)st.st_size, got = 0;
	uint8_t *b = fault_malloc(n ? n : 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	while (got < n) {
		ssize_t r = read(fd, b + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? -errno : -EBADMSG;
			free(b);
			close(fd);
			return e;
		}
		got += (size_t)r;
	}
	close(fd);
	*out = b;
	*len = n;
	return 0;
}

/* Check the whole file before anything is taken: header, size, checksum, every record. */
static int state_check(const uint8_t *b, size_t len, struct attack_saved *sv, size_t *n)
{
	if (len < STATE_HDR + STATE_SUM || memcmp(b, STATE_MAGIC, 8) != 0)
		return -EBADMSG;
	if (get32(b + 8) != ATTACK_STATE_VERSION)
		return -EPROTONOSUPPORT;
	uint32_t count = get32(b + 12);
	if (count > ATTACK_EVENTS_MAX || len != STATE_HDR + (size_t)count * STATE_EVENT + STATE_SUM)
		return -EBADMSG;
	if (get64(b + len - STATE_SUM) != fnv64(b, len - STATE_SUM))
		return -EBADMSG;
	for (uint32_t k = 0; k < count; k++)
		if (event_decode(b + STATE_HDR + (size_t)k * STATE_EVENT, &sv[k]) != 0)
			return -EBADMSG;
	*n = count;
	return 0;
}

int attack_state_load(struct attack *a, const char *path, uint64_t now_ms,
                      struct attack_restore *res)
{
	uint8_t *b = NULL;
	size_t len = 0, n = 0;

	memset(res, 0, sizeof(*res));
	int rc = read_file(path, STATE_MAX_BYTES, &b, &len);
	if (rc == -EBADMSG)
		attack_state_rejected(a);
	if (rc != 0)
		return rc;
	struct attack_saved *sv = fault_calloc(ATTACK_EVENTS_MAX, sizeof(*sv));
	if (!sv) {
		free(b);
		return -ENOMEM;
	}
	rc = state_check(b, len, sv, &n);
	if (rc == 0)
		res->saved_at_ms = get64(b + 16);
	free(b);
	if (rc != 0) {
		attack_state_rejected(a);
		free(sv);
		return rc;
	}
	for (size_t k = 0; k < n; k++) {
		int r = attack_saved_put(a, &sv[k], res->saved_at_ms, now_ms);
		if (r == 1)
			res->resumed++;
		else if (r == 0)
			res->ended++;
		else
			res->dropped++;
	}
	free(sv);
	return 0;
}
