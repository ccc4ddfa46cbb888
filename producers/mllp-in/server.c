/*
 * server.c — the MLLP event loop of artery-mllp-in.
 *
 * One thread, one epoll instance: listening sockets, connections
 * (level-triggered) and the producer's wake-up fd, which becomes readable
 * when delivery reports are waiting. Each complete frame becomes a `struct
 * art_pending` appended to its connection's queue; its records go to the
 * producer as one unit; the delivery callback decides the final answer and
 * marks the connection; at the end of the loop iteration every marked
 * connection gets the ACKs answered at the head of its queue built and
 * written with one write(), strictly in queue order, so a pipelining sender
 * gets its ACKs in the order it sent. A pending outlives its connection if
 * the peer goes away (the delivery report still arrives and frees it).
 *
 * Per message on the hot path: one read() (several when frames share a
 * read), one write() per connection and loop iteration, the ingest step,
 * one producer unit. Pendings and their frame buffers are recycled through
 * a free list instead of being allocated per message (at most
 * ART_PENDING_POOL_MAX of them, buffers up to ART_PENDING_POOL_BUF: the pool
 * holds at most ~18 MiB, typically a few hundred KiB).
 *
 * Bounds: a frame is at most the listener's max_message_size (the framer
 * never buffers more); at most ART_CONN_MAX_PENDING messages in flight per
 * connection (reading pauses beyond that); output buffered per connection
 * is capped; idle connections are closed after idle_timeout_ms.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "art.h"
#include "buf.h"
#include "dedup.h"
#include "hl7_ack.h"
#include "hl7_ingest.h"
#include "log.h"
#include "metrics.h"
#include "mllp.h"
#include "producer.h"
#include "topology.h"

#define ART_CONN_MAX_PENDING 1024          /* in flight per connection before reading pauses */
#define ART_CONN_MAX_OUT (16u * 1024 * 1024) /* buffered ACK bytes per connection */
#define ART_READ_CHUNK 65536
#define ART_DEDUP_MAX 200000 /* remembered commits per listener */
#define ART_DRAIN_GRACE_MS 5000
#define ART_PENDING_POOL_MAX 1024  /* recycled pendings kept for reuse (~2 KiB each) */
#define ART_PENDING_POOL_BUF 16384 /* larger frame buffers are freed, not kept */
#define ART_ACK_MAX (64u * 1024)   /* one ACK message */

enum art_fd_kind { ART_FD_LISTENER = 1, ART_FD_CONN = 2, ART_FD_KAFKA = 3 };

struct art_listener {
	enum art_fd_kind kind; /* first: epoll data points here */
	int fd;
	int port;
	const struct art_mllp_listener *conf;
	struct art_hl7_ingester *ing;
	struct art_dedup *dedup;
	struct art_mllp_server *srv;
};

struct art_pending;

struct art_conn {
	enum art_fd_kind kind; /* first */
	int fd;
	uint64_t id;
	struct art_listener *l;
	struct art_mllp *fr;
	char remote[80];
	struct art_buf out; /* framed ACKs not yet written */
	size_t out_off;     /* bytes of out already written */
	struct art_pending *head, *tail;
	size_t npending;
	int64_t last_active_us;
	int reading;   /* EPOLLIN is registered */
	int writing;   /* EPOLLOUT is registered */
	int read_done; /* peer closed its side (or we stopped reading for good) */
	uint64_t junk_counted; /* framer junk bytes already added to the metric */
	int dead;              /* closed; freed by art_server_reap() at a safe point */
	int dirty;             /* on the server's dirty list: ACKs to build and write */
	struct art_conn *dirty_next;
	struct art_conn *prev, *next;
};

struct art_pending {
	struct art_conn *conn; /* NULL once the connection is gone */
	struct art_listener *l;
	struct art_pending *next; /* in the connection's queue, or in the pool */
	char *buf; /* the frame payload (owned) */
	size_t len;
	size_t cap; /* bytes allocated at buf */
	struct art_hl7_ingest in;
	int done;
	int duplicate;
	enum art_hl7_ack_code code; /* final answer once done */
	int err_code;
	char text[600];
	int64_t t0_us; /* monotonic receive time */
};

struct art_mllp_server {
	const struct art_topology *topo;
	struct art_producer *prod;
	int epfd;
	struct art_listener *listeners;
	size_t nlisteners;
	struct art_conn *conns;
	struct art_conn *dead; /* closed connections awaiting art_server_reap() */
	struct art_conn *dirty; /* connections with answered pendings to write */
	struct art_pending *pool; /* recycled pendings (buffers kept) */
	size_t npool;
	struct art_buf ack; /* scratch: the ACK being built */
	size_t nconns;
	uint64_t next_conn_id;
	size_t inflight; /* pendings not yet answered */
	int draining;
	enum art_fd_kind kafka_tag; /* epoll data of the producer's wake-up fd */
	/* metrics */
	struct art_metric *m_received, *m_outcome, *m_acks, *m_dups, *m_latency, *m_conns,
		*m_conns_total, *m_junk, *m_oversize, *m_midframe, *m_not_stored, *m_inflight,
		*m_idle;
};

/* ---- small helpers -------------------------------------------------------- */

static void art_conn_events(struct art_conn *c)
{
	struct epoll_event ev;
	int want_read = !c->read_done && !c->l->srv->draining &&
			c->npending < ART_CONN_MAX_PENDING;
	int want_write = c->out.len > c->out_off;

	if (c->dead)
		return;
	if (want_read == c->reading && want_write == c->writing)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = (want_read ? EPOLLIN : 0) | (want_write ? EPOLLOUT : 0) | EPOLLRDHUP;
	ev.data.ptr = c;
	epoll_ctl(c->l->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->reading = want_read;
	c->writing = want_write;
}

/* Frees p, or keeps it (and its frame buffer) for art_pending_new(). */
static void art_pending_free(struct art_mllp_server *srv, struct art_pending *p)
{
	art_hl7_ingest_clear(&p->in);
	if (srv->npool < ART_PENDING_POOL_MAX && p->cap <= ART_PENDING_POOL_BUF) {
		p->next = srv->pool;
		srv->pool = p;
		srv->npool++;
		return;
	}
	free(p->buf);
	free(p);
}

/* Puts c on the dirty list: its answered ACKs are written at the end of
 * this loop iteration (art_server_flush_dirty). */
static void art_conn_mark_dirty(struct art_conn *c)
{
	struct art_mllp_server *srv = c->l->srv;

	if (c->dirty || c->dead)
		return;
	c->dirty = 1;
	c->dirty_next = srv->dirty;
	srv->dirty = c;
}

/* Closes c now and frees it later (art_server_reap), so that callers up
 * the stack may still look at c->dead. Pendings still waiting for Kafka
 * live on without the connection; answered ones are freed now. */
static void art_conn_close(struct art_conn *c, const char *why)
{
	struct art_mllp_server *srv = c->l->srv;
	struct art_pending *p, *next;
	struct art_mllp_stats st;

	if (c->dead)
		return;
	c->dead = 1;
	art_mllp_stats(c->fr, &st);
	if (art_mllp_pending(c->fr) > 0) {
		art_warn("conn.midframe",
			 "conn %llu %s: peer left in the middle of a frame "
			 "(%zu bytes discarded, nothing acknowledged)",
			 (unsigned long long)c->id, c->l->conf->name, art_mllp_pending(c->fr));
		art_metrics_inc(srv->m_midframe, c->l->conf->name);
	}
	art_info("conn.close", "conn %llu %s from %s closed: %s (%llu frames, %zu unanswered)",
		 (unsigned long long)c->id, c->l->conf->name, c->remote, why,
		 (unsigned long long)st.frames, c->npending);
	for (p = c->head; p; p = next) {
		next = p->next;
		p->next = NULL;
		if (p->done)
			art_pending_free(srv, p);
		else
			p->conn = NULL;
	}
	c->head = c->tail = NULL;
	c->npending = 0;
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = srv->dead;
	srv->dead = c;
	srv->nconns--;
	art_metrics_set(srv->m_conns, NULL, (double)srv->nconns);
}

/* Frees connections closed since the last call. */
static void art_server_reap(struct art_mllp_server *srv)
{
	while (srv->dead) {
		struct art_conn *c = srv->dead;
		srv->dead = c->next;
		art_mllp_destroy(c->fr);
		art_buf_free(&c->out);
		free(c);
	}
}

/* Writes what is buffered. Returns 0, or -1 when the connection died (and
 * was closed). */
static int art_conn_write(struct art_conn *c)
{
	if (c->dead)
		return -1;
	while (c->out.len > c->out_off) {
		ssize_t n = write(c->fd, c->out.p + c->out_off, c->out.len - c->out_off);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == -1 && errno == EINTR)
			continue;
		art_conn_close(c, n == 0 ? "write returned 0" : strerror(errno));
		return -1;
	}
	if (c->out_off == c->out.len) {
		art_buf_reset(&c->out);
		c->out_off = 0;
	}
	art_conn_events(c);
	return 0;
}

/* ---- answering ------------------------------------------------------------ */

/* Builds and queues the ACK of an answered pending. */
static void art_pending_ack(struct art_conn *c, struct art_pending *p)
{
	struct art_mllp_server *srv = c->l->srv;
	struct art_hl7_ack_opts o;
	enum art_hl7_ack_mode mode = c->l->conf->ack_mode;
	struct art_buf *ack = &srv->ack;
	char errstr[256];
	int rc, enhanced;

	memset(&o, 0, sizeof(o));
	o.code = p->code;
	o.mode = mode;
	o.err_code = p->code == ART_ACK_ACCEPT ? 0 : p->err_code;
	o.text = p->text[0] ? p->text : NULL;
	enhanced = mode == ART_ACK_ENHANCED ||
		   (mode == ART_ACK_AUTO && p->in.msg && art_hl7_ack_is_enhanced(p->in.msg));
	art_metrics_inc(srv->m_acks, art_hl7_ack_code_str(p->code, enhanced ? ART_ACK_ENHANCED
									    : ART_ACK_ORIGINAL));
	art_metrics_observe(srv->m_latency, (double)(art_mono_us() - p->t0_us) / 1e6);
	/* Over MLLP every frame is answered, even when MSH-15 says NE/ER/SU:
	 * MLLP release 2 makes the commit acknowledgement mandatory, and a
	 * sender blocked on its socket must not wait forever
	 * (docs/decisions.md). */

	art_buf_reset(ack);
	if (p->in.msg)
		rc = art_hl7_ack_build(p->in.msg, &o, ack, errstr, sizeof(errstr));
	else
		rc = art_hl7_ack_build_raw(p->buf, p->len, &o, ack, errstr, sizeof(errstr));
	if (rc == -1) {
		/* The reason text was too long for the ACK: retry without it. */
		o.text = NULL;
		art_buf_reset(ack);
		rc = p->in.msg ? art_hl7_ack_build(p->in.msg, &o, ack, errstr, sizeof(errstr))
			       : art_hl7_ack_build_raw(p->buf, p->len, &o, ack, errstr,
						       sizeof(errstr));
	}
	if (rc == 0) {
		if (c->out.max == 0)
			art_buf_init(&c->out, ART_CONN_MAX_OUT);
		if (art_mllp_encode(ack->p, ack->len, &c->out) == -1)
			art_error("ack.write", "conn %llu: ACK does not fit the output buffer",
				  (unsigned long long)c->id);
	} else {
		art_error("ack.build", "conn %llu: %s", (unsigned long long)c->id, errstr);
	}
}

/* Writes the ACKs of answered pendings at the head of the queue, in order,
 * with one write() for all of them. */
static void art_conn_flush_acks(struct art_conn *c)
{
	if (c->dead)
		return;
	while (c->head && c->head->done) {
		struct art_pending *p = c->head;
		c->head = p->next;
		if (!c->head)
			c->tail = NULL;
		c->npending--;
		art_pending_ack(c, p);
		art_pending_free(c->l->srv, p);
	}
	if (art_conn_write(c) == -1)
		return;
	if (c->read_done && c->npending == 0 && c->out.len == c->out_off)
		art_conn_close(c, "peer closed and every message answered");
}

/* Decides the final answer of p (called once). */
static void art_pending_answer(struct art_pending *p, enum art_hl7_ack_code code, int err_code,
			       const char *text)
{
	struct art_mllp_server *srv = p->l->srv;

	p->done = 1;
	p->code = code;
	p->err_code = err_code;
	p->text[0] = '\0';
	if (text && text[0])
		snprintf(p->text, sizeof(p->text), "%s", text);
	srv->inflight--;
	if (code != ART_ACK_ACCEPT)
		art_info("msg.nak", "%s control id %s: %s %d: %s", p->l->conf->name,
			 p->in.control_id[0] ? p->in.control_id : "(none)",
			 code == ART_ACK_ERROR ? "AE" : "AR", err_code, p->text);
	if (p->conn)
		art_conn_mark_dirty(p->conn);
	else
		art_pending_free(srv, p); /* nobody left to answer */
}

/* Builds and writes the ACKs of every connection marked since the last
 * call: one write() per connection, however many of its messages Kafka
 * acknowledged in this loop iteration. */
static void art_server_flush_dirty(struct art_mllp_server *srv)
{
	while (srv->dirty) {
		struct art_conn *c = srv->dirty;

		srv->dirty = c->dirty_next;
		c->dirty_next = NULL;
		c->dirty = 0;
		art_conn_flush_acks(c);
	}
}

/* Producer callback: every record of the unit is stored, or one failed. */
static void art_pending_stored(void *opaque, rd_kafka_resp_err_t err, const char *errstr)
{
	struct art_pending *p = opaque;
	struct art_mllp_server *srv = p->l->srv;
	char text[600];

	if (err) {
		snprintf(text, sizeof(text), "message not stored, resend: %s", errstr);
		art_metrics_inc(srv->m_not_stored, p->l->conf->name);
		art_pending_answer(p, ART_ACK_ERROR, ART_ACK_ERR_INTERNAL, text);
		return;
	}
	if (p->in.code == ART_ACK_ACCEPT && p->in.dedupable)
		art_dedup_put(p->l->dedup, p->in.dedup_key, p->in.content_hash,
			      art_mono_us() / 1000000);
	art_pending_answer(p, p->in.code, p->in.err_code, p->in.reason);
}

/* ---- receiving ------------------------------------------------------------ */

/* Returns a pending holding a copy of the frame, queued on c: a recycled
 * one when the pool has one (its ingest result is already cleared), else a
 * new one. NULL when out of memory. */
static struct art_pending *art_pending_new(struct art_conn *c, const char *data, size_t len)
{
	struct art_mllp_server *srv = c->l->srv;
	struct art_pending *p = srv->pool;

	if (p) {
		srv->pool = p->next;
		srv->npool--;
	} else {
		p = calloc(1, sizeof(*p));
		if (!p)
			return NULL;
	}
	if (p->cap < len || !p->buf) {
		char *nb = malloc(len ? len : 1);

		if (!nb) {
			free(p->buf);
			free(p);
			return NULL;
		}
		free(p->buf);
		p->buf = nb;
		p->cap = len ? len : 1;
	}
	memcpy(p->buf, data, len);
	p->len = len;
	p->conn = c;
	p->l = c->l;
	p->next = NULL;
	p->done = 0;
	p->duplicate = 0;
	p->code = ART_ACK_ACCEPT;
	p->err_code = 0;
	p->text[0] = '\0';
	p->t0_us = art_mono_us();
	if (c->tail)
		c->tail->next = p;
	else
		c->head = p;
	c->tail = p;
	c->npending++;
	srv->inflight++;
	return p;
}

/* Sends p's records, or answers at once when there is nothing to store. */
static void art_pending_submit(struct art_pending *p)
{
	struct art_mllp_server *srv = p->l->srv;
	char errstr[300], text[400];

	art_metrics_inc(srv->m_outcome, art_hl7_ingest_kind_name(p->in.kind));
	if (p->in.code == ART_ACK_ACCEPT && p->in.dedupable &&
	    art_dedup_seen(p->l->dedup, p->in.dedup_key, p->in.content_hash,
			   art_mono_us() / 1000000)) {
		/* Same sender, control id and bytes already committed: ACK
		 * again, emit nothing. */
		p->duplicate = 1;
		art_metrics_inc(srv->m_dups, p->l->conf->name);
		art_pending_answer(p, ART_ACK_ACCEPT, 0, NULL);
		return;
	}
	if (p->in.recs.cnt == 0) {
		art_pending_answer(p, p->in.code, p->in.err_code, p->in.reason);
		return;
	}
	if (art_producer_send(srv->prod, &p->in.recs, art_pending_stored, p, errstr,
			      sizeof(errstr)) == -1) {
		snprintf(text, sizeof(text), "message not stored, resend: %s", errstr);
		art_metrics_inc(srv->m_not_stored, p->l->conf->name);
		art_record_list_free(&p->in.recs);
		art_pending_answer(p, ART_ACK_ERROR, ART_ACK_ERR_INTERNAL, text);
		return;
	}
	/* The producer copied the records; keep only the parse for the ACK. */
	art_record_list_free(&p->in.recs);
}

static void art_conn_frame(struct art_conn *c, const struct art_mllp_event *ev)
{
	struct art_listener *l = c->l;
	struct art_pending *p;
	int64_t now = art_now_us();

	art_metrics_inc(l->srv->m_received, l->conf->name);
	p = art_pending_new(c, ev->data, ev->len);
	if (!p) {
		art_error("oom", "conn %llu: out of memory for a frame; closing",
			  (unsigned long long)c->id);
		c->read_done = 1;
		return;
	}
	if (ev->type == ART_MLLP_OVERSIZE) {
		char reason[200];

		snprintf(reason, sizeof(reason),
			 "message exceeds max_message_size of %zu bytes (%zu bytes received "
			 "before it was refused)",
			 l->conf->max_message_size, ev->total);
		art_metrics_inc(l->srv->m_oversize, l->conf->name);
		art_hl7_ingest_refuse(l->ing, p->buf, p->len, c->remote, now, reason, &p->in);
	} else {
		art_hl7_ingest_prepare(l->ing, p->buf, p->len, c->remote, now, &p->in);
	}
	art_pending_submit(p);
}

/* Adds the junk bytes the framer discarded since the last call to the
 * listener's counter. */
static void art_conn_count_junk(struct art_conn *c)
{
	struct art_mllp_stats st;

	art_mllp_stats(c->fr, &st);
	if (st.junk_bytes > c->junk_counted) {
		art_metrics_add(c->l->srv->m_junk, c->l->conf->name,
				(double)(st.junk_bytes - c->junk_counted));
		c->junk_counted = st.junk_bytes;
	}
}

static void art_conn_read(struct art_conn *c)
{
	char chunk[ART_READ_CHUNK];
	struct art_mllp_event ev;
	ssize_t n;

	n = read(c->fd, chunk, sizeof(chunk));
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		art_conn_close(c, strerror(errno));
		return;
	}
	if (n == 0) {
		c->read_done = 1;
		if (c->npending == 0 && c->out.len == c->out_off)
			art_conn_close(c, "peer closed");
		else
			art_conn_events(c);
		return;
	}
	c->last_active_us = art_mono_us();
	art_mllp_feed(c->fr, chunk, (size_t)n);
	for (;;) {
		enum art_mllp_ev t = art_mllp_next(c->fr, &ev);
		if (t == ART_MLLP_NEED_MORE)
			break;
		if (t == ART_MLLP_ERROR) {
			art_conn_close(c, "out of memory buffering a frame");
			return;
		}
		art_conn_frame(c, &ev);
		if (c->dead)
			return;
	}
	art_conn_count_junk(c);
	art_conn_events(c);
}

static void art_listener_accept(struct art_listener *l)
{
	struct art_mllp_server *srv = l->srv;

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct epoll_event ev;
		struct art_conn *c;
		char host[64], serv[16];
		int fd, one = 1;

		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				art_warn("accept", "%s: %s", l->conf->name, strerror(errno));
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (c)
			c->fr = art_mllp_new(l->conf->max_message_size);
		if (!c || !c->fr) {
			art_error("oom", "%s: out of memory accepting a connection", l->conf->name);
			if (c)
				free(c);
			close(fd);
			continue;
		}
		c->kind = ART_FD_CONN;
		c->fd = fd;
		c->id = ++srv->next_conn_id;
		c->l = l;
		art_buf_init(&c->out, ART_CONN_MAX_OUT);
		if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv, sizeof(serv),
				NI_NUMERICHOST | NI_NUMERICSERV) == 0)
			snprintf(c->remote, sizeof(c->remote), "%s:%s", host, serv);
		else
			snprintf(c->remote, sizeof(c->remote), "unknown");
		c->last_active_us = art_mono_us();
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = c;
		if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			art_mllp_destroy(c->fr);
			free(c);
			close(fd);
			continue;
		}
		c->reading = 1;
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		srv->nconns++;
		art_metrics_set(srv->m_conns, NULL, (double)srv->nconns);
		art_metrics_inc(srv->m_conns_total, l->conf->name);
		art_info("conn.open", "conn %llu %s from %s", (unsigned long long)c->id,
			 l->conf->name, c->remote);
	}
}

/* ---- set-up, loop, drain --------------------------------------------------- */

static int art_listener_bind(struct art_listener *l, char *errstr, size_t errstr_size)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[16];
	int one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", l->conf->port);
	rc = getaddrinfo(l->conf->bind, port, &hints, &ai);
	if (rc != 0) {
		snprintf(errstr, errstr_size, "listener %s: bind address %s: %s", l->conf->name,
			 l->conf->bind, gai_strerror(rc));
		return -1;
	}
	l->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd == -1)
		goto syserr;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l->fd, ai->ai_addr, ai->ai_addrlen) == -1 || listen(l->fd, 512) == -1)
		goto syserr;
	freeaddrinfo(ai);
	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) == 0)
		l->port = ntohs(ss.ss_family == AF_INET6
					? ((struct sockaddr_in6 *)&ss)->sin6_port
					: ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
syserr:
	snprintf(errstr, errstr_size, "listener %s: %s:%d: %s", l->conf->name, l->conf->bind,
		 l->conf->port, strerror(errno));
	freeaddrinfo(ai);
	if (l->fd != -1)
		close(l->fd);
	l->fd = -1;
	return -1;
}

static void art_server_metrics(struct art_mllp_server *srv, struct art_metrics *m)
{
	srv->m_received = art_metrics_counter(m, "artery_mllp_messages_received_total",
					      "MLLP frames received, by listener", "listener");
	srv->m_outcome = art_metrics_counter(
		m, "artery_mllp_messages_total",
		"Messages by how they were handled (mapped, unsupported, quarantined, unmappable, "
		"unparseable, internal)",
		"outcome");
	srv->m_acks = art_metrics_counter(m, "artery_mllp_acks_total",
					  "Acknowledgements sent, by MSA-1 code (AA/CA accepted, "
					  "AE/CE error, AR/CR rejected)",
					  "code");
	srv->m_dups = art_metrics_counter(m, "artery_mllp_duplicates_total",
					  "Resends recognised and acknowledged without re-emitting",
					  "listener");
	srv->m_latency = art_metrics_histogram(m, "artery_mllp_ack_latency_seconds",
					       "Frame received to ACK queued", NULL, 0);
	srv->m_conns = art_metrics_gauge(m, "artery_mllp_connections", "Open MLLP connections",
					 NULL);
	srv->m_conns_total = art_metrics_counter(m, "artery_mllp_connections_total",
						 "MLLP connections accepted", "listener");
	srv->m_junk = art_metrics_counter(m, "artery_mllp_junk_bytes_total",
					  "Bytes outside MLLP frames, discarded", "listener");
	srv->m_oversize = art_metrics_counter(m, "artery_mllp_oversize_frames_total",
					      "Frames over max_message_size, refused with AR",
					      "listener");
	srv->m_midframe = art_metrics_counter(m, "artery_mllp_midframe_disconnects_total",
					      "Peers that disconnected inside a frame", "listener");
	srv->m_not_stored = art_metrics_counter(
		m, "artery_mllp_not_stored_total",
		"Messages answered AE/CE because Kafka did not store them in time", "listener");
	srv->m_inflight = art_metrics_gauge(m, "artery_mllp_inflight",
					    "Messages received and not yet answered", NULL);
	srv->m_idle = art_metrics_counter(m, "artery_mllp_idle_closes_total",
					  "Connections closed after idle_timeout_ms", "listener");
}

struct art_mllp_server *art_mllp_server_new(const struct art_topology *topo,
					    const struct art_schema_registry *reg,
					    struct art_producer *prod, struct art_metrics *metrics,
					    char *errstr, size_t errstr_size)
{
	struct art_mllp_server *srv = calloc(1, sizeof(*srv));

	if (!srv) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	srv->topo = topo;
	srv->prod = prod;
	art_buf_init(&srv->ack, ART_ACK_MAX);
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->listeners = calloc(topo->mllp_cnt, sizeof(*srv->listeners));
	if (srv->epfd == -1 || !srv->listeners) {
		snprintf(errstr, errstr_size, "epoll: %s", strerror(errno));
		goto fail;
	}
	art_server_metrics(srv, metrics);
	srv->kafka_tag = ART_FD_KAFKA;
	if (art_producer_wakeup_fd(prod) != -1) {
		struct epoll_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = &srv->kafka_tag;
		epoll_ctl(srv->epfd, EPOLL_CTL_ADD, art_producer_wakeup_fd(prod), &ev);
	}
	for (size_t i = 0; i < topo->mllp_cnt; i++) {
		struct art_listener *l = &srv->listeners[i];
		struct art_hl7_ingest_conf ic;
		struct epoll_event ev;

		l->kind = ART_FD_LISTENER;
		l->fd = -1;
		l->conf = &topo->mllp[i];
		l->srv = srv;
		srv->nlisteners++;
		memset(&ic, 0, sizeof(ic));
		ic.reg = reg;
		ic.channel = l->conf->name;
		ic.raw_topic = l->conf->raw_topic;
		ic.dlq_topic = l->conf->dlq_topic;
		ic.on_error = l->conf->on_error;
		ic.hl7 = art_hl7_opts_default();
		ic.hl7.max_message_size = l->conf->max_message_size;
		l->ing = art_hl7_ingester_new(&ic, errstr, errstr_size);
		if (!l->ing)
			goto fail;
		l->dedup = art_dedup_new(l->conf->dedup_window_s, ART_DEDUP_MAX);
		if (!l->dedup) {
			snprintf(errstr, errstr_size, "out of memory");
			goto fail;
		}
		if (art_listener_bind(l, errstr, errstr_size) == -1)
			goto fail;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = l;
		epoll_ctl(srv->epfd, EPOLL_CTL_ADD, l->fd, &ev);
		art_info("listener.start",
			 "listener %s on %s:%d (ack_mode %s, on_error %s, max %zu bytes)",
			 l->conf->name, l->conf->bind, l->port, art_ack_mode_name(l->conf->ack_mode),
			 art_on_error_name(l->conf->on_error), l->conf->max_message_size);
	}
	return srv;
fail:
	art_mllp_server_destroy(srv);
	return NULL;
}

/* Closes connections idle longer than their listener allows (only when
 * nothing of theirs is in flight). */
static void art_server_idle_scan(struct art_mllp_server *srv)
{
	int64_t now = art_mono_us();
	struct art_conn *c, *next;

	for (c = srv->conns; c; c = next) {
		next = c->next;
		if (c->npending == 0 &&
		    now - c->last_active_us > (int64_t)c->l->conf->idle_timeout_ms * 1000) {
			art_metrics_inc(srv->m_idle, c->l->conf->name);
			art_conn_close(c, "idle timeout");
		}
	}
	art_server_reap(srv);
}

/* One loop iteration: waits up to timeout_ms for sockets or delivery
 * reports; serves delivery reports first (their ACKs go out before new
 * frames are parsed), then the sockets, then the producer once more (its
 * poll every iteration); writes the ACKs answered; frees closed
 * connections. */
static void art_server_dispatch(struct art_mllp_server *srv, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(srv->epfd, evs, 64, timeout_ms);

	for (int i = 0; i < n; i++) {
		if (*(enum art_fd_kind *)evs[i].data.ptr == ART_FD_KAFKA) {
			art_producer_serve(srv->prod, 1);
			art_server_flush_dirty(srv);
			break;
		}
	}
	for (int i = 0; i < n; i++) {
		enum art_fd_kind *kind = evs[i].data.ptr;

		if (*kind == ART_FD_KAFKA)
			continue;
		if (*kind == ART_FD_LISTENER) {
			art_listener_accept((struct art_listener *)kind);
			continue;
		}
		struct art_conn *c = (struct art_conn *)kind;
		if (c->dead)
			continue;
		if (evs[i].events & EPOLLOUT) {
			if (art_conn_write(c) == -1)
				continue;
		}
		if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			if (!c->dead && (c->reading || (evs[i].events & (EPOLLHUP | EPOLLERR))))
				art_conn_read(c);
		}
	}
	art_producer_serve(srv->prod, 0);
	art_server_flush_dirty(srv);
	art_metrics_set(srv->m_inflight, NULL, (double)srv->inflight);
	art_server_reap(srv);
}

/* Closes listeners and stops reading: what is received stays answered. */
static void art_server_stop_accepting(struct art_mllp_server *srv)
{
	srv->draining = 1;
	for (size_t i = 0; i < srv->nlisteners; i++) {
		struct art_listener *l = &srv->listeners[i];
		if (l->fd != -1) {
			epoll_ctl(srv->epfd, EPOLL_CTL_DEL, l->fd, NULL);
			close(l->fd);
			l->fd = -1;
		}
	}
	for (struct art_conn *c = srv->conns; c; c = c->next)
		art_conn_events(c);
}

static int art_server_out_pending(const struct art_mllp_server *srv)
{
	for (const struct art_conn *c = srv->conns; c; c = c->next)
		if (c->out.len > c->out_off)
			return 1;
	return 0;
}

int art_mllp_server_run(struct art_mllp_server *srv, void (*tick)(void *), void *tick_opaque)
{
	int64_t next_scan = art_mono_us() + 1000000, deadline;
	int max_timeout_ms = 0;

	while (art_run) {
		art_server_dispatch(srv, 100);
		if (art_mono_us() >= next_scan) {
			art_server_idle_scan(srv);
			next_scan = art_mono_us() + 1000000;
		}
		if (tick)
			tick(tick_opaque);
	}

	/* Drain: every message received gets its ACK or NAK. The producer's
	 * message timeout bounds how long that can take. */
	art_info("drain", "stopping: %zu message(s) in flight, %zu connection(s)", srv->inflight,
		 srv->nconns);
	art_server_stop_accepting(srv);
	for (size_t i = 0; i < srv->nlisteners; i++)
		max_timeout_ms = ART_MAX(max_timeout_ms, srv->listeners[i].conf->kafka_timeout_ms);
	deadline = art_mono_us() + (int64_t)(max_timeout_ms + ART_DRAIN_GRACE_MS) * 1000;
	while ((srv->inflight > 0 || art_server_out_pending(srv)) && art_mono_us() < deadline)
		art_server_dispatch(srv, 5);
	if (srv->inflight > 0) {
		art_error("drain", "%zu message(s) still unanswered at the drain deadline",
			  srv->inflight);
		return -1;
	}
	art_info("drain", "every message answered");
	return 0;
}

void art_mllp_server_destroy(struct art_mllp_server *srv)
{
	if (!srv)
		return;
	/* Answers decided since the last iteration (the producer's final
	 * delivery reports at shutdown) still go out, best effort. */
	art_server_flush_dirty(srv);
	while (srv->conns)
		art_conn_close(srv->conns, "shutdown");
	art_server_reap(srv);
	while (srv->pool) {
		struct art_pending *p = srv->pool;
		srv->pool = p->next;
		free(p->buf);
		free(p);
	}
	art_buf_free(&srv->ack);
	for (size_t i = 0; i < srv->nlisteners; i++) {
		struct art_listener *l = &srv->listeners[i];
		if (l->fd != -1)
			close(l->fd);
		art_hl7_ingester_destroy(l->ing);
		art_dedup_destroy(l->dedup);
	}
	free(srv->listeners);
	if (srv->epfd != -1)
		close(srv->epfd);
	free(srv);
}
