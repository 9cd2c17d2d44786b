/*
 * FutexFanOut reference: groups of one messenger (position 0) and fan_out
 * receivers sharing a generation futex word. Both roles spin_burst(spin_iters)
 * first. The messenger stamps the time, bumps the generation, FUTEX_WAKEs the
 * receivers and spins 256 steps of post-wake grace; it never waits. A
 * receiver snapshots the generation and waits (bounded) for it to advance.
 *
 * Two sample streams: "wake" is ktstar FutexFanOut's figure (receiver-local,
 * from just before waiting to seeing the advance); "stamp" is the latency
 * from the messenger's timestamp to the receiver seeing the advance.
 */
#include "common.h"

static long g_fan, g_spin;
static uint8_t *g_region; /* one page per group: u32 gen @0, i64 stamp @8 */

static void setup(int workers)
{
	g_region = mmap(NULL, (size_t)(workers / (g_fan + 1)) * 4096, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g_region == MAP_FAILED)
		die("mmap region");
}

static int step(struct worker *w)
{
	uint8_t *r = g_region + (size_t)w->group * 4096;
	uint32_t *gen = (uint32_t *)r;
	int64_t *stamp = (int64_t *)(r + 8);
	spin_burst(&w->units, g_spin);
	if (w->pos == 0) {
		__atomic_store_n(stamp, now_ns(), __ATOMIC_RELAXED);
		__atomic_store_n(gen, __atomic_load_n(gen, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
		futex_wake_n(gen, g_fan);
		spin_burst(&w->units, 256);
		return 1;
	}
	uint32_t expected = __atomic_load_n(gen, __ATOMIC_ACQUIRE);
	int64_t t0 = now_ns();
	while (!stopped()) {
		if (__atomic_load_n(gen, __ATOMIC_ACQUIRE) != expected) {
			int64_t t = now_ns();
			sample(w, 0, t - t0);
			sample(w, 1, t - __atomic_load_n(stamp, __ATOMIC_RELAXED));
			break;
		}
		futex_wait_bounded(gen, expected);
	}
	return 1;
}

static int group_of(void) { return (int)g_fan + 1; }

PROG_MAIN(.name = "fanout", .group_of = group_of, .streams = {"wake", "stamp"},
	  .params = {{"fan_out", 4, 1, &g_fan}, {"spin_iters", 1024, 0, &g_spin}},
	  .setup = setup, .step = step)
