/* faults.c — allocation-failure injection for single-threaded tests (see
 * harness.h): a test binary linked with this file and with
 * -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc gets its
 * allocations routed here; while gt_fail_at >= 0, that many more
 * allocations succeed and the next one fails with ENOMEM, after which
 * gt_fail_at is -1 again.  Not thread-safe: set it only while no other
 * thread allocates (tests of goroutine code use their own filtered variant,
 * see test_patterns.c).
 */
#include "config.h"
#include "harness.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

long gt_fail_at = -1;

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

static bool inject_failure(void)
{
	if (gt_fail_at < 0 || gt_fail_at-- != 0)
		return false;
	errno = ENOMEM;
	return true;
}

void *__wrap_malloc(size_t size)
{
	return inject_failure() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return inject_failure() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	return inject_failure() ? NULL : __real_realloc(p, size);
}
