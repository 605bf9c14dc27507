/* harness.c — main() and helpers shared by every Check test binary (see
 * harness.h).  Tests run in Check's fork mode: each in its own process, so
 * a runtime started by one test never leaks into the next. */
#include "config.h"
#include "harness.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];
static pid_t tmpdir_owner;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static void rm_tmpdir(void)
{
	if (tmpdir[0] && tmpdir_owner == getpid())
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *gt_tmpdir(void)
{
	if (tmpdir[0] && tmpdir_owner == getpid())
		return tmpdir;
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/gt.XXXXXX", base && *base ? base : "/tmp");
	ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
	tmpdir_owner = getpid();
	atexit(rm_tmpdir);
	return tmpdir;
}

double gt_scale(void)
{
	const char *s = getenv("GT_SCALE");
	double v = s && *s ? strtod(s, NULL) : 1.0;
	return v > 0 ? v : 1.0;
}

long gt_scaled(long n)
{
	long v = (long)((double)n * gt_scale());
	return v > 0 ? v : 1;
}

int gt_sanitized(void)
{
#if defined(GORT_ASAN) || defined(GORT_TSAN)
	return 1;
#else
	return 0;
#endif
}

TCase *gt_tcase(const char *name, double timeout_s)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, timeout_s * (gt_sanitized() ? 4 : 1));
	return tc;
}

int main(void)
{
	SRunner *sr = srunner_create(gt_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY, default: normal */
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
