/* select_default.c — a select with a default case never blocks: block
 * false makes gort_select return -EAGAIN when no case is ready.  Here a
 * publisher offers events to a slow subscriber's 2-slot mailbox and drops
 * what does not fit instead of stalling, and a poll of an empty mailbox
 * returns at once.
 *
 * Output: which events were delivered and dropped, then
 * "delivered 2, dropped 3".
 */
#include <gort.h>

#include <errno.h>
#include <stdio.h>

static int root(void *arg)
{
	(void)arg;
	gort_chan *mailbox = gort_chan_make(sizeof(int), 2);
	if (!mailbox)
		return 1;
	int delivered = 0, dropped = 0;
	for (int ev = 1; ev <= 5; ev++) {
		gort_select_case send = {mailbox, GORT_SELECT_SEND, &ev, false};
		if (gort_select(&send, 1, false) == -EAGAIN) { /* default: */
			printf("event %d dropped (mailbox full)\n", ev);
			dropped++;
		} else {
			printf("event %d delivered\n", ev);
			delivered++;
		}
	}
	/* Drain with the same pattern: receive if ready, else stop. */
	int ev;
	gort_select_case recv = {mailbox, GORT_SELECT_RECV, &ev, false};
	while (gort_select(&recv, 1, false) == 0)
		printf("subscriber got event %d\n", ev);
	/* gort_chan_try_recv is the shorthand for a one-case select + default. */
	if (gort_chan_try_recv(mailbox, &ev) != -EAGAIN)
		return 1;
	printf("delivered %d, dropped %d\n", delivered, dropped);
	gort_chan_unref(mailbox);
	return delivered == 2 && dropped == 3 ? 0 : 1;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
