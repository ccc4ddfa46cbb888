/*
 * sink_ndjson.c — the FHIR NDJSON outbox target ("ndjson") and the
 * transform-only "null" target of artery-ehr-out (sinks.h).
 *
 * Layout (FHIR Bulk Data): <dir>/<ResourceType>.ndjson, one resource per
 * line, references written as "Type/id" with Artery's deterministic ids,
 * so a loader that upserts by id is idempotent. Each line is one
 * write(2) on a descriptor opened O_APPEND: a line is either wholly in the
 * file or not at all as far as a process crash goes. A torn last line
 * (power cut mid-write) is cut off when the sink opens the file again.
 * One writer per directory: an exclusive flock on <dir>/.artery-ndjson.lock
 * is held while the sink lives (a second instance fails at start-up).
 *
 * Durability (target.fsync): "always" (default) fdatasyncs every file an
 * event touched before answering ART_OK, so the ledger never records an
 * event whose lines a power cut could still lose; "never" leaves it to
 * the OS (benchmarks, scratch outboxes).
 *
 * The sink does not deduplicate (dedups_itself = 0): the runtime's ledger
 * skips replayed events. A crash between the write and the ledger put
 * appends the event's lines again on redelivery — identical lines with
 * identical ids (docs/ehr-out.md).
 *
 * Sizes: a handful of open files (one per resource type); a line is the
 * resource's compact JSON, typically 0.5–3 KB.
 */
#include "sinks.h"

#include "fhir.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define ART_NDJSON_MAX_FILES 16   /* resource types Artery writes */
#define ART_NDJSON_PATH_MAX  4096 /* bytes of a file path */

/* One open NDJSON file. */
struct art_ndjson_file {
	char type[32]; /* resource type */
	int fd;        /* O_APPEND descriptor */
	int dirty;     /* written since the last fdatasync */
};

/* The sink's context. */
struct art_ndjson {
	char dir[ART_NDJSON_PATH_MAX];
	int lock_fd; /* holds the directory's flock */
	int fsync_always;
	int discard; /* 1: the "null" target (transform only) */
	char base[512];
	struct art_fhir_conf fconf;
	struct art_fhir_set set;
	struct art_ndjson_file files[ART_NDJSON_MAX_FILES];
	size_t file_cnt;
};

/* mkdir -p path. Returns 0 or -1 (errno set). */
static int art_ndjson_mkdirs(const char *path)
{
	char tmp[ART_NDJSON_PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0750) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0750) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/* Cuts a torn last line (no trailing newline) off fd. Returns 0 or -1. */
static int art_ndjson_repair(int fd, const char *path)
{
	struct stat st;
	char buf[4096];
	off_t end, pos;

	if (fstat(fd, &st) == -1)
		return -1;
	end = st.st_size;
	if (end == 0)
		return 0;
	if (pread(fd, buf, 1, end - 1) != 1)
		return -1;
	if (buf[0] == '\n')
		return 0;
	pos = end;
	while (pos > 0) {
		size_t chunk = pos > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;
		ssize_t r = pread(fd, buf, chunk, pos - (off_t)chunk);

		if (r != (ssize_t)chunk)
			return -1;
		for (size_t i = chunk; i > 0; i--)
			if (buf[i - 1] == '\n') {
				off_t keep = pos - (off_t)chunk + (off_t)i;

				art_warn("ndjson.repair", "\"file\":\"%s\",\"cut_bytes\":%lld", path,
				         (long long)(end - keep));
				return ftruncate(fd, keep);
			}
		pos -= (off_t)chunk;
	}
	art_warn("ndjson.repair", "\"file\":\"%s\",\"cut_bytes\":%lld", path, (long long)end);
	return ftruncate(fd, 0);
}

/* The open file for resource type, opening (and repairing) it on first
 * use. NULL with errstr set on failure. */
static struct art_ndjson_file *art_ndjson_file(struct art_ndjson *nd, const char *type,
                                               char *errstr, size_t errstr_size)
{
	char path[ART_NDJSON_PATH_MAX + 64];
	struct art_ndjson_file *f;
	int fd;

	for (size_t i = 0; i < nd->file_cnt; i++)
		if (!strcmp(nd->files[i].type, type))
			return &nd->files[i];
	if (nd->file_cnt == ART_NDJSON_MAX_FILES) {
		snprintf(errstr, errstr_size, "ndjson: more than %d resource types", ART_NDJSON_MAX_FILES);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s.ndjson", nd->dir, type);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		snprintf(errstr, errstr_size, "ndjson: cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	{
		/* repair needs to read: a second descriptor */
		int rfd = open(path, O_RDWR | O_CLOEXEC);

		if (rfd == -1 || art_ndjson_repair(rfd, path) == -1) {
			snprintf(errstr, errstr_size, "ndjson: cannot check %s: %s", path, strerror(errno));
			if (rfd != -1)
				close(rfd);
			close(fd);
			return NULL;
		}
		close(rfd);
	}
	f = &nd->files[nd->file_cnt++];
	snprintf(f->type, sizeof(f->type), "%s", type);
	f->fd = fd;
	f->dirty = 0;
	return f;
}

/* Appends len bytes as one write; on a short write cuts the file back to
 * its previous end. Returns 0, or -1 with errstr set. */
static int art_ndjson_append(struct art_ndjson_file *f, const char *line, size_t len, char *errstr,
                             size_t errstr_size)
{
	struct stat st;
	ssize_t w;

	if (fstat(f->fd, &st) == -1) {
		snprintf(errstr, errstr_size, "ndjson: %s: %s", f->type, strerror(errno));
		return -1;
	}
	do {
		w = write(f->fd, line, len);
	} while (w == -1 && errno == EINTR);
	if (w == (ssize_t)len) {
		f->dirty = 1;
		return 0;
	}
	snprintf(errstr, errstr_size, "ndjson: write to %s.ndjson failed: %s", f->type,
	         w == -1 ? strerror(errno) : "short write");
	if (w > 0 && ftruncate(f->fd, st.st_size) == -1)
		art_error("ndjson.truncate", "\"type\":\"%s\",\"error\":\"%s\"", f->type, strerror(errno));
	return -1;
}

static int art_ndjson_init_common(void **ctxp, const struct art_sink_conf *conf, int discard,
                                  char *errstr, size_t errstr_size)
{
	static const char *const allowed[] = {"dir", "fsync", "identifier_base", NULL};
	static const char *const allowed_null[] = {"identifier_base", NULL};
	struct art_ndjson *nd;
	const char *dir = art_sink_conf_get(conf, "dir");
	const char *fs = art_sink_conf_get(conf, "fsync");
	const char *base = art_sink_conf_get(conf, "identifier_base");
	char lock[ART_NDJSON_PATH_MAX + 32];

	if (art_sink_conf_check(conf, discard ? allowed_null : allowed, errstr, errstr_size) == -1)
		return -1;
	nd = calloc(1, sizeof(*nd));
	if (!nd) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	*ctxp = nd;
	nd->lock_fd = -1;
	nd->discard = discard;
	nd->fsync_always = 1;
	snprintf(nd->base, sizeof(nd->base), "%s", base ? base : ART_FHIR_DEFAULT_BASE);
	nd->fconf.identifier_base = nd->base;
	if (discard)
		return 0;
	if (fs && !strcmp(fs, "never")) {
		nd->fsync_always = 0;
	} else if (fs && strcmp(fs, "always")) {
		snprintf(errstr, errstr_size, "%s: target.fsync of %s must be always or never, not '%s'",
		         conf->topology_path ? conf->topology_path : "(topology)", conf->name, fs);
		return -1;
	}
	if (!dir && conf->target_url && !strncmp(conf->target_url, "file://", 7))
		dir = conf->target_url + 7;
	if (!dir || !dir[0]) {
		snprintf(errstr, errstr_size, "%s: target of %s (type ndjson) needs dir: <directory>",
		         conf->topology_path ? conf->topology_path : "(topology)", conf->name);
		return -1;
	}
	if (strlen(dir) >= sizeof(nd->dir)) {
		snprintf(errstr, errstr_size, "ndjson: dir too long");
		return -1;
	}
	snprintf(nd->dir, sizeof(nd->dir), "%s", dir);
	if (art_ndjson_mkdirs(nd->dir) == -1) {
		snprintf(errstr, errstr_size, "ndjson: cannot create %s: %s", nd->dir, strerror(errno));
		return -1;
	}
	snprintf(lock, sizeof(lock), "%s/.artery-ndjson.lock", nd->dir);
	nd->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (nd->lock_fd == -1 || flock(nd->lock_fd, LOCK_EX | LOCK_NB) == -1) {
		snprintf(errstr, errstr_size, "ndjson: %s is in use by another writer (%s)", nd->dir,
		         strerror(errno));
		return -1;
	}
	art_info("ndjson.open", "\"dir\":\"%s\",\"fsync\":\"%s\"", nd->dir,
	         nd->fsync_always ? "always" : "never");
	return 0;
}

static int art_ndjson_init(void **ctxp, const struct art_sink_conf *conf, char *errstr,
                           size_t errstr_size)
{
	return art_ndjson_init_common(ctxp, conf, 0, errstr, errstr_size);
}

static int art_null_init(void **ctxp, const struct art_sink_conf *conf, char *errstr,
                         size_t errstr_size)
{
	return art_ndjson_init_common(ctxp, conf, 1, errstr, errstr_size);
}

static enum art_res art_ndjson_deliver(void *ctx, const struct art_event *ev, int *retry_after_ms,
                                       char *errstr, size_t errstr_size)
{
	struct art_ndjson *nd = ctx;
	enum art_res res = ART_OK;

	(void)retry_after_ms;
	if (art_fhir_transform(&nd->fconf, ev->json, &nd->set, errstr, errstr_size) == -1)
		return ART_FAIL; /* the event cannot be expressed in FHIR */
	if (nd->discard)
		goto out;
	for (size_t i = 0; i < nd->set.cnt && res == ART_OK; i++) {
		struct art_ndjson_file *f;
		char *line;
		size_t len;

		if (nd->set.entries[i].stub)
			continue; /* only referenced: the Patient line comes from patient events */
		f = art_ndjson_file(nd, nd->set.entries[i].type, errstr, errstr_size);
		if (!f) {
			res = ART_RETRY;
			break;
		}
		line = art_fhir_ndjson_line(&nd->set, i, &len);
		if (!line) {
			snprintf(errstr, errstr_size, "ndjson: out of memory");
			res = ART_RETRY;
			break;
		}
		if (art_ndjson_append(f, line, len, errstr, errstr_size) == -1)
			res = ART_RETRY; /* disk full, I/O error: may pass */
		free(line);
	}
	for (size_t i = 0; i < nd->file_cnt; i++) {
		if (!nd->files[i].dirty || !nd->fsync_always)
			continue;
		if (fdatasync(nd->files[i].fd) == -1 && res == ART_OK) {
			snprintf(errstr, errstr_size, "ndjson: fdatasync %s.ndjson: %s", nd->files[i].type,
			         strerror(errno));
			res = ART_RETRY;
		}
		nd->files[i].dirty = 0;
	}
out:
	art_fhir_set_clear(&nd->set);
	return res;
}

static void art_ndjson_close(void *ctx)
{
	struct art_ndjson *nd = ctx;

	if (!nd)
		return;
	for (size_t i = 0; i < nd->file_cnt; i++) {
		if (nd->fsync_always || nd->files[i].dirty)
			fdatasync(nd->files[i].fd);
		close(nd->files[i].fd);
	}
	if (nd->lock_fd != -1)
		close(nd->lock_fd); /* releases the flock */
	art_fhir_set_clear(&nd->set);
	free(nd->set.entries);
	free(nd);
}

const struct art_sink_ops art_sink_ndjson_ops = {
    .name = "ndjson",
    .init = art_ndjson_init,
    .deliver = art_ndjson_deliver,
    .close = art_ndjson_close,
    .dedups_itself = 0,
};

const struct art_sink_ops art_sink_null_ops = {
    .name = "null",
    .init = art_null_init,
    .deliver = art_ndjson_deliver,
    .close = art_ndjson_close,
    .dedups_itself = 1, /* nothing is written: nothing to duplicate */
};
