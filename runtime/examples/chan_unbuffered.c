/* chan_unbuffered.c — an unbuffered channel is a rendezvous: a send
 * completes only when a receiver takes the value.  Two goroutines play
 * ping-pong over a pair of channels; the ball comes back incremented.
 *
 * Build: part of `make` (runtime/examples/ex_chan_unbuffered).  Output:
 * one line per round, then "ping-pong: 5 rounds, ball = 10".
 */
#include <gort.h>

#include <stdio.h>

struct table {
	gort_chan *ping, *pong; /* int elements, capacity 0 */
	int rounds;
};

static void player(void *arg)
{
	struct table *t = arg;
	int ball;
	while (gort_chan_recv(t->ping, &ball)) { /* false once ping is closed */
		ball++;
		gort_chan_send(t->pong, &ball);
	}
	gort_chan_close(t->pong);
}

static int root(void *arg)
{
	(void)arg;
	struct table t = {gort_chan_make(sizeof(int), 0), gort_chan_make(sizeof(int), 0), 5};
	if (!t.ping || !t.pong)
		return 1;
	if (gort_go(player, &t) < 0)
		return 1;
	int ball = 0;
	for (int i = 0; i < t.rounds; i++) {
		gort_chan_send(t.ping, &ball); /* returns once the player has it */
		gort_chan_recv(t.pong, &ball);
		ball++;
		printf("round %d: ball = %d\n", i + 1, ball);
	}
	gort_chan_close(t.ping);
	while (gort_chan_recv(t.pong, NULL)) /* wait until the player is done */
		;
	printf("ping-pong: %d rounds, ball = %d\n", t.rounds, ball);
	gort_chan_unref(t.ping);
	gort_chan_unref(t.pong);
	return ball == 2 * t.rounds ? 0 : 1;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
