/*
 * v9: NetFlow version 9 datagrams (RFC 3954).
 *
 * Header (20 bytes): version, count, sysUptime (ms), unix_secs, sequence
 * (export packets sent from this source ID), source ID. Then flowsets of
 * (ID, length): 0 templates, 1 options templates, 2..255 reserved, >= 256
 * data. Each flowset is padded to 32 bits.
 *
 * Not here: compiling templates and decoding records (tmpl.c).
 */
#include "internal.h"

#define V9_HEADER_LEN 20u

/* Template flowset body: (template ID, field count, count x (type, length)). */
static void v9_templates(struct dec_ctx *c, const uint8_t *p, size_t len)
{
	size_t pos = 0;

	while (len - pos >= 4) {
		uint16_t tid = get_u16be(p + pos), cnt = get_u16be(p + pos + 2);
		if (tid == 0 && cnt == 0)
			return; /* padding */
		if (tid < 256) {
			dec_drop(c, DECODER_DROP_TEMPLATE_INVALID, "template ID below 256");
			return;
		}
		pos += 4;
		int rc = dec_tmpl_define(c, tid, false, false, p + pos, len - pos, cnt, 0);
		if (rc < 0)
			return;
		pos += (size_t)rc;
	}
}

/* Options template flowset body (RFC 3954 §6.1): template ID, scope length
 * and options length in bytes, then scope fields and option fields. */
static void v9_options_templates(struct dec_ctx *c, const uint8_t *p, size_t len)
{
	size_t pos = 0;

	while (len - pos >= 6) {
		uint16_t tid = get_u16be(p + pos);
		uint16_t slen = get_u16be(p + pos + 2), olen = get_u16be(p + pos + 4);
		if (tid == 0)
			return; /* padding */
		if (tid < 256 || slen % 4 || olen % 4) {
			dec_drop(c, DECODER_DROP_TEMPLATE_INVALID, "options template header");
			return;
		}
		pos += 6;
		uint32_t n_scope = slen / 4u, n_fields = n_scope + olen / 4u;
		int rc =
		    dec_tmpl_define(c, tid, true, false, p + pos, len - pos, n_fields, n_scope);
		if (rc < 0)
			return;
		pos += (size_t)rc;
	}
}

int dec_v9(struct decoder *d, const struct flow_endpoint *from, const uint8_t *p, size_t len,
           uint64_t now_ms)
{
	struct dec_ctx c = {.d = d, .now_ms = now_ms, .version = 9};

	if (len < V9_HEADER_LEN)
		return DEC_ERR(DECODER_DROP_SHORT_HEADER);
	int rc = dec_exporter_get(d, from, get_u32be(p + 16), 9, now_ms, &c.e);
	if (rc < 0)
		return rc;
	c.sc = c.e->sc;
	c.e->datagrams++;
	c.uptime_ms = get_u32be(p + 4);
	c.export_ms = (uint64_t)get_u32be(p + 8) * 1000;
	uint32_t seq = get_u32be(p + 12);
	dec_seq_check(&c, seq, true);

	/* The header's count (templates + records) is not trusted: vendors
	 * disagree on what it counts. The flowset lengths decide. */
	size_t pos = V9_HEADER_LEN;
	bool broken = false;
	while (len - pos >= 4) {
		uint16_t fsid = get_u16be(p + pos), flen = get_u16be(p + pos + 2);
		c.set_id = fsid;
		if (flen < 4) {
			c.incomplete = true;
			dec_drop(&c, DECODER_DROP_SET_SHORT, "flowset length < 4");
			broken = true;
			break;
		}
		if (flen > len - pos) {
			c.incomplete = true;
			dec_drop(&c, DECODER_DROP_SET_LENGTH, "flowset beyond datagram");
			broken = true;
			break;
		}
		const uint8_t *body = p + pos + 4;
		size_t blen = flen - 4u;
		if (fsid == 0) {
			v9_templates(&c, body, blen);
		} else if (fsid == 1) {
			v9_options_templates(&c, body, blen);
		} else if (fsid < 256) {
			dec_drop(&c, DECODER_DROP_SET_RESERVED, "reserved flowset ID");
		} else {
			dec_data_set(&c, fsid, body, blen);
		}
		pos += flen;
	}
	/* Flowsets are padded to 32 bits; 1..3 stray bytes are a cut flowset header. */
	if (!broken && pos < len) {
		c.incomplete = true;
		dec_drop(&c, DECODER_DROP_SET_SHORT, "partial flowset header at end of datagram");
	}
	/* v9 sequence numbers count packets, so records we could not decode
	 * do not disturb the count. */
	c.incomplete = false;
	dec_seq_commit(&c, seq, 1);
	c.e->records += c.delivered;
	dec_exporter_decoded(&c);
	return (int)c.delivered;
}
