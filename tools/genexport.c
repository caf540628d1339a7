/*
 * genexport: write a capture (pcap, LINKTYPE_RAW: IPv4 + UDP) of synthetic
 * IPFIX or NetFlow v9 export datagrams, for the slot-engine benchmark
 * (tools/bench_slot, docs/benchmarks.md).
 *
 * The records come from tools/synthflow.c (a campus site: Zipf-like inside
 * activity, heavy-tailed outside popularity, both directions, scanners),
 * spread evenly over the chosen number of 300-second slots. Each exporter
 * (127.0.0.1 .. 127.0.0.E, source port 40000 + k, observation domain /
 * source id k + 1) sends its template in a datagram of its own before its
 * first data and again every --template-every seconds of export time; data
 * datagrams carry up to 30 records (IPFIX: 1280 bytes of payload, v9: 1044;
 * 1370 and 1136 with the fragment fields) and never straddle a slot. A datagram's export time (IPFIX Export Time,
 * v9 unix_secs) and its capture timestamp are the export time of its last
 * record, so `nfsentry replay` sees the slots the generator meant.
 *
 * Template (both versions): source and destination IPv4 address, ports,
 * protocol, TCP flags, packets and octets (4 bytes each: RFC 7011 reduced
 * size for IPFIX), flow start and end (IPFIX 152/153 milliseconds, v9 22/21
 * uptime), input and output interface (2 bytes); with a proto=frag plant
 * also fragmentOffset (88, 2 bytes) and fragmentFlags (197, 1 byte; v9
 * uses the IPFIX numbers).
 *
 * --plant SPEC (repeatable) adds planted behaviours to the model's records,
 * merged in export-time order (tests/integration/attack.sh, docs/attacks.md).
 * SPEC is KIND,key=value,... with times in seconds from --start:
 *   flood,ip=V,start=S,dur=D,pps=P,sources=N[,proto=syn|udp|icmp|frag][,sample=K]
 *       N spoofed sources (203.0.113.0 + j, wrapping into 198.51.0.0/16)
 *       send P packets/s in all at V; a router with a 5-second active
 *       timeout exports each source's flow every 5 s (staggered by source),
 *       covering those 5 s. sample=K: the export is sampled 1:K (packets
 *       divided by K, at least one sampled packet per record kept by
 *       chance); the collector scales them back (exporters.sampling).
 *       proto=frag: UDP answers of 2 960 bytes from port 53, each in two
 *       IP fragments; per source and 5 s, one record of the first
 *       fragments (ports, MF set, offset 0, 1 500 bytes) and one of the
 *       second ones (no ports: they have no UDP header; offset 185, 1 480
 *       bytes), half of P each. Only a capture with such a plant carries
 *       fragmentOffset (88) and fragmentFlags (197) in its template.
 *   transfer,ip=V,start=S,dur=D,bps=B
 *       one answered TCP download to V at B bits/s from 192.0.2.80:443 and
 *       its ACKs back, exported every 10 s in both directions.
 *   server,ip=V,start=S,dur=D,cps=C
 *       C short TCP connections per second from distinct clients to V:443,
 *       each 12 packets in and 10 out, answered (SYN, ACK, FIN).
 *   long,ip=V,start=S,dur=D,pps=P,timeout=T
 *       one UDP flow of P packets/s to V exported every T seconds (an active
 *       timeout of T), each record covering T seconds.
 *
 * The same options and seed always give the same file. It only writes a
 * file; `nfsentry send` puts it on the wire.
 *
 * usage: genexport -o FILE [--records N] [--slots S] [--inside-hosts H]
 *        [--outside-hosts O] [--inside A.B.C.D/LEN]... [--seed X]
 *        [--version 9|10] [--exporters E] [--start UNIX_S] [--template-every S]
 *        [--plant SPEC]...
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "synthflow.h"

#define GEN_RECORDS_PER_DGRAM 30
#define GEN_MAX_EXPORTERS 16
#define GEN_DST_PORT 2055
#define GEN_BUF 1600
#define LINKTYPE_RAW 101
#define TEMPLATE_ID 256

/* (element id, length) of the one template; order is the record layout. */
static const uint16_t ipfix_fields[][2] = {
	{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {6, 1},
	{2, 4}, {1, 4}, {152, 8}, {153, 8}, {10, 2}, {14, 2},
};
static const uint16_t v9_fields[][2] = {
	{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {6, 1},
	{2, 4}, {1, 4}, {22, 4}, {21, 4}, {10, 2}, {14, 2},
};
#define N_FIELDS (sizeof(ipfix_fields) / sizeof(ipfix_fields[0]))
/* Appended when a plant makes fragments: fragmentOffset, fragmentFlags (RFC 7012). */
static const uint16_t frag_fields[][2] = {{88, 2}, {197, 1}};
#define N_FRAG_FIELDS (sizeof(frag_fields) / sizeof(frag_fields[0]))
/* fragmentFlags bit 2, MF, counted from the most significant bit. */
#define GEN_FRAG_MF 0x20

struct wbuf {
	uint8_t b[GEN_BUF];
	size_t n;
};

static void w8(struct wbuf *w, uint8_t v)
{
	w->b[w->n++] = v;
}

static void w16(struct wbuf *w, uint16_t v)
{
	w8(w, (uint8_t)(v >> 8));
	w8(w, (uint8_t)v);
}

static void w32(struct wbuf *w, uint32_t v)
{
	w16(w, (uint16_t)(v >> 16));
	w16(w, (uint16_t)v);
}

static void w64(struct wbuf *w, uint64_t v)
{
	w32(w, (uint32_t)(v >> 32));
	w32(w, (uint32_t)v);
}

static void put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t v4(const struct flow_addr *a)
{
	return (uint32_t)a->b[12] << 24 | (uint32_t)a->b[13] << 16 | (uint32_t)a->b[14] << 8 |
	       a->b[15];
}

static uint32_t clamp32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

struct exporter {
	uint32_t seq;          /* IPFIX: data records sent; v9: datagrams sent */
	uint64_t template_ms;  /* export time the template was last sent; 0 = never */
};

struct gen {
	FILE *out;
	int version;
	uint64_t boot_ms; /* v9 sysUptime origin */
	uint64_t template_every_ms;
	bool frag_fields; /* the template carries 88 and 197 (a proto=frag plant) */
	struct exporter ex[GEN_MAX_EXPORTERS];
	unsigned n_ex;
	uint64_t datagrams, records, bytes;
};

/* Write one capture record: IPv4 + UDP header around payload p. */
static int emit(struct gen *g, unsigned ex, uint64_t ts_ms, const uint8_t *p, size_t len)
{
	uint8_t h[16 + 28];
	size_t ip_len = 28 + len;
	uint32_t sec = (uint32_t)(ts_ms / 1000), usec = (uint32_t)(ts_ms % 1000) * 1000;
	uint32_t caplen = (uint32_t)ip_len;

	/* pcap record header, in this host's byte order like the file header. */
	memcpy(h, &sec, 4);
	memcpy(h + 4, &usec, 4);
	memcpy(h + 8, &caplen, 4);
	memcpy(h + 12, &caplen, 4);
	uint8_t *ip = h + 16;
	memset(ip, 0, 28);
	ip[0] = 0x45;
	put16(ip + 2, ip_len);
	put16(ip + 4, (size_t)(g->datagrams & 0xffff));
	ip[8] = 64;
	ip[9] = 17;
	ip[12] = 127;
	ip[15] = (uint8_t)(1 + ex);
	ip[16] = 127;
	ip[19] = 1;
	uint32_t sum = 0;
	for (int k = 0; k < 20; k += 2)
		sum += (uint32_t)ip[k] << 8 | ip[k + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(ip + 10, (uint16_t)~sum);
	put16(ip + 20, 40000 + ex);
	put16(ip + 22, GEN_DST_PORT);
	put16(ip + 24, 8 + len);
	/* UDP checksum 0: "not computed", allowed over IPv4. */
	if (fwrite(h, 1, sizeof(h), g->out) != sizeof(h) || fwrite(p, 1, len, g->out) != len)
		return -EIO;
	g->datagrams++;
	g->bytes += sizeof(h) + len;
	return 0;
}

/* Message header; the length (and v9 count) is patched by finish_header(). */
static void header(struct gen *g, struct wbuf *w, unsigned ex, uint64_t export_ms)
{
	struct exporter *e = &g->ex[ex];

	w->n = 0;
	if (g->version == 10) {
		w16(w, 10);
		w16(w, 0); /* length */
		w32(w, (uint32_t)(export_ms / 1000));
		w32(w, e->seq);
		w32(w, ex + 1);
	} else {
		w16(w, 9);
		w16(w, 0); /* count */
		w32(w, (uint32_t)(export_ms - g->boot_ms));
		w32(w, (uint32_t)(export_ms / 1000));
		w32(w, e->seq);
		w32(w, ex + 1);
	}
}

static void finish_header(struct gen *g, struct wbuf *w, unsigned count)
{
	if (g->version == 10)
		put16(w->b + 2, w->n);
	else
		put16(w->b + 2, count);
}

static int send_template(struct gen *g, unsigned ex, uint64_t export_ms)
{
	struct wbuf w;
	const uint16_t(*f)[2] = g->version == 10 ? ipfix_fields : v9_fields;

	header(g, &w, ex, export_ms);
	size_t set = w.n;
	w16(&w, g->version == 10 ? 2 : 0);
	w16(&w, 0);
	w16(&w, TEMPLATE_ID);
	w16(&w, (uint16_t)(N_FIELDS + (g->frag_fields ? N_FRAG_FIELDS : 0)));
	for (size_t k = 0; k < N_FIELDS; k++) {
		w16(&w, f[k][0]);
		w16(&w, f[k][1]);
	}
	for (size_t k = 0; g->frag_fields && k < N_FRAG_FIELDS; k++) {
		w16(&w, frag_fields[k][0]);
		w16(&w, frag_fields[k][1]);
	}
	put16(w.b + set + 2, w.n - set);
	finish_header(g, &w, 1);
	if (g->version == 9)
		g->ex[ex].seq++;
	g->ex[ex].template_ms = export_ms;
	return emit(g, ex, export_ms, w.b, w.n);
}

static int send_data(struct gen *g, unsigned ex, const struct flow *r, unsigned n)
{
	struct wbuf w;
	uint64_t export_ms = r[n - 1].export_ms;
	struct exporter *e = &g->ex[ex];
	int rc;

	if (!e->template_ms || export_ms - e->template_ms >= g->template_every_ms) {
		rc = send_template(g, ex, export_ms);
		if (rc)
			return rc;
	}
	header(g, &w, ex, export_ms);
	size_t set = w.n;
	w16(&w, TEMPLATE_ID);
	w16(&w, 0);
	for (unsigned k = 0; k < n; k++) {
		const struct flow *f = &r[k];
		w32(&w, v4(&f->src));
		w32(&w, v4(&f->dst));
		w16(&w, f->sport);
		w16(&w, f->dport);
		w8(&w, f->proto);
		w8(&w, f->tcp_flags);
		w32(&w, clamp32(f->packets));
		w32(&w, clamp32(f->octets));
		if (g->version == 10) {
			w64(&w, f->first_ms);
			w64(&w, f->last_ms);
		} else {
			w32(&w, (uint32_t)(f->first_ms - g->boot_ms));
			w32(&w, (uint32_t)(f->last_ms - g->boot_ms));
		}
		w16(&w, (uint16_t)f->in_if);
		w16(&w, (uint16_t)f->out_if);
		if (g->frag_fields) {
			/* The offset in 8-byte units: the second half of a 2 960-byte answer. */
			w16(&w, (f->frag & FLOW_FRAG_OFFSET) ? 185 : 0);
			w8(&w, (f->frag & FLOW_FRAG_MORE) ? GEN_FRAG_MF : 0);
		}
	}
	/* v9 flowsets are padded to 32 bits (RFC 3954 §5.3); IPFIX needs none here. */
	while (g->version == 9 && (w.n - set) % 4)
		w8(&w, 0);
	put16(w.b + set + 2, w.n - set);
	finish_header(g, &w, n);
	if (g->version == 10)
		e->seq += n;
	else
		e->seq++;
	g->records += n;
	return emit(g, ex, export_ms, w.b, w.n);
}

static const char usage_text[] =
	"usage: genexport -o FILE [--records N] [--slots S] [--inside-hosts H]\n"
	"       [--outside-hosts O] [--inside A.B.C.D/LEN]... [--seed X] [--version 9|10]\n"
	"       [--exporters E] [--start UNIX_S] [--template-every S] [--plant SPEC]...\n";

/* ---- planted behaviours (--plant) ---- */

#define PLANT_MAX_RECORDS (20u * 1000u * 1000u)

struct plant {
	struct flow *v; /* sorted by export time once all are made */
	size_t n, cap;
};

static int plant_push(struct plant *p, const struct flow *f)
{
	if (p->n == p->cap) {
		size_t ncap = p->cap ? 2 * p->cap : 4096;
		if (ncap > PLANT_MAX_RECORDS)
			return -E2BIG;
		struct flow *nv = realloc(p->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		p->v = nv;
		p->cap = ncap;
	}
	p->v[p->n++] = *f;
	return 0;
}

static void v4_set(struct flow_addr *a, uint32_t ip)
{
	uint8_t b[4] = {(uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8), (uint8_t)ip};
	flow_addr_from_v4(a, b);
}

static struct flow plant_rec(uint32_t src, uint32_t dst, uint8_t proto, uint8_t flags,
                             uint64_t packets, uint64_t octets, uint64_t first_ms, uint64_t last_ms)
{
	struct flow f;
	memset(&f, 0, sizeof(f));
	v4_set(&f.src, src);
	v4_set(&f.dst, dst);
	f.proto = proto;
	f.tcp_flags = flags;
	f.packets = packets;
	f.octets = octets;
	f.first_ms = first_ms;
	f.last_ms = last_ms;
	/* Exported a little after the flow's last packet, as a router does. */
	f.export_ms = last_ms + 500;
	f.in_if = 1;
	f.out_if = 2;
	return f;
}

static int flow_export_cmp(const void *pa, const void *pb)
{
	const struct flow *a = pa, *b = pb;
	return a->export_ms < b->export_ms ? -1 : a->export_ms > b->export_ms;
}

/*
 * Parse and plan one --plant SPEC. Returns 0 or -EINVAL (bad spec); sets
 * *frags when the plant makes fragment records.
 */
static int plant_add(struct plant *p, const char *spec, int64_t start_s, uint64_t *rng, bool *frags)
{
	char kind[16] = "", proto[32] = "syn", ipbuf[32] = "";
	uint64_t st = 0, dur = 0, pps = 0, n_src = 1000, sample = 1, bps = 0, cps = 0, timeout = 60;
	const char *q = strchr(spec, ',');
	size_t kl = q ? (size_t)(q - spec) : strlen(spec);

	if (kl >= sizeof(kind))
		return -EINVAL;
	memcpy(kind, spec, kl);
	while (q && *q == ',') {
		const char *k = q + 1, *eq = strchr(k, '=');
		q = strchr(k, ',');
		if (!eq || (q && eq > q))
			return -EINVAL;
		size_t klen = (size_t)(eq - k), vlen = q ? (size_t)(q - eq - 1) : strlen(eq + 1);
		char val[32];
		if (vlen >= sizeof(val))
			return -EINVAL;
		memcpy(val, eq + 1, vlen);
		val[vlen] = 0;
#define KEY(name) (klen == strlen(name) && memcmp(k, name, klen) == 0)
		int bad = 0;
		if (KEY("ip"))
			snprintf(ipbuf, sizeof(ipbuf), "%s", val);
		else if (KEY("proto"))
			snprintf(proto, sizeof(proto), "%s", val);
		else if (KEY("start"))
			bad = synth_parse_u64(val, 0, 7 * 86400, &st);
		else if (KEY("dur"))
			bad = synth_parse_u64(val, 1, 86400, &dur);
		else if (KEY("pps"))
			bad = synth_parse_u64(val, 1, 100000000, &pps);
		else if (KEY("sources"))
			bad = synth_parse_u64(val, 1, 60000, &n_src);
		else if (KEY("sample"))
			bad = synth_parse_u64(val, 1, 1000000, &sample);
		else if (KEY("bps"))
			bad = synth_parse_u64(val, 1, 100000000000ull, &bps);
		else if (KEY("cps"))
			bad = synth_parse_u64(val, 1, 100000, &cps);
		else if (KEY("timeout"))
			bad = synth_parse_u64(val, 1, 86400, &timeout);
		else
			return -EINVAL;
#undef KEY
		if (bad)
			return -EINVAL;
	}
	struct in_addr ia;
	if (!dur || inet_pton(AF_INET, ipbuf, &ia) != 1)
		return -EINVAL;
	uint32_t ip = ntohl(ia.s_addr);
	uint64_t t0 = ((uint64_t)start_s + st) * 1000, t1 = t0 + dur * 1000;
	int rc = 0;

	if (strcmp(kind, "flood") == 0) {
		bool frag = strcmp(proto, "frag") == 0;
		uint8_t pr = strcmp(proto, "udp") == 0 || frag ? 17
		             : strcmp(proto, "icmp") == 0      ? 1
		                                               : 6;
		if (!pps || (pr == 6 && strcmp(proto, "syn") != 0))
			return -EINVAL;
		uint32_t size = pr == 6 ? 40 : frag ? 1500 : pr == 17 ? 512 : 64;
		if (frag)
			*frags = true;
		/* Packets of one source in one 5-second record, before sampling. */
		double per = (double)pps * 5.0 / (double)n_src;
		for (uint64_t j = 0; j < n_src && rc == 0; j++) {
			uint32_t src = j < 256 ? 0xcb007100u + (uint32_t)j
			                       : 0xc6330000u + (uint32_t)(j - 256);
			/* Staggered: source j's records end at t0 + (j % 5) + 5 m seconds. */
			for (uint64_t end = t0 + (j % 5 + 1) * 1000; end <= t1 + 4000 && rc == 0;
			     end += 5000) {
				uint64_t first = end > t0 + 5000 ? end - 5000 : t0;
				uint64_t last = end < t1 ? end : t1;
				if (last <= first)
					continue;
				double pk = per * (double)(last - first) / 5000.0 / (double)sample;
				uint64_t n = (uint64_t)pk;
				/* The fraction of a sampled packet left: kept by chance. */
				*rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
				if ((double)(*rng >> 11) * 0x1.0p-53 < pk - (double)n)
					n++;
				if (!n)
					continue;
				struct flow f = plant_rec(src, ip, pr, pr == 6 ? 0x02 : 0, n, n * size,
				                          first, last - 1);
				f.sport = (uint16_t)(1024 + j % 60000);
				f.dport = pr == 6 ? 80 : pr == 17 ? 53 : 0;
				/* Exported on the source's schedule, also after the flood ends. */
				f.export_ms = end - 1 + 500;
				if (frag) {
					/* Half the packets are first fragments, half second ones.
					 */
					uint64_t n1 = n / 2 + (n & 1), n2 = n / 2;
					f.sport = 53;
					f.dport = (uint16_t)(1024 + j % 60000);
					f.packets = n1;
					f.octets = n1 * 1500;
					f.frag = FLOW_FRAG_MORE;
					struct flow s2 = f;
					s2.sport = s2.dport = 0;
					s2.packets = n2;
					s2.octets = n2 * 1480;
					s2.frag = FLOW_FRAG_OFFSET;
					rc = plant_push(p, &f);
					if (!rc && n2)
						rc = plant_push(p, &s2);
					continue;
				}
				rc = plant_push(p, &f);
			}
		}
	} else if (strcmp(kind, "transfer") == 0) {
		if (!bps)
			return -EINVAL;
		for (uint64_t a = t0; a < t1 && rc == 0; a += 10000) {
			uint64_t b = a + 10000 < t1 ? a + 10000 : t1;
			uint64_t octets = bps / 8 * (b - a) / 1000, pk = octets / 1500 + 1;
			struct flow in = plant_rec(0xc0000250u, ip, 6, 0x18, pk, octets, a, b - 1);
			in.sport = 443;
			in.dport = 50000;
			struct flow out = plant_rec(ip, 0xc0000250u, 6, 0x10, pk / 2 + 1, (pk / 2 + 1) * 52,
			                            a, b - 1);
			out.sport = 50000;
			out.dport = 443;
			rc = plant_push(p, &in);
			if (!rc)
				rc = plant_push(p, &out);
		}
	} else if (strcmp(kind, "server") == 0) {
		if (!cps)
			return -EINVAL;
		uint64_t c = 0;
		for (uint64_t sec = t0; sec < t1 && rc == 0; sec += 1000)
			for (uint64_t k = 0; k < cps && rc == 0; k++, c++) {
				uint32_t cl = 0xc6120000u + (uint32_t)(c % 120000);
				uint64_t first = sec + k * 1000 / cps, last = first + 300;
				struct flow in = plant_rec(cl, ip, 6, 0x1b, 12, 12 * 200, first, last);
				in.sport = (uint16_t)(1024 + c % 60000);
				in.dport = 443;
				struct flow out = plant_rec(ip, cl, 6, 0x1b, 10, 10 * 1200, first, last);
				out.sport = 443;
				out.dport = in.sport;
				rc = plant_push(p, &in);
				if (!rc)
					rc = plant_push(p, &out);
			}
	} else if (strcmp(kind, "long") == 0) {
		if (!pps)
			return -EINVAL;
		for (uint64_t a = t0; a + timeout * 1000 <= t1 && rc == 0; a += timeout * 1000) {
			struct flow f = plant_rec(0xc0000251u, ip, 17, 0, pps * timeout,
			                          pps * timeout * 1200, a, a + timeout * 1000 - 1);
			f.sport = 4500;
			f.dport = 4500;
			rc = plant_push(p, &f);
		}
	} else {
		return -EINVAL;
	}
	return rc == -EINVAL ? -E2BIG : rc;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		SYNTH_LONG_OPTIONS,
		{"version", required_argument, NULL, 'v'},
		{"exporters", required_argument, NULL, 'e'},
		{"template-every", required_argument, NULL, 'T'},
		{"plant", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct synth_opts so;
	struct gen g = {.version = 10, .n_ex = 2, .template_every_ms = 60000};
	const char *path = NULL;
	const char *plants[16];
	size_t n_plants = 0;
	uint64_t v;
	int c;

	synth_opts_defaults(&so);
	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case 'o':
			path = optarg;
			break;
		case 'v':
			bad = synth_parse_u64(optarg, 9, 10, &v);
			g.version = (int)v;
			break;
		case 'e':
			bad = synth_parse_u64(optarg, 1, GEN_MAX_EXPORTERS, &v);
			g.n_ex = (unsigned)v;
			break;
		case 'T':
			bad = synth_parse_u64(optarg, 1, 86400, &v);
			g.template_every_ms = v * 1000;
			break;
		case 'P':
			bad = n_plants == sizeof(plants) / sizeof(plants[0]);
			if (!bad)
				plants[n_plants++] = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			/* The model's own options (synthflow.h); anything else is a usage error. */
			bad = synth_opt_parse(c, optarg, &so);
			if (bad > 0) {
				fputs(usage_text, stderr);
				return 2;
			}
		}
		if (bad) {
			const char *name = "?";
			for (size_t k = 0; lo[k].name; k++)
				if (lo[k].val == c)
					name = lo[k].name;
			fprintf(stderr, "genexport: --%s: bad value \"%s\"\n", name, optarg);
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (!path || optind != argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	g.boot_ms = (uint64_t)so.start_s * 1000 - 86400000ull;

	char err[256];
	struct synth *sy;
	int rc = synth_create(&so, &sy, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "genexport: %s\n", rc == -ENOMEM ? "out of memory" : err);
		return 2;
	}
	struct plant pl = {0};
	uint64_t prng = so.seed;
	for (size_t k = 0; k < n_plants; k++) {
		rc = plant_add(&pl, plants[k], so.start_s, &prng, &g.frag_fields);
		if (rc) {
			fprintf(stderr, "genexport: --plant %s: %s\n", plants[k],
			        rc == -EINVAL ? "bad specification" : strerror(-rc));
			synth_destroy(sy);
			free(pl.v);
			return 2;
		}
	}
	if (pl.n) /* qsort(NULL, 0, ...) is undefined; UBSan says so */
		qsort(pl.v, pl.n, sizeof(*pl.v), flow_export_cmp);
	size_t pi = 0;
	g.out = fopen(path, "wb");
	if (!g.out) {
		fprintf(stderr, "genexport: %s: %s\n", path, strerror(errno));
		synth_destroy(sy);
		free(pl.v);
		return 1;
	}
	static char obuf[1 << 20];
	setvbuf(g.out, obuf, _IOFBF, sizeof(obuf));
	/* pcap file header (host byte order, microseconds). */
	uint32_t fh[6] = {0xa1b2c3d4u, 2u | 4u << 16, 0, 0, 65535, LINKTYPE_RAW};
	if (fwrite(fh, 1, sizeof(fh), g.out) != sizeof(fh))
		rc = -EIO;

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct flow recs[GEN_RECORDS_PER_DGRAM], f;
	unsigned n = 0, ex = 0;
	uint32_t slot, cur_slot = 0;
	/* Merge the model's records and the planted ones in export-time order. */
	bool have = synth_next(sy, &f, &slot);
	while (rc == 0 && (have || pi < pl.n)) {
		struct flow r;
		uint32_t rslot;
		if (pi < pl.n && (!have || pl.v[pi].export_ms <= f.export_ms)) {
			r = pl.v[pi++];
			int64_t rel = (int64_t)(r.export_ms / 1000) - so.start_s;
			rslot = rel > 0 ? (uint32_t)(rel / 300) : 0;
		} else {
			r = f;
			rslot = slot;
			have = synth_next(sy, &f, &slot);
		}
		if (n && (n == GEN_RECORDS_PER_DGRAM || rslot != cur_slot)) {
			rc = send_data(&g, ex, recs, n);
			ex = (ex + 1) % g.n_ex;
			n = 0;
		}
		cur_slot = rslot;
		recs[n++] = r;
	}
	if (rc == 0 && n)
		rc = send_data(&g, ex, recs, n);
	synth_destroy(sy);
	free(pl.v);
	if (fclose(g.out) != 0 && rc == 0)
		rc = -errno;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc) {
		fprintf(stderr, "genexport: writing %s: %s\n", path, strerror(-rc));
		return 1;
	}
	double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr,
	        "genexport: %s: %llu records in %llu datagrams (version %d, %u exporters, %u slots), "
	        "%llu bytes, %.2f s\n",
	        path, (unsigned long long)g.records, (unsigned long long)g.datagrams, g.version,
	        g.n_ex, so.slots, (unsigned long long)g.bytes + 24, dt);
	return 0;
}
