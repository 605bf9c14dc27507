/* confinement.c — "Concurrency in Go", chapter 4, Confinement.
 *
 * Two ways to share nothing, so that nothing needs a lock:
 *  - lexical confinement of a channel: chan_owner() makes the channel, is
 *    the only goroutine that writes and closes it, and hands out a
 *    reference whose users only read (the book's chanOwner/consumer);
 *  - confinement of data: each goroutine is given its own disjoint slice
 *    of a buffer (the book's printData over data[:3] and data[3:]).
 */
#include <gort.h>

#include <stdio.h>
#include <string.h>

/* ---- a channel confined to its owner -------------------------------- */

static gort_waitgroup owner_wg = GORT_WAITGROUP_INIT; /* joins the owner */

static void owner_writes(void *arg)
{
	gort_chan *results = arg; /* the owner's reference */
	for (int i = 0; i <= 5; i++)
		gort_chan_send(results, &i);
	gort_chan_close(results); /* only the owner closes */
	gort_chan_unref(results);
	gort_waitgroup_done(&owner_wg);
}

/* Returns a channel only the spawned owner writes; the caller reads. */
static gort_chan *chan_owner(void)
{
	gort_chan *results = gort_chan_make(sizeof(int), 5);
	gort_waitgroup_add(&owner_wg, 1);
	if (!results || gort_go(owner_writes, gort_chan_ref(results)) < 0)
		return NULL;
	return results;
}

static void consumer(gort_chan *results)
{
	int v;
	while (gort_chan_recv(results, &v))
		printf("Received: %d\n", v);
	printf("Done receiving!\n");
}

/* ---- data confined to slices ----------------------------------------- */

typedef struct slice {
	const char *data;
	size_t len;
	gort_waitgroup *wg;
} slice;

static void print_data(void *arg)
{
	slice *s = arg; /* this goroutine sees only its slice */
	printf("%.*s\n", (int)s->len, s->data);
	gort_waitgroup_done(s->wg);
}

static int root(void *arg)
{
	(void)arg;
	gort_chan *results = chan_owner();
	if (!results)
		return 1;
	consumer(results);
	gort_chan_unref(results);
	gort_waitgroup_wait(&owner_wg);

	static const char data[] = "golang";
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	slice halves[2] = {{data, 3, &wg}, {data + 3, strlen(data) - 3, &wg}};
	gort_waitgroup_add(&wg, 2);
	for (int i = 0; i < 2; i++)
		if (gort_go(print_data, &halves[i]) < 0)
			return 1;
	gort_waitgroup_wait(&wg);
	return 0;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
