/*
 * test_send.c — `artery send` against a small MLLP server running in a
 * thread of this test on loopback. The server answers with ACKs built by
 * art_hl7_ack_build(), chosen by the control id it receives:
 *   ...AE...  -> AE/CE      ...AR...  -> AR/CR
 *   ...NOACK... -> no answer  ...BADID... -> an ACK with an empty MSA-2
 *   anything else -> AA/CA
 * It can hold its ACKs until `hold` frames arrived (or 30 ms passed), which
 * makes pipelining observable: it records the most frames a connection
 * had outstanding at once. Python's mllp_send (python3-hl7) is used as an
 * independent client to check the server side framing, when installed.
 */
#include "art.h"
#include "hl7.h"
#include "hl7_ack.h"
#include "mllp.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXC 64

struct srv_conn {
	int fd;
	struct art_mllp *fr;
	struct art_buf acks; /* held ACK frames */
	int held;
	int64_t first_held_us;
};

struct srv {
	int lfd, port, hold;
	volatile int stop;
	pthread_t th;
	pthread_mutex_t mu;
	/* observations */
	int accepts, frames, non_msh_frames, max_outstanding;
};

static void srv_flush(struct srv_conn *c)
{
	size_t off = 0;

	while (off < c->acks.len) {
		ssize_t n = send(c->fd, c->acks.p + off, c->acks.len - off, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	art_buf_reset(&c->acks);
	c->held = 0;
}

static void srv_on_frame(struct srv *s, struct srv_conn *c, const char *p, size_t len)
{
	struct art_hl7_ack_opts o;
	struct art_hl7_msg *msg;
	struct art_buf ack;
	char err[256], id[128] = "";

	pthread_mutex_lock(&s->mu);
	s->frames++;
	if (len < 3 || memcmp(p, "MSH", 3) != 0)
		s->non_msh_frames++;
	pthread_mutex_unlock(&s->mu);
	msg = art_hl7_parse(p, len, NULL, err, sizeof(err));
	if (msg) {
		const struct art_hl7_header *h = art_hl7_header(msg);

		snprintf(id, sizeof(id), "%.*s", (int)h->control_id.len,
		         h->control_id.p ? h->control_id.p : "");
	}
	memset(&o, 0, sizeof(o));
	o.sending_app = "TESTSRV";
	if (strstr(id, "NOACK")) {
		art_hl7_msg_destroy(msg);
		return;
	}
	if (strstr(id, "AE")) {
		o.code = ART_ACK_ERROR;
		o.err_code = 207;
		o.text = "test server says AE";
	} else if (strstr(id, "AR") || !msg) {
		o.code = ART_ACK_REJECT;
		o.err_code = 200;
	}
	art_buf_init(&ack, 1 << 16);
	if (strstr(id, "BADID"))
		art_hl7_ack_build(NULL, &o, &ack, err, sizeof(err));
	else
		art_hl7_ack_build(msg, &o, &ack, err, sizeof(err));
	art_hl7_msg_destroy(msg);
	art_mllp_encode(ack.p, ack.len, &c->acks);
	art_buf_free(&ack);
	if (c->held == 0)
		c->first_held_us = art_mono_us();
	c->held++;
	pthread_mutex_lock(&s->mu);
	if (c->held > s->max_outstanding)
		s->max_outstanding = c->held;
	pthread_mutex_unlock(&s->mu);
	if (c->held >= s->hold)
		srv_flush(c);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	struct srv_conn conns[MAXC];
	struct pollfd pfd[MAXC + 1];
	int n = 0;

	while (!s->stop) {
		pfd[0].fd = s->lfd;
		pfd[0].events = POLLIN;
		for (int i = 0; i < n; i++) {
			pfd[i + 1].fd = conns[i].fd;
			pfd[i + 1].events = POLLIN;
		}
		poll(pfd, (nfds_t)n + 1, 5);
		if ((pfd[0].revents & POLLIN) && n < MAXC) {
			int fd = accept(s->lfd, NULL, NULL);

			if (fd >= 0) {
				memset(&conns[n], 0, sizeof(conns[n]));
				conns[n].fd = fd;
				conns[n].fr = art_mllp_new(1 << 20);
				art_buf_init(&conns[n].acks, 1 << 24);
				n++;
				pthread_mutex_lock(&s->mu);
				s->accepts++;
				pthread_mutex_unlock(&s->mu);
			}
		}
		for (int i = 0; i < n; i++) {
			struct srv_conn *c = &conns[i];
			struct art_mllp_event ev;
			char buf[65536];
			ssize_t r;

			if (i + 1 <= n && (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    pfd[i + 1].fd == c->fd) {
				r = recv(c->fd, buf, sizeof(buf), 0);
				if (r <= 0) {
					close(c->fd);
					art_mllp_destroy(c->fr);
					art_buf_free(&c->acks);
					conns[i] = conns[n - 1];
					pfd[i + 1] = pfd[n];
					n--;
					i--;
					continue;
				}
				art_mllp_feed(c->fr, buf, (size_t)r);
				while (art_mllp_next(c->fr, &ev) == ART_MLLP_FRAME)
					srv_on_frame(s, c, ev.data, ev.len);
			}
			if (c->held && art_mono_us() - c->first_held_us > 30000)
				srv_flush(c);
		}
	}
	for (int i = 0; i < n; i++) {
		close(conns[i].fd);
		art_mllp_destroy(conns[i].fr);
		art_buf_free(&conns[i].acks);
	}
	return NULL;
}

static struct srv *srv_start(int hold)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int one = 1;

	s->hold = hold;
	pthread_mutex_init(&s->mu, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s->lfd, 64), 0);
	getsockname(s->lfd, (struct sockaddr *)&a, &alen);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->th, NULL, srv_main, s);
	return s;
}

static void srv_stop(struct srv *s)
{
	s->stop = 1;
	pthread_join(s->th, NULL);
	close(s->lfd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Runs a shell command, returns its exit status and its stdout (static). */
static int run(const char *cmd, const char **outp)
{
	static char out[1 << 16];
	size_t n = 0;
	FILE *fp = popen(cmd, "r");
	int st;

	cr_assert_not_null(fp);
	while (n < sizeof(out) - 1) {
		size_t r = fread(out + n, 1, sizeof(out) - 1 - n, fp);

		if (r == 0)
			break;
		n += r;
	}
	out[n] = '\0';
	st = pclose(fp);
	*outp = out;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs artery send with args on port; parses the --json summary. */
static int send_json(int port, const char *args, json_t **summary)
{
	char cmd[4096];
	const char *out, *last;
	json_error_t jerr;
	int rc;

	snprintf(cmd, sizeof(cmd), "%s/artery send --json --port %d %s", ART_BINARY_DIR, port,
	         args);
	rc = run(cmd, &out);
	last = strstr(out, "{\"files\"");
	cr_assert_not_null(last, "no JSON summary in: %s", out);
	*summary = json_loads(last, 0, &jerr);
	cr_assert_not_null(*summary, "bad JSON: %s", out);
	return rc;
}

static long long jint(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* Writes n messages with control ids PREFIX<i> into dir/name. */
static void write_msgs(const char *dir, const char *name, const char *prefix, int n)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	cr_assert_not_null(fp);
	for (int i = 1; i <= n; i++)
		fprintf(
		    fp,
		    "MSH|^~\\&|SENDER|FAC|ARTERY|HUB|20260314120000||ADT^A01^ADT_A01|%s%d|P|2.5.1\r"
		    "PID|1||MRN%d^^^FAC^MR||DOE^JANE||19840212|F\r",
		    prefix, i, i);
	fclose(fp);
}

static char *tmpdir(void)
{
	static char dir[64];

	snprintf(dir, sizeof(dir), "/tmp/artery-send-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	return dir;
}

static void rmdir_all(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

Test(send, examples_all_accepted_and_batches_split, .timeout = 60)
{
	struct srv *s = srv_start(1);
	char args[1024];
	json_t *j;
	int rc;

	snprintf(args, sizeof(args), "%s/examples/hl7", ART_SOURCE_DIR);
	rc = send_json(s->port, args, &j);
	/* 6 one-message files + a batch of 3; README.md is not sent */
	cr_expect_eq(jint(j, "messages"), 9);
	cr_expect_eq(jint(j, "accepted"), 9);
	cr_expect_eq(rc, 0);
	cr_expect_eq(s->frames, 9);
	cr_expect_eq(s->non_msh_frames, 0, "FHS/BHS envelopes are never sent");
	json_decref(j);
	srv_stop(s);
}

Test(send, counts_errors_rejects_and_exit_code, .timeout = 60)
{
	struct srv *s = srv_start(1);
	char *dir = tmpdir();
	char args[1024];
	const char *out;
	json_t *j;
	int rc;

	write_msgs(dir, "ok.hl7", "OK", 3);
	write_msgs(dir, "ae.hl7", "AE", 2);
	write_msgs(dir, "ar.hl7", "AR", 1);
	snprintf(args, sizeof(args), "%s", dir);
	rc = send_json(s->port, args, &j);
	cr_expect_eq(rc, 1);
	cr_expect_eq(jint(j, "messages"), 6);
	cr_expect_eq(jint(j, "accepted"), 3);
	cr_expect_eq(jint(j, "errors"), 2);
	cr_expect_eq(jint(j, "rejected"), 1);
	json_decref(j);

	/* --verbose: one line per message with the code and the ERR text */
	snprintf(args, sizeof(args), "%s/artery send --verbose --port %d %s/ae.hl7", ART_BINARY_DIR,
	         s->port, dir);
	rc = run(args, &out);
	cr_expect_eq(rc, 1);
	cr_expect_not_null(strstr(out, "AE1\tAE\t"), "%s", out);
	cr_expect_not_null(strstr(out, "test server says AE"), "%s", out);
	cr_expect_not_null(strstr(out, "errors (AE/CE)     2"), "%s", out);
	rmdir_all(dir);
	srv_stop(s);
}

Test(send, timeout_and_control_id_mismatch, .timeout = 60)
{
	struct srv *s = srv_start(1);
	char *dir = tmpdir();
	char args[1024];
	json_t *j;
	int rc;

	write_msgs(dir, "noack.hl7", "NOACK", 1);
	snprintf(args, sizeof(args), "--timeout-ms 200 %s/noack.hl7", dir);
	rc = send_json(s->port, args, &j);
	cr_expect_eq(rc, 1);
	cr_expect_eq(jint(j, "timeouts"), 1);
	json_decref(j);

	write_msgs(dir, "bad.hl7", "BADID", 2);
	snprintf(args, sizeof(args), "%s/bad.hl7", dir);
	rc = send_json(s->port, args, &j);
	cr_expect_eq(rc, 1);
	cr_expect_eq(jint(j, "bad_acks"), 2);
	cr_expect_eq(jint(j, "accepted"), 0);
	json_decref(j);
	rmdir_all(dir);
	srv_stop(s);
}

Test(send, window_pipelines_frames, .timeout = 60)
{
	char *dir = tmpdir();
	char args[1024];
	struct srv *s;
	json_t *j;

	write_msgs(dir, "many.hl7", "P", 16);
	snprintf(args, sizeof(args), "--window 4 %s", dir);
	s = srv_start(4);
	cr_expect_eq(send_json(s->port, args, &j), 0);
	cr_expect_eq(jint(j, "accepted"), 16);
	cr_expect_eq(s->max_outstanding, 4, "4 frames in flight on one connection");
	json_decref(j);
	srv_stop(s);

	snprintf(args, sizeof(args), "%s", dir);
	s = srv_start(4);
	cr_expect_eq(send_json(s->port, args, &j), 0);
	cr_expect_eq(s->max_outstanding, 1, "without --window: send, wait for the ACK");
	json_decref(j);
	srv_stop(s);
	rmdir_all(dir);
}

Test(send, connections_and_rate, .timeout = 60)
{
	struct srv *s = srv_start(1);
	char *dir = tmpdir();
	char args[1024];
	json_t *j;
	int64_t t0;

	write_msgs(dir, "m.hl7", "C", 40);
	snprintf(args, sizeof(args), "--connections 4 --rate 200 %s", dir);
	t0 = art_mono_us();
	cr_expect_eq(send_json(s->port, args, &j), 0);
	cr_expect_geq(art_mono_us() - t0, 150000, "40 messages at 200/s take about 0.2 s");
	cr_expect_eq(jint(j, "accepted"), 40);
	cr_expect_eq(s->accepts, 4);
	json_decref(j);
	rmdir_all(dir);
	srv_stop(s);
}

Test(send, connection_refused_is_an_error, .timeout = 60)
{
	struct srv *s = srv_start(1);
	int port = s->port;
	char args[1024];
	json_t *j;

	srv_stop(s); /* nothing listens on port any more */
	snprintf(args, sizeof(args), "%s/examples/hl7/adt_a01.hl7", ART_SOURCE_DIR);
	cr_expect_eq(send_json(port, args, &j), 1);
	cr_expect_eq(jint(j, "connection_errors"), 1);
	json_decref(j);
}

Test(send, usage_errors_exit_2)
{
	char cmd[512];
	const char *out;

	snprintf(cmd, sizeof(cmd), "%s/artery send 2>/dev/null", ART_BINARY_DIR);
	cr_expect_eq(run(cmd, &out), 2);
	snprintf(cmd, sizeof(cmd), "%s/artery send --window 0 x 2>/dev/null", ART_BINARY_DIR);
	cr_expect_eq(run(cmd, &out), 2);
	snprintf(cmd, sizeof(cmd), "%s/artery send --help", ART_BINARY_DIR);
	cr_expect_eq(run(cmd, &out), 0);
	cr_expect_not_null(strstr(out, "--window"));
}

/* An independent MLLP client (python3-hl7's mllp_send) gets our ACKs. */
Test(send, python_mllp_send_talks_to_the_test_server, .timeout = 60)
{
	struct srv *s;
	char cmd[1024];
	const char *out;

	if (access("/usr/bin/mllp_send", X_OK) != 0)
		cr_skip_test("python3-hl7 mllp_send not installed");
	s = srv_start(1);
	snprintf(cmd, sizeof(cmd),
	         "/usr/bin/mllp_send --loose --port %d --file %s/examples/hl7/oru_r01.hl7 "
	         "127.0.0.1 2>&1",
	         s->port, ART_SOURCE_DIR);
	cr_expect_eq(run(cmd, &out), 0, "%s", out);
	cr_expect_not_null(strstr(out, "MSA|AA|NWGH-LAB-004411"), "%s", out);
	cr_expect_eq(s->frames, 1);
	srv_stop(s);
}
