/*
 * fileio: whole reads, whole writes and atomic file replacement. See fileio.h and
 * docs/internals/fileio.md.
 */
#include "nfsentry/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nfsentry/fault.h"

int fileio_write_all(int fd, const void *p, size_t n)
{
	const char *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int fileio_read_exact(int fd, void *p, size_t n)
{
	char *b = p;

	while (n) {
		ssize_t r = read(fd, b, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EBADMSG;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

int fileio_read_all(const char *path, size_t max_bytes, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode)) /* its st_size is not what a read gives */
		rc = -EINVAL;
	else if (st.st_size < 0 || (uint64_t)st.st_size > max_bytes ||
	         (uint64_t)st.st_size >= SIZE_MAX)
		rc = -EFBIG;
	else if (!(buf = fault_malloc((n = (size_t)st.st_size) + 1)))
		rc = -ENOMEM;
	else if ((rc = fileio_read_exact(fd, buf, n)) != 0) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	if (rc != 0)
		return rc;
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

int fileio_replace_open(struct fileio_replace *r, const char *path, mode_t mode)
{
	size_t n = strlen(path);

	r->fd = -1;
	r->f = NULL;
	if (n == 0)
		return -ENOENT;
	if (n + sizeof(FILEIO_TMP_SUFFIX) > sizeof(r->path))
		return -ENAMETOOLONG;
	memcpy(r->path, path, n + 1);
	memcpy(r->tmp, path, n);
	memcpy(r->tmp + n, FILEIO_TMP_SUFFIX, sizeof(FILEIO_TMP_SUFFIX));
	r->fd = open(r->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	return r->fd < 0 ? -errno : 0;
}

int fileio_replace_fopen(struct fileio_replace *r, const char *path, mode_t mode)
{
	int rc = fileio_replace_open(r, path, mode);

	if (rc == 0 && !(r->f = fdopen(r->fd, "w"))) {
		rc = -errno;
		fileio_replace_abort(r);
	}
	return rc;
}

/* Close the temporary file (its stream, if any); 0 or -errno. */
static int tmp_close(struct fileio_replace *r)
{
	int rc = r->f ? fclose(r->f) : close(r->fd);

	r->f = NULL;
	r->fd = -1;
	return rc != 0 ? -errno : 0;
}

/* fsync the directory holding r->path; best effort (see fileio.h). */
static void dir_sync(struct fileio_replace *r)
{
	char *slash = strrchr(r->path, '/');
	const char *dir = ".";

	if (slash == r->path)
		dir = "/";
	else if (slash) {
		*slash = '\0'; /* r->path is not needed after the rename */
		dir = r->path;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int fileio_replace_commit(struct fileio_replace *r)
{
	int rc = 0;

	/* A stream may have failed at an earlier write and kept no errno for it. */
	if (r->f) {
		errno = 0;
		if (fflush(r->f) != 0 || ferror(r->f))
			rc = errno ? -errno : -EIO;
	}
	if (rc == 0 && fsync(r->fd) != 0)
		rc = -errno;
	int crc = tmp_close(r);
	if (rc == 0)
		rc = crc;
	if (rc == 0 && rename(r->tmp, r->path) != 0)
		rc = -errno;
	if (rc != 0) {
		unlink(r->tmp);
		return rc;
	}
	dir_sync(r);
	return 0;
}

void fileio_replace_abort(struct fileio_replace *r)
{
	tmp_close(r);
	unlink(r->tmp);
}

int fileio_replace_finish(struct fileio_replace *r, int rc)
{
	if (rc == 0)
		return fileio_replace_commit(r);
	fileio_replace_abort(r);
	return rc;
}

int fileio_replace_write(const char *path, mode_t mode, const void *buf, size_t n)
{
	struct fileio_replace r;
	int rc = fileio_replace_open(&r, path, mode);

	if (rc != 0)
		return rc;
	return fileio_replace_finish(&r, fileio_write_all(r.fd, buf, n));
}
