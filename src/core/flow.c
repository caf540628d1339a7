/*
 * flow: address helpers for the normalized record. See flow.h.
 */
#include "nfsentry/flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

void flow_addr_from_v6(struct flow_addr *a, const uint8_t v6[16])
{
	memcpy(a->b, v6, 16);
}

/*
 * The decimal text of every octet, padded to four bytes so that one 4-byte
 * copy moves it. By hand because glibc's inet_ntop4 formats with sprintf:
 * ~2 850 instructions per address, and the documents of a slot print
 * hundreds of thousands of them.
 */
static const char dec_u8[256][4] = {
	"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
	"17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31",
	"32", "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46",
	"47", "48", "49", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "60", "61",
	"62", "63", "64", "65", "66", "67", "68", "69", "70", "71", "72", "73", "74", "75", "76",
	"77", "78", "79", "80", "81", "82", "83", "84", "85", "86", "87", "88", "89", "90", "91",
	"92", "93", "94", "95", "96", "97", "98", "99", "100", "101", "102", "103", "104", "105",
	"106", "107", "108", "109", "110", "111", "112", "113", "114", "115", "116", "117", "118",
	"119", "120", "121", "122", "123", "124", "125", "126", "127", "128", "129", "130", "131",
	"132", "133", "134", "135", "136", "137", "138", "139", "140", "141", "142", "143", "144",
	"145", "146", "147", "148", "149", "150", "151", "152", "153", "154", "155", "156", "157",
	"158", "159", "160", "161", "162", "163", "164", "165", "166", "167", "168", "169", "170",
	"171", "172", "173", "174", "175", "176", "177", "178", "179", "180", "181", "182", "183",
	"184", "185", "186", "187", "188", "189", "190", "191", "192", "193", "194", "195", "196",
	"197", "198", "199", "200", "201", "202", "203", "204", "205", "206", "207", "208", "209",
	"210", "211", "212", "213", "214", "215", "216", "217", "218", "219", "220", "221", "222",
	"223", "224", "225", "226", "227", "228", "229", "230", "231", "232", "233", "234", "235",
	"236", "237", "238", "239", "240", "241", "242", "243", "244", "245", "246", "247", "248",
	"249", "250", "251", "252", "253", "254", "255",
};

static char *put_dec_u8(char *p, unsigned v)
{
	memcpy(p, dec_u8[v], 4);
	return p + 1 + (v >= 10) + (v >= 100);
}

static char *put_v4(char *p, const uint8_t b[4])
{
	p = put_dec_u8(p, b[0]);
	*p++ = '.';
	p = put_dec_u8(p, b[1]);
	*p++ = '.';
	p = put_dec_u8(p, b[2]);
	*p++ = '.';
	return put_dec_u8(p, b[3]);
}

/* Lower-case hex of one group without leading zeros ("0" for zero). */
static char *put_hex_u16(char *p, unsigned v)
{
	static const char hex[] = "0123456789abcdef";
	int shift = v >= 0x1000 ? 12 : v >= 0x100 ? 8 : v >= 0x10 ? 4 : 0;

	for (; shift >= 0; shift -= 4)
		*p++ = hex[(v >> shift) & 0xf];
	return p;
}

/*
 * The text glibc's inet_ntop(AF_INET6) prints, without its sprintf: the
 * longest run of two or more zero groups becomes "::" (the first of equal
 * runs), hex is lower case (RFC 5952 section 4), and an address whose first
 * six groups are zero and whose seventh is not (the deprecated
 * IPv4-compatible form, RFC 4291 section 2.5.5.1) ends in dotted quad, as
 * glibc prints it. IPv4-mapped addresses never get here. tests/unit/test_flow.c
 * compares this with inet_ntop over edge cases and random addresses.
 */
static char *put_v6(char *p, const uint8_t b[16])
{
	unsigned w[8];
	int best = -1, best_len = 0, cur = -1, cur_len = 0;

	for (int i = 0; i < 8; i++) {
		w[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
		if (w[i] == 0) {
			if (cur < 0) {
				cur = i;
				cur_len = 0;
			}
			cur_len++;
			if (cur_len > best_len) {
				best = cur;
				best_len = cur_len;
			}
		} else {
			cur = -1;
		}
	}
	if (best_len < 2)
		best = -1;
	for (int i = 0; i < 8; i++) {
		if (best >= 0 && i >= best && i < best + best_len) {
			if (i == best)
				*p++ = ':';
			continue;
		}
		if (i != 0)
			*p++ = ':';
		if (i == 6 && best == 0 && best_len == 6)
			return put_v4(p, b + 12);
		p = put_hex_u16(p, w[i]);
	}
	if (best >= 0 && best + best_len == 8)
		*p++ = ':';
	return p;
}

size_t flow_addr_format(const struct flow_addr *a, char *buf, size_t len)
{
	/*
	 * INET6_ADDRSTRLEN: the longest text form plus its NUL. put_dec_u8
	 * writes up to three bytes past the text, which 46 bytes also hold.
	 */
	char tmp[46], *out = len >= sizeof(tmp) ? buf : tmp, *end;

	if (flow_addr_is_v4(a))
		end = put_v4(out, a->b + 12);
	else
		end = put_v6(out, a->b);
	size_t n = (size_t)(end - out);
	if (out == tmp) {
		if (n >= len) {
			/* Too small: what inet_ntop does (ENOSPC), an empty string. */
			if (len)
				buf[0] = '\0';
			return 0;
		}
		memcpy(buf, tmp, n);
	}
	buf[n] = '\0';
	return n;
}

int flow_addr_parse(const char *s, struct flow_addr *a)
{
	uint8_t tmp[16];

	if (inet_pton(AF_INET, s, tmp) == 1) {
		flow_addr_from_v4(a, tmp);
		return 0;
	}
	if (inet_pton(AF_INET6, s, tmp) == 1) {
		flow_addr_from_v6(a, tmp);
		return 0;
	}
	return -EINVAL;
}

int flow_endpoint_from_sockaddr(struct flow_endpoint *ep, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		flow_addr_from_v4(&ep->addr, (const uint8_t *)&in->sin_addr);
		ep->port = ntohs(in->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		flow_addr_from_v6(&ep->addr, (const uint8_t *)&in6->sin6_addr);
		ep->port = ntohs(in6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int flow_endpoint_parse(const char *s, struct flow_endpoint *ep, const char **why)
{
	char host[64];
	const char *colon, *h = s, *dummy;
	size_t hlen;
	bool v6 = s[0] == '[';

	if (!why)
		why = &dummy;
	if (v6) {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':') {
			*why = "not [IPV6]:PORT";
			return -EINVAL;
		}
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			*why = "not ADDR:PORT";
			return -EINVAL;
		}
		hlen = (size_t)(colon - s);
		/* An unbracketed IPv6 address is ambiguous with its port. */
		if (memchr(s, ':', hlen)) {
			*why = "IPv6 needs brackets: [ADDR]:PORT";
			return -EINVAL;
		}
	}
	if (hlen >= sizeof(host)) {
		*why = "address too long";
		return -EINVAL;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';

	uint8_t tmp[16];
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, tmp) != 1) {
		*why = v6 ? "not a numeric IPv6 address"
		          : "not a numeric IPv4 address (host names are not resolved)";
		return -EINVAL;
	}

	const char *ps = colon + 1;
	char *end;
	unsigned long port = 0;
	errno = 0;
	if (*ps >= '0' && *ps <= '9')
		port = strtoul(ps, &end, 10);
	if (*ps < '0' || *ps > '9' || errno || *end != '\0' || port < 1 || port > 65535) {
		*why = "port not 1..65535";
		return -EINVAL;
	}
	if (v6)
		flow_addr_from_v6(&ep->addr, tmp);
	else
		flow_addr_from_v4(&ep->addr, tmp);
	ep->port = (uint16_t)port;
	return 0;
}

unsigned flow_endpoint_to_sockaddr(const struct flow_endpoint *ep, struct sockaddr *ss)
{
	if (flow_addr_is_v4(&ep->addr)) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		memset(in, 0, sizeof(*in));
		in->sin_family = AF_INET;
		in->sin_port = htons(ep->port);
		memcpy(&in->sin_addr, ep->addr.b + 12, 4);
		return sizeof(*in);
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	memset(in6, 0, sizeof(*in6));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(ep->port);
	memcpy(&in6->sin6_addr, ep->addr.b, 16);
	return sizeof(*in6);
}
