/* for_select.c — the for-select loop ("Concurrency in Go", ch. 4): a
 * goroutine loops over a select of its work and a done channel, so that it
 * can always be told to stop.  Closing done is the broadcast stop signal:
 * a receive on a closed channel is always ready.
 *
 * A generator produces squares until done is closed; the root takes five
 * and then stops it, waiting on the generator's exit channel.
 *
 * Output: "1 4 9 16 25", then "generator stopped after sending 5 values".
 */
#include <gort.h>

#include <stdio.h>

struct gen {
	gort_chan *out;    /* long, unbuffered */
	gort_chan *done;   /* zero-size, closed to stop */
	gort_chan *exited; /* zero-size, closed by the generator on return */
	long sent;
};

static void generator(void *arg)
{
	struct gen *g = arg;
	for (long i = 1;; i++) {
		long sq = i * i;
		gort_select_case cs[2] = {
			{g->out, GORT_SELECT_SEND, &sq, false},
			{g->done, GORT_SELECT_RECV, NULL, false},
		};
		if (gort_select(cs, 2, true) == 1) /* done: leave the loop */
			break;
		g->sent++;
	}
	gort_chan_close(g->exited);
}

static int root(void *arg)
{
	(void)arg;
	struct gen g = {gort_chan_make(sizeof(long), 0), gort_chan_make(0, 0), gort_chan_make(0, 0), 0};
	if (!g.out || !g.done || !g.exited || gort_go(generator, &g) < 0)
		return 1;
	for (int i = 0; i < 5; i++) {
		long v;
		gort_chan_recv(g.out, &v);
		printf("%ld%c", v, i == 4 ? '\n' : ' ');
	}
	gort_chan_close(g.done);
	gort_chan_recv(g.exited, NULL); /* false once the generator returned */
	printf("generator stopped after sending %ld values\n", g.sent);
	gort_chan_unref(g.out);
	gort_chan_unref(g.done);
	gort_chan_unref(g.exited);
	return g.sent == 5 ? 0 : 1;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
