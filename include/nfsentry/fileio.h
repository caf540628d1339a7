/*
 * fileio: reading and writing a file whole. fileio_write_all() writes a
 * buffer to a descriptor through short writes and EINTR, fileio_read_exact()
 * reads a given number of bytes the same way, and fileio_read_all() reads a
 * regular file whole into memory, within a size cap; fileio_replace_*() write
 * a new version of a file under a temporary name beside it and rename it
 * over the old one, so that a reader (or a restart after a crash) sees the
 * old file or the new one, never a part of either (docs/internals/fileio.md).
 *
 * The temporary name is path + FILEIO_TMP_SUFFIX, in the same directory (a
 * rename is atomic only within one file system). A leftover from a crash is
 * truncated by the next write of the same file.
 *
 * Not here: what goes into the files (each module's own format, its
 * parsing when read back), files that are appended to (the Elasticsearch
 * dead letters).
 */
#ifndef NFSENTRY_FILEIO_H
#define NFSENTRY_FILEIO_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define FILEIO_TMP_SUFFIX ".tmp"

/*
 * Write all n bytes of p to fd, retrying short writes and EINTR. Returns 0
 * or -errno of the failing write (then an unknown prefix was written).
 * Borrows p.
 */
int fileio_write_all(int fd, const void *p, size_t n);

/*
 * Read exactly n bytes from fd into p, retrying short reads and EINTR.
 * Returns 0; -EBADMSG when the file ends first; or -errno of the failing
 * read. On error an unknown prefix of p was filled and fd's offset is
 * somewhere in the n bytes. Borrows p.
 */
int fileio_read_exact(int fd, void *p, size_t n);

/*
 * Read the regular file at path whole (open O_RDONLY | O_CLOEXEC, its size
 * taken from fstat()) into a new buffer of size + 1 bytes with a NUL after
 * the content, so that text can be used as a string; *out is the caller's
 * to free(), *len (when not NULL) the size. A file that grows while it is
 * read is cut at the size it had. Returns 0; -errno of open(), fstat() or
 * read(); -EINVAL when path is not a regular file; -EFBIG when it is larger
 * than max_bytes; -ENOMEM (the buffer comes from fault_malloc()); -EBADMSG
 * when it shrank while read. On error *out is NULL and nothing is held.
 */
int fileio_read_all(const char *path, size_t max_bytes, char **out, size_t *len);

/*
 * A file being replaced: the caller embeds it (usually on the stack),
 * fileio_replace_open() fills it, and exactly one of fileio_replace_commit()
 * (or fileio_replace_finish()) or fileio_replace_abort() releases it. Write
 * through fd, or through f when fileio_replace_fopen() made it (not both);
 * close neither.
 */
struct fileio_replace {
	int fd;                 /* the temporary file, open read-write */
	FILE *f;                /* its stream (fileio_replace_fopen), else NULL; owned here */
	char path[PATH_MAX];    /* the file to replace */
	char tmp[PATH_MAX + 8]; /* path + FILEIO_TMP_SUFFIX */
};

/*
 * Create (or truncate) path + FILEIO_TMP_SUFFIX with the given mode (before
 * the umask), O_CLOEXEC. path is copied. Returns 0, -ENOENT (empty path),
 * -ENAMETOOLONG (path of PATH_MAX - 4 bytes or more) or -errno of open();
 * on error r holds nothing
 * and needs no release. The file at path is not touched until the commit.
 */
int fileio_replace_open(struct fileio_replace *r, const char *path, mode_t mode);

/*
 * fileio_replace_open() with a stdio stream over the temporary file in
 * r->f, owned by r (the commit flushes and closes it). Returns 0 or as
 * fileio_replace_open(), or -errno of fdopen(); on error r holds nothing.
 */
int fileio_replace_fopen(struct fileio_replace *r, const char *path, mode_t mode);

/*
 * Finish the replacement: flush the stream (if any), fsync the temporary
 * file, close it, rename it over path, then fsync the directory so that the
 * rename survives a power cut. Releases r in every case. Returns 0, or
 * -errno of the first step that failed (-EIO when a stream reports an error
 * without errno); on error the temporary file is removed and the file at
 * path is as it was. The directory fsync is best effort: once the rename is
 * done the new file is in place and the function returns 0.
 */
int fileio_replace_commit(struct fileio_replace *r);

/* Give up: close and remove the temporary file; path is untouched. Releases r. */
void fileio_replace_abort(struct fileio_replace *r);

/*
 * The end of a replacement whose content came out as rc: commit when rc
 * is 0, else abort and return rc. For `return fileio_replace_finish(&r,
 * write_it(r.f));`.
 */
int fileio_replace_finish(struct fileio_replace *r, int rc);

/*
 * The whole replacement in one call: open, fileio_write_all(buf, n),
 * commit. Borrows buf. Returns 0 or the first step's error, as above; on
 * error no temporary file remains and path is as it was.
 */
int fileio_replace_write(const char *path, mode_t mode, const void *buf, size_t n);

#endif
