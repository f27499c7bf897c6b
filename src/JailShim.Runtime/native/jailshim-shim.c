/*
 * jailshim-shim: the one C program of JailShim. Mechanics only; the contract
 * (spec on stdin, report lines on stdout, control socket, exit record, CRI
 * log format) is PROTOCOL.md next to this file.
 *
 *   jailshim-shim container   P forks the monitor M (setsid), M clones the
 *                             child C, C sets itself up and waits for "go".
 *   jailshim-shim sandbox     P clones the infra process I, which sets itself
 *                             up and then sleeps, reaping children.
 *
 * Build: cc -O2 -Wall -Wextra -Werror -std=gnu11 -o jailshim-shim jailshim-shim.c
 * Needs Linux >= 5.9 (openat2, pidfd_open, close_range).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/openat2.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define MAXCONN 64
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ------------------------------------------------------------------ spec */

enum { OP_MOUNT, OP_MKDIR, OP_MKNOD, OP_SYMLINK, OP_PIVOT, OP_REMOUNT_RO };
enum { NS_NET, NS_IPC, NS_UTS, NS_PID, NS_COUNT };
static const char *const ns_names[NS_COUNT] = { "net", "ipc", "uts", "pid" };
static const int ns_types[NS_COUNT] = { CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWPID };

struct op {
	int kind;
	char *a, *b;            /* mount: source,target; symlink: target,linkpath; others: path */
	char *fstype, *data;    /* mount only, NULL when `-` */
	unsigned long mflags;   /* mount(2) flags of the main call (incl. MS_REC for rbind) */
	unsigned long pflags;   /* propagation call flags (0 when none) */
	mode_t mode;
	unsigned int major, minor;
};

static struct {
	int container;
	char *state_dir, *control, *log, *hostname, *rootfs, *cwd, *clone_str;
	size_t log_max;
	char **cgroups; size_t ncgroups;
	unsigned long clone_flags;
	char *ns_path[NS_COUNT];
	int lo_up, nnp, has_user, has_groups, has_caps, has_oom;
	uid_t uid; gid_t gid;
	gid_t *groups; size_t ngroups;
	unsigned long long caps;
	int oom;
	char **env; size_t nenv;
	char **argv; size_t nargv;
	struct op *ops; size_t nops;
} S;

/* -------------------------------------------------------------- reporting */

static int g_rep = 1;                 /* where report lines go */
static void (*g_on_fail)(void);       /* cleanup hook of the monitor */

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One report line, written with one write (one message on the sync socket). */
static int emit(const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	if (g_rep < 0)
		return -1;
	return write_all(g_rep, line, (size_t)n);
}

static void phase(const char *name, long long t0, int err, const char *detail)
{
	emit("phase %s %lld %lld %d%s%s", name, t0, now_ns(), err,
	     detail && *detail ? " " : "", detail ? detail : "");
}

static _Noreturn void die(const char *ph, int err, const char *fmt, ...)
{
	char m[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	if (g_on_fail)
		g_on_fail();
	emit("error %s %d %s: %s", ph, err, m, strerror(err));
	_exit(1);
}

/* Report a finished step; fatal when it failed. */
static void step(const char *name, long long t0, int err, const char *detail, const char *what)
{
	phase(name, t0, err, detail);
	if (err)
		die(name, err, "%s %s", what, detail ? detail : "");
}

/* ------------------------------------------------------------ fd helpers */

static void close_span(unsigned int lo, unsigned int hi)
{
	if (lo > hi)
		return;
	if (syscall(SYS_close_range, lo, hi, 0) == 0)
		return;
	for (unsigned int fd = lo; fd <= hi && fd < 65536; fd++)
		close((int)fd);
}

/* Close every fd >= 3 except the listed ones. */
static void close_fds_except(const int *keep, int n)
{
	int k[8];
	for (int i = 0; i < n && i < 8; i++)
		k[i] = keep[i];
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && k[j - 1] > k[j]; j--) {
			int t = k[j]; k[j] = k[j - 1]; k[j - 1] = t;
		}
	unsigned int lo = 3;
	for (int i = 0; i < n; i++) {
		if (k[i] < (int)lo)
			continue;
		if ((unsigned int)k[i] > lo)
			close_span(lo, (unsigned int)k[i] - 1);
		lo = (unsigned int)k[i] + 1;
	}
	close_span(lo, ~0U);
}

static void stdio_devnull(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

/* ----------------------------------------------------------- spec parsing */

static char *dash(char *s) { return strcmp(s, "-") == 0 ? NULL : s; }

static unsigned long long num(const char *s, int base, unsigned long long max, int ln)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (!*s || *s == '-' || *s == '+' || *s == ' ' || errno || *end || v > max)
		die("spec", EINVAL, "line %d: bad number '%s'", ln, s);
	return v;
}

#define PUSH(arr, n, val) do { \
	(arr) = realloc((arr), ((n) + 2) * sizeof *(arr)); \
	if (!(arr)) die("spec", ENOMEM, "out of memory"); \
	(arr)[(n)++] = (val); (arr)[(n)] = 0; \
} while (0)

static unsigned long ns_flag(const char *name)
{
	if (!strcmp(name, "mnt")) return CLONE_NEWNS;
	if (!strcmp(name, "pid")) return CLONE_NEWPID;
	if (!strcmp(name, "net")) return CLONE_NEWNET;
	if (!strcmp(name, "ipc")) return CLONE_NEWIPC;
	if (!strcmp(name, "uts")) return CLONE_NEWUTS;
	return 0;
}

static void parse_mount_flags(struct op *o, char *list, int ln)
{
	static const struct { const char *n; unsigned long m, p; } t[] = {
		{ "bind", MS_BIND, 0 }, { "rec", MS_REC, MS_REC }, { "ro", MS_RDONLY, 0 },
		{ "nosuid", MS_NOSUID, 0 }, { "nodev", MS_NODEV, 0 }, { "noexec", MS_NOEXEC, 0 },
		{ "relatime", MS_RELATIME, 0 }, { "strictatime", MS_STRICTATIME, 0 },
		{ "remount", MS_REMOUNT, 0 }, { "private", 0, MS_PRIVATE },
		{ "rprivate", 0, MS_PRIVATE | MS_REC }, { "slave", 0, MS_SLAVE },
		{ "rslave", 0, MS_SLAVE | MS_REC }, { "shared", 0, MS_SHARED },
	};
	if (!list)
		return;
	for (char *save = NULL, *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; i < sizeof t / sizeof t[0]; i++)
			if (!strcmp(f, t[i].n))
				break;
		if (i == sizeof t / sizeof t[0])
			die("spec", EINVAL, "line %d: unknown mount flag '%s'", ln, f);
		o->mflags |= t[i].m;
		o->pflags |= t[i].p;
	}
	if (!(o->pflags & ~(unsigned long)MS_REC))
		o->pflags = 0;          /* `rec` alone is not a propagation change */
}

static void parse_line(char *line, int ln)
{
	char *f[8];
	int nf = 0;
	for (char *p = line;;) {
		if (nf == 8)
			die("spec", EINVAL, "line %d: too many fields", ln);
		f[nf++] = p;
		char *t = strchr(p, '\t');
		if (!t)
			break;
		*t = 0;
		p = t + 1;
	}
	const char *d = f[0];
	int n = nf - 1;
#define NEED(k) do { if (n != (k)) die("spec", EINVAL, "line %d: %s takes %d field(s), got %d", ln, d, (k), n); } while (0)
	if (!strcmp(d, "state-dir")) { NEED(1); S.state_dir = f[1]; }
	else if (!strcmp(d, "control")) { NEED(1); S.control = f[1]; }
	else if (!strcmp(d, "log")) { NEED(1); S.log = dash(f[1]); }
	else if (!strcmp(d, "log-line-max")) { NEED(1); S.log_max = (size_t)num(f[1], 10, 1 << 24, ln); if (!S.log_max) die("spec", EINVAL, "line %d: log-line-max 0", ln); }
	else if (!strcmp(d, "cgroup")) { NEED(1); PUSH(S.cgroups, S.ncgroups, f[1]); }
	else if (!strcmp(d, "clone")) {
		NEED(1);
		S.clone_str = f[1];
		S.clone_flags = 0;
		if (dash(f[1])) {
			char *save = NULL, *copy = strdup(f[1]);
			for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				if (!ns_flag(t))
					die("spec", EINVAL, "line %d: unknown namespace '%s'", ln, t);
				S.clone_flags |= ns_flag(t);
			}
		}
	} else if (!strcmp(d, "setns")) {
		NEED(2);
		int i;
		for (i = 0; i < NS_COUNT; i++)
			if (!strcmp(f[1], ns_names[i]))
				break;
		if (i == NS_COUNT)
			die("spec", EINVAL, "line %d: setns of unknown namespace '%s'", ln, f[1]);
		S.ns_path[i] = f[2];
	} else if (!strcmp(d, "hostname")) { NEED(1); S.hostname = f[1]; }
	else if (!strcmp(d, "lo-up")) { NEED(0); S.lo_up = 1; }
	else if (!strcmp(d, "rootfs")) {
		NEED(1);
		size_t l = strlen(f[1]);
		while (l > 1 && f[1][l - 1] == '/')
			f[1][--l] = 0;
		if (f[1][0] != '/' || l < 2)
			die("spec", EINVAL, "line %d: rootfs must be an absolute path other than /", ln);
		S.rootfs = f[1];
	} else if (!strncmp(d, "op-", 3)) {
		struct op o;
		memset(&o, 0, sizeof o);
		if (!strcmp(d, "op-mount")) {
			NEED(5);
			o.kind = OP_MOUNT; o.a = dash(f[1]); o.b = f[2]; o.fstype = dash(f[3]); o.data = dash(f[5]);
			parse_mount_flags(&o, dash(f[4]), ln);
		} else if (!strcmp(d, "op-mkdir")) {
			NEED(2); o.kind = OP_MKDIR; o.a = f[1]; o.mode = (mode_t)num(f[2], 8, 07777, ln);
		} else if (!strcmp(d, "op-mknod")) {
			NEED(4); o.kind = OP_MKNOD; o.a = f[1]; o.mode = (mode_t)num(f[2], 8, 0177777, ln);
			o.major = (unsigned int)num(f[3], 10, 0xfff, ln); o.minor = (unsigned int)num(f[4], 10, 0xfffff, ln);
		} else if (!strcmp(d, "op-symlink")) {
			NEED(2); o.kind = OP_SYMLINK; o.a = f[1]; o.b = f[2];
		} else if (!strcmp(d, "op-pivot-root")) {
			NEED(1); o.kind = OP_PIVOT; o.a = f[1];
		} else if (!strcmp(d, "op-remount-ro")) {
			NEED(1); o.kind = OP_REMOUNT_RO; o.a = f[1];
		} else
			die("spec", EINVAL, "line %d: unknown directive '%s'", ln, d);
		S.ops = realloc(S.ops, (S.nops + 1) * sizeof *S.ops);
		if (!S.ops)
			die("spec", ENOMEM, "out of memory");
		S.ops[S.nops++] = o;
	} else if (!strcmp(d, "cwd")) { NEED(1); S.cwd = f[1]; }
	else if (!strcmp(d, "env")) { NEED(1); PUSH(S.env, S.nenv, f[1]); }
	else if (!strcmp(d, "arg")) { NEED(1); PUSH(S.argv, S.nargv, f[1]); }
	else if (!strcmp(d, "user")) {
		NEED(2); S.has_user = 1;
		S.uid = (uid_t)num(f[1], 10, 0xfffffffeU, ln); S.gid = (gid_t)num(f[2], 10, 0xfffffffeU, ln);
	} else if (!strcmp(d, "groups")) {
		NEED(1); S.has_groups = 1; S.ngroups = 0;
		if (dash(f[1])) {
			char *save = NULL;
			for (char *t = strtok_r(f[1], ",", &save); t; t = strtok_r(NULL, ",", &save))
				PUSH(S.groups, S.ngroups, (gid_t)num(t, 10, 0xfffffffeU, ln));
		}
	} else if (!strcmp(d, "caps")) { NEED(1); S.has_caps = 1; S.caps = num(f[1], 16, ~0ULL, ln); }
	else if (!strcmp(d, "no-new-privs")) { NEED(0); S.nnp = 1; }
	else if (!strcmp(d, "oom-score-adj")) {
		NEED(1);
		char *end;
		errno = 0;
		long v = strtol(f[1], &end, 10);
		if (!f[1][0] || *end || errno || v < -1000 || v > 1000)
			die("spec", EINVAL, "line %d: bad oom-score-adj '%s'", ln, f[1]);
		S.has_oom = 1; S.oom = (int)v;
	} else
		die("spec", EINVAL, "line %d: unknown directive '%s'", ln, d);
#undef NEED
}

static void read_spec(void)
{
	size_t cap = 65536, len = 0, pos = 0;
	char *buf = malloc(cap);
	int ln = 0, eof = 0;
	if (!buf)
		die("spec", ENOMEM, "out of memory");
	S.log_max = 16384;
	for (;;) {
		char *nl = memchr(buf + pos, '\n', len - pos);
		if (nl || (eof && pos < len)) {
			size_t l = nl ? (size_t)(nl - (buf + pos)) : len - pos;
			char *line = strndup(buf + pos, l);
			if (!line)
				die("spec", ENOMEM, "out of memory");
			pos += l + (nl ? 1 : 0);
			ln++;
			if (!strcmp(line, "end"))
				break;
			parse_line(line, ln);
			continue;
		}
		if (eof)
			die("spec", EINVAL, "spec not terminated by 'end'");
		if (pos > 0) {
			memmove(buf, buf + pos, len - pos);
			len -= pos;
			pos = 0;
		}
		if (len == cap) {
			if (cap >= (16u << 20))
				die("spec", E2BIG, "spec larger than 16 MiB");
			buf = realloc(buf, cap *= 2);
			if (!buf)
				die("spec", ENOMEM, "out of memory");
		}
		ssize_t r = read(0, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("spec", errno, "read stdin");
		}
		if (r == 0)
			eof = 1;
		len += (size_t)r;
	}
	if (S.clone_flags & CLONE_NEWPID && S.ns_path[NS_PID])
		die("spec", EINVAL, "clone pid and setns pid together");
	if (S.container && (!S.state_dir || !S.control || S.nargv == 0))
		die("spec", EINVAL, "container mode needs state-dir, control and at least one arg");
}

/* ------------------------------------------------ path resolution (ops) */

static int g_pivoted;

/* Is PATH under the rootfs prefix (and the root not yet pivoted)? */
static int in_root(const char *path, const char **rel)
{
	if (!S.rootfs || g_pivoted)
		return 0;
	size_t l = strlen(S.rootfs);
	if (strncmp(path, S.rootfs, l) || (path[l] && path[l] != '/'))
		return 0;
	const char *r = path + l;
	while (*r == '/')
		r++;
	*rel = *r ? r : ".";
	return 1;
}

static int open2(int dirfd, const char *p, unsigned long long res, int flags)
{
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = (unsigned long long)(O_PATH | O_CLOEXEC | flags);
	how.resolve = res;
	return (int)syscall(SYS_openat2, dirfd, p, &how, sizeof how);
}

enum { NO_CREATE, CREATE_DIR, CREATE_FILE };

/* Open P (relative to BASE with resolve flags RES) as O_PATH, creating the
 * missing components when asked: each prefix is re-resolved from BASE, so a
 * symlink in the image can never lead outside the root. A dangling symlink
 * is followed (its target is created, inside the root). */
static int walk(int base, const char *p, unsigned long long res, int create, mode_t mode, int depth)
{
	int fd = open2(base, p, res, 0);
	if (fd >= 0 || errno != ENOENT || create == NO_CREATE)
		return fd;
	char buf[PATH_MAX];
	size_t len = strlen(p), i = 0;
	if (len >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, p, len + 1);
	for (;;) {
		while (i < len && buf[i] == '/')
			i++;
		size_t s = i;
		while (i < len && buf[i] != '/')
			i++;
		size_t j = i;
		while (j < len && buf[j] == '/')
			j++;
		int last = (j == len);
		char save = buf[i];
		buf[i] = 0;
		int f = open2(base, buf, res, 0);
		if (f < 0 && errno == ENOENT) {
			char psave = buf[s];
			buf[s] = 0;
			int pf = open2(base, s ? buf : ".", res, O_DIRECTORY);
			buf[s] = psave;
			if (pf < 0)
				return -1;
			int r;
			if (last && create == CREATE_FILE) {
				r = openat(pf, buf + s, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
				if (r >= 0)
					close(r);
			} else
				r = mkdirat(pf, buf + s, mode);
			int e = errno;
			if (r < 0 && e != EEXIST) {
				close(pf);
				errno = e;
				return -1;
			}
			f = open2(base, buf, res, 0);
			if (f < 0 && errno == ENOENT && depth < 40) {
				/* dangling symlink: continue at its target (RESOLVE_IN_ROOT
				 * takes an absolute target relative to the root) */
				char lnk[PATH_MAX], np[PATH_MAX];
				ssize_t n = readlinkat(pf, buf + s, lnk, sizeof lnk - 1);
				if (n > 0) {
					lnk[n] = 0;
					buf[s] = 0;
					int l = snprintf(np, sizeof np, "%s%s%s%s", lnk[0] == '/' ? "" : buf, lnk,
					                 save ? "/" : "", save ? buf + i + 1 : "");
					close(pf);
					if (l < 0 || (size_t)l >= sizeof np) {
						errno = ENAMETOOLONG;
						return -1;
					}
					return walk(base, np, res, create, mode, depth + 1);
				}
				errno = ENOENT;
			}
			close(pf);
		}
		if (f < 0 || last)
			return f;
		close(f);
		buf[i] = save;
	}
}

/* Open PATH for an op. MNT receives the string to hand to mount(2):
 * "/proc/self/fd/N" when resolved inside the rootfs, else PATH itself. */
static int open_path(const char *path, int create, mode_t mode, char *mnt, size_t mntsz)
{
	const char *rel;
	int fd, e;
	if (in_root(path, &rel)) {
		int root = open(S.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (root < 0)
			return -1;
		fd = walk(root, rel, RESOLVE_IN_ROOT, create, mode, 0);
		e = errno;
		close(root);
		if (fd >= 0 && mnt)
			snprintf(mnt, mntsz, "/proc/self/fd/%d", fd);
	} else {
		fd = walk(AT_FDCWD, path, 0, create, mode, 0);
		e = errno;
		if (fd >= 0 && mnt)
			snprintf(mnt, mntsz, "%s", path);
	}
	errno = e;
	return fd;
}

/* Open the parent directory of PATH (created if missing); *BASE is the last
 * component (pointing into NAMEBUF). */
static int open_parent(const char *path, char *namebuf, size_t sz, const char **base)
{
	char dir[PATH_MAX];
	size_t l = strlen(path);
	if (l >= sizeof dir || l >= sz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, l + 1);
	while (l > 1 && dir[l - 1] == '/')
		dir[--l] = 0;
	char *sl = strrchr(dir, '/');
	const char *name = sl ? sl + 1 : dir;
	if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
		errno = EINVAL;
		return -1;
	}
	snprintf(namebuf, sz, "%s", name);
	*base = namebuf;
	if (!sl)
		return open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sl == dir)
		sl[1] = 0;
	else
		*sl = 0;
	return open_path(dir, CREATE_DIR, 0755, NULL, 0);
}

/* The path as seen from inside the container (for the mknod fallback). */
static const char *container_path(const char *path, char *buf, size_t sz)
{
	const char *rel;
	if (!in_root(path, &rel))
		return path;
	snprintf(buf, sz, "/%s", strcmp(rel, ".") ? rel : "");
	return buf;
}

/* -------------------------------------------------------------------- ops */

static unsigned long statvfs_flags(int fd)
{
	struct statvfs v;
	unsigned long r = 0;
	if (fstatvfs(fd, &v) < 0)
		return 0;
	if (v.f_flag & ST_NOSUID) r |= MS_NOSUID;
	if (v.f_flag & ST_NODEV) r |= MS_NODEV;
	if (v.f_flag & ST_NOEXEC) r |= MS_NOEXEC;
	if (v.f_flag & ST_NOATIME) r |= MS_NOATIME;
	if (v.f_flag & ST_NODIRATIME) r |= MS_NODIRATIME;
	if (v.f_flag & ST_RELATIME) r |= MS_RELATIME;
	return r;
}

static void op_mount(struct op *o)
{
	char tgt[PATH_MAX + 32], src[PATH_MAX + 32];
	const char *source = o->a, *rel;
	int sfd = -1, e = 0, isbind = (o->mflags & MS_BIND) && !(o->mflags & MS_REMOUNT);
	int create = CREATE_DIR;
	long long t0 = now_ns();

	if (isbind && o->a) {
		struct stat st;
		if (in_root(o->a, &rel)) {
			sfd = open_path(o->a, NO_CREATE, 0, src, sizeof src);
			if (sfd < 0 || fstat(sfd, &st) < 0)
				step("mount", t0, errno, o->b, "bind source missing for");
			source = src;
		} else if (stat(o->a, &st) < 0)
			step("mount", t0, errno, o->b, "bind source missing for");
		if (!S_ISDIR(st.st_mode))
			create = CREATE_FILE;
	}
	int tfd = open_path(o->b, create, 0755, tgt, sizeof tgt);
	if (tfd < 0)
		step("mount", t0, errno, o->b, "create/open mount target");

	int prop_only = o->pflags && !(o->mflags & ~(unsigned long)MS_REC) && !o->a && !o->fstype;
	if (!prop_only && mount(source, tgt, o->fstype, o->mflags, o->data) < 0)
		e = errno;
	close(tfd);
	if (sfd >= 0)
		close(sfd);
	unsigned long extra = o->mflags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME | MS_STRICTATIME);
	if (!e && (o->pflags || (isbind && extra))) {
		/* re-open: the new mount now covers the target */
		tfd = open_path(o->b, NO_CREATE, 0, tgt, sizeof tgt);
		if (tfd < 0)
			e = errno;
		else {
			if (o->pflags && mount(NULL, tgt, NULL, o->pflags, NULL) < 0)
				e = errno;
			if (!e && isbind && extra &&
			    mount(NULL, tgt, NULL, MS_REMOUNT | MS_BIND | extra, NULL) < 0)
				e = errno;
			close(tfd);
		}
	}
	step("mount", t0, e, o->b, "mount");
}

static void op_mknod(struct op *o)
{
	char name[NAME_MAX + 1], cp[PATH_MAX + 2], tgt[PATH_MAX + 32];
	const char *base;
	long long t0 = now_ns();
	int e = 0, pfd = open_parent(o->a, name, sizeof name, &base);
	if (pfd < 0)
		step("mknod", t0, errno, o->a, "open parent of");
	if (mknodat(pfd, base, o->mode, makedev(o->major, o->minor)) < 0 && errno != EEXIST) {
		e = errno;
		if (e == EPERM || e == EACCES) {
			/* refused (e.g. a devices cgroup): bind the host's node instead */
			const char *host = container_path(o->a, cp, sizeof cp);
			int f = openat(pfd, base, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
			int tfd = -1;
			if (f >= 0) {
				close(f);
				tfd = open_path(o->a, NO_CREATE, 0, tgt, sizeof tgt);
			}
			if (tfd >= 0 && mount(host, tgt, NULL, MS_BIND, NULL) == 0)
				e = 0;
			if (tfd >= 0)
				close(tfd);
		}
	}
	close(pfd);
	step("mknod", t0, e, o->a, "mknod");
}

static void op_symlink(struct op *o)
{
	char name[NAME_MAX + 1], cur[PATH_MAX];
	const char *base;
	long long t0 = now_ns();
	int e = 0, pfd = open_parent(o->b, name, sizeof name, &base);
	if (pfd < 0)
		step("symlink", t0, errno, o->b, "open parent of");
	if (symlinkat(o->a, pfd, base) < 0) {
		e = errno;
		ssize_t n = readlinkat(pfd, base, cur, sizeof cur - 1);
		if (e == EEXIST && n >= 0 && (cur[n] = 0, !strcmp(cur, o->a)))
			e = 0;          /* already there, same target */
	}
	close(pfd);
	step("symlink", t0, e, o->b, "symlink");
}

static void run_op(struct op *o)
{
	long long t0 = now_ns();
	char tgt[PATH_MAX + 32];
	int fd, e = 0;
	switch (o->kind) {
	case OP_MOUNT:
		op_mount(o);
		break;
	case OP_MKDIR:
		fd = open_path(o->a, CREATE_DIR, o->mode, NULL, 0);
		e = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
		step("mkdir", t0, e, o->a, "mkdir");
		break;
	case OP_MKNOD:
		op_mknod(o);
		break;
	case OP_SYMLINK:
		op_symlink(o);
		break;
	case OP_PIVOT:
		fd = open_path(o->a, NO_CREATE, 0, NULL, 0);
		if (fd < 0 || fchdir(fd) < 0)
			e = errno;
		else if (syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
			e = errno;
		if (fd >= 0)
			close(fd);
		g_pivoted = 1;
		step("pivot_root", t0, e, o->a, "pivot_root to");
		break;
	case OP_REMOUNT_RO:
		fd = open_path(o->a, NO_CREATE, 0, tgt, sizeof tgt);
		if (fd < 0 || mount(NULL, tgt, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | statvfs_flags(fd), NULL) < 0)
			e = errno;
		if (fd >= 0)
			close(fd);
		step("remount_ro", t0, e, o->a, "remount read-only");
		break;
	}
}

/* ------------------------------------------------- common child set-up */

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, s, strlen(s));
	int e = errno;
	close(fd);
	if (w != (ssize_t)strlen(s)) {
		errno = w < 0 ? e : EIO;
		return -1;
	}
	return 0;
}

static int lo_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = -1;
	if (s < 0)
		return -1;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	int e = errno;
	close(s);
	errno = e;
	return r;
}

static void set_user(void)
{
	long long t0 = now_ns();
	int e = 0;
	if (S.has_caps)
		prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);   /* permitted survives a non-zero uid */
	if ((S.has_groups || S.has_user) && syscall(SYS_setgroups, S.ngroups, S.groups) < 0)
		e = errno;
	if (!e && S.has_user && (syscall(SYS_setresgid, S.gid, S.gid, S.gid) < 0 ||
	                         syscall(SYS_setresuid, S.uid, S.uid, S.uid) < 0))
		e = errno;
	if (S.has_caps)
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	char d[64];
	snprintf(d, sizeof d, "%u:%u", (unsigned)S.uid, (unsigned)S.gid);
	step("setuid", t0, e, d, "set uid/gid/groups");
}

static void set_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	long long t0 = now_ns();
	int e = 0;
	memset(d, 0, sizeof d);
	if (syscall(SYS_capget, &h, d) < 0)
		step("caps", t0, errno, "capget", "caps");
	/* effective := permitted, so CAP_SETPCAP is usable for the bounding drop */
	d[0].effective = d[0].permitted;
	d[1].effective = d[1].permitted;
	if (syscall(SYS_capset, &h, d) < 0)
		step("caps", t0, errno, "capset", "caps");
	for (int c = 0; c < 64; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0)
			break;          /* beyond the kernel's last cap */
		if (!(S.caps >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			e = errno;
			break;
		}
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	uint32_t lo = (uint32_t)S.caps & d[0].permitted, hi = (uint32_t)(S.caps >> 32) & d[1].permitted;
	d[0].effective = d[0].permitted = d[0].inheritable = lo;
	d[1].effective = d[1].permitted = d[1].inheritable = hi;
	if (!e && syscall(SYS_capset, &h, d) < 0)
		e = errno;
	char det[40];
	snprintf(det, sizeof det, "%llx", S.caps);
	step("caps", t0, e, det, "set capabilities");
}

/* Everything between clone and "ready", in both modes. */
static void setup(void)
{
	long long t0;
	char buf[32];
	for (size_t i = 0; i < S.ncgroups; i++) {
		t0 = now_ns();
		/* "0" = the writer: getpid() would be 1 in a new pid namespace */
		step("cgroup.attach", t0, write_file(S.cgroups[i], "0") < 0 ? errno : 0, S.cgroups[i], "write");
	}
	for (int i = 0; i < NS_PID; i++) {
		if (!S.ns_path[i])
			continue;
		t0 = now_ns();
		int fd = open(S.ns_path[i], O_RDONLY | O_CLOEXEC), e = 0;
		if (fd < 0 || setns(fd, ns_types[i]) < 0)
			e = errno;
		if (fd >= 0)
			close(fd);
		phase("setns", t0, e, ns_names[i]);
		if (e)
			die("setns", e, "join %s namespace %s", ns_names[i], S.ns_path[i]);
	}
	if (S.has_oom) {
		/* early: /proc is still the host's here */
		t0 = now_ns();
		snprintf(buf, sizeof buf, "%d", S.oom);
		phase("oom_score_adj", t0, write_file("/proc/self/oom_score_adj", buf) < 0 ? errno : 0, buf);
	}
	if (S.clone_flags & CLONE_NEWNS) {
		t0 = now_ns();
		step("mount", t0, mount("", "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 ? errno : 0, "/", "make rslave");
	}
	for (size_t i = 0; i < S.nops; i++)
		run_op(&S.ops[i]);
	if (S.hostname) {
		t0 = now_ns();
		step("sethostname", t0, sethostname(S.hostname, strlen(S.hostname)) < 0 ? errno : 0, S.hostname, "sethostname");
	}
	if (S.lo_up) {
		t0 = now_ns();
		step("lo_up", t0, lo_up() < 0 ? errno : 0, "lo", "bring up");
	}
	if (S.has_user || S.has_groups)
		set_user();
	if (S.has_caps)
		set_caps();
	if (S.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("no_new_privs", errno, "prctl");
	if (S.cwd && chdir(S.cwd) < 0)
		die("cwd", errno, "chdir %s", S.cwd);
}

static pid_t raw_clone(unsigned long flags)
{
	/* no stack: behaves like fork, but can create a pid namespace */
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

/* Parent side of `setns pid`: pid_for_children of the caller. */
static void join_pidns(void)
{
	if (!S.ns_path[NS_PID])
		return;
	long long t0 = now_ns();
	int fd = open(S.ns_path[NS_PID], O_RDONLY | O_CLOEXEC), e = 0;
	if (fd < 0 || setns(fd, CLONE_NEWPID) < 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	phase("setns", t0, e, "pid");
	if (e)
		die("setns", e, "join pid namespace %s", S.ns_path[NS_PID]);
}

/* ------------------------------------------------------ container child */

static _Noreturn void exec_child(int sync_fd, int out_w, int err_w, mode_t umask_old)
{
	char b[16];
	ssize_t n;
	do
		n = read(sync_fd, b, sizeof b);
	while (n < 0 && errno == EINTR);
	if (n != 2 || memcmp(b, "go", 2))
		_exit(1);               /* monitor gone */
	if (dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
		die("exec", errno, "dup2 stdio");
	int keep[1] = { sync_fd };
	close_fds_except(keep, 1);  /* sync_fd is CLOEXEC: EOF on exec tells the monitor */
	umask(umask_old);
	for (int i = 1; i < NSIG; i++)     /* SIG_IGN would survive execve */
		signal(i, SIG_DFL);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);

	const char *file = S.argv[0];
	int e = ENOENT;
	if (strchr(file, '/')) {
		execve(file, S.argv, S.env ? S.env : (char *[]){ NULL });
		e = errno;
	} else {
		const char *path = DEFAULT_PATH;
		for (size_t i = 0; i < S.nenv; i++)
			if (!strncmp(S.env[i], "PATH=", 5))
				path = S.env[i] + 5;
		int eacces = 0;
		for (const char *p = path;; p++) {
			const char *q = strchrnul(p, ':');
			char cand[PATH_MAX];
			int l = snprintf(cand, sizeof cand, "%.*s%s%s", (int)(q - p), p, q > p ? "/" : "", file);
			if (l > 0 && (size_t)l < sizeof cand) {
				execve(cand, S.argv, S.env ? S.env : (char *[]){ NULL });
				if (errno == EACCES)
					eacces = 1;
				else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENAMETOOLONG) {
					e = errno;
					break;
				}
			}
			if (!*q) {
				e = eacces ? EACCES : ENOENT;
				break;
			}
			p = q;
		}
	}
	emit("error exec %d exec %s: %s", e, file, strerror(e));
	_exit(128);
}

static _Noreturn void container_child(int sync_fd, int out_w, int err_w)
{
	g_on_fail = NULL;
	g_rep = sync_fd;
	int keep[3] = { sync_fd, out_w, err_w };
	close_fds_except(keep, 3);
	signal(SIGPIPE, SIG_DFL);           /* monitor gone during set-up: die */
	mode_t old = umask(0);
	setup();
	emit("ready");
	exec_child(sync_fd, out_w, err_w, old);
}

/* ------------------------------------------------------------- monitor */

struct stream { int fd; const char *name; char *buf; size_t len; };
struct conn { int fd; int kind; size_t len; char buf[256]; };
enum { C_READ, C_WAIT, C_START };

static pid_t g_child = -1;
static int g_sync = -1, g_lsock = -1, g_log = -1;
static int g_started, g_start_pending;
static long long g_t_go, g_started_ns;
static struct stat g_sock_st;
static struct stream g_st[2];
static char *g_rec;
static struct conn g_conns[MAXCONN];
static int g_nconn;

static void unlink_socket(void)
{
	struct stat st;
	if (g_lsock < 0)
		return;
	close(g_lsock);
	g_lsock = -1;
	/* only if the file is still ours */
	if (lstat(S.control, &st) == 0 && st.st_ino == g_sock_st.st_ino && st.st_dev == g_sock_st.st_dev)
		unlink(S.control);
}

static void monitor_fail_cleanup(void)
{
	if (g_child > 0) {
		kill(g_child, SIGKILL);
		while (waitpid(g_child, NULL, 0) < 0 && errno == EINTR)
			;
		g_child = -1;
	}
	unlink_socket();
}

static int open_log(void)
{
	if (!S.log)
		return 0;
	int fd = open(S.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	if (g_log >= 0)
		close(g_log);
	g_log = fd;
	return 0;
}

static void log_record(struct stream *s, char tag, const char *m, size_t n)
{
	if (g_log < 0)
		return;
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int h = snprintf(g_rec, 96, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ %s %c ",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	                 tm.tm_min, tm.tm_sec, ts.tv_nsec, s->name, tag);
	memcpy(g_rec + h, m, n);
	g_rec[(size_t)h + n] = '\n';
	write_all(g_log, g_rec, (size_t)h + n + 1);   /* nothing to do on failure */
}

/* Emit the complete lines in the buffer; P parts when a line is longer than
 * log_max; at EOF the rest as F. */
static void stream_consume(struct stream *s, int eof)
{
	size_t start = 0;
	char *nl;
	while ((nl = memchr(s->buf + start, '\n', s->len - start))) {
		log_record(s, 'F', s->buf + start, (size_t)(nl - (s->buf + start)));
		start = (size_t)(nl - s->buf) + 1;
	}
	while (s->len - start > S.log_max) {
		log_record(s, 'P', s->buf + start, S.log_max);
		start += S.log_max;
	}
	if (eof && s->len > start) {
		log_record(s, 'F', s->buf + start, s->len - start);
		start = s->len;
	}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
}

static void stream_read(struct stream *s)
{
	ssize_t r = read(s->fd, s->buf + s->len, S.log_max + 1 - s->len);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) {
		stream_consume(s, 1);
		close(s->fd);
		s->fd = -1;
		return;
	}
	s->len += (size_t)r;
	stream_consume(s, 0);
}

/* tmp + rename: a reader sees the old or the new record, never half. No fsync:
 * a power cut ends the container anyway, and a flush here would delay start. */
static int write_atomic(const char *name, const char *content)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	snprintf(dst, sizeof dst, "%s/%s", S.state_dir, name);
	snprintf(tmp, sizeof tmp, "%s/%s.tmp", S.state_dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write_all(fd, content, strlen(content)) < 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	return rename(tmp, dst);
}

static void reply(int fd, const char *fmt, ...)
{
	char b[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof b - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof b - 2)
		n = (int)sizeof b - 2;
	b[n++] = '\n';
	send(fd, b, (size_t)n, MSG_NOSIGNAL);
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* The sync socket spoke after "go": EOF = exec done, a message = failure. */
static void start_result(int blocking)
{
	char m[1024];
	ssize_t n;
	do
		n = recv(g_sync, m, sizeof m - 1, blocking ? 0 : MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	long long t = now_ns();
	struct conn *c = NULL;
	for (int i = 0; i < g_nconn; i++)
		if (g_conns[i].kind == C_START && g_conns[i].fd >= 0)
			c = &g_conns[i];
	g_start_pending = 0;
	close(g_sync);
	g_sync = -1;
	if (n <= 0) {
		char b[32];
		g_started = 1;
		g_started_ns = t;
		snprintf(b, sizeof b, "%lld\n", t);
		write_atomic("started", b);
		if (c)
			reply(c->fd, "phase exec %lld %lld 0 %s\nstarted %lld", g_t_go, t, S.argv[0], t);
	} else {
		m[n] = 0;
		m[strcspn(m, "\n")] = 0;
		int e = 0;
		sscanf(m, "error exec %d", &e);
		if (c)
			reply(c->fd, "phase exec %lld %lld %d %s\n%s", g_t_go, t, e, S.argv[0], m);
	}
	if (c)
		conn_close(c);
}

static void handle_request(struct conn *c)
{
	char *r = c->buf;
	int sig;
	char extra;
	r[strcspn(r, "\n")] = 0;
	if (!strcmp(r, "start")) {
		if (g_started || g_start_pending || g_sync < 0) {
			reply(c->fd, "error start %d already started", EALREADY);
		} else {
			g_t_go = now_ns();
			if (send(g_sync, "go", 2, MSG_NOSIGNAL) != 2) {
				reply(c->fd, "error start %d send go: %s", errno, strerror(errno));
			} else {
				g_start_pending = 1;
				c->kind = C_START;
				return;
			}
		}
	} else if (sscanf(r, "kill %d%c", &sig, &extra) == 1 && sig >= 0 && sig <= 64) {
		if (kill(g_child, sig) < 0 && errno != ESRCH)
			reply(c->fd, "error kill %d kill %d: %s", errno, sig, strerror(errno));
		else
			reply(c->fd, "ok");
	} else if (!strcmp(r, "wait")) {
		c->kind = C_WAIT;
		return;
	} else if (!strcmp(r, "reopen")) {
		if (open_log() < 0)
			reply(c->fd, "error reopen %d reopen %s: %s", errno, S.log, strerror(errno));
		else
			reply(c->fd, "ok");
	} else if (!strcmp(r, "state")) {
		reply(c->fd, "%s %d", g_started ? "running" : "created", (int)g_child);
	} else {
		reply(c->fd, "error request %d unknown request", EINVAL);
	}
	conn_close(c);
}

static void conn_event(struct conn *c)
{
	if (c->kind != C_READ) {
		char tmp[64];
		ssize_t n = recv(c->fd, tmp, sizeof tmp, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c);      /* client went away */
		return;
	}
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 && c->len == 0) {
		conn_close(c);
		return;
	}
	if (n > 0)
		c->len += (size_t)n;
	c->buf[c->len] = 0;
	if (n > 0 && !memchr(c->buf, '\n', c->len)) {
		if (c->len < sizeof c->buf - 1)
			return;     /* wait for the rest */
		reply(c->fd, "error request %d request too long", EINVAL);
		conn_close(c);
		return;
	}
	handle_request(c);
}

static void accept_conns(void)
{
	for (;;) {
		int fd = accept4(g_lsock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		if (g_nconn == MAXCONN) {
			reply(fd, "error request %d too many connections", EMFILE);
			close(fd);
			continue;
		}
		struct conn *c = &g_conns[g_nconn++];
		memset(c, 0, sizeof *c);
		c->fd = fd;
		c->kind = C_READ;
	}
}

static _Noreturn void child_exited(void)
{
	int st = 0;
	while (waitpid(g_child, &st, 0) < 0 && errno == EINTR)
		;
	long long fin = now_ns();
	if (g_start_pending)
		start_result(1);
	/* drain the log pipes; give up after 1 s (a left-over process may hold them) */
	long long deadline = fin + 1000000000LL;
	for (;;) {
		struct pollfd pf[2];
		int np = 0;
		for (int i = 0; i < 2; i++)
			if (g_st[i].fd >= 0)
				pf[np++] = (struct pollfd){ .fd = g_st[i].fd, .events = POLLIN };
		long long left = (deadline - now_ns()) / 1000000;
		if (np == 0 || left <= 0)
			break;
		int r = poll(pf, (nfds_t)np, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (int i = 0; i < 2; i++)
			for (int j = 0; j < np; j++)
				if (g_st[i].fd >= 0 && pf[j].fd == g_st[i].fd && pf[j].revents)
					stream_read(&g_st[i]);
	}
	for (int i = 0; i < 2; i++)
		if (g_st[i].fd >= 0)
			stream_consume(&g_st[i], 1);
	int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	int code = WIFSIGNALED(st) ? 128 + sig : WEXITSTATUS(st);
	char rec[128];
	snprintf(rec, sizeof rec, "%d %d %lld %lld\n", code, sig, g_started ? g_started_ns : 0LL, fin);
	write_atomic("exit", rec);
	for (int i = 0; i < g_nconn; i++)
		if (g_conns[i].fd >= 0 && g_conns[i].kind == C_WAIT)
			reply(g_conns[i].fd, "exited %d %d %lld", code, sig, fin);
	unlink_socket();
	_exit(0);
}

static _Noreturn void monitor_loop(int pidfd)
{
	for (;;) {
		struct pollfd pf[5 + MAXCONN];
		int np = 0, ist[2] = { -1, -1 }, il = -1, ip, isy = -1, ic = 0;
		for (int i = 0; i < 2; i++)
			if (g_st[i].fd >= 0) {
				ist[i] = np;
				pf[np++] = (struct pollfd){ .fd = g_st[i].fd, .events = POLLIN };
			}
		il = np;
		pf[np++] = (struct pollfd){ .fd = g_lsock, .events = POLLIN };
		ip = np;
		pf[np++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		if (g_start_pending) {
			isy = np;
			pf[np++] = (struct pollfd){ .fd = g_sync, .events = POLLIN };
		}
		ic = np;
		for (int i = 0; i < g_nconn; i++)
			pf[np++] = (struct pollfd){ .fd = g_conns[i].fd, .events = POLLIN };
		if (poll(pf, (nfds_t)np, -1) < 0)
			continue;
		for (int i = 0; i < 2; i++)
			if (ist[i] >= 0 && pf[ist[i]].revents)
				stream_read(&g_st[i]);
		if (isy >= 0 && pf[isy].revents)
			start_result(0);
		for (int i = 0; i < g_nconn; i++)
			if (g_conns[i].fd >= 0 && pf[ic + i].revents)
				conn_event(&g_conns[i]);
		int k = 0;
		for (int i = 0; i < g_nconn; i++)
			if (g_conns[i].fd >= 0)
				g_conns[k++] = g_conns[i];
		g_nconn = k;
		if (pf[il].revents)
			accept_conns();
		if (pf[ip].revents)
			child_exited();
	}
}

static _Noreturn void monitor_main(int rep_w)
{
	setsid();
	g_rep = rep_w;
	int keep[1] = { rep_w };
	close_fds_except(keep, 1);
	stdio_devnull();
	if (chdir("/") < 0)
		die("monitor", errno, "chdir /");
	signal(SIGPIPE, SIG_IGN);
	g_on_fail = monitor_fail_cleanup;

	if (open_log() < 0)
		die("log", errno, "open log %s", S.log);
	int outp[2], errp[2], sp[2];
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
		die("monitor", errno, "pipe");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		die("monitor", errno, "socketpair");

	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(S.control) >= sizeof sa.sun_path)
		die("control", ENAMETOOLONG, "control socket path %s", S.control);
	memcpy(sa.sun_path, S.control, strlen(S.control) + 1);
	int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ls < 0)
		die("control", errno, "socket");
	if (unlink(S.control) < 0 && errno != ENOENT)
		die("control", errno, "remove stale %s", S.control);
	if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("control", errno, "bind %s", S.control);
	g_lsock = ls;
	if (lstat(S.control, &g_sock_st) < 0 || chmod(S.control, 0600) < 0 || listen(ls, 32) < 0)
		die("control", errno, "listen %s", S.control);

	join_pidns();
	long long t0 = now_ns();
	pid_t pid = raw_clone(S.clone_flags);
	if (pid == 0) {
		close(sp[0]);
		container_child(sp[1], outp[1], errp[1]);
	}
	int e = pid < 0 ? errno : 0;
	phase("clone", t0, e, S.clone_str ? S.clone_str : "-");
	if (pid < 0)
		die("clone", e, "clone");
	g_child = pid;
	close(sp[1]);
	close(outp[1]);
	close(errp[1]);
	g_sync = sp[0];
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		die("monitor", errno, "pidfd_open");

	/* relay the child's set-up report; if the invoker goes away meanwhile
	 * (its end of the report pipe closes: POLLERR), roll everything back */
	for (;;) {
		char m[8192];
		struct pollfd pf[2] = { { .fd = g_sync, .events = POLLIN }, { .fd = rep_w, .events = 0 } };
		if (poll(pf, 2, -1) < 0)
			continue;
		if (pf[1].revents && !pf[0].revents) {
			monitor_fail_cleanup();
			_exit(1);
		}
		ssize_t n = recv(g_sync, m, sizeof m - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("setup", ECHILD, "child exited during set-up");
		m[n] = 0;
		m[strcspn(m, "\n")] = 0;
		if (!strcmp(m, "ready"))
			break;
		if (!strncmp(m, "error ", 6)) {
			monitor_fail_cleanup();
			emit("%s", m);
			_exit(1);
		}
		if (emit("%s", m) < 0) {    /* the invoker is gone: leave nothing behind */
			monitor_fail_cleanup();
			_exit(1);
		}
	}
	if (emit("created %d %d", (int)pid, (int)getpid()) < 0) {
		monitor_fail_cleanup();
		_exit(1);
	}
	close(rep_w);
	g_rep = -1;
	g_on_fail = NULL;

	g_rec = malloc(S.log_max + 128);
	g_st[0] = (struct stream){ outp[0], "stdout", malloc(S.log_max + 1), 0 };
	g_st[1] = (struct stream){ errp[0], "stderr", malloc(S.log_max + 1), 0 };
	if (!g_rec || !g_st[0].buf || !g_st[1].buf) {
		kill(pid, SIGKILL);     /* cannot log: nobody to tell, do not run blind */
		child_exited();
	}
	monitor_loop(pidfd);
}

/* ---------------------------------------------------------- sandbox infra */

static void nop_handler(int s) { (void)s; }

static _Noreturn void infra_main(int rep_w)
{
	setsid();
	g_rep = rep_w;
	int keep[1] = { rep_w };
	close_fds_except(keep, 1);
	stdio_devnull();
	if (chdir("/") < 0)
		die("infra", errno, "chdir /");
	/* As PID 1 of a pid namespace, signals without a handler are dropped:
	 * block them (blocked signals are never dropped) and take them with
	 * sigwaitinfo; the handlers are belt and braces. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = nop_handler;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	umask(0);
	setup();
	umask(022);
	emit("ready");
	close(rep_w);
	g_rep = -1;
	for (;;) {
		int s = sigwaitinfo(&set, NULL);
		if (s == SIGCHLD)
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		else if (s == SIGTERM || s == SIGINT)
			_exit(0);
	}
}

/* ----------------------------------------------------------------- main */

/* Copy report lines from RD to stdout until `created` / `ready` / EOF. */
static int relay(int rd, pid_t kid)
{
	char buf[16384];
	size_t len = 0;
	int err = 0;
	for (;;) {
		char *nl;
		while ((nl = memchr(buf, '\n', len))) {
			*nl = 0;
			if (!strcmp(buf, "ready")) {          /* sandbox: I is set up */
				emit("created %d %d", (int)kid, (int)kid);
				return 0;
			}
			emit("%s", buf);
			if (!strncmp(buf, "created ", 8))
				return 0;
			if (!strncmp(buf, "error ", 6))
				err = 1;
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
		if (len == sizeof buf)
			len = 0;    /* absurd line: drop it */
		ssize_t n = read(rd, buf + len, sizeof buf - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	while (waitpid(kid, NULL, 0) < 0 && errno == EINTR)
		;
	if (!err)
		emit("error %s %d %s exited without a report", S.container ? "monitor" : "infra", EIO,
		     S.container ? "monitor" : "infra process");
	return 1;
}

int main(int argc, char **argv)
{
	/* make sure 0..2 exist, so no pipe of ours lands on them */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0)
			stdio_devnull();
	signal(SIGPIPE, SIG_IGN);
	if (argc != 2 || (strcmp(argv[1], "container") && strcmp(argv[1], "sandbox")))
		die("usage", EINVAL, "usage: jailshim-shim container|sandbox");
	S.container = !strcmp(argv[1], "container");
	read_spec();

	int rep[2];
	if (pipe2(rep, O_CLOEXEC) < 0)
		die("pipe", errno, "pipe");
	pid_t kid;
	if (S.container) {
		kid = fork();
		if (kid < 0)
			die("fork", errno, "fork monitor");
		if (kid == 0) {
			close(rep[0]);
			monitor_main(rep[1]);
		}
	} else {
		join_pidns();
		long long t0 = now_ns();
		kid = raw_clone(S.clone_flags);
		if (kid == 0) {
			close(rep[0]);
			signal(SIGPIPE, SIG_DFL);
			infra_main(rep[1]);
		}
		int e = kid < 0 ? errno : 0;
		phase("clone", t0, e, S.clone_str ? S.clone_str : "-");
		if (kid < 0)
			die("clone", e, "clone");
	}
	close(rep[1]);
	return relay(rep[0], kid);
}
