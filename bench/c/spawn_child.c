/*
 * The trivial binary of the spawn reference: report "ready" (its index and
 * CLOCK_MONOTONIC time) on fd 3, then park reading fd 4 until EOF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t rec[2] = {argc > 1 ? atoll(argv[1]) : 0, (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec};
	if (write(3, rec, sizeof rec) != sizeof rec)
		return 1;
	char b;
	while (read(4, &b, 1) > 0)
		;
	return 0;
}
