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

static size_t g_len, g_stride;

static void init(struct worker *w)
{
	w->priv = calloc(g_len ? g_len : 1, 1);
	if (!w->priv)
		die("calloc");
}

static int step(struct worker *w)
{
	volatile uint8_t *buf = w->priv;
	size_t idx = 0;
	for (int i = 0; i < 1024; i++) {
		uint8_t v = buf[idx];
		buf[idx] = (uint8_t)(v + 1);
		idx += g_stride;
		if (idx >= g_len)
			idx %= g_len;
	}
	/* Once per 1024 steps, as ktstar's AddUnits(1024): counting in the loop
	 * was a read-modify-write of memory per step (buf is a char pointer, so
	 * it may alias w->units), a store-to-load chain ktstar's loop lacks. */
	w->units += 1024;
	return 1;
}

static void params_json(void)
{
	printf(",\"size_kb\":%zu,\"stride\":%zu", g_len / 1024, g_stride);
}

int main(int argc, char **argv)
{
	g_argc = argc, g_argv = argv;
	g_len = (size_t)param("size_kb", 32) * 1024;
	g_stride = (size_t)param("stride", 64);
	if (g_len == 0 || g_stride == 0) {
		fprintf(stderr, "cache_rmw: size_kb and stride must be > 0\n");
		return 2;
	}
	struct prog p = {.name = "cache_rmw", .group = 1, .init = init, .step = step, .params_json = params_json};
	return run_prog(&p, argc, argv);
}
