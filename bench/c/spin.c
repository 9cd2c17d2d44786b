/* SpinWait reference: spin_burst(1024) per iteration. */
#include "common.h"

static int step(struct worker *w)
{
	spin_burst(&w->units, 1024);
	return 1;
}

PROG_MAIN(.name = "spin", .group = 1, .step = step)
