/*
 * sink_ndjson.c — the FHIR NDJSON outbox target ("ndjson") and the
 * transform-only "null" target of artery-ehr-out (sinks.h).
 *
 * Layout (FHIR Bulk Data): <dir>/<ResourceType>.ndjson, one resource per
 * line, references written as "Type/id" with Artery's deterministic ids,
 * so a loader that upserts by id is idempotent (fhir.h, ART_FHIR_NDJSON).
 * deliver() transforms the event and adds its lines to the batch, per file,
 * in memory; flush() — called by the runtime before it records the batch
 * in the ledger and stores its offsets (sink.h) — appends each file's
 * lines with one write(2) on a descriptor opened O_APPEND, cutting the file
 * back to its previous end after a short write: lines are whole as far as
 * a process crash goes. A torn last line (power cut mid-write) is cut off
 * when the sink opens the file again. One writer per directory: an
 * exclusive flock on <dir>/.artery-ndjson.lock is held while the sink
 * lives (a second instance fails at start-up).
 *
 * Durability (target.fsync): "always" (default) fdatasyncs every file the
 * batch touched at the flush, so the ledger never records an event whose
 * lines a power cut could still lose; "never" leaves it to the OS
 * (benchmarks, scratch outboxes).
 *
 * The sink does not deduplicate (dedups_itself = 0): the runtime's ledger
 * skips replayed events. A crash between the flush's writes and the
 * ledger transaction appends the batch's lines again on redelivery —
 * identical lines with identical ids (docs/ehr-out.md).
 *
 * Sizes and rates: a handful of open files (one per resource type); a
 * line is the resource's compact JSON, typically 0.5-3 KB, ~2.2 KB an
 * event; a batch of 512 events is ~1 MB of buffered lines and a few
 * write(2) calls (one per file), plus one fdatasync per file with fsync
 * always — 35-55k events/s with the runtime on the dev VM, where one
 * write(2) (and fsync) per event allowed 3-5k.
 */
#include "sinks.h"

#include "buf.h"
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
	char type[32];          /* resource type */
	int fd;                 /* O_APPEND descriptor */
	int dirty;              /* written since the last fdatasync */
	off_t size;             /* its length: we are its only writer (the flock) */
	struct art_buf pending; /* the batch's lines for this file */
	size_t pending_lines;
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
	struct art_metric *m_lines;     /* artery_sink_ndjson_lines_total{type} */
	struct art_metric *m_bytes;     /* artery_sink_ndjson_bytes_total */
	struct art_metric *m_flush_sec; /* artery_sink_ndjson_flush_seconds */
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
	off_t size;
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
		struct stat st;

		if (rfd == -1 || art_ndjson_repair(rfd, path) == -1 || fstat(rfd, &st) == -1) {
			snprintf(errstr, errstr_size, "ndjson: cannot check %s: %s", path, strerror(errno));
			if (rfd != -1)
				close(rfd);
			close(fd);
			return NULL;
		}
		close(rfd);
		size = st.st_size;
	}
	f = &nd->files[nd->file_cnt++];
	snprintf(f->type, sizeof(f->type), "%s", type);
	f->fd = fd;
	f->dirty = 0;
	f->size = size;
	art_buf_init(&f->pending, ART_FHIR_MAX_TEXT + ART_FHIR_MAX_ENTRIES);
	return f;
}

/* Appends len bytes as one write; on a short write cuts the file back to
 * its previous end. Returns 0, or -1 with errstr set. */
static int art_ndjson_append(struct art_ndjson_file *f, const char *data, size_t len,
                             char *errstr, size_t errstr_size)
{
	ssize_t w;

	do {
		w = write(f->fd, data, len);
	} while (w == -1 && errno == EINTR);
	if (w == (ssize_t)len) {
		f->size += (off_t)len;
		f->dirty = 1;
		return 0;
	}
	snprintf(errstr, errstr_size, "ndjson: write to %s.ndjson failed: %s", f->type,
	         w == -1 ? strerror(errno) : "short write");
	if (w > 0 && ftruncate(f->fd, f->size) == -1)
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
	nd->fconf.layout = ART_FHIR_NDJSON;
	if (discard)
		return 0;
	nd->m_lines = art_sink_counter(conf, "artery_sink_ndjson_lines_total",
	                               "Resources appended to the outbox, by resource type", "type");
	nd->m_bytes = art_sink_counter(conf, "artery_sink_ndjson_bytes_total",
	                               "Bytes appended to the outbox", NULL);
	nd->m_flush_sec = art_sink_histogram(conf, "artery_sink_ndjson_flush_seconds",
	                                     "Time to write (and with fsync always, sync) a batch's "
	                                     "lines");
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
	size_t marks[ART_NDJSON_MAX_FILES], lines[ART_NDJSON_MAX_FILES], known = nd->file_cnt;
	enum art_res res = ART_OK;

	(void)retry_after_ms;
	if (art_fhir_transform(&nd->fconf, ev->doc, &nd->set, errstr, errstr_size) == -1)
		return ART_FAIL; /* the event cannot be expressed in FHIR */
	if (nd->discard)
		goto out;
	/* the event's lines join the batch's, per file; flush() writes them */
	for (size_t i = 0; i < known; i++)
		marks[i] = nd->files[i].pending.len;
	for (size_t i = 0; i < known; i++)
		lines[i] = nd->files[i].pending_lines;
	for (size_t i = 0; i < nd->set.cnt; i++) {
		const struct art_fhir_entry *e = &nd->set.entries[i];
		struct art_ndjson_file *f;

		if (e->stub)
			continue; /* only referenced: the Patient line comes from patient events */
		f = art_ndjson_file(nd, e->type, errstr, errstr_size);
		if (!f) {
			res = ART_RETRY;
			break;
		}
		f->pending_lines++;
		if (art_buf_append(&f->pending, e->json, e->json_len) == -1 ||
		    art_buf_putc(&f->pending, '\n') == -1) {
			snprintf(errstr, errstr_size,
			         "ndjson: the batch's %s lines are over %zu bytes or out of memory",
			         e->type, f->pending.max);
			res = ART_RETRY;
			break;
		}
	}
	if (res != ART_OK) /* none of this event's lines stay in the batch */
		for (size_t i = 0; i < nd->file_cnt; i++) {
			nd->files[i].pending.len = i < known ? marks[i] : 0;
			nd->files[i].pending_lines = i < known ? lines[i] : 0;
		}
out:
	art_fhir_set_clear(&nd->set);
	return res;
}

/* Writes every file's lines of the batch (one write(2) each) and, with
 * fsync always, fdatasyncs the files written. */
static int art_ndjson_flush(void *ctx, char *errstr, size_t errstr_size)
{
	struct art_ndjson *nd = ctx;
	int64_t t0 = art_mono_us();
	int rc = 0;

	for (size_t i = 0; i < nd->file_cnt && rc == 0; i++) {
		struct art_ndjson_file *f = &nd->files[i];

		if (!f->pending.len)
			continue;
		if (art_ndjson_append(f, f->pending.p, f->pending.len, errstr, errstr_size) == -1) {
			rc = -1; /* disk full, I/O error */
			break;
		}
		art_sink_count(nd->m_lines, f->type, (double)f->pending_lines);
		art_sink_count(nd->m_bytes, NULL, (double)f->pending.len);
	}
	for (size_t i = 0; i < nd->file_cnt; i++) {
		struct art_ndjson_file *f = &nd->files[i];

		art_buf_reset(&f->pending);
		f->pending_lines = 0;
		if (!f->dirty || !nd->fsync_always || rc == -1)
			continue;
		if (fdatasync(f->fd) == -1) {
			snprintf(errstr, errstr_size, "ndjson: fdatasync %s.ndjson: %s", f->type,
			         strerror(errno));
			rc = -1;
		}
		f->dirty = 0;
	}
	if (rc == 0)
		art_sink_observe(nd->m_flush_sec, (double)(art_mono_us() - t0) / 1e6);
	return rc;
}

static void art_ndjson_close(void *ctx)
{
	struct art_ndjson *nd = ctx;

	if (!nd)
		return;
	for (size_t i = 0; i < nd->file_cnt; i++) {
		/* lines still pending were never flushed: their events are not
		 * recorded and will be delivered again */
		if (nd->files[i].dirty)
			fdatasync(nd->files[i].fd);
		close(nd->files[i].fd);
		art_buf_free(&nd->files[i].pending);
	}
	if (nd->lock_fd != -1)
		close(nd->lock_fd); /* releases the flock */
	art_fhir_set_free(&nd->set);
	free(nd);
}

const struct art_sink_ops art_sink_ndjson_ops = {
    .name = "ndjson",
    .init = art_ndjson_init,
    .deliver = art_ndjson_deliver,
    .flush = art_ndjson_flush,
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
