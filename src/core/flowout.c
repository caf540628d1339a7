/*
 * flowout: CSV and JSON-lines rows of decoded records. See flowout.h.
 */
#include "nfsentry/flowout.h"

#include <errno.h>
#include <string.h>

const char flowout_csv_header[] = "export_time,exporter,src,dst,sport,dport,proto,tcp_flags,"
                                  "packets,octets,first,last,in_if,out_if,sampling\n";

int flowout_format_parse(const char *s, enum flowout_format *out)
{
	if (strcmp(s, "csv") == 0)
		*out = FLOWOUT_CSV;
	else if (strcmp(s, "json") == 0)
		*out = FLOWOUT_JSON;
	else
		return -EINVAL;
	return 0;
}

/* Decimal digits of v at p; returns the new end. */
static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_str(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static char *put_addr(char *p, const struct flow_addr *a)
{
	/* INET6_ADDRSTRLEN is 46 including the NUL. */
	return p + flow_addr_format(a, p, 46);
}

#define PUT_LIT(p, s) put_str((p), (s), sizeof(s) - 1)

static size_t format_csv(const struct flow *f, char *buf)
{
	char *p = buf;

	p = put_u64(p, f->export_ms);
	*p++ = ',';
	p = put_addr(p, &f->exporter);
	*p++ = ',';
	p = put_addr(p, &f->src);
	*p++ = ',';
	p = put_addr(p, &f->dst);
	*p++ = ',';
	p = put_u64(p, f->sport);
	*p++ = ',';
	p = put_u64(p, f->dport);
	*p++ = ',';
	p = put_u64(p, f->proto);
	*p++ = ',';
	p = put_u64(p, f->tcp_flags);
	*p++ = ',';
	p = put_u64(p, f->packets);
	*p++ = ',';
	p = put_u64(p, f->octets);
	*p++ = ',';
	p = put_u64(p, f->first_ms);
	*p++ = ',';
	p = put_u64(p, f->last_ms);
	*p++ = ',';
	p = put_u64(p, f->in_if);
	*p++ = ',';
	p = put_u64(p, f->out_if);
	*p++ = ',';
	p = put_u64(p, f->sampling);
	*p++ = '\n';
	return (size_t)(p - buf);
}

static size_t format_json(const struct flow *f, char *buf)
{
	char *p = buf;

	p = PUT_LIT(p, "{\"export_time\":");
	p = put_u64(p, f->export_ms);
	p = PUT_LIT(p, ",\"exporter\":\"");
	p = put_addr(p, &f->exporter);
	p = PUT_LIT(p, "\",\"src\":\"");
	p = put_addr(p, &f->src);
	p = PUT_LIT(p, "\",\"dst\":\"");
	p = put_addr(p, &f->dst);
	p = PUT_LIT(p, "\",\"sport\":");
	p = put_u64(p, f->sport);
	p = PUT_LIT(p, ",\"dport\":");
	p = put_u64(p, f->dport);
	p = PUT_LIT(p, ",\"proto\":");
	p = put_u64(p, f->proto);
	p = PUT_LIT(p, ",\"tcp_flags\":");
	p = put_u64(p, f->tcp_flags);
	p = PUT_LIT(p, ",\"packets\":");
	p = put_u64(p, f->packets);
	p = PUT_LIT(p, ",\"octets\":");
	p = put_u64(p, f->octets);
	p = PUT_LIT(p, ",\"first\":");
	p = put_u64(p, f->first_ms);
	p = PUT_LIT(p, ",\"last\":");
	p = put_u64(p, f->last_ms);
	p = PUT_LIT(p, ",\"in_if\":");
	p = put_u64(p, f->in_if);
	p = PUT_LIT(p, ",\"out_if\":");
	p = put_u64(p, f->out_if);
	p = PUT_LIT(p, ",\"sampling\":");
	p = put_u64(p, f->sampling);
	p = PUT_LIT(p, "}\n");
	return (size_t)(p - buf);
}

size_t flowout_format_line(enum flowout_format fmt, const struct flow *f, char *buf)
{
	switch (fmt) {
	case FLOWOUT_CSV:
		return format_csv(f, buf);
	case FLOWOUT_JSON:
		return format_json(f, buf);
	case FLOWOUT_NONE:
		break;
	}
	return 0;
}
