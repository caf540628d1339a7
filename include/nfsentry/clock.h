/*
 * clock: clock_gettime() in whole milliseconds or microseconds. The wall
 * clock (CLOCK_REALTIME) stamps datagrams and drives the slot clock live;
 * the monotonic one (CLOCK_MONOTONIC) times waits, deadlines and closes;
 * CLOCK_THREAD_CPUTIME_ID measures a thread's CPU. Header only.
 */
#ifndef NFSENTRY_CLOCK_H
#define NFSENTRY_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline uint64_t clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif
