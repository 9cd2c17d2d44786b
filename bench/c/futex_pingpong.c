/*
 * FutexPingPong reference: pairs hand one shared futex word back and forth
 * (non-private FUTEX_WAIT/WAKE, since the partners are separate processes).
 * Per iteration: spin_burst(spin_iters); stamp; store theirs; FUTEX_WAKE(1);
 * then wait (bounded) until the word is mine. A hand-off that ended a real
 * sleep is a one-way wake sample (now minus the partner's stamp). A loose
 * hand-off exactly like ktstar's: both sides may pass on a race.
 */
#include "common.h"

static long g_spin;
static uint8_t *g_region; /* one page per pair */

static void setup(int workers)
{
	g_region = mmap(NULL, (size_t)(workers / 2) * 4096, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g_region == MAP_FAILED)
		die("mmap region");
}

static void init(struct worker *w)
{
	struct inbox *in = malloc(sizeof *in);
	*in = inbox_of(w, 2, 1 - w->pos);
	w->priv = in;
}

static int step(struct worker *w)
{
	uint32_t *word = (uint32_t *)(g_region + (size_t)w->group * 4096);
	uint32_t mine = (uint32_t)w->pos, theirs = 1 - mine;
	spin_burst(&w->units, g_spin);
	stamp(w);
	__atomic_store_n(word, theirs, __ATOMIC_SEQ_CST);
	futex_wake_n(word, 1);
	int woken = 0;
	while (!stopped()) {
		if (__atomic_load_n(word, __ATOMIC_SEQ_CST) == mine) {
			inbox_take(w, w->priv, woken);
			break;
		}
		woken = futex_wait_bounded(word, theirs);
	}
	return 1;
}

PROG_MAIN(.name = "futex_pingpong", .group = 2, .streams = {"wake"},
	  .params = {{"spin_iters", 1024, 0, &g_spin}},
	  .setup = setup, .init = init, .step = step)
