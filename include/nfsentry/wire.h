/*
 * wire: reading integers out of packet bytes. Never cast a packet offset to
 * a struct pointer: the bytes may sit at any alignment and in network order.
 * The caller has checked that the bytes are there.
 */
#ifndef NFSENTRY_WIRE_H
#define NFSENTRY_WIRE_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t get_u16be(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t get_u32be(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_u64be(const uint8_t *p)
{
	return (uint64_t)get_u32be(p) << 32 | get_u32be(p + 4);
}

/* Unsigned of 1..8 bytes: RFC 7011 §6.2 reduced-size encoding. */
static inline uint64_t get_uNbe(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Little-endian, for capture file headers written on such hosts. */
static inline uint32_t get_u32le(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

#endif
