/*
 * spool: slot files for slots the store could not write. See spool.h and
 * docs/internals/store.md ("The spool").
 */
#include "nfsentry/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nfsentry/fault.h"
#include "nfsentry/fileio.h"

#define SPOOL_MAGIC "nfsentry-spool 1\n"
#define STORE_ERR_TEXT 600
#define SPOOL_SUFFIX ".slot"
/* 20 digits, '-', site in hex, '-', 20 digits, ".slot", NUL. */
#define SPOOL_NAME_MAX (20 + 1 + 2 * STORE_SITE_MAX + 1 + 20 + sizeof(SPOOL_SUFFIX) + 8)

struct spool {
	uint64_t max_bytes;
	struct spool_stats st;
	char dir[]; /* as given */
};

/* Is name one of our slot files? */
static bool is_slot_file(const char *name)
{
	size_t n = strlen(name), k = sizeof(SPOOL_SUFFIX) - 1;

	return n > k + 21 && strcmp(name + n - k, SPOOL_SUFFIX) == 0 && name[20] == '-';
}

static bool is_tmp_file(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && strcmp(name + n - 4, ".tmp") == 0;
}

static int path_of(const struct spool *sp, const char *name, char *out, size_t len)
{
	int k = snprintf(out, len, "%s/%s", sp->dir, name);

	return k < 0 || (size_t)k >= len ? -ENAMETOOLONG : 0;
}

int spool_open(const char *dir, uint64_t max_bytes, struct spool **out, char *err, size_t errlen)
{
	struct spool *sp;
	size_t dlen;
	DIR *d;
	struct dirent *de;

	*out = NULL;
	if (!dir || !dir[0] || (dlen = strlen(dir)) >= PATH_MAX - SPOOL_NAME_MAX) {
		snprintf(err, errlen, "spool: no directory given, or its path is too long");
		return -EINVAL;
	}
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		int e = errno;
		snprintf(err, errlen, "spool %s: cannot create the directory: %s", dir,
		         strerror(e));
		return -e;
	}
	sp = fault_calloc(1, sizeof(*sp) + dlen + 1);
	if (!sp) {
		snprintf(err, errlen, "spool %s: out of memory", dir);
		return -ENOMEM;
	}
	memcpy(sp->dir, dir, dlen + 1);
	sp->max_bytes = max_bytes ? max_bytes : SPOOL_MAX_BYTES_DEFAULT;
	d = opendir(dir);
	if (!d) {
		int e = errno;
		snprintf(err, errlen, "spool %s: cannot read the directory: %s", dir, strerror(e));
		free(sp);
		return -e;
	}
	while ((de = readdir(d))) {
		char p[PATH_MAX];
		struct stat stt;
		if (path_of(sp, de->d_name, p, sizeof(p)) != 0)
			continue;
		if (is_tmp_file(de->d_name)) {
			unlink(p); /* an interrupted write: never renamed, never counted */
			continue;
		}
		if (!is_slot_file(de->d_name) || stat(p, &stt) != 0 || !S_ISREG(stt.st_mode))
			continue;
		sp->st.slots++;
		sp->st.bytes += (uint64_t)stt.st_size;
	}
	closedir(d);
	*out = sp;
	return 0;
}

void spool_close(struct spool *sp)
{
	free(sp);
}

const char *spool_dir(const struct spool *sp)
{
	return sp->dir;
}

void spool_stats_get(const struct spool *sp, struct spool_stats *st)
{
	*st = sp->st;
}

/* "TIMESLOT-SITEHEX-" into out: the prefix of every file of (site, slot). */
static void name_prefix(char *out, size_t len, const char *site, int64_t time_slot)
{
	int k = snprintf(out, len, "%020" PRId64 "-", time_slot);

	for (const unsigned char *p = (const unsigned char *)site; *p && k + 3 < (int)len; p++)
		k += snprintf(out + k, len - (size_t)k, "%02x", *p);
	snprintf(out + k, len - (size_t)k, "-");
}

/* Remove every file of the prefix but keep; adjusts the gauges. */
static void remove_older(struct spool *sp, const char *prefix, const char *keep)
{
	DIR *d = opendir(sp->dir);
	struct dirent *de;
	size_t plen = strlen(prefix);

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[PATH_MAX];
		struct stat stt;
		if (strncmp(de->d_name, prefix, plen) != 0 || !is_slot_file(de->d_name) ||
		    strcmp(de->d_name, keep) == 0 || path_of(sp, de->d_name, p, sizeof(p)) != 0 ||
		    stat(p, &stt) != 0 || unlink(p) != 0)
			continue;
		sp->st.slots--;
		sp->st.bytes -= (uint64_t)stt.st_size;
	}
	closedir(d);
}

/* Bytes of the header and of one document record (see write_file). */
static size_t header_bytes(const char *site, int64_t time_slot, const struct store_slot_info *info,
                           int64_t spooled_s, size_t n)
{
	char b[256];

	return sizeof(SPOOL_MAGIC) - 1 +
	       (size_t)snprintf(b, sizeof(b), "site %zu\n", strlen(site)) + strlen(site) + 1 +
	       (size_t)snprintf(b, sizeof(b), "slot %" PRId64 " %" PRId64 " %d %" PRId64 " %zu\n",
	                        time_slot, info ? info->closed_at_s : 0,
	                        info && info->partial ? 1 : 0, spooled_s, n) +
	       sizeof("end\n") - 1;
}

static size_t doc_bytes(const struct store_doc *d)
{
	char b[96];

	return (size_t)snprintf(b, sizeof(b), "%zu %zu %zu\n", strlen(d->kind), strlen(d->key),
	                        d->json_len) +
	       strlen(d->kind) + strlen(d->key) + d->json_len + 1;
}

/* Write the file's content to f; a nonzero return is a failed write. */
static int write_content(FILE *f, const char *site, int64_t time_slot,
                         const struct store_slot_info *info, int64_t spooled_s,
                         const struct store_doc *docs, size_t n)
{
	fputs(SPOOL_MAGIC, f);
	fprintf(f, "site %zu\n%s\n", strlen(site), site);
	fprintf(f, "slot %" PRId64 " %" PRId64 " %d %" PRId64 " %zu\n", time_slot,
	        info ? info->closed_at_s : 0, info && info->partial ? 1 : 0, spooled_s, n);
	for (size_t i = 0; i < n; i++) {
		const struct store_doc *d = &docs[i];
		fprintf(f, "%zu %zu %zu\n%s%s", strlen(d->kind), strlen(d->key), d->json_len,
		        d->kind, d->key);
		fwrite(d->json, 1, d->json_len, f);
		fputc('\n', f);
	}
	fputs("end\n", f);
	return ferror(f) ? -1 : 0;
}

int spool_slot_put(struct spool *sp, const char *site, int64_t time_slot,
                   const struct store_slot_info *info, const struct store_doc *docs, size_t n,
                   char *path, size_t pathlen, char *err, size_t errlen)
{
	char name[2 * SPOOL_NAME_MAX], prefix[SPOOL_NAME_MAX], fin[PATH_MAX];
	struct fileio_replace fr;
	struct timespec ts;
	uint64_t bytes;
	int e;

	if (path && pathlen)
		path[0] = '\0';
	if (!site || !site[0] || strlen(site) >= STORE_SITE_MAX || time_slot < 0 || (n && !docs)) {
		snprintf(err, errlen, "spool %s: bad site or slot", sp->dir);
		return -EINVAL;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	bytes = header_bytes(site, time_slot, info, (int64_t)ts.tv_sec, n);
	for (size_t i = 0; i < n; i++)
		bytes += doc_bytes(&docs[i]);
	if (sp->st.bytes + bytes > sp->max_bytes) {
		snprintf(err, errlen,
		         "spool %s: full (%" PRIu64 " of %" PRIu64 " bytes in %" PRIu64
		         " slots; this slot needs %" PRIu64 ")",
		         sp->dir, sp->st.bytes, sp->max_bytes, sp->st.slots, bytes);
		return -ENOSPC;
	}
	name_prefix(prefix, sizeof(prefix), site, time_slot);
	int k = snprintf(name, sizeof(name), "%s%020" PRIu64 "%s", prefix,
	                 (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, SPOOL_SUFFIX);
	if (k < 0 || (size_t)k >= sizeof(name) || path_of(sp, name, fin, sizeof(fin)) != 0) {
		snprintf(err, errlen, "spool %s: path too long", sp->dir);
		return -ENAMETOOLONG;
	}
	e = fileio_replace_fopen(&fr, fin, 0640);
	if (e != 0) {
		snprintf(err, errlen, "spool %s%s: %s", fin, FILEIO_TMP_SUFFIX, strerror(-e));
		return e;
	}
	errno = 0;
	if (write_content(fr.f, site, time_slot, info, (int64_t)ts.tv_sec, docs, n) != 0 ||
	    fflush(fr.f) != 0) {
		e = errno ? errno : EIO;
		snprintf(err, errlen, "spool %s: write: %s", fr.tmp, strerror(e));
		fileio_replace_abort(&fr);
		return -e;
	}
	/* fsync, rename, and the directory's fsync: the name must survive a crash too. */
	e = fileio_replace_commit(&fr);
	if (e != 0) {
		snprintf(err, errlen, "spool %s: %s", fin, strerror(-e));
		return e;
	}
	sp->st.slots++;
	sp->st.bytes += bytes;
	remove_older(sp, prefix, name);
	if (path && pathlen)
		snprintf(path, pathlen, "%s", fin);
	return 0;
}

/* The oldest slot file's name into out: 0, or -ENOENT when there is none. */
static int oldest(const struct spool *sp, char *out, size_t len)
{
	DIR *d = opendir(sp->dir);
	struct dirent *de;
	bool found = false;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!is_slot_file(de->d_name) || strlen(de->d_name) >= len)
			continue;
		if (!found || strcmp(de->d_name, out) < 0) {
			snprintf(out, len, "%s", de->d_name);
			found = true;
		}
	}
	closedir(d);
	return found ? 0 : -ENOENT;
}

/* A bounded reader over a file's bytes. */
struct rd {
	char *p, *end;
};

/* Read a decimal number ended by sep; false when malformed. */
static bool rd_num(struct rd *r, int64_t *v, char sep)
{
	char *e;

	if (r->p >= r->end || (!(*r->p >= '0' && *r->p <= '9') && *r->p != '-'))
		return false;
	errno = 0;
	long long x = strtoll(r->p, &e, 10);
	if (errno || e >= r->end || *e != sep)
		return false;
	*v = x;
	r->p = e + 1;
	return true;
}

static bool rd_lit(struct rd *r, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
		return false;
	r->p += n;
	return true;
}

/* Take len bytes; false when fewer remain. */
static bool rd_bytes(struct rd *r, int64_t len, char **out)
{
	if (len < 0 || len > r->end - r->p)
		return false;
	*out = r->p;
	r->p += len;
	return true;
}

struct parsed {
	char site[STORE_SITE_MAX];
	int64_t time_slot, spooled_s;
	struct store_slot_info info;
	struct store_doc *docs;
	char *strs; /* kind and key of every document, each NUL-terminated */
	size_t n;
};

static void parsed_free(struct parsed *pf)
{
	free(pf->docs);
	free(pf->strs);
	pf->docs = NULL;
	pf->strs = NULL;
}

/*
 * Parse buf (len bytes). The documents' json points into buf; kind and key
 * are copied into pf->strs, since in the file they lie back to back with no
 * room for a terminator. Returns 0, -EBADMSG or -ENOMEM.
 */
static int parse(char *buf, size_t len, struct parsed *pf)
{
	struct rd r = {buf, buf + len};
	int64_t slen, partial, n, kl, yl, jl;
	char *site, *kind, *key, *json;
	size_t o = 0;

	memset(pf, 0, sizeof(*pf));
	if (!rd_lit(&r, SPOOL_MAGIC) || !rd_lit(&r, "site ") || !rd_num(&r, &slen, '\n') ||
	    slen <= 0 || slen >= STORE_SITE_MAX || !rd_bytes(&r, slen, &site) || !rd_lit(&r, "\n"))
		return -EBADMSG;
	memcpy(pf->site, site, (size_t)slen);
	pf->site[slen] = '\0';
	if (!rd_lit(&r, "slot ") || !rd_num(&r, &pf->time_slot, ' ') ||
	    !rd_num(&r, &pf->info.closed_at_s, ' ') || !rd_num(&r, &partial, ' ') ||
	    !rd_num(&r, &pf->spooled_s, ' ') || !rd_num(&r, &n, '\n'))
		return -EBADMSG;
	/* Every record takes at least 7 bytes: "1 0 0\n", a kind byte, "\n". */
	if (n < 0 || (uint64_t)n > len / 7 || pf->time_slot < 0)
		return -EBADMSG;
	pf->info.partial = partial != 0;
	pf->docs = fault_calloc((size_t)n ? (size_t)n : 1, sizeof(*pf->docs));
	/* Kinds and keys are bytes of buf, plus two terminators per document. */
	pf->strs = fault_malloc(len + 2 * (size_t)n + 1);
	if (!pf->docs || !pf->strs) {
		parsed_free(pf);
		return -ENOMEM;
	}
	for (int64_t i = 0; i < n; i++) {
		if (!rd_num(&r, &kl, ' ') || !rd_num(&r, &yl, ' ') || !rd_num(&r, &jl, '\n') ||
		    kl <= 0 || kl >= STORE_KIND_MAX || yl < 0 || yl >= STORE_KEY_MAX ||
		    jl > STORE_DOC_MAX_BYTES || !rd_bytes(&r, kl, &kind) ||
		    !rd_bytes(&r, yl, &key) || !rd_bytes(&r, jl, &json) || !rd_lit(&r, "\n"))
			goto bad;
		char *ks = pf->strs + o;
		memcpy(ks, kind, (size_t)kl);
		ks[kl] = '\0';
		memcpy(ks + kl + 1, key, (size_t)yl);
		ks[kl + 1 + yl] = '\0';
		o += (size_t)(kl + yl + 2);
		pf->docs[i] = (struct store_doc){
		    .kind = ks, .key = ks + kl + 1, .json = json, .json_len = (size_t)jl};
	}
	pf->n = (size_t)n;
	if (!rd_lit(&r, "end\n") || r.p != r.end)
		goto bad;
	return 0;
bad:
	parsed_free(pf);
	pf->n = 0;
	return -EBADMSG;
}

/* Rename an unusable file to NAME.bad, out of the spool's way and count. */
static int set_aside(struct spool *sp, const char *path, size_t len, const char *why,
                     struct spool_restored *r, char *err, size_t errlen)
{
	char bad[PATH_MAX + 8];

	snprintf(bad, sizeof(bad), "%s.bad", path);
	r->outcome = SPOOL_CORRUPT;
	if (rename(path, bad) != 0) {
		int e = errno;
		snprintf(err, errlen, "spool %s: %s, and renaming it failed: %s", path, why,
		         strerror(e));
		return -e;
	}
	sp->st.slots--;
	sp->st.bytes -= len;
	snprintf(err, errlen, "spool %s: %s; renamed to %s", path, why, bad);
	return 0;
}

int spool_slot_restore(struct spool *sp, struct store *st, struct spool_restored *r, char *err,
                       size_t errlen)
{
	char name[2 * SPOOL_NAME_MAX], path[PATH_MAX];
	struct parsed pf;
	struct store_slot row;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = oldest(sp, name, sizeof(name));
	if (rc == -ENOENT) {
		r->outcome = SPOOL_EMPTY;
		return 0;
	}
	if (rc != 0 || (rc = path_of(sp, name, path, sizeof(path))) != 0) {
		snprintf(err, errlen, "spool %s: %s", sp->dir, strerror(-rc));
		return rc;
	}
	/* No cap of its own: the spool's files were held to max_bytes in all when written. */
	if ((rc = fileio_read_all(path, SIZE_MAX, &buf, &len)) != 0) {
		snprintf(err, errlen, "spool %s: read: %s", path, strerror(-rc));
		return rc;
	}
	rc = parse(buf, len, &pf);
	if (rc == -ENOMEM) {
		free(buf);
		snprintf(err, errlen, "spool %s: out of memory", path);
		return rc;
	}
	if (rc != 0) {
		free(buf);
		snprintf(r->site, sizeof(r->site), "?");
		return set_aside(sp, path, len, "not a spool file", r, err, errlen);
	}
	snprintf(r->site, sizeof(r->site), "%s", pf.site);
	r->time_slot = pf.time_slot;
	r->n_docs = pf.n;
	rc = store_slot_get(st, pf.site, pf.time_slot, &row);
	if (rc == 0 && row.written_at_s >= pf.spooled_s) {
		/* Written again after it was spooled: the store's copy is the newer one. */
		r->outcome = SPOOL_STALE;
	} else if (rc == 0 || rc == -ENOENT) {
		rc = store_slot_write(st, pf.site, pf.time_slot, pf.docs, pf.n, &pf.info);
		if (rc == -EINVAL || rc == -E2BIG) {
			/* The store refuses the batch itself: it would block the spool for good. */
			char why[STORE_ERR_TEXT];
			snprintf(why, sizeof(why), "the store refuses it: %s", store_error_get(st));
			parsed_free(&pf);
			free(buf);
			return set_aside(sp, path, len, why, r, err, errlen);
		}
		if (rc != 0 && rc != -EEXIST) {
			snprintf(err, errlen, "%s", store_error_get(st));
			parsed_free(&pf);
			free(buf);
			return rc;
		}
		r->outcome = SPOOL_STORED;
	} else {
		snprintf(err, errlen, "%s", store_error_get(st));
		parsed_free(&pf);
		free(buf);
		return rc;
	}
	parsed_free(&pf);
	free(buf);
	if (unlink(path) == 0) {
		sp->st.slots--;
		sp->st.bytes -= len;
	}
	return 0;
}
