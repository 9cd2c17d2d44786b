/*
 * CachePressure reference: cache_rmw(buf, stride, 1024) per iteration over a
 * private zeroed buffer of size_kb KiB. The index restarts at 0 every pass;
 * each step is a volatile byte load, a volatile store of it + 1 and
 * idx = (idx + stride) mod len, one work unit per step, added once per
 * 1024 steps. The wrap is a
 * compare with a rare modulo, as in ktstar's loop: a division every step
 * would make the reference measure the divider instead of the cache.
 */
#include "common.h"

static long g_size_kb, g_stride;
static size_t g_len; /* bytes, set from size_kb in init */

static void init(struct worker *w)
{
	g_len = (size_t)g_size_kb * 1024;
	w->priv = calloc(g_len ? g_len : 1, 1);
	if (!w->priv)
		die("calloc");
}

static int step(struct worker *w)
{
	volatile uint8_t *buf = w->priv;
	/* Locals: the globals' addresses are in the parameter table, so a
	 * store through the char pointer may alias them and the compiler
	 * would reload them from memory on every step. */
	const size_t stride = (size_t)g_stride, len = g_len;
	size_t idx = 0;
	for (int i = 0; i < 1024; i++) {
		uint8_t v = buf[idx];
		buf[idx] = (uint8_t)(v + 1);
		idx += stride;
		/* Unlikely, so gcc lays the modulo out of line and a step
		 * takes one taken branch, as ktstar's loop does: with the
		 * modulo inline, skipping it was a second taken branch per
		 * step, and x86 cores before Zen 5 take at most one a cycle. */
		if (__builtin_expect(idx >= len, 0))
			idx %= len;
	}
	/* Once per 1024 steps, as ktstar's AddUnits(1024): counting in the loop
	 * was a read-modify-write of memory per step (buf is a char pointer, so
	 * it may alias w->units), a store-to-load chain ktstar's loop lacks. */
	w->units += 1024;
	return 1;
}

PROG_MAIN(.name = "cache_rmw", .group = 1,
	  .params = {{"size_kb", 32, 1, &g_size_kb}, {"stride", 64, 1, &g_stride}},
	  .init = init, .step = step)
