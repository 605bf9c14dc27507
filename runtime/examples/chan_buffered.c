/* chan_buffered.c — a buffered channel is a bounded FIFO queue: sends
 * complete at once while there is room; when it is full a send blocks
 * until a receiver makes room (back-pressure).  The root fills a 4-slot
 * queue, sees the fifth send refused, then starts a consumer and keeps
 * sending: each send waits for room.  Closing keeps the buffered items.
 *
 * Output: the queue length as it fills, "full", then the consumer's count
 * "consumed 10 items in order".
 */
#include <gort.h>

#include <errno.h>
#include <stdio.h>

enum { ITEMS = 10, SLOTS = 4 };

struct consumer {
	gort_chan *q;      /* int items */
	gort_chan *result; /* int: items consumed in order, capacity 1 */
};

static void consume(void *arg)
{
	struct consumer *c = arg;
	int item, expect = 0;
	while (gort_chan_recv(c->q, &item)) /* until closed and drained */
		if (item == expect)
			expect++;
	gort_chan_send(c->result, &expect);
}

static int root(void *arg)
{
	(void)arg;
	struct consumer c = {gort_chan_make(sizeof(int), SLOTS), gort_chan_make(sizeof(int), 1)};
	if (!c.q || !c.result)
		return 1;
	int i = 0;
	for (; i < SLOTS; i++) {
		gort_chan_send(c.q, &i); /* room: returns at once */
		printf("queued %d: len %zu of cap %zu\n", i, gort_chan_len(c.q), gort_chan_cap(c.q));
	}
	if (gort_chan_try_send(c.q, &i) != -EAGAIN)
		return 1;
	printf("full: a send would block now\n");
	if (gort_go(consume, &c) < 0)
		return 1;
	for (; i < ITEMS; i++)
		gort_chan_send(c.q, &i); /* waits for room */
	gort_chan_close(c.q);
	int in_order;
	gort_chan_recv(c.result, &in_order);
	printf("consumed %d items in order\n", in_order);
	gort_chan_unref(c.q);
	gort_chan_unref(c.result);
	return in_order == ITEMS ? 0 : 1;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
