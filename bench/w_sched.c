/* w_sched.c — scheduler workloads: W1 spawn (what starting, running and
 * ending a goroutine costs) and W2 memory (resident memory per parked
 * goroutine).
 *
 * State shared with the spawned goroutines lives in file-scope statics,
 * reset at the start of each run; one run at a time per process.
 */
#include "config.h"
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { SPAWN_N = 1000000, MEMORY_N = 100000 };

/* ---- W1 spawn ---------------------------------------------------------- */

static gort_waitgroup spawn_wg;

static void spawned(void *arg)
{
	*(uint8_t *)arg = 1;
	gort_waitgroup_done(&spawn_wg);
}

int bench_spawn(double *ret_value)
{
	uint8_t *ran = calloc(SPAWN_N, 1); /* each goroutine sets its byte */
	if (!ran)
		bench_die("out of memory");
	spawn_wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
	int64_t t0 = gort_now();
	gort_waitgroup_add(&spawn_wg, SPAWN_N);
	for (int i = 0; i < SPAWN_N; i++)
		bench_go(spawned, &ran[i]);
	gort_waitgroup_wait(&spawn_wg);
	*ret_value = bench_since(t0) / SPAWN_N;
	int missing = -1;
	for (int i = 0; i < SPAWN_N && missing < 0; i++)
		if (ran[i] != 1)
			missing = i;
	free(ran);
	if (missing >= 0)
		return bench_fail("goroutine %d did not run", missing);
	return 0;
}

/* ---- W2 memory --------------------------------------------------------- */

static gort_waitgroup mem_started, mem_finished;
static int64_t mem_woken; /* goroutines that saw their channel closed */

/* Resident set size in bytes from /proc/self/statm (as the Go twin does). */
static int64_t rss_bytes(void)
{
	char buf[256];
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		bench_die("/proc/self/statm: %s", strerror(errno));
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		bench_die("/proc/self/statm: unreadable");
	buf[n] = '\0';
	long long size, resident;
	if (sscanf(buf, "%lld %lld", &size, &resident) != 2)
		bench_die("/proc/self/statm: unexpected '%s'", buf);
	return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

static void parked(void *arg)
{
	gort_waitgroup_done(&mem_started);
	if (!gort_chan_recv(arg, NULL))
		__atomic_fetch_add(&mem_woken, 1, __ATOMIC_RELAXED);
	gort_waitgroup_done(&mem_finished);
}

int bench_memory(double *ret_value)
{
	gort_chan **chans = malloc(MEMORY_N * sizeof *chans);
	if (!chans)
		bench_die("out of memory");
	memset(chans, 0, MEMORY_N * sizeof *chans); /* touched before measuring */
	mem_started = (gort_waitgroup)GORT_WAITGROUP_INIT;
	mem_finished = (gort_waitgroup)GORT_WAITGROUP_INIT;
	mem_woken = 0;
	int64_t before = rss_bytes();
	gort_waitgroup_add(&mem_started, MEMORY_N);
	gort_waitgroup_add(&mem_finished, MEMORY_N);
	for (int i = 0; i < MEMORY_N; i++) {
		chans[i] = bench_chan(0, 0);
		bench_go(parked, chans[i]);
	}
	gort_waitgroup_wait(&mem_started);
	int64_t after = rss_bytes();
	for (int i = 0; i < MEMORY_N; i++)
		gort_chan_close(chans[i]);
	gort_waitgroup_wait(&mem_finished);
	for (int i = 0; i < MEMORY_N; i++)
		gort_chan_unref(chans[i]);
	free(chans);
	*ret_value = (double)(after - before) / MEMORY_N;
	if (mem_woken != MEMORY_N)
		return bench_fail("%lld of %d goroutines saw their channel closed",
		                  (long long)mem_woken, MEMORY_N);
	return 0;
}
