/* select_timeout.c — bounding a wait: select between the result channel
 * and gort_after(d) (Go's time.After).  A fast job answers within its
 * deadline; a slow one is abandoned when the timer channel fires first.
 * The result channel has capacity 1, so the abandoned job can still
 * deliver its late answer and exit instead of blocking for ever.
 *
 * Output: "fast job: result 42", "slow job: timed out after 20 ms".
 */
#include <gort.h>

#include <stdio.h>
#include <stdlib.h>

struct job {
	gort_chan *result; /* int, capacity 1; the job holds one reference */
	int64_t work;      /* how long the job takes */
};

static void run_job(void *arg)
{
	struct job *j = arg;
	gort_sleep(j->work);
	gort_chan_send(j->result, &(int){42}); /* never blocks: capacity 1 */
	gort_chan_unref(j->result);
	free(j);
}

/* Starts a job and waits at most timeout for it: 0 and *ret set on
 * success, -1 on timeout or failure. */
static int call_with_timeout(int64_t work, int64_t timeout, int *ret)
{
	gort_chan *result = gort_chan_make(sizeof(int), 1);
	gort_chan *timer = gort_after(timeout);
	struct job *j = malloc(sizeof(*j));
	int k = -1;
	if (result && timer && j) {
		*j = (struct job){gort_chan_ref(result), work};
		if (gort_go(run_job, j) > 0) {
			j = NULL; /* owned by the goroutine now */
			gort_select_case cs[2] = {
				{result, GORT_SELECT_RECV, ret, false},
				{timer, GORT_SELECT_RECV, NULL, false},
			};
			k = gort_select(cs, 2, true);
		} else {
			gort_chan_unref(result); /* the job's reference */
		}
	}
	free(j);
	gort_chan_unref(result);
	gort_chan_unref(timer);
	return k == 0 ? 0 : -1;
}

static int root(void *arg)
{
	(void)arg;
	int v = 0;
	if (call_with_timeout(1 * GORT_MILLISECOND, 2 * GORT_SECOND, &v) != 0 || v != 42)
		return 1;
	printf("fast job: result %d\n", v);
	if (call_with_timeout(100 * GORT_MILLISECOND, 20 * GORT_MILLISECOND, &v) == 0)
		return 1;
	printf("slow job: timed out after 20 ms\n");
	gort_sleep(150 * GORT_MILLISECOND); /* let the slow job finish cleanly */
	return 0;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
