/*
 * Tests for src/core/fileio.c: whole reads and writes through short calls
 * and EINTR, a read's early end and failure, atomic replacement, and every
 * failing step (write, fsync, close, rename) leaving the old file as it was
 * and no temporary file behind.
 *
 * The system calls of fileio.c are wrapped at link time (-Wl,--wrap=write,
 * see tests/unit/meson.build): each wrapper passes the call on unless the
 * test asked for a short read or write, an EINTR, an early end of file or a
 * failure at a given call.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nfsentry/fault.h"
#include "nfsentry/fileio.h"

ssize_t __real_read(int fd, void *p, size_t n);
ssize_t __wrap_read(int fd, void *p, size_t n);
ssize_t __real_write(int fd, const void *p, size_t n);
int __real_fsync(int fd);
int __real_rename(const char *from, const char *to);
int __real_close(int fd);
ssize_t __wrap_write(int fd, const void *p, size_t n);
int __wrap_fsync(int fd);
int __wrap_rename(const char *from, const char *to);
int __wrap_close(int fd);

/* What the wrappers do: counts of calls, and the faults asked for. */
static struct {
	size_t read_max;    /* 0: pass n on; else at most this many bytes a call */
	bool read_eintr;    /* every other read fails with EINTR first */
	unsigned read_fail; /* the read numbered so (from 1) fails with fail_errno */
	unsigned read_eof;  /* the read numbered so (from 1) returns 0 (end of file) */
	unsigned reads;
	size_t write_max;    /* 0: pass n on; else at most this many bytes a call */
	bool write_eintr;    /* every other write fails with EINTR first */
	unsigned write_fail; /* the write numbered so (from 1) fails with fail_errno */
	unsigned fsync_fail, rename_fail, close_fail;
	int fail_errno;
	unsigned writes, fsyncs, renames, closes;
} w;

static _Thread_local bool eintr_next = true;

ssize_t __wrap_read(int fd, void *p, size_t n)
{
	w.reads++;
	if (w.read_fail && w.reads == w.read_fail) {
		errno = w.fail_errno;
		return -1;
	}
	if (w.read_eof && w.reads == w.read_eof)
		return 0;
	if (w.read_eintr) {
		eintr_next = !eintr_next;
		if (!eintr_next) {
			errno = EINTR;
			return -1;
		}
	}
	if (w.read_max && n > w.read_max)
		n = w.read_max;
	return __real_read(fd, p, n);
}

ssize_t __wrap_write(int fd, const void *p, size_t n)
{
	w.writes++;
	if (w.write_fail && w.writes == w.write_fail) {
		errno = w.fail_errno;
		return -1;
	}
	if (w.write_eintr) {
		eintr_next = !eintr_next;
		if (!eintr_next) {
			errno = EINTR;
			return -1;
		}
	}
	if (w.write_max && n > w.write_max)
		n = w.write_max;
	return __real_write(fd, p, n);
}

int __wrap_fsync(int fd)
{
	w.fsyncs++;
	if (w.fsync_fail && w.fsyncs == w.fsync_fail) {
		errno = w.fail_errno;
		return -1;
	}
	return __real_fsync(fd);
}

int __wrap_rename(const char *from, const char *to)
{
	w.renames++;
	if (w.rename_fail && w.renames == w.rename_fail) {
		errno = w.fail_errno;
		return -1;
	}
	return __real_rename(from, to);
}

int __wrap_close(int fd)
{
	w.closes++;
	if (w.close_fail && w.closes == w.close_fail) {
		__real_close(fd); /* a failed close still frees the descriptor */
		errno = w.fail_errno;
		return -1;
	}
	return __real_close(fd);
}

static char dir[64], path[128], tmp[160];

static int setup(void **state)
{
	(void)state;
	memset(&w, 0, sizeof(w));
	eintr_next = true;
	snprintf(dir, sizeof(dir), "/tmp/nfs_fileio_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/file", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	unlink(tmp);
	return rmdir(dir);
}

/* The file's whole content into buf (NUL-terminated); its length, or -1 if absent. */
static ssize_t slurp(const char *p, char *buf, size_t len)
{
	int fd = open(p, O_RDONLY);
	size_t got = 0;

	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t r = __real_read(fd, buf + got, len - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	__real_close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

static void put_old(void)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("old content", f);
	assert_int_equal(fclose(f), 0);
}

static void assert_old_kept(void)
{
	char buf[64];

	assert_int_equal(slurp(path, buf, sizeof(buf)), 11);
	assert_string_equal(buf, "old content");
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(errno, ENOENT);
}

/* Short writes and EINTR: every byte arrives, in the number of calls they take. */
static void test_write_all_short_eintr(void **state)
{
	(void)state;
	char buf[64];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	w.write_max = 3;
	w.write_eintr = true;
	assert_int_equal(fileio_write_all(fd, "0123456789", 10), 0);
	/* 4 writes of 3, 3, 3, 1 bytes, each after one EINTR. */
	assert_int_equal(w.writes, 8);
	__real_close(fd);
	assert_int_equal(slurp(path, buf, sizeof(buf)), 10);
	assert_string_equal(buf, "0123456789");

	/* Nothing to write: no call. */
	w.writes = 0;
	assert_int_equal(fileio_write_all(-1, "", 0), 0);
	assert_int_equal(w.writes, 0);
	/* A failing write: its errno. */
	assert_int_equal(fileio_write_all(-1, "x", 1), -EBADF);
}

/* Short reads and EINTR: every byte arrives, in the number of calls they take. */
static void test_read_exact_short_eintr(void **state)
{
	(void)state;
	char buf[16];

	put_old();
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	w.read_max = 3;
	w.read_eintr = true;
	memset(buf, 0, sizeof(buf));
	assert_int_equal(fileio_read_exact(fd, buf, 10), 0);
	/* 4 reads of 3, 3, 3, 1 bytes, each after one EINTR. */
	assert_int_equal(w.reads, 8);
	assert_string_equal(buf, "old conten");
	/* One byte left: asking for two meets the end of the file. */
	assert_int_equal(fileio_read_exact(fd, buf, 2), -EBADMSG);
	assert_int_equal(buf[0], 't');
	__real_close(fd);

	/* Nothing to read: no call. */
	w.reads = 0;
	assert_int_equal(fileio_read_exact(-1, buf, 0), 0);
	assert_int_equal(w.reads, 0);
	/* A failing read: its errno, also after a short read. */
	assert_int_equal(fileio_read_exact(-1, buf, 1), -EBADF);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	w.read_eintr = false;
	w.reads = 0;
	w.read_fail = 2;
	w.fail_errno = EIO;
	assert_int_equal(fileio_read_exact(fd, buf, 10), -EIO);
	assert_int_equal(w.reads, 2);
	__real_close(fd);
}

/*
 * A whole file: its bytes and a NUL after them, through short reads and
 * EINTR; each way to fail returns its code, *out NULL and the file closed.
 */
static void test_read_all(void **state)
{
	(void)state;
	char *got = NULL, *sentinel = (char *)&got;
	size_t len = 0;

	put_old();
	w.read_max = 4;
	w.read_eintr = true;
	assert_int_equal(fileio_read_all(path, 11, &got, &len), 0);
	assert_int_equal(len, 11);
	assert_memory_equal(got, "old content", 12); /* the NUL included */
	assert_int_equal(w.reads, 6);                /* 4, 4, 3 bytes, each after one EINTR */
	assert_int_equal(w.closes, 1);
	free(got);
	w.read_eintr = false;

	/* One byte over the cap; no read, closed. */
	w.reads = w.closes = 0;
	got = sentinel;
	assert_int_equal(fileio_read_all(path, 10, &got, &len), -EFBIG);
	assert_null(got);
	assert_int_equal(w.reads, 0);
	assert_int_equal(w.closes, 1);

	/* Shrunk while read: the end of the file before its size. */
	w.closes = 0;
	w.read_eof = 2;
	got = sentinel;
	assert_int_equal(fileio_read_all(path, 100, &got, &len), -EBADMSG);
	assert_null(got);
	assert_int_equal(w.closes, 1);
	w.read_eof = 0;

	/* A failing read: its errno. */
	w.reads = w.closes = 0;
	w.read_fail = 1;
	w.fail_errno = EIO;
	got = sentinel;
	assert_int_equal(fileio_read_all(path, 100, &got, &len), -EIO);
	assert_null(got);
	assert_int_equal(w.closes, 1);
	w.read_fail = 0;

	/* No memory for the buffer. */
	w.closes = 0;
	got = sentinel;
	fault_arm(0, FAULT_ONCE);
	assert_int_equal(fileio_read_all(path, 100, &got, &len), -ENOMEM);
	assert_int_equal(fault_count(), 1);
	fault_disarm();
	assert_null(got);
	assert_int_equal(w.closes, 1);

	/* Not a regular file; not there. */
	got = sentinel;
	assert_int_equal(fileio_read_all(dir, 100, &got, &len), -EINVAL);
	assert_null(got);
	got = sentinel;
	assert_int_equal(fileio_read_all(tmp, 100, &got, &len), -ENOENT);
	assert_null(got);

	/* Empty: a buffer holding the NUL only; len may be left out. */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(fileio_read_all(path, 0, &got, NULL), 0);
	assert_non_null(got);
	assert_int_equal(got[0], '\0');
	free(got);
}

/* A replacement through short writes: the new file, its mode, two fsyncs, no temporary. */
static void test_replace_write(void **state)
{
	(void)state;
	char buf[64];
	struct stat st;
	mode_t old = umask(0);

	put_old();
	w.write_max = 2;
	w.write_eintr = true;
	assert_int_equal(fileio_replace_write(path, 0640, "new content!", 12), 0);
	umask(old);
	assert_int_equal(w.writes, 12);
	assert_int_equal(w.fsyncs, 2); /* the file, then its directory */
	assert_int_equal(w.renames, 1);
	assert_int_equal(slurp(path, buf, sizeof(buf)), 12);
	assert_string_equal(buf, "new content!");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(access(tmp, F_OK), -1);

	/* A file that did not exist yet. */
	unlink(path);
	assert_int_equal(fileio_replace_write(path, 0600, "", 0), 0);
	assert_int_equal(slurp(path, buf, sizeof(buf)), 0);
}

/* Each failing step: its errno, the old file as it was, no temporary file. */
static void test_replace_failures(void **state)
{
	(void)state;

	/* Which call fails (its number from 1), with which errno, and the renames tried. */
	static const struct {
		unsigned write, fsync, close, rename;
		int err;
		unsigned renames;
	} steps[] = {
	    {.write = 2, .err = ENOSPC}, /* after a first part was written */
	    {.fsync = 1, .err = EIO},
	    {.close = 1, .err = EDQUOT},
	    {.rename = 1, .err = EXDEV, .renames = 1},
	};

	put_old();
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		memset(&w, 0, sizeof(w));
		w.write_max = 4;
		w.write_fail = steps[k].write;
		w.fsync_fail = steps[k].fsync;
		w.close_fail = steps[k].close;
		w.rename_fail = steps[k].rename;
		w.fail_errno = steps[k].err;
		assert_int_equal(fileio_replace_write(path, 0600, "new content!", 12),
		                 -steps[k].err);
		assert_int_equal(w.renames, steps[k].renames);
		/* The directory is fsync'ed only after a rename. */
		assert_int_equal(w.fsyncs, steps[k].fsync ? 1 : steps[k].write ? 0 : 1);
		assert_old_kept();
	}

	/* The directory's fsync failing: the file is replaced all the same. */
	memset(&w, 0, sizeof(w));
	w.fail_errno = EIO;
	w.fsync_fail = 2;
	assert_int_equal(fileio_replace_write(path, 0600, "new", 3), 0);
	assert_int_equal(w.fsyncs, 2);
	char buf[16];
	assert_int_equal(slurp(path, buf, sizeof(buf)), 3);
	assert_int_equal(access(tmp, F_OK), -1);
}

/* Refusals before anything is created. */
static void test_replace_bad_paths(void **state)
{
	(void)state;
	struct fileio_replace r;
	static char longp[PATH_MAX];

	/* PATH_MAX - 4 bytes: the temporary name would not fit. */
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[PATH_MAX - 4] = '\0';
	assert_int_equal(fileio_replace_open(&r, longp, 0600), -ENAMETOOLONG);
	assert_int_equal(r.fd, -1);
	assert_int_equal(fileio_replace_open(&r, "", 0600), -ENOENT);
	assert_int_equal(fileio_replace_fopen(&r, "", 0600), -ENOENT);
	assert_null(r.f);
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/no/such", dir);
	assert_int_equal(fileio_replace_write(missing, 0600, "x", 1), -ENOENT);
	assert_int_equal(w.writes, 0);
}

/* Through the stream: the old file stays whole until the commit; abort leaves it too. */
static void test_replace_stream(void **state)
{
	(void)state;
	struct fileio_replace r;
	char buf[64];

	put_old();
	assert_int_equal(fileio_replace_fopen(&r, path, 0644), 0);
	FILE *f = r.f;
	assert_non_null(f);
	fprintf(f, "line %d\n", 1);
	fflush(f);
	/* Written but not committed: a reader sees the old file. */
	assert_int_equal(slurp(path, buf, sizeof(buf)), 11);
	assert_string_equal(buf, "old content");
	fprintf(f, "line %d\n", 2);
	assert_int_equal(fileio_replace_commit(&r), 0);
	assert_int_equal(slurp(path, buf, sizeof(buf)), 14);
	assert_string_equal(buf, "line 1\nline 2\n");
	assert_int_equal(access(tmp, F_OK), -1);

	/* Abort: the temporary file goes, the file stays. */
	assert_int_equal(fileio_replace_fopen(&r, path, 0644), 0);
	assert_int_equal(access(tmp, F_OK), 0);
	fputs("never", r.f);
	fileio_replace_abort(&r);
	assert_int_equal(slurp(path, buf, sizeof(buf)), 14);
	assert_int_equal(access(tmp, F_OK), -1);

	/* Finish with a failed content: that error, as an abort. */
	assert_int_equal(fileio_replace_fopen(&r, path, 0644), 0);
	fputs("never", r.f);
	assert_int_equal(fileio_replace_finish(&r, -EMSGSIZE), -EMSGSIZE);
	assert_int_equal(w.renames, 1);
	assert_int_equal(slurp(path, buf, sizeof(buf)), 14);
	assert_int_equal(access(tmp, F_OK), -1);
	/* Finish with 0: the commit. */
	assert_int_equal(fileio_replace_fopen(&r, path, 0644), 0);
	fputs("finished", r.f);
	assert_int_equal(fileio_replace_finish(&r, 0), 0);
	assert_int_equal(slurp(path, buf, sizeof(buf)), 8);
	assert_string_equal(buf, "finished");

	/* A stream that failed at a write it has forgotten the errno of: -EIO. */
	assert_int_equal(fileio_replace_fopen(&r, path, 0644), 0);
	fputs("lost", r.f);
	__real_close(r.fd);
	fflush(r.f); /* fails: EBADF, and the stream's error flag set */
	errno = 0;
	assert_int_equal(fileio_replace_commit(&r), -EIO);
	assert_string_equal((slurp(path, buf, sizeof(buf)), buf), "finished");
	assert_int_equal(access(tmp, F_OK), -1);

	/* A stream whose flush fails (at the commit): its errno, the file as it was. */
	assert_int_equal(fileio_replace_fopen(&r, path, 0644), 0);
	fputs("lost", r.f);
	__real_close(r.fd); /* the flush's write now fails with EBADF */
	assert_int_equal(fileio_replace_commit(&r), -EBADF);
	assert_int_equal(slurp(path, buf, sizeof(buf)), 8);
	assert_string_equal(buf, "finished");
	assert_int_equal(access(tmp, F_OK), -1);
}

/*
 * A reader polling the file while it is replaced over and over (each new
 * version written in many small writes) sees one whole version every time.
 */
#define BIG 65536
static atomic_bool stop;
static atomic_uint torn, reads;

static void *reader(void *arg)
{
	(void)arg;
	static char buf[BIG + 1];

	while (!atomic_load(&stop)) {
		ssize_t n = slurp(path, buf, sizeof(buf));
		if (n < 0)
			continue;
		atomic_fetch_add(&reads, 1);
		bool whole = n == BIG;
		for (size_t i = 1; whole && i < BIG; i++)
			whole = buf[i] == buf[0];
		if (!whole)
			atomic_fetch_add(&torn, 1);
	}
	return NULL;
}

static void test_reader_never_sees_part(void **state)
{
	(void)state;
	static char a[BIG], b[BIG];
	pthread_t t;

	memset(a, 'a', BIG);
	memset(b, 'b', BIG);
	assert_int_equal(fileio_replace_write(path, 0600, a, BIG), 0);
	w.write_max = 1024;
	atomic_store(&stop, false);
	assert_int_equal(pthread_create(&t, NULL, reader, NULL), 0);
	/* Both at work together: at least 40 versions and 200 reads (a bound on the versions). */
	while (atomic_load(&reads) == 0)
		usleep(100);
	int i;
	for (i = 0; i < 5000 && (i < 40 || atomic_load(&reads) < 200); i++)
		assert_int_equal(fileio_replace_write(path, 0600, i % 2 ? a : b, BIG), 0);
	assert_true(i < 5000);
	atomic_store(&stop, true);
	pthread_join(t, NULL);
	assert_int_equal(atomic_load(&torn), 0);
	assert_int_equal(access(tmp, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_all_short_eintr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_exact_short_eintr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace_failures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace_bad_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace_stream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reader_never_sees_part, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
