/* error_handling.c — "Concurrency in Go", chapter 4, Error Handling: a
 * goroutine that can fail does not decide what to do with its errors; it
 * sends them, coupled with its results, to the part of the program that has
 * the context to decide.
 *
 * The book's checkStatus fetches URLs and returns Result{Error, Response};
 * here a gort_map stage "checks" paths with stat(2) and sends results
 * (GORT_RESULT(long): the size, or -errno).  The consumer prints each
 * result and, as in the book, gives up after 3 errors by cancelling the
 * context, which stops the stages upstream.
 *
 * Output:
 *   Response: / has size ...
 *   error: /no/such/path-a: No such file or directory
 *   ...
 *   Too many errors, breaking!
 */
#include <gort.h>
#include <gort_patterns.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef GORT_RESULT(long) size_result;

/* A map function: the size of the file at the path, or -errno. */
static int check_status(const void *in, void *out, void *arg)
{
	(void)arg;
	const char *path = *(const char *const *)in;
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	*(long *)out = (long)st.st_size;
	return 0;
}

static int root(void *arg)
{
	(void)arg;
	static const char *const urls[] = {"/", "/no/such/path-a", "/no/such/path-b",
	                                   "/proc/self/status", "/no/such/path-c",
	                                   "/no/such/path-d"};
	enum { N = sizeof urls / sizeof urls[0] };
	gort_waitgroup stages = GORT_WAITGROUP_INIT; /* joins the pattern goroutines */
	gort_ctx *group = gort_ctx_with_stage_group(gort_ctx_background(), &stages);
	gort_ctx *ctx = gort_ctx_with_cancel(group);
	gort_chan *paths = gort_gen_values(ctx, urls, N, sizeof(char *));
	gort_map_spec spec = {.fn = check_status, .in_size = sizeof(char *), .out_size = sizeof(long)};
	gort_chan *results = paths ? gort_map(ctx, paths, &spec) : NULL;
	if (!results)
		return 1;
	int errors = 0, i = 0;
	size_result r;
	while (gort_chan_recv(results, &r)) {
		const char *path = urls[i++]; /* a map keeps the input order */
		if (r.err) {
			printf("error: %s: %s\n", path, strerror(-r.err));
			if (++errors >= 3) {
				printf("Too many errors, breaking!\n");
				break;
			}
			continue;
		}
		printf("Response: %s has size %ld\n", path, r.value);
	}
	gort_ctx_cancel(ctx); /* stop the stages: nothing is left blocked */
	gort_chan_unref(results);
	gort_chan_unref(paths);
	gort_waitgroup_wait(&stages); /* every pattern goroutine has returned */
	gort_ctx_unref(ctx);
	gort_ctx_unref(group);
	return errors == 3 ? 0 : 1;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
