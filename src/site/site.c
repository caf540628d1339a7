/*
 * site: documented defaults of a site's thresholds and caps. See site.h and
 * docs/judge.md (which explains each value).
 */
#include "nfsentry/site.h"

#include <string.h>

/* In judge.h's enum order: noPayload, flood, scan, probeUnused, arpUnused, fanout, p2p,
 * scanOut, floodOut, underAttack, arpMissing, zeroMac. */
static const char *const advice_default[SITE_ADVICE_LABELS] = {
    "Headers-only conversations: a scan or failed handshakes; watch it, block if it repeats.",
    "Rate-limit or block the source at the border; check the target is still reachable.",
    "Block the scanner at the border; check which targets answered.",
    "Probing unused addresses: block the source; nothing legitimate asks for them.",
    "Traffic to addresses no device answers for: block the source.",
    "Many outside peers: check whether this host is a server that belongs on the allow-list.",
    "Peer-to-peer pattern: check it against the site policy.",
    "An inside host scans outward: likely compromised; isolate and inspect it.",
    "An inside host is flooding: isolate it and look for malware or a misused service.",
    "An inside host is under a distributed flood: ask upstream to filter; rate-limit at the border.",
    "Traffic from an address its gateway does not know: look for a spoofed source or a rogue host.",
    "An address seen only with MAC 00:00:00:00:00:00: check the device's ARP entry and the port.",
};

const char *site_advice_default(unsigned label)
{
	return label < SITE_ADVICE_LABELS ? advice_default[label] : "";
}

void site_config_defaults(struct site_config *s)
{
	s->peer_cap = 1000;
	s->th = (struct site_thresholds){
		.min_packets = 20,
		.nopayload_max_avg = 48,
		.flood_max_targets = 3,
		.flood_min_packets = 30000,
		.flood_max_answer = 0.2,
		.flood_min_pps = 100,
		.flood_min_seconds = 30,
		.synflood_min_packets = 3000,
		.synflood_min_pps = 10,
		.scan_min_share = 0.5,
		.scan_min_targets = 2,
		.scan_min_unused = 10,
		.scan_probe_max_avg = 80,
		.probe_min_targets = 3,
		.arp_max_age = 120,
		.inside_min_packets = 20,
		.p2p_min_octets = 5000000,
		.p2p_max_avg = 800,
		.p2p_min_peers = 50,
		.scanout_min_peers = 100,
		.scanout_max_avg = 80,
		.scanout_max_return = 1.0,
		.floodout_min_packets = 30000,
		.floodout_max_peers = 3,
		.floodout_max_return = 0.05,
		.attack_min_packets = 30000,
		.attack_min_sources = 20,
	};
	s->caps = (struct site_caps){
		.max_inside = 262144,
		.max_outside = 2097152,
		.max_pairs = 4194304,
	};
}
