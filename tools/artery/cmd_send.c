/*
 * cmd_send.c — `artery send`: an MLLP client that sends every HL7 message
 * of some files (batch files split into their messages), waits for each
 * ACK, and prints a summary with counts and latency percentiles.
 *
 * One thread, epoll over N non-blocking connections (each registered
 * once; a loop iteration costs the ready connections, not all N).
 * Messages are loaded and framed up front into one buffer; connections
 * take the next unsent message from a shared queue whenever they have room
 * in their window (W frames in flight; 1 = classic send-and-wait). ACKs
 * come back in order on a connection, so the oldest frame in flight is the
 * one answered; its MSA-2 must equal the control id sent. Sized for
 * benchmarks: tens of thousands of messages per second over dozens of
 * connections, one send() and one recv() per message and connection.
 */
#include "art.h"
#include "buf.h"
#include "cmd.h"
#include "hl7.h"
#include "hl7_ack.h"
#include "mllp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define ART_SEND_MAX_FILE     (256u * 1024u * 1024u) /* one input file */
#define ART_SEND_MAX_FRAMES   ((size_t)1 << 33)      /* all framed messages */
#define ART_SEND_MAX_ACK      (1u << 20)             /* one ACK frame */
#define ART_SEND_MAX_FAILURES 3                      /* connection failures in a row */

/* What became of one message. */
enum art_send_res {
	ART_SEND_PENDING = 0, /* not answered yet */
	ART_SEND_ACCEPTED,    /* AA or CA */
	ART_SEND_ERROR,       /* AE or CE */
	ART_SEND_REJECTED,    /* AR or CR */
	ART_SEND_TIMEOUT,     /* no ACK within --timeout-ms */
	ART_SEND_CONN_ERR,    /* the connection failed (or none could be made) */
	ART_SEND_BAD_ACK,     /* the answer was not an ACK, or MSA-2 did not match */
};

struct art_send_msg {
	uint32_t file;        /* index into ctx->paths */
	uint32_t index;       /* 1-based position in its file */
	size_t off, len;      /* its MLLP frame in ctx->frames */
	char control_id[128]; /* MSH-10 as sent (raw) */
	int64_t sent_us;      /* monotonic time it was queued on a connection */
	enum art_send_res res;
};

enum art_send_cstate {
	ART_SEND_C_CLOSED = 0, /* not connected; may (re)connect at retry_at */
	ART_SEND_C_CONNECTING, /* non-blocking connect in progress */
	ART_SEND_C_READY,      /* connected */
	ART_SEND_C_DEAD,       /* gave up after ART_SEND_MAX_FAILURES */
};

struct art_send_conn {
	int fd;
	enum art_send_cstate state;
	struct art_mllp *fr; /* ACK framer */
	struct art_buf out;  /* frames queued for writing */
	size_t out_off;      /* bytes of out already written */
	size_t *fifo;        /* message indices in flight, oldest first (ring) */
	size_t head, count;  /* ring position and fill */
	int failures;        /* failures since the last ACK */
	int64_t retry_at;    /* when a closed connection may reconnect */
	uint32_t watching;   /* epoll events registered for fd (0: not registered) */
};

struct art_send_ctx {
	/* options */
	const char *host, *port;
	int nconns, window, verbose, json;
	double rate;        /* messages per second in total; 0 = unlimited */
	int64_t timeout_us; /* per ACK */
	/* input */
	char **paths;
	size_t npaths;
	struct art_buf frames;
	struct art_send_msg *msgs;
	size_t nmsgs, capmsgs;
	size_t unsendable; /* files or messages that could not be sent */
	/* run */
	int epfd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct art_send_conn *conns;
	size_t next;       /* next message to assign */
	size_t inflight;   /* over all connections */
	double tokens;     /* token bucket */
	int64_t refill_us; /* last refill */
	size_t counts[ART_SEND_BAD_ACK + 1];
	size_t unexpected; /* ACKs with nothing in flight */
	int64_t *lat;      /* latencies of answered messages, us */
	size_t nlat;
};

/* ---- input ------------------------------------------------------------------ */

static int art_send_add_path(struct art_send_ctx *ctx, const char *path)
{
	char **np = realloc(ctx->paths, (ctx->npaths + 1) * sizeof(*np));

	if (!np)
		return -1;
	ctx->paths = np;
	ctx->paths[ctx->npaths] = strdup(path);
	if (!ctx->paths[ctx->npaths])
		return -1;
	ctx->npaths++;
	return 0;
}

static int art_send_is_hl7_name(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && !strcasecmp(name + n - 4, ".hl7");
}

/* Adds path: a file as is; a directory's *.hl7 files recursively, in name
 * order, skipping hidden entries. Returns 0 or -1 (message on stderr). */
static int art_send_collect(struct art_send_ctx *ctx, const char *path, int top)
{
	struct dirent **ents = NULL;
	struct stat st;
	int n, rc = 0;

	if (stat(path, &st) == -1) {
		fprintf(stderr, "artery send: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (!top && (!S_ISREG(st.st_mode) || !art_send_is_hl7_name(path)))
			return 0;
		return art_send_add_path(ctx, path);
	}
	n = scandir(path, &ents, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "artery send: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char child[4096];

		if (rc == 0 && ents[i]->d_name[0] != '.') {
			snprintf(child, sizeof(child), "%s/%s", path, ents[i]->d_name);
			rc = art_send_collect(ctx, child, 0);
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

static struct art_send_msg *art_send_new_msg(struct art_send_ctx *ctx)
{
	if (ctx->nmsgs == ctx->capmsgs) {
		size_t cap = ctx->capmsgs ? ctx->capmsgs * 2 : 256;
		struct art_send_msg *nm = realloc(ctx->msgs, cap * sizeof(*nm));

		if (!nm)
			return NULL;
		ctx->msgs = nm;
		ctx->capmsgs = cap;
	}
	memset(&ctx->msgs[ctx->nmsgs], 0, sizeof(ctx->msgs[0]));
	return &ctx->msgs[ctx->nmsgs++];
}

/* Reads, splits and frames the messages of file fi. Problems are counted
 * as unsendable and reported; returns -1 only when out of memory. */
static int art_send_load_file(struct art_send_ctx *ctx, size_t fi)
{
	struct art_hl7_opts opts = art_hl7_opts_default();
	struct art_hl7_split split;
	struct art_buf norm;
	char errstr[512];
	size_t len;
	char *data;
	int rc = 0;

	memset(&split, 0, sizeof(split));
	data = art_read_file(ctx->paths[fi], ART_SEND_MAX_FILE, &len, errstr, sizeof(errstr));
	if (!data) {
		fprintf(stderr, "artery send: %s\n", errstr);
		ctx->unsendable++;
		return 0;
	}
	opts.max_message_size = ART_SEND_MAX_FILE;
	if (art_hl7_split(data, len, &opts, &split, NULL, errstr, sizeof(errstr)) == -1) {
		fprintf(stderr, "artery send: %s: %s\n", ctx->paths[fi], errstr);
		ctx->unsendable++;
		goto done;
	}
	art_buf_init(&norm, ART_SEND_MAX_FILE);
	for (size_t k = 0; k < split.nmsgs && rc == 0; k++) {
		const char *p = data + split.msgs[k].off;
		size_t plen = split.msgs[k].len, line = 0;
		struct art_hl7_span id = {"", 0};
		struct art_send_msg *m;

		art_buf_reset(&norm);
		if (art_hl7_normalise(p, plen, &norm) == -1 || !norm.p) {
			fprintf(stderr, "artery send: %s: message %zu: too large\n", ctx->paths[fi],
			        k + 1);
			ctx->unsendable++;
			continue;
		}
		while (line < norm.len && norm.p[line] != '\r')
			line++;
		if (!art_hl7_segment_field(norm.p, line, 0, 10, &id))
			id.len = 0;
		m = art_send_new_msg(ctx);
		if (!m) {
			rc = -1;
			break;
		}
		m->file = (uint32_t)fi;
		m->index = (uint32_t)(k + 1);
		snprintf(m->control_id, sizeof(m->control_id), "%.*s", (int)id.len,
		         id.p ? id.p : "");
		m->off = ctx->frames.len;
		if (art_mllp_encode(norm.p, norm.len, &ctx->frames) == -1) {
			fprintf(stderr,
			        "artery send: %s: message %zu: cannot frame it (contains an MLLP "
			        "block byte, or too much input)\n",
			        ctx->paths[fi], k + 1);
			ctx->nmsgs--;
			ctx->unsendable++;
			continue;
		}
		m->len = ctx->frames.len - m->off;
	}
	art_buf_free(&norm);
done:
	art_hl7_split_free(&split);
	free(data);
	return rc;
}

/* ---- connections ------------------------------------------------------------ */

static int art_send_resolve(struct art_send_ctx *ctx)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(ctx->host, ctx->port, &hints, &res);
	if (rc != 0 || !res) {
		fprintf(stderr, "artery send: %s:%s: %s\n", ctx->host, ctx->port,
		        rc ? gai_strerror(rc) : "no address");
		return -1;
	}
	memcpy(&ctx->addr, res->ai_addr, res->ai_addrlen);
	ctx->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Completes message idx with res, counting it and printing it if verbose. */
static void art_send_complete(struct art_send_ctx *ctx, size_t idx, enum art_send_res res,
                              const char *code, const char *text, int64_t now)
{
	struct art_send_msg *m = &ctx->msgs[idx];
	int64_t lat = now - m->sent_us;

	m->res = res;
	ctx->counts[res]++;
	if (res != ART_SEND_TIMEOUT && res != ART_SEND_CONN_ERR)
		ctx->lat[ctx->nlat++] = lat;
	if (ctx->verbose)
		printf("%s#%u\t%s\t%s\t%.3f ms%s%s\n", ctx->paths[m->file], m->index, m->control_id,
		       code, (double)lat / 1000.0, text && *text ? "\t" : "", text ? text : "");
}

/* Closes c after a failure; what was in flight ends as res. */
static void art_send_conn_fail(struct art_send_ctx *ctx, struct art_send_conn *c,
                               enum art_send_res res, const char *why, int64_t now)
{
	const char *code = res == ART_SEND_TIMEOUT ? "TIMEOUT" : "CONNERR";

	while (c->count) {
		size_t idx = c->fifo[c->head];

		c->head = (c->head + 1) % (size_t)ctx->window;
		c->count--;
		ctx->inflight--;
		art_send_complete(ctx, idx, res, code, why, now);
	}
	if (c->fd >= 0)
		close(c->fd); /* also leaves the epoll set */
	c->fd = -1;
	c->watching = 0;
	art_buf_reset(&c->out);
	c->out_off = 0;
	art_mllp_reset(c->fr);
	c->failures++;
	if (c->failures >= ART_SEND_MAX_FAILURES) {
		c->state = ART_SEND_C_DEAD;
		fprintf(stderr, "artery send: connection to %s:%s: %s (giving up)\n", ctx->host,
		        ctx->port, why);
	} else {
		c->state = ART_SEND_C_CLOSED;
		c->retry_at = now + 100000 * c->failures;
	}
}

/* Registers (or changes) the events epoll reports for c. Returns 0 or -1
 * after failing c. */
static int art_send_watch(struct art_send_ctx *ctx, struct art_send_conn *c, uint32_t events,
                          int64_t now)
{
	struct epoll_event ev;

	if (c->watching == events)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = c;
	if (epoll_ctl(ctx->epfd, c->watching ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) == -1) {
		art_send_conn_fail(ctx, c, ART_SEND_CONN_ERR, strerror(errno), now);
		return -1;
	}
	c->watching = events;
	return 0;
}

static void art_send_connect(struct art_send_ctx *ctx, struct art_send_conn *c, int64_t now)
{
	int one = 1;

	c->fd = socket(ctx->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		art_send_conn_fail(ctx, c, ART_SEND_CONN_ERR, strerror(errno), now);
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&ctx->addr, ctx->addrlen) == 0) {
		c->state = ART_SEND_C_READY;
		return;
	}
	if (errno != EINPROGRESS) {
		art_send_conn_fail(ctx, c, ART_SEND_CONN_ERR, strerror(errno), now);
		return;
	}
	c->state = ART_SEND_C_CONNECTING;
}

/* Writes what is queued on c. Returns 0, or -1 after failing c. */
static int art_send_flush(struct art_send_ctx *ctx, struct art_send_conn *c, int64_t now)
{
	while (c->out_off < c->out.len) {
		ssize_t n =
		    send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			art_send_conn_fail(ctx, c, ART_SEND_CONN_ERR, strerror(errno), now);
			return -1;
		}
		c->out_off += (size_t)n;
	}
	art_buf_reset(&c->out);
	c->out_off = 0;
	return 0;
}

/* One ACK frame arrived on c. */
static void art_send_on_ack(struct art_send_ctx *ctx, struct art_send_conn *c, const char *p,
                            size_t len, int64_t now)
{
	struct art_hl7_ack_info info;
	char errstr[512];
	enum art_send_res res;
	size_t idx;

	if (c->count == 0) {
		ctx->unexpected++;
		if (ctx->verbose)
			printf("-\t-\tUNEXPECTED\t-\tan ACK arrived with nothing in flight\n");
		return;
	}
	idx = c->fifo[c->head];
	c->head = (c->head + 1) % (size_t)ctx->window;
	c->count--;
	ctx->inflight--;
	c->failures = 0;
	if (art_hl7_ack_read(p, len, &info, errstr, sizeof(errstr)) == -1) {
		art_send_complete(ctx, idx, ART_SEND_BAD_ACK, "BADACK", errstr, now);
		return;
	}
	if (strcmp(info.control_id, ctx->msgs[idx].control_id) != 0) {
		snprintf(errstr, sizeof(errstr),
		         "MSA-2 '%.100s' does not match control id '%.100s'", info.control_id,
		         ctx->msgs[idx].control_id);
		art_send_complete(ctx, idx, ART_SEND_BAD_ACK, info.code, errstr, now);
		return;
	}
	if (info.accepted)
		res = ART_SEND_ACCEPTED;
	else if (info.code[1] == 'E')
		res = ART_SEND_ERROR;
	else
		res = ART_SEND_REJECTED;
	art_send_complete(ctx, idx, res, info.code, info.text, now);
}

/* Reads what c has. */
static void art_send_read(struct art_send_ctx *ctx, struct art_send_conn *c, int64_t now)
{
	char buf[65536];
	struct art_mllp_event ev;

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			art_send_conn_fail(ctx, c, ART_SEND_CONN_ERR,
			                   n == 0 ? "closed by peer" : strerror(errno), now);
			return;
		}
		art_mllp_feed(c->fr, buf, (size_t)n);
		while (art_mllp_next(c->fr, &ev) != ART_MLLP_NEED_MORE) {
			if (ev.type == ART_MLLP_FRAME) {
				art_send_on_ack(ctx, c, ev.data, ev.len, now);
			} else {
				art_send_conn_fail(ctx, c, ART_SEND_CONN_ERR,
				                   "oversize or unbufferable ACK frame", now);
				return;
			}
		}
		if ((size_t)n < sizeof(buf))
			return;
	}
}

/* Queues the next message on c. */
static void art_send_assign(struct art_send_ctx *ctx, struct art_send_conn *c, int64_t now)
{
	size_t idx = ctx->next++;
	struct art_send_msg *m = &ctx->msgs[idx];

	if (art_buf_append(&c->out, ctx->frames.p + m->off, m->len) == -1) {
		m->sent_us = now;
		art_send_complete(ctx, idx, ART_SEND_CONN_ERR, "CONNERR", "out of memory", now);
		return;
	}
	m->sent_us = now;
	c->fifo[(c->head + c->count) % (size_t)ctx->window] = idx;
	c->count++;
	ctx->inflight++;
}

static void art_send_refill(struct art_send_ctx *ctx, int64_t now)
{
	double cap = ctx->rate / 20.0 > 1.0 ? ctx->rate / 20.0 : 1.0;

	if (ctx->rate <= 0)
		return;
	ctx->tokens += (double)(now - ctx->refill_us) * ctx->rate / 1e6;
	if (ctx->tokens > cap)
		ctx->tokens = cap;
	ctx->refill_us = now;
}

/* The send loop. Returns when every message is answered, failed or the
 * run was interrupted. */
static void art_send_run(struct art_send_ctx *ctx)
{
	int maxev = ctx->nconns < 256 ? ctx->nconns : 256;
	struct epoll_event *evs = calloc((size_t)maxev, sizeof(*evs));
	int64_t now = art_mono_us();

	ctx->tokens = 1.0;
	ctx->refill_us = now;
	ctx->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ctx->epfd == -1)
		fprintf(stderr, "artery send: epoll: %s\n", strerror(errno));
	while (art_run && evs && ctx->epfd != -1) {
		int alive = 0, progress = 1, timeout_ms = 1000, n;
		int64_t wake = now + 1000000;

		now = art_mono_us();
		art_send_refill(ctx, now);
		for (int i = 0; i < ctx->nconns; i++) {
			struct art_send_conn *c = &ctx->conns[i];

			if (c->state == ART_SEND_C_CLOSED && ctx->next < ctx->nmsgs &&
			    now >= c->retry_at)
				art_send_connect(ctx, c, now);
		}
		while (progress) { /* round-robin: one message per connection per pass */
			progress = 0;
			for (int i = 0; i < ctx->nconns && ctx->next < ctx->nmsgs; i++) {
				struct art_send_conn *c = &ctx->conns[i];

				if (c->state != ART_SEND_C_READY || c->count >= (size_t)ctx->window)
					continue;
				if (ctx->rate > 0 && ctx->tokens < 1.0)
					break;
				if (ctx->rate > 0)
					ctx->tokens -= 1.0;
				art_send_assign(ctx, c, now);
				progress = 1;
			}
		}
		for (int i = 0; i < ctx->nconns; i++) {
			struct art_send_conn *c = &ctx->conns[i];

			if (c->state == ART_SEND_C_READY && c->out_off < c->out.len)
				art_send_flush(ctx, c, now);
		}
		if (ctx->next >= ctx->nmsgs && ctx->inflight == 0)
			break;
		for (int i = 0; i < ctx->nconns; i++) {
			struct art_send_conn *c = &ctx->conns[i];

			if (c->state == ART_SEND_C_CONNECTING)
				art_send_watch(ctx, c, EPOLLOUT, now);
			else if (c->state == ART_SEND_C_READY)
				art_send_watch(ctx, c,
				               EPOLLIN | (c->out_off < c->out.len ? EPOLLOUT : 0u),
				               now);
			if (c->state != ART_SEND_C_DEAD)
				alive = 1;
			if (c->state == ART_SEND_C_CLOSED && c->retry_at < wake)
				wake = c->retry_at;
			if (c->count &&
			    ctx->msgs[c->fifo[c->head]].sent_us + ctx->timeout_us < wake)
				wake = ctx->msgs[c->fifo[c->head]].sent_us + ctx->timeout_us;
		}
		if (!alive) {
			while (ctx->next < ctx->nmsgs) {
				size_t idx = ctx->next++;

				ctx->msgs[idx].sent_us = now;
				art_send_complete(ctx, idx, ART_SEND_CONN_ERR, "CONNERR",
				                  "not sent: no connection", now);
			}
			break;
		}
		if (ctx->rate > 0 && ctx->tokens < 1.0 && ctx->next < ctx->nmsgs) {
			int64_t t = now + (int64_t)((1.0 - ctx->tokens) * 1e6 / ctx->rate) + 1;

			if (t < wake)
				wake = t;
		}
		timeout_ms = wake > now ? (int)((wake - now + 999) / 1000) : 0;
		if (timeout_ms > 1000)
			timeout_ms = 1000;
		n = epoll_wait(ctx->epfd, evs, maxev, timeout_ms);
		if (n < 0 && errno != EINTR)
			break;
		now = art_mono_us();
		for (int i = 0; i < n; i++) {
			struct art_send_conn *c = evs[i].data.ptr;
			uint32_t re = evs[i].events;
			int err = 0;
			socklen_t elen = sizeof(err);

			if (c->state == ART_SEND_C_CONNECTING) {
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
				if (err)
					art_send_conn_fail(ctx, c, ART_SEND_CONN_ERR, strerror(err),
					                   now);
				else
					c->state = ART_SEND_C_READY;
				continue;
			}
			if (c->state != ART_SEND_C_READY)
				continue; /* failed earlier in this batch */
			if (re & (EPOLLIN | EPOLLERR | EPOLLHUP))
				art_send_read(ctx, c, now);
			if (c->state == ART_SEND_C_READY && (re & EPOLLOUT))
				art_send_flush(ctx, c, now);
		}
		for (int i = 0; i < ctx->nconns; i++) {
			struct art_send_conn *c = &ctx->conns[i];

			if (c->count &&
			    now - ctx->msgs[c->fifo[c->head]].sent_us >= ctx->timeout_us)
				art_send_conn_fail(ctx, c, ART_SEND_TIMEOUT, "no ACK in time", now);
		}
	}
	if (ctx->epfd != -1)
		close(ctx->epfd);
	ctx->epfd = -1;
	free(evs);
}

/* ---- summary ---------------------------------------------------------------- */

static int art_send_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of the sorted latencies, in ms. */
static double art_send_pct(const struct art_send_ctx *ctx, double p)
{
	size_t rank;

	if (!ctx->nlat)
		return 0.0;
	rank = (size_t)(p / 100.0 * (double)ctx->nlat + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > ctx->nlat)
		rank = ctx->nlat;
	return (double)ctx->lat[rank - 1] / 1000.0;
}

static void art_send_summary(struct art_send_ctx *ctx, double secs)
{
	size_t *n = ctx->counts;
	size_t answered = n[ART_SEND_ACCEPTED] + n[ART_SEND_ERROR] + n[ART_SEND_REJECTED];
	double rate = secs > 0 ? (double)answered / secs : 0.0;

	qsort(ctx->lat, ctx->nlat, sizeof(*ctx->lat), art_send_cmp_i64);
	if (ctx->json) {
		json_t *o = json_pack(
		    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, "
		    "s:{s:f, s:f, s:f, s:f}}",
		    "files", (json_int_t)ctx->npaths, "messages", (json_int_t)ctx->nmsgs,
		    "accepted", (json_int_t)n[ART_SEND_ACCEPTED], "errors",
		    (json_int_t)n[ART_SEND_ERROR], "rejected", (json_int_t)n[ART_SEND_REJECTED],
		    "timeouts", (json_int_t)n[ART_SEND_TIMEOUT], "connection_errors",
		    (json_int_t)n[ART_SEND_CONN_ERR], "bad_acks",
		    (json_int_t)(n[ART_SEND_BAD_ACK] + ctx->unexpected), "unsendable",
		    (json_int_t)ctx->unsendable, "connections", (json_int_t)ctx->nconns, "seconds",
		    secs, "msgs_per_sec", rate, "latency_ms", "p50", art_send_pct(ctx, 50), "p90",
		    art_send_pct(ctx, 90), "p99", art_send_pct(ctx, 99), "max",
		    art_send_pct(ctx, 100));
		char *s =
		    o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6))
		      : NULL;

		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(o);
		return;
	}
	printf("sent %zu message%s from %zu file%s over %d connection%s (window %d) in %.3f s: "
	       "%.0f msg/s\n",
	       ctx->nmsgs, ctx->nmsgs == 1 ? "" : "s", ctx->npaths, ctx->npaths == 1 ? "" : "s",
	       ctx->nconns, ctx->nconns == 1 ? "" : "s", ctx->window, secs, rate);
	printf("  accepted (AA/CA)   %zu\n", n[ART_SEND_ACCEPTED]);
	printf("  errors (AE/CE)     %zu\n", n[ART_SEND_ERROR]);
	printf("  rejected (AR/CR)   %zu\n", n[ART_SEND_REJECTED]);
	printf("  timeouts           %zu\n", n[ART_SEND_TIMEOUT]);
	printf("  connection errors  %zu\n", n[ART_SEND_CONN_ERR]);
	printf("  bad ACKs           %zu\n", n[ART_SEND_BAD_ACK] + ctx->unexpected);
	if (ctx->unsendable)
		printf("  unsendable         %zu\n", ctx->unsendable);
	printf("  ACK latency ms     p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
	       art_send_pct(ctx, 50), art_send_pct(ctx, 90), art_send_pct(ctx, 99),
	       art_send_pct(ctx, 100));
}

/* ---- command ---------------------------------------------------------------- */

static void art_send_usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: artery send [--host H] [--port P] [--connections N] [--window W]\n"
	    "                   [--rate R] [--timeout-ms T] [--verbose] [--json] FILE|DIR...\n\n"
	    "Sends every HL7 message of the FILEs (and of the *.hl7 files under each DIR,\n"
	    "recursively, in name order) over MLLP and waits for each ACK. Files holding\n"
	    "several messages or FHS/BHS batches are split: each MSH message is sent on\n"
	    "its own, the FHS/BHS/BTS/FTS envelope lines are not sent. Segment\n"
	    "terminators are sent as CR.\n\n"
	    "  --host H          server (default 127.0.0.1)\n"
	    "  --port P          port (default 2575)\n"
	    "  --connections N   parallel connections sharing the messages (default 1)\n"
	    "  --window W        frames in flight per connection (default 1: send, wait ACK)\n"
	    "  --rate R          at most R messages per second in total (default unlimited)\n"
	    "  --timeout-ms T    wait at most T ms for each ACK (default 10000); a timeout\n"
	    "                    closes that connection, which reconnects\n"
	    "  --verbose         one line per message: file#n, control id, ACK code,\n"
	    "                    latency, error text\n"
	    "  --json            print the summary as one JSON object\n\n"
	    "An ACK must answer the control id sent (MSA-2); anything else counts as a bad\n"
	    "ACK. Exit status: 0 when every message was accepted (AA or CA), 1 otherwise\n"
	    "(AE/CE, AR/CR, timeouts, connection errors, bad ACKs, unreadable files),\n"
	    "2 usage or start-up error.\n");
}

/* Parses an integer option in [min, max]. Returns 0 or -1 (message printed). */
static int art_send_opt_int(const char *name, const char *s, long long min, long long max,
                            long long *out)
{
	if (art_parse_int(s, min, max, out) == 0)
		return 0;
	fprintf(stderr, "artery send: %s must be a number in [%lld, %lld]\n", name, min, max);
	return -1;
}

static void art_send_free(struct art_send_ctx *ctx)
{
	for (int i = 0; ctx->conns && i < ctx->nconns; i++) {
		struct art_send_conn *c = &ctx->conns[i];

		if (c->fd >= 0)
			close(c->fd);
		art_mllp_destroy(c->fr);
		art_buf_free(&c->out);
		free(c->fifo);
	}
	free(ctx->conns);
	for (size_t i = 0; i < ctx->npaths; i++)
		free(ctx->paths[i]);
	free(ctx->paths);
	free(ctx->msgs);
	free(ctx->lat);
	art_buf_free(&ctx->frames);
}

int art_cmd_send(int argc, char **argv)
{
	static const struct option lopts[] = {{"host", required_argument, NULL, 'H'},
	                                      {"port", required_argument, NULL, 'p'},
	                                      {"connections", required_argument, NULL, 'c'},
	                                      {"window", required_argument, NULL, 'w'},
	                                      {"rate", required_argument, NULL, 'r'},
	                                      {"timeout-ms", required_argument, NULL, 't'},
	                                      {"verbose", no_argument, NULL, 'v'},
	                                      {"json", no_argument, NULL, 'j'},
	                                      {"help", no_argument, NULL, 'h'},
	                                      {0, 0, 0, 0}};
	struct art_send_ctx ctx;
	long long v;
	int opt, rc = 2;
	int64_t t0;
	double secs;

	memset(&ctx, 0, sizeof(ctx));
	ctx.host = "127.0.0.1";
	ctx.port = "2575";
	ctx.nconns = 1;
	ctx.window = 1;
	ctx.timeout_us = 10000 * 1000LL;
	art_buf_init(&ctx.frames, ART_SEND_MAX_FRAMES);
	optind = 1;
	for (;;) {
		opt = getopt_long(argc, argv, "H:p:c:w:r:t:vjh", lopts, NULL);
		if (opt == -1)
			break;
		switch (opt) {
		case 'H':
			ctx.host = optarg;
			break;
		case 'p':
			if (art_send_opt_int("--port", optarg, 1, 65535, &v) == -1)
				goto out;
			ctx.port = optarg;
			break;
		case 'c':
			if (art_send_opt_int("--connections", optarg, 1, 4096, &v) == -1)
				goto out;
			ctx.nconns = (int)v;
			break;
		case 'w':
			if (art_send_opt_int("--window", optarg, 1, 4096, &v) == -1)
				goto out;
			ctx.window = (int)v;
			break;
		case 'r':
			if (art_send_opt_int("--rate", optarg, 0, 100000000, &v) == -1)
				goto out;
			ctx.rate = (double)v;
			break;
		case 't':
			if (art_send_opt_int("--timeout-ms", optarg, 1, 86400000, &v) == -1)
				goto out;
			ctx.timeout_us = v * 1000;
			break;
		case 'v':
			ctx.verbose = 1;
			break;
		case 'j':
			ctx.json = 1;
			break;
		case 'h':
			art_send_usage(stdout);
			rc = 0;
			goto out;
		default:
			art_send_usage(stderr);
			goto out;
		}
	}
	if (optind >= argc) {
		art_send_usage(stderr);
		goto out;
	}
	for (int a = optind; a < argc; a++)
		if (art_send_collect(&ctx, argv[a], 1) == -1)
			goto out;
	for (size_t i = 0; i < ctx.npaths; i++)
		if (art_send_load_file(&ctx, i) == -1) {
			fprintf(stderr, "artery send: out of memory\n");
			goto out;
		}
	if (ctx.nmsgs == 0) {
		fprintf(stderr, "artery send: no messages to send\n");
		rc = 1;
		goto out;
	}
	if (art_send_resolve(&ctx) == -1)
		goto out;
	ctx.lat = calloc(ctx.nmsgs, sizeof(*ctx.lat));
	ctx.conns = calloc((size_t)ctx.nconns, sizeof(*ctx.conns));
	if (!ctx.lat || !ctx.conns) {
		fprintf(stderr, "artery send: out of memory\n");
		goto out;
	}
	for (int i = 0; i < ctx.nconns; i++) {
		struct art_send_conn *c = &ctx.conns[i];

		c->fd = -1;
		c->fr = art_mllp_new(ART_SEND_MAX_ACK);
		c->fifo = calloc((size_t)ctx.window, sizeof(*c->fifo));
		art_buf_init(&c->out, ART_SEND_MAX_FRAMES);
		if (!c->fr || !c->fifo) {
			fprintf(stderr, "artery send: out of memory\n");
			goto out;
		}
	}
	art_signals_install();
	t0 = art_mono_us();
	art_send_run(&ctx);
	secs = (double)(art_mono_us() - t0) / 1e6;
	if (!art_run)
		fprintf(stderr, "artery send: interrupted\n");
	art_send_summary(&ctx, secs);
	fflush(stdout);
	rc =
	    ctx.counts[ART_SEND_ACCEPTED] == ctx.nmsgs && ctx.unsendable == 0 && ctx.unexpected == 0
	        ? 0
	        : 1;
out:
	art_send_free(&ctx);
	return rc;
}
