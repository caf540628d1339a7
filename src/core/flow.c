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

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void flow_addr_from_v4(struct flow_addr *a, const uint8_t v4[4])
{
	memcpy(a->b, v4_mapped_prefix, 12);
	memcpy(a->b + 12, v4, 4);
}

void flow_addr_from_v6(struct flow_addr *a, const uint8_t v6[16])
{
	memcpy(a->b, v6, 16);
}

bool flow_addr_is_v4(const struct flow_addr *a)
{
	return memcmp(a->b, v4_mapped_prefix, 12) == 0;
}

size_t flow_addr_format(const struct flow_addr *a, char *buf, size_t len)
{
	const char *r;

	if (flow_addr_is_v4(a))
		r = inet_ntop(AF_INET, a->b + 12, buf, (socklen_t)len);
	else
		r = inet_ntop(AF_INET6, a->b, buf, (socklen_t)len);
	if (!r) {
		if (len)
			buf[0] = '\0';
		return 0;
	}
	return strlen(buf);
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

int flow_endpoint_parse(const char *s, struct flow_endpoint *ep)
{
	char host[64];
	const char *colon, *h = s;
	size_t hlen;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
		/* An unbracketed IPv6 address is ambiguous with its port. */
		if (memchr(s, ':', hlen))
			return -EINVAL;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';

	const char *ps = colon + 1;
	char *end;
	if (*ps < '0' || *ps > '9')
		return -EINVAL;
	errno = 0;
	unsigned long port = strtoul(ps, &end, 10);
	if (errno || *end != '\0' || port < 1 || port > 65535)
		return -EINVAL;

	struct flow_addr a;
	uint8_t tmp[16];
	if (s[0] == '[') {
		if (inet_pton(AF_INET6, host, tmp) != 1)
			return -EINVAL;
		flow_addr_from_v6(&a, tmp);
	} else {
		if (inet_pton(AF_INET, host, tmp) != 1)
			return -EINVAL;
		flow_addr_from_v4(&a, tmp);
	}
	ep->addr = a;
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
