/*
 * v5: NetFlow version 5 datagrams (Cisco, fixed format, no templates).
 *
 * Header (24 bytes): version, count (1..30), sysUptime (ms), unix_secs,
 * unix_nsecs, flow_sequence (records sent before this datagram), engine
 * type, engine id, sampling_interval (top 2 bits mode, low 14 interval).
 * Record (48 bytes): srcaddr, dstaddr, nexthop, input, output (2 bytes each),
 * dPkts, dOctets, first, last (sysUptime ms), srcport, dstport, pad1,
 * tcp_flags, prot, tos, src_as, dst_as, src_mask, dst_mask, pad2.
 *
 * Not here: sequence and sampling bookkeeping (decoder.c).
 */
#include <string.h>

#include "internal.h"

#define V5_HEADER_LEN 24u
#define V5_RECORD_LEN 48u
#define V5_MAX_RECORDS 30u

int dec_v5(struct decoder *d, const struct flow_endpoint *from, const uint8_t *p, size_t len,
           uint64_t now_ms)
{
	struct dec_ctx c = {.d = d, .now_ms = now_ms, .version = 5};

	if (len < V5_HEADER_LEN)
		return DEC_ERR(DECODER_DROP_SHORT_HEADER);
	uint16_t count = get_u16be(p + 2);
	/* Longer than announced is tolerated (some exporters pad); shorter is not. */
	if (count == 0 || count > V5_MAX_RECORDS ||
	    len < V5_HEADER_LEN + (size_t)count * V5_RECORD_LEN)
		return DEC_ERR(DECODER_DROP_BAD_LENGTH);

	uint32_t domain = (uint32_t)p[20] << 8 | p[21];
	int rc = dec_exporter_get(d, from, domain, 5, now_ms, &c.e);
	if (rc < 0)
		return rc;
	c.sc = c.e->sc;
	struct dec_exporter *e = c.e;
	e->datagrams++;

	c.uptime_ms = get_u32be(p + 4);
	c.export_ms = (uint64_t)get_u32be(p + 8) * 1000 + get_u32be(p + 12) / 1000000u;
	uint32_t seq = get_u32be(p + 16);
	uint16_t samp = get_u16be(p + 22);
	/* Mode (top 2 bits) is informational; the interval is what we scale
	 * by. Each header is authoritative: 0 means unsampled (again). */
	dec_default_rate_set(c.sc, samp & 0x3fffu);
	dec_seq_check(&c, seq, false);

	uint32_t rate = dec_rate_none(c.sc);
	const uint8_t *r = p + V5_HEADER_LEN;
	for (uint16_t i = 0; i < count; i++, r += V5_RECORD_LEN) {
		/* 0.0.0.0 is no address to attribute a flow to (docs/decoding.md). */
		if (!get_u32be(r) || !get_u32be(r + 4)) {
			dec_drop(&c, DECODER_DROP_NO_ADDRESS, "source or destination 0.0.0.0");
			continue;
		}
		struct flow *f = dec_flow_next(d);

		memset(f, 0, sizeof(*f));
		f->exporter = from->addr;
		f->export_ms = c.export_ms;
		flow_addr_from_v4(&f->src, r);
		flow_addr_from_v4(&f->dst, r + 4);
		f->in_if = get_u16be(r + 12);
		f->out_if = get_u16be(r + 14);
		f->packets = get_u32be(r + 16);
		f->octets = get_u32be(r + 20);
		f->first_ms = dec_uptime_to_ms(&c, get_u32be(r + 24));
		f->last_ms = dec_uptime_to_ms(&c, get_u32be(r + 28));
		f->sport = get_u16be(r + 32);
		f->dport = get_u16be(r + 34);
		f->tcp_flags = r[37];
		f->proto = r[38];
		dec_scale(f, rate);
		c.delivered++;
	}
	dec_seq_commit(&c, seq, count);
	e->records += c.delivered;
	dec_exporter_decoded(&c);
	return (int)c.delivered;
}
