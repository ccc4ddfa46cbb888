/*
 * sink_mllp.c — the HL7 v2 over MLLP target ("mllp") of artery-ehr-out
 * (sinks.h): forwards raw.hl7v2 records (the original message bytes, the
 * source of truth) to a legacy EHR's MLLP listener and reads its ACK.
 *
 * ACK → answer: AA/CA → ART_OK; AE/CE → ART_RETRY (the receiver had a
 * transient problem); AR/CR → ART_FAIL (rejected: dead letter); an ACK
 * for another control id, no ACK within ack_timeout_ms, a refused or
 * dropped connection → ART_RETRY. The connection is kept open between
 * events and closed after any failure (its state is unknown); the next
 * delivery reconnects, and the runtime's backoff spaces the attempts.
 *
 * A legacy EHR cannot deduplicate (dedups_itself = 0): the ledger keeps a
 * replay from resending. The crash window (delivered, ledger not yet
 * written) may resend one message; HL7 receivers usually drop a repeated
 * MSH-10 (docs/ehr-out.md).
 *
 * Sizes: one message in flight; ACKs are read up to 64 KiB.
 */
#include "sinks.h"

#include "buf.h"
#include "hl7_ack.h"
#include "log.h"
#include "mllp.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ART_MLLP_SINK_MAX_ACK (64 * 1024)         /* bytes of an ACK frame */
#define ART_MLLP_SINK_MAX_MSG (64u * 1024 * 1024) /* bytes of a forwarded message */

/* The sink's context. */
struct art_mllp_sink {
	char host[256];
	char port[16];
	int fd; /* -1 when not connected */
	int connect_timeout_ms, ack_timeout_ms;
	struct art_mllp *fr; /* reads ACK frames */
	struct art_buf out;  /* the frame being sent */
	struct art_metric *m_acks;    /* artery_sink_mllp_acks_total{outcome} */
	struct art_metric *m_ack_sec; /* artery_sink_mllp_ack_seconds */
};

static void art_mllp_sink_disconnect(struct art_mllp_sink *ms)
{
	if (ms->fd != -1)
		close(ms->fd);
	ms->fd = -1;
	art_mllp_reset(ms->fr);
}

/* Waits for fd to be ready for events within deadline (art_mono_us). */
static int art_mllp_sink_wait(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int64_t left = (deadline - art_mono_us()) / 1000;
	int r;

	if (left <= 0)
		return 0;
	do {
		r = poll(&pfd, 1, (int)left);
	} while (r == -1 && errno == EINTR);
	return r;
}

/* Connects (non-blocking, bounded by connect_timeout_ms). 0 or -1. */
static int art_mllp_sink_connect(struct art_mllp_sink *ms, char *errstr, size_t errstr_size)
{
	struct addrinfo hints, *ai = NULL, *a;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(ms->host, ms->port, &hints, &ai);
	if (rc != 0) {
		snprintf(errstr, errstr_size, "mllp: resolve %s: %s", ms->host, gai_strerror(rc));
		return -1;
	}
	for (a = ai; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int64_t deadline = art_mono_us() + (int64_t)ms->connect_timeout_ms * 1000;
		int err = 0;
		socklen_t elen = sizeof(err);

		if (fd == -1)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == -1 && errno != EINPROGRESS) {
			snprintf(errstr, errstr_size, "mllp: connect %s:%s: %s", ms->host, ms->port,
			         strerror(errno));
			close(fd);
			continue;
		}
		if (art_mllp_sink_wait(fd, POLLOUT, deadline) <= 0) {
			snprintf(errstr, errstr_size, "mllp: connect %s:%s: timed out", ms->host, ms->port);
			close(fd);
			continue;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
		if (err) {
			snprintf(errstr, errstr_size, "mllp: connect %s:%s: %s", ms->host, ms->port,
			         strerror(err));
			close(fd);
			continue;
		}
		ms->fd = fd;
		break;
	}
	freeaddrinfo(ai);
	return ms->fd == -1 ? -1 : 0;
}

static int art_mllp_sink_init(void **ctxp, const struct art_sink_conf *conf, char *errstr,
                              size_t errstr_size)
{
	static const char *const allowed[] = {"connect_timeout_ms", "ack_timeout_ms", NULL};
	struct art_mllp_sink *ms;
	const char *url = conf->target_url, *colon;
	long long v;

	if (art_sink_conf_check(conf, allowed, errstr, errstr_size) == -1)
		return -1;
	ms = calloc(1, sizeof(*ms));
	if (!ms) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	*ctxp = ms;
	ms->fd = -1;
	art_buf_init(&ms->out, ART_MLLP_SINK_MAX_MSG + 3);
	ms->fr = art_mllp_new(ART_MLLP_SINK_MAX_ACK);
	if (!ms->fr) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	if (!url || strncmp(url, "mllp://", 7) || !(colon = strrchr(url + 7, ':')) ||
	    (size_t)(colon - (url + 7)) >= sizeof(ms->host) || colon == url + 7 ||
	    art_parse_int(colon + 1, 1, 65535, &v) == -1) {
		snprintf(errstr, errstr_size, "%s: target of %s (type mllp) needs url: mllp://<host>:<port>",
		         conf->topology_path ? conf->topology_path : "(topology)", conf->name);
		return -1;
	}
	memcpy(ms->host, url + 7, (size_t)(colon - (url + 7)));
	ms->host[colon - (url + 7)] = '\0';
	snprintf(ms->port, sizeof(ms->port), "%lld", v);
	ms->m_acks = art_sink_counter(conf, "artery_sink_mllp_acks_total",
	                              "Messages sent to the MLLP target, by ACK code (AA, AE, AR, "
	                              "CA, CE, CR) or failure (connect_error, io_error, no_ack, "
	                              "bad_ack, not_sent)",
	                              "outcome");
	ms->m_ack_sec = art_sink_histogram(conf, "artery_sink_mllp_ack_seconds",
	                                   "From sending a message to reading its ACK");
	if (art_sink_conf_int(conf, "connect_timeout_ms", 100, 60000, 3000, &v, errstr, errstr_size) ==
	    -1)
		return -1;
	ms->connect_timeout_ms = (int)v;
	if (art_sink_conf_int(conf, "ack_timeout_ms", 100, 300000, 10000, &v, errstr, errstr_size) == -1)
		return -1;
	ms->ack_timeout_ms = (int)v;
	return 0;
}

/* The raw HL7 bytes of a RawMessage event into *p and *len (borrowed from
 * ev). 0 or -1 (errstr set). */
static int art_mllp_sink_payload(const struct art_event *ev, const char **p, size_t *len,
                                 char *errstr, size_t errstr_size)
{
	*p = art_tnode_bytes(art_tnode_get(ev->doc, "payload"), len);
	if (!*p) {
		snprintf(errstr, errstr_size, "mllp: %s is not a raw.hl7v2 RawMessage (no payload)",
		         ev->topic);
		return -1;
	}
	return 0;
}

/* Sends one message and reads its ACK; *outcome says what happened (the
 * ACK code, or what went wrong) for the metrics. */
static enum art_res art_mllp_sink_exchange(struct art_mllp_sink *ms, const struct art_event *ev,
                                           const char **outcome, char *outcome_buf,
                                           char *errstr, size_t errstr_size)
{
	const char *payload;
	size_t len, off = 0;
	int64_t deadline;
	struct art_hl7_ack_info info;
	const char *ctrl = art_tnode_str(art_tnode_get(ev->doc, "control_id"));
	char buf[4096];

	*outcome = "not_sent";
	if (art_mllp_sink_payload(ev, &payload, &len, errstr, errstr_size) == -1)
		return ART_FAIL;
	art_buf_reset(&ms->out);
	if (art_mllp_encode(payload, len, &ms->out) == -1) {
		snprintf(errstr, errstr_size, "mllp: message contains MLLP framing bytes or is too large");
		return ART_FAIL;
	}
	*outcome = "connect_error";
	if (ms->fd == -1 && art_mllp_sink_connect(ms, errstr, errstr_size) == -1)
		return ART_RETRY;
	*outcome = "io_error";
	deadline = art_mono_us() + (int64_t)ms->ack_timeout_ms * 1000;
	while (off < ms->out.len) {
		ssize_t w = send(ms->fd, ms->out.p + off, ms->out.len - off, MSG_NOSIGNAL);

		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w == -1 && (errno == EAGAIN || errno == EINTR) &&
		    art_mllp_sink_wait(ms->fd, POLLOUT, deadline) > 0)
			continue;
		snprintf(errstr, errstr_size, "mllp: send: %s", w == -1 ? strerror(errno) : "timed out");
		art_mllp_sink_disconnect(ms);
		return ART_RETRY;
	}
	for (;;) {
		struct art_mllp_event fev;
		ssize_t r;
		enum art_mllp_ev t;

		while ((t = art_mllp_next(ms->fr, &fev)) != ART_MLLP_NEED_MORE) {
			*outcome = "bad_ack";
			if (t != ART_MLLP_FRAME) {
				snprintf(errstr, errstr_size, "mllp: unreadable ACK frame");
				art_mllp_sink_disconnect(ms);
				return ART_RETRY;
			}
			if (art_hl7_ack_read(fev.data, fev.len, &info, errstr, errstr_size) == -1) {
				art_mllp_sink_disconnect(ms);
				return ART_RETRY;
			}
			if (ctrl && info.control_id[0] && strcmp(ctrl, info.control_id)) {
				snprintf(errstr, errstr_size, "mllp: ACK for another message (MSA-2 mismatch)");
				art_mllp_sink_disconnect(ms);
				return ART_RETRY;
			}
			snprintf(outcome_buf, 8, "%s", info.code);
			*outcome = outcome_buf;
			if (info.accepted) {
				art_mllp_reset(ms->fr); /* nothing may point into buf after return */
				return ART_OK;
			}
			snprintf(errstr, errstr_size, "mllp: %s%s%s", info.code,
			         info.err_code >= 0 ? " " : "",
			         info.err_code >= 0 ? art_hl7_ack_err_text(info.err_code) : "");
			art_mllp_sink_disconnect(ms);
			return info.code[1] == 'R' ? ART_FAIL : ART_RETRY;
		}
		if (art_mllp_sink_wait(ms->fd, POLLIN, deadline) <= 0) {
			*outcome = "no_ack";
			snprintf(errstr, errstr_size, "mllp: no ACK within %d ms", ms->ack_timeout_ms);
			art_mllp_sink_disconnect(ms);
			return ART_RETRY;
		}
		r = recv(ms->fd, buf, sizeof(buf), 0);
		if (r <= 0) {
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			snprintf(errstr, errstr_size, "mllp: connection %s before the ACK",
			         r == 0 ? "closed" : strerror(errno));
			art_mllp_sink_disconnect(ms);
			return ART_RETRY;
		}
		art_mllp_feed(ms->fr, buf, (size_t)r);
	}
}

static enum art_res art_mllp_sink_deliver(void *ctx, const struct art_event *ev, int *retry_after_ms,
                                          char *errstr, size_t errstr_size)
{
	struct art_mllp_sink *ms = ctx;
	const char *outcome;
	char code[8];
	int64_t t0 = art_mono_us();
	enum art_res res;

	(void)retry_after_ms;
	res = art_mllp_sink_exchange(ms, ev, &outcome, code, errstr, errstr_size);
	art_sink_count(ms->m_acks, outcome, 1);
	if (outcome == code)
		art_sink_observe(ms->m_ack_sec, (double)(art_mono_us() - t0) / 1e6);
	return res;
}

static void art_mllp_sink_close(void *ctx)
{
	struct art_mllp_sink *ms = ctx;

	if (!ms)
		return;
	if (ms->fd != -1)
		close(ms->fd);
	art_mllp_destroy(ms->fr);
	art_buf_free(&ms->out);
	free(ms);
}

const struct art_sink_ops art_sink_mllp_ops = {
    .name = "mllp",
    .init = art_mllp_sink_init,
    .deliver = art_mllp_sink_deliver,
    .close = art_mllp_sink_close,
    .dedups_itself = 0,
};
