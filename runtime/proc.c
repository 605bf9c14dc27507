/* proc.c — child processes (gort_proc_*): spawn without forking the
 * runtime, wait through a pidfd on the netpoller, kill on cancellation,
 * always reap.
 *
 * Spawning.  clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD) on a
 * small heap stack: the child shares the parent's memory until it execs,
 * the calling worker thread is suspended until then (tens of
 * microseconds: no page tables are copied, unlike fork), and the pidfd
 * comes back atomically, so no pid-reuse race exists anywhere.  posix_spawn
 * does the same internally but cannot switch uid/gid, return a pidfd (glibc
 * < 2.39) or close inherited descriptors (glibc < 2.34).  Because the child
 * shares memory and the thread pointer of the parent thread, it:
 *  - runs with every signal blocked (blocked by the parent around clone),
 *    resets every handler to SIG_DFL before unblocking, so no parent
 *    handler ever runs in it;
 *  - makes raw system calls only (glibc's setuid() would broadcast to the
 *    parent's threads; sanitizer interceptors are not vfork-safe), and is
 *    compiled without sanitizer instrumentation;
 *  - reports a failure (errno of the failed step) through the shared
 *    struct child_args and exits 127; a successful exec leaves err at 0.
 * The parent saves and restores errno around clone (the child's system
 * calls write the parent thread's errno).
 * In the child, in order: process group, signal dispositions, stdio
 * (sources below 3 are first moved above 2 so no dup2 clobbers another
 * source), cwd, groups/gid/uid, close_range(3, ~0) unless keep_fds,
 * empty signal mask, execve (a $PATH search when the program has no '/').
 *
 * Reaping.  One reaper goroutine per child waits on the pidfd (gort_fd_wait)
 * with the spawn context; on cancellation it sends SIGTERM (to the group
 * with new_pgroup), waits kill_grace, then SIGKILL, and reaps with
 * waitid(P_PIDFD, WNOHANG) under p->lock, sets reaped, closes the pidfd and
 * closes the done channel.  gort_proc_signal checks reaped under the same
 * lock, so it never signals a reaped (and possibly reused) pid or group.
 *
 * Lifetime.  refs: the caller's handle and the reaper; the last one frees
 * the record.  Locking: p->lock (spinlock) guards reaped and status and is
 * held across waitid(WNOHANG) and kill/pidfd_send_signal only.
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_STACK (32 * 1024)
#define WAIT_P_PIDFD ((idtype_t)3)
#define KSIG_MAX 64

#if defined(__clang__) || __GNUC__ >= 8
#define NO_SAN __attribute__((no_sanitize("address", "thread", "undefined"), noinline))
#else
#define NO_SAN __attribute__((noinline))
#endif

extern char **environ;

struct gort_proc {
	uint32_t lock;          /* guards reaped and status */
	int64_t refs;           /* atomic: caller + reaper */
	pid_t pid;
	bool pgroup;            /* signals go to the process group */
	bool reaped;
	gort_fd *pidfd;         /* closed by the reaper once reaped */
	gort_chan *done;        /* closed once reaped */
	gort_ctx *ctx;          /* spawn context (a reference), or NULL */
	int64_t grace;          /* SIGTERM -> SIGKILL delay; < 0: SIGKILL at once */
	gort_proc_status status;
};

/* What the vfork child needs; err is written by it on failure. */
struct child_args {
	const char *path;      /* program with a '/', or NULL: search */
	const char *file;      /* name to search in $PATH */
	const char *search;    /* $PATH */
	char *const *argv;
	char *const *envp;
	const char *cwd;
	int src[3];            /* descriptor to install as 0, 1, 2; -1 inherit */
	const gort_proc_opts *o;
	volatile int err;
};

/* The kernel's struct sigaction (rt_sigaction with an 8-byte mask). */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

/* ----------------------------------------------------------------------
 * The child side (shares memory with the suspended parent)
 * ---------------------------------------------------------------------- */

NO_SAN static int child_stdio(int src[3])
{
	for (int i = 0; i < 3; i++)
		if (src[i] >= 0 && src[i] < 3 && src[i] != i &&
		    (src[i] = (int)syscall(SYS_fcntl, src[i], F_DUPFD_CLOEXEC, 3)) < 0)
			return errno;
	for (int i = 0; i < 3; i++) {
		if (src[i] < 0)
			continue;
		long r = src[i] == i ? syscall(SYS_fcntl, i, F_SETFD, 0) : syscall(SYS_dup3, src[i], i, 0);
		if (r < 0)
			return errno;
	}
	return 0;
}

NO_SAN static int child_setup(struct child_args *a)
{
	const gort_proc_opts *o = a->o;
	struct ksigaction dfl = {(void *)SIG_DFL, 0, NULL, 0};
	int src[3] = {a->src[0], a->src[1], a->src[2]};
	if (o->new_pgroup && syscall(SYS_setpgid, 0, 0) < 0)
		return errno;
	for (int sig = 1; sig <= KSIG_MAX; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
	int e = child_stdio(src);
	if (e)
		return e;
	if (o->set_ids && (syscall(SYS_setgroups, o->ngroups, o->groups) < 0 ||
	                   syscall(SYS_setresgid, o->gid, o->gid, o->gid) < 0 ||
	                   syscall(SYS_setresuid, o->uid, o->uid, o->uid) < 0))
		return errno;
	/* After the switch: the new identity must be allowed to enter cwd
	 * (a root parent's chdir would let it work inside a directory it
	 * cannot search). */
	if (o->cwd && syscall(SYS_chdir, o->cwd) < 0)
		return errno;
	if (!o->keep_fds && syscall(SYS_close_range, 3, ~0U, 0) < 0)
		return errno;
	uint64_t none = 0;
	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none) < 0)
		return errno;
	return 0;
}

/* dir + '/' + file into buf (PATH_MAX); false if too long.  Byte loops: no
 * memcpy (an intercepted call under sanitizers). */
NO_SAN static bool child_join(char *buf, const char *dir, size_t dlen, const char *file)
{
	volatile char *p = buf;
	size_t n = 0;
	for (size_t i = 0; i < dlen; i++, n++)
		if (n < PATH_MAX - 2)
			p[n] = dir[i];
	if (dlen)
		p[n++] = '/';
	for (const char *f = file; *f; f++, n++)
		if (n < PATH_MAX - 1)
			p[n] = *f;
	if (n >= PATH_MAX - 1)
		return false;
	p[n] = 0;
	return true;
}

NO_SAN static int child_exec(struct child_args *a)
{
	if (a->path) {
		syscall(SYS_execve, a->path, a->argv, a->envp);
		return errno;
	}
	char buf[PATH_MAX];
	bool eacces = false;
	for (const char *d = a->search;;) {
		const char *end = d;
		while (*end && *end != ':')
			end++;
		if (child_join(buf, d, (size_t)(end - d), a->file)) {
			syscall(SYS_execve, buf, a->argv, a->envp);
			if (errno == EACCES)
				eacces = true;
			else if (errno != ENOENT && errno != ENOTDIR)
				return errno;
		}
		if (!*end)
			return eacces ? EACCES : ENOENT;
		d = end + 1;
	}
}

NO_SAN static int child_main(void *p)
{
	struct child_args *a = p;
	int e = child_setup(a);
	if (!e)
		e = child_exec(a);
	a->err = e ? e : EINVAL;
	syscall(SYS_exit, 127);
	return 127;
}

/* ----------------------------------------------------------------------
 * The parent side
 * ---------------------------------------------------------------------- */

static int validate(const gort_proc_opts *o, gort_fd *ret_pipes[3])
{
	if (!o || !o->argv || !o->argv[0] || (o->set_ids && o->ngroups && !o->groups))
		return -EINVAL;
	for (int i = 0; i < 3; i++) {
		gort_stdio_mode m = o->stdio[i].mode;
		if (m > GORT_STDIO_PIPE || (m == GORT_STDIO_FD && o->stdio[i].fd < 0))
			return -EINVAL;
		if (m == GORT_STDIO_PIPE && !ret_pipes)
			return -EINVAL;
	}
	return 0;
}

/* Descriptors the spawn opens: child ends, parent ends, /dev/null. */
struct spawn_fds {
	int child[3];
	int parent[3];
	int devnull;
};

static void fds_close(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Fills a->src and f from the stdio options. */
static int stdio_prepare(const gort_proc_opts *o, struct child_args *a, struct spawn_fds *f)
{
	for (int i = 0; i < 3; i++) {
		f->child[i] = f->parent[i] = a->src[i] = -1;
		switch (o->stdio[i].mode) {
		case GORT_STDIO_INHERIT:
			break;
		case GORT_STDIO_NULL:
			if (f->devnull < 0 && (f->devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
				return -errno;
			a->src[i] = f->devnull;
			break;
		case GORT_STDIO_FD:
			a->src[i] = o->stdio[i].fd;
			break;
		case GORT_STDIO_PIPE: {
			int p[2];
			if (pipe2(p, O_CLOEXEC) < 0)
				return -errno;
			f->child[i] = p[i == 0 ? 0 : 1];
			f->parent[i] = p[i == 0 ? 1 : 0];
			a->src[i] = f->child[i];
			break;
		}
		}
	}
	return 0;
}

typedef int (*clone_fn)(int (*fn)(void *), void *stack, int flags, void *arg, ...);

/* glibc's clone.  ThreadSanitizer intercepts clone and handles every call
 * as a fork, resetting its state in the child — which here shares the
 * parent's memory; so a TSan build looks up glibc's own symbol. */
static clone_fn libc_clone(void)
{
#ifdef GORT_TSAN
	static _Atomic(clone_fn) real;
	clone_fn f = atomic_load_explicit(&real, memory_order_acquire);
	if (!f) {
		void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
		f = libc ? (clone_fn)dlsym(libc, "clone") : NULL;
		if (!f)
			gort__fatal("gort_proc: cannot find glibc's clone: %s", dlerror());
		atomic_store_explicit(&real, f, memory_order_release);
	}
	return f;
#else
	return clone;
#endif
}

/* Runs the clone; the pid (> 0) with *ret_pidfd, or a negative errno.  A
 * child that failed before exec is reaped here. */
static pid_t do_clone(struct child_args *a, int *ret_pidfd)
{
	char *stack = malloc(CHILD_STACK);
	if (!stack)
		return -ENOMEM;
	sigset_t all, old;
	sigfillset(&all);
	int saved = errno;
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int pidfd = -1;
	pid_t pid = libc_clone()(child_main, stack + CHILD_STACK,
	                         CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, a, &pidfd);
	int e = pid < 0 ? errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	free(stack);
	if (pid < 0)
		return -e;
	if (a->err) {
		siginfo_t si;
		while (waitid(WAIT_P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
		close(pidfd);
		return -a->err;
	}
	*ret_pidfd = pidfd;
	return pid;
}

static void proc_unref(gort_proc *p)
{
	if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL))
		return;
	gort_chan_unref(p->done);
	gort_ctx_unref(p->ctx);
	free(p);
}

/* Signals the child (or its group); p->lock held. */
static int proc_kill_locked(gort_proc *p, int sig)
{
	if (p->reaped)
		return -ESRCH;
	long r = p->pgroup ? kill(-p->pid, sig)
	                   : syscall(SYS_pidfd_send_signal, gort_fd_fileno(p->pidfd), sig, NULL, 0);
	return r < 0 ? -gort__errno() : 0;
}

static void status_fill(gort_proc_status *st, const siginfo_t *si)
{
	st->core_dumped = si->si_code == CLD_DUMPED;
	if (si->si_code == CLD_EXITED) {
		st->exit_code = si->si_status;
		st->signal = 0;
	} else {
		st->exit_code = -1;
		st->signal = si->si_status;
	}
}

/* Reaps the child if it has exited; true then. */
static bool try_reap(gort_proc *p)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	gort__spin_lock(&p->lock);
	int r = waitid(WAIT_P_PIDFD, (id_t)gort_fd_fileno(p->pidfd), &si, WEXITED | WNOHANG);
	int err = r < 0 ? gort__errno() : 0;
	if (r == 0 && si.si_pid != 0) {
		status_fill(&p->status, &si);
		p->reaped = true;
	} else if (err == ECHILD) {
		p->status.exit_code = -1; /* SIGCHLD ignored: the kernel reaped it */
		p->reaped = true;
	} else if (err && err != EINTR) {
		gort__fatal("gort_proc: waitid(pid %d): %s", (int)p->pid, strerror(err));
	}
	bool done = p->reaped;
	gort__spin_unlock(&p->lock);
	return done;
}

static void send_signal(gort_proc *p, int sig)
{
	gort__spin_lock(&p->lock);
	proc_kill_locked(p, sig);
	gort__spin_unlock(&p->lock);
}

/* The reaper goroutine: waits for exit, escalates on cancellation. */
static void reaper(void *arg)
{
	gort_proc *p = arg;
	int64_t deadline = GORT_DEADLINE_NONE;
	int stage = 0; /* 0 running, 1 SIGTERM sent, 2 SIGKILL sent */
	for (;;) {
		int r = gort_fd_wait(p->pidfd, GORT_FD_READ, deadline, stage == 0 ? p->ctx : NULL);
		if (r > 0) {
			if (try_reap(p))
				break;
		} else if (stage == 0 && (r == -ECANCELED || r == -ETIMEDOUT)) {
			p->status.cancel_err = r;
			stage = p->grace < 0 ? 2 : 1;
			send_signal(p, stage == 2 ? SIGKILL : SIGTERM);
			if (stage == 1)
				deadline = gort_now() + p->grace;
		} else if (stage == 1 && r == -ETIMEDOUT) {
			send_signal(p, SIGKILL);
			stage = 2;
			deadline = GORT_DEADLINE_NONE;
		} else if (r == -ENOMEM) {
			gort_sleep(GORT_MILLISECOND); /* no token channel for the context wait */
		} else {
			gort__fatal("gort_proc: waiting for pid %d: error %d", (int)p->pid, r);
		}
	}
	gort_fd_close(p->pidfd);
	gort_chan_close(p->done);
	proc_unref(p);
}

/* After a failed start: kills and reaps the child, closes what is open. */
static void start_undo(gort_proc *p, int pidfd, struct spawn_fds *f, gort_fd *pipes[3])
{
	syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	siginfo_t si;
	while (waitid(WAIT_P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	for (int i = 0; i < 3; i++)
		if (pipes[i])
			gort_fd_close(pipes[i]);
		else if (f->parent[i] >= 0)
			close(f->parent[i]);
	if (p && p->pidfd)
		gort_fd_close(p->pidfd);
	else
		close(pidfd);
	if (p)
		gort_chan_unref(p->done);
	free(p);
}

/* The record, its registrations and its reaper; consumes pidfd and the
 * parent ends (closed on failure, after killing and reaping the child). */
static int proc_start(const gort_proc_opts *o, pid_t pid, int pidfd, struct spawn_fds *f,
                      gort_proc **ret_proc, gort_fd *ret_pipes[3])
{
	gort_proc *p = calloc(1, sizeof *p);
	gort_fd *pipes[3] = {NULL, NULL, NULL};
	int e = p && (p->done = gort_chan_make(0, 0)) ? 0 : -ENOMEM;
	if (!e && !(p->pidfd = gort__fd_open_nonblock(pidfd)))
		e = -errno;
	for (int i = 0; i < 3 && !e; i++)
		if (f->parent[i] >= 0 && !(pipes[i] = gort_fd_open(f->parent[i])))
			e = -errno;
	if (!e) {
		p->refs = 2;
		p->pid = pid;
		p->pgroup = o->new_pgroup;
		p->ctx = gort_ctx_ref(o->ctx);
		p->grace = o->kill_grace ? o->kill_grace : GORT_PROC_GRACE_DEFAULT;
		gort_go_opts go = {.name = "gort-proc-reaper"};
		int64_t id = gort_go_with(reaper, p, &go);
		if (id > 0) {
			for (int i = 0; ret_pipes && i < 3; i++)
				ret_pipes[i] = pipes[i];
			*ret_proc = p;
			return 0;
		}
		gort_ctx_unref(p->ctx);
		e = (int)id;
	}
	start_undo(p, pidfd, f, pipes);
	return e;
}

int gort_proc_spawn(const gort_proc_opts *o, gort_proc **ret_proc, gort_fd *ret_pipes[3])
{
	gort__self_or_die("gort_proc_spawn");
	int e = validate(o, ret_pipes);
	if (e)
		return e;
	struct child_args a = {.argv = o->argv, .o = o, .cwd = o->cwd, .err = 0};
	a.envp = o->envp ? o->envp : environ;
	const char *prog = o->path ? o->path : o->argv[0];
	if (strchr(prog, '/')) {
		a.path = prog;
	} else {
		a.file = prog;
		a.search = getenv("PATH");
		if (!a.search)
			a.search = "/bin:/usr/bin";
	}
	struct spawn_fds f = {.devnull = -1};
	e = stdio_prepare(o, &a, &f);
	int pidfd = -1;
	pid_t pid = e ? e : do_clone(&a, &pidfd);
	fds_close(f.child, 3);
	fds_close(&f.devnull, 1);
	if (pid < 0) {
		fds_close(f.parent, 3);
		return pid;
	}
	return proc_start(o, pid, pidfd, &f, ret_proc, ret_pipes);
}

pid_t gort_proc_pid(const gort_proc *p)
{
	return p->pid;
}

gort_chan *gort_proc_done(gort_proc *p)
{
	return p->done;
}

int gort_proc_signal(gort_proc *p, int sig)
{
	gort__spin_lock(&p->lock);
	int r = proc_kill_locked(p, sig);
	gort__spin_unlock(&p->lock);
	return r;
}

int gort_proc_wait(gort_proc *p, gort_proc_status *ret_status, int64_t deadline, gort_ctx *ctx)
{
	gort_timer *t = NULL;
	if (deadline && !(t = gort_timer_make(deadline - gort_now())))
		return -ENOMEM;
	gort_select_case cs[3] = {
		{p->done, GORT_SELECT_RECV, NULL, false},
		{ctx ? gort_ctx_done(ctx) : NULL, GORT_SELECT_RECV, NULL, false},
		{t ? gort_timer_chan(t) : NULL, GORT_SELECT_RECV, NULL, false},
	};
	int i = gort_select(cs, 3, true);
	gort_timer_free(t);
	if (i == 1)
		return gort_ctx_err(ctx);
	if (i == 2)
		return -ETIMEDOUT;
	gort__spin_lock(&p->lock);
	*ret_status = p->status;
	gort__spin_unlock(&p->lock);
	return 0;
}

void gort_proc_free(gort_proc *p)
{
	if (p)
		proc_unref(p);
}
