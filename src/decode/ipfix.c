/*
 * ipfix: IPFIX messages (RFC 7011).
 *
 * Message header (16 bytes): version 10, length (whole message), export time
 * (Unix seconds), sequence number (data records sent before this message
 * from this observation domain; softflowd counts them up to and including
 * it, see dec_seq_ipfix()), observation domain ID. Then sets of
 * (ID, length): 2 templates, 3 options templates, 0, 1 and 4..255 reserved,
 * >= 256 data.
 *
 * Not here: compiling templates and decoding records (tmpl.c).
 */
#include "internal.h"

#define IPFIX_HEADER_LEN 16u
#define IPFIX_SET_TEMPLATE 2u
#define IPFIX_SET_OPTIONS 3u

/*
 * A template record with field count 0 withdraws a template (RFC 7011
 * §8.1); template ID equal to the set ID withdraws all of that set's kind.
 * Returns false when the set cannot be read further.
 */
static bool ipfix_withdraw(struct dec_ctx *c, uint16_t set_id, uint16_t tid)
{
	if (tid == set_id) {
		c->d->st.templates_withdrawn +=
		    dec_tmpl_withdraw_all(c->sc, set_id == IPFIX_SET_OPTIONS ? 1 : 0);
		return true;
	}
	if (tid < 256) {
		dec_drop(c, DECODER_DROP_TEMPLATE_INVALID, "withdrawal of template ID below 256");
		return false;
	}
	if (dec_tmpl_withdraw(c->sc, tid))
		c->d->st.templates_withdrawn++;
	else
		dec_drop(c, DECODER_DROP_TEMPLATE_UNKNOWN, "withdrawal of unknown template");
	return true;
}

/* Template set (2) or options template set (3) body. */
static void ipfix_templates(struct dec_ctx *c, uint16_t set_id, const uint8_t *p, size_t len)
{
	size_t pos = 0;
	bool options = set_id == IPFIX_SET_OPTIONS;

	while (len - pos >= 4) {
		uint16_t tid = get_u16be(p + pos), cnt = get_u16be(p + pos + 2);
		uint16_t scope = 0;
		if (tid == 0 && cnt == 0)
			return; /* padding (RFC 7011 §3.3.1) */
		if (cnt == 0) {
			pos += 4;
			if (!ipfix_withdraw(c, set_id, tid))
				return;
			continue;
		}
		if (tid < 256) {
			dec_drop(c, DECODER_DROP_TEMPLATE_INVALID, "template ID below 256");
			return;
		}
		if (options) {
			if (len - pos < 6) {
				dec_drop(c, DECODER_DROP_TEMPLATE_INVALID,
				         "options template header");
				return;
			}
			scope = get_u16be(p + pos + 4);
			/* RFC 7011 §3.4.2.2: the scope field count MUST NOT be zero. */
			if (scope == 0 || scope > cnt) {
				dec_drop(c, DECODER_DROP_TEMPLATE_INVALID, "scope field count");
				return;
			}
			pos += 6;
		} else {
			pos += 4;
		}
		int rc = dec_tmpl_define(c, tid, options, true, p + pos, len - pos, cnt, scope);
		if (rc < 0)
			return;
		pos += (size_t)rc;
	}
}

int dec_ipfix(struct decoder *d, const struct flow_endpoint *from, const uint8_t *p, size_t len,
              uint64_t now_ms)
{
	struct dec_ctx c = {.d = d, .now_ms = now_ms, .version = 10};

	if (len < IPFIX_HEADER_LEN)
		return DEC_ERR(DECODER_DROP_SHORT_HEADER);
	size_t mlen = get_u16be(p + 2);
	/* Bytes after the message are ignored; a message longer than the
	 * datagram is truncated and dropped whole. */
	if (mlen < IPFIX_HEADER_LEN || mlen > len)
		return DEC_ERR(DECODER_DROP_BAD_LENGTH);
	len = mlen;
	int rc = dec_exporter_get(d, from, get_u32be(p + 12), 10, now_ms, &c.e);
	if (rc < 0)
		return rc;
	c.sc = c.e->sc;
	c.e->datagrams++;
	c.export_ms = (uint64_t)get_u32be(p + 4) * 1000;
	uint32_t seq = get_u32be(p + 8);

	size_t pos = IPFIX_HEADER_LEN;
	bool broken = false;
	while (len - pos >= 4) {
		uint16_t sid = get_u16be(p + pos), slen = get_u16be(p + pos + 2);
		c.set_id = sid;
		if (slen < 4) {
			c.incomplete = true;
			dec_drop(&c, DECODER_DROP_SET_SHORT, "set length < 4");
			broken = true;
			break;
		}
		if (slen > len - pos) {
			c.incomplete = true;
			dec_drop(&c, DECODER_DROP_SET_LENGTH, "set beyond message");
			broken = true;
			break;
		}
		const uint8_t *body = p + pos + 4;
		size_t blen = slen - 4u;
		if (sid == IPFIX_SET_TEMPLATE || sid == IPFIX_SET_OPTIONS) {
			ipfix_templates(&c, sid, body, blen);
		} else if (sid < 256) {
			dec_drop(&c, DECODER_DROP_SET_RESERVED, "reserved set ID");
		} else {
			c.nrecords += dec_data_set(&c, sid, body, blen);
		}
		pos += slen;
	}
	/* A message must end on a set boundary; leftover bytes are a broken set. */
	if (!broken && pos < len) {
		c.incomplete = true;
		dec_drop(&c, DECODER_DROP_SET_SHORT, "partial set header at end of message");
	}
	dec_seq_ipfix(&c, seq);
	c.e->records += c.delivered;
	dec_exporter_decoded(&c);
	return (int)c.delivered;
}
