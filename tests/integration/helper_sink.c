/*
 * helper_sink.c — the recording "test" target (helper_sink.h).
 */
#include "integration/helper_sink.h"

#include "art.h"
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct art_test_sink *art_test_sink_next;

struct art_test_sink *art_test_sink_new(void)
{
	struct art_test_sink *s = calloc(1, sizeof(*s));

	if (s)
		pthread_mutex_init(&s->mu, NULL);
	return s;
}

void art_test_sink_destroy(struct art_test_sink *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->mu);
	free(s->calls);
	free(s);
}

void art_test_sink_use(struct art_test_sink *s)
{
	art_test_sink_next = s;
}

void art_test_sink_fail(struct art_test_sink *s, const char *key)
{
	pthread_mutex_lock(&s->mu);
	snprintf(s->fail_key, sizeof(s->fail_key), "%s", key ? key : "");
	pthread_mutex_unlock(&s->mu);
}

void art_test_sink_retry(struct art_test_sink *s, const char *key, int times)
{
	pthread_mutex_lock(&s->mu);
	snprintf(s->retry_key, sizeof(s->retry_key), "%s", key ? key : "");
	s->retry_times = times;
	pthread_mutex_unlock(&s->mu);
}

void art_test_sink_fail_flush(struct art_test_sink *s, int fail)
{
	pthread_mutex_lock(&s->mu);
	s->flush_fail = fail;
	pthread_mutex_unlock(&s->mu);
}

static int art_test_key_is(const struct art_test_delivery *d, const char *key)
{
	return !key || !strcmp(d->key, key);
}

size_t art_test_sink_count(struct art_test_sink *s, const char *key, enum art_res res)
{
	size_t n = 0;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->cnt; i++)
		if (s->calls[i].res == res && art_test_key_is(&s->calls[i], key))
			n++;
	pthread_mutex_unlock(&s->mu);
	return n;
}

int art_test_sink_wait(struct art_test_sink *s, const char *key, enum art_res res, size_t n,
                       int timeout_ms)
{
	int64_t deadline = art_mono_us() + (int64_t)timeout_ms * 1000;

	while (art_test_sink_count(s, key, res) < n) {
		struct timespec ts = {0, 20 * 1000000};

		if (art_mono_us() > deadline)
			return -1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

size_t art_test_sink_calls(struct art_test_sink *s, const char *key,
                           struct art_test_delivery *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->cnt && n < max; i++)
		if (art_test_key_is(&s->calls[i], key))
			out[n++] = s->calls[i];
	pthread_mutex_unlock(&s->mu);
	return n;
}

static int art_test_sink_init(void **ctxp, const struct art_sink_conf *conf, char *errstr,
                              size_t errstr_size)
{
	if (art_sink_conf_check(conf, NULL, errstr, errstr_size) == -1)
		return -1;
	if (!art_test_sink_next) {
		snprintf(errstr, errstr_size, "test sink: art_test_sink_use() was not called");
		return -1;
	}
	*ctxp = art_test_sink_next;
	return 0;
}

static enum art_res art_test_sink_deliver(void *ctx, const struct art_event *ev,
                                          int *retry_after_ms, char *errstr, size_t errstr_size)
{
	struct art_test_sink *s = ctx;
	struct art_test_delivery d;
	enum art_res res = ART_OK;
	int slow;

	(void)retry_after_ms;
	memset(&d, 0, sizeof(d));
	snprintf(d.topic, sizeof(d.topic), "%s", ev->topic);
	d.partition = ev->partition;
	d.offset = ev->offset;
	snprintf(d.key, sizeof(d.key), "%.*s", (int)ART_MIN(ev->key_len, sizeof(d.key) - 1),
	         ev->key ? (const char *)ev->key : "");
	snprintf(d.event_id, sizeof(d.event_id), "%s", ev->event_id);
	snprintf(d.event_type, sizeof(d.event_type), "%s", ev->event_type);
	d.reader_version = ev->reader ? ev->reader->version : 0;
	d.has_pcp = art_tnode_get(ev->doc, "primary_care_providers") != NULL;
	d.attempt = ev->attempt;

	pthread_mutex_lock(&s->mu);
	slow = s->slow_ms;
	if (s->fail_key[0] && !strcmp(d.key, s->fail_key)) {
		res = ART_FAIL;
		snprintf(errstr, errstr_size, "test target: HTTP 422 for this event");
	} else if (s->retry_key[0] && !strcmp(d.key, s->retry_key) &&
	           ev->attempt <= s->retry_times) {
		res = ART_RETRY;
		snprintf(errstr, errstr_size, "test target: HTTP 503 (attempt %d)", ev->attempt);
	}
	pthread_mutex_unlock(&s->mu);
	if (slow > 0) {
		struct timespec ts = {slow / 1000, (long)(slow % 1000) * 1000000};

		nanosleep(&ts, NULL);
	}
	d.res = res;
	d.at_us = art_mono_us();
	pthread_mutex_lock(&s->mu);
	if (s->cnt == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct art_test_delivery *calls = realloc(s->calls, cap * sizeof(*calls));

		if (calls) {
			s->calls = calls;
			s->cap = cap;
		}
	}
	if (s->cnt < s->cap)
		s->calls[s->cnt++] = d;
	pthread_mutex_unlock(&s->mu);
	return res;
}

static int art_test_sink_flush(void *ctx, char *errstr, size_t errstr_size)
{
	struct art_test_sink *s = ctx;
	int fail;

	pthread_mutex_lock(&s->mu);
	s->flushes++;
	fail = s->flush_fail;
	pthread_mutex_unlock(&s->mu);
	if (fail)
		snprintf(errstr, errstr_size, "test target: no space left on device");
	return fail ? -1 : 0;
}

static void art_test_sink_close(void *ctx)
{
	(void)ctx; /* the state belongs to the test */
}

const struct art_sink_ops art_test_sink_ops = {
    .name = "test",
    .init = art_test_sink_init,
    .deliver = art_test_sink_deliver,
    .flush = art_test_sink_flush,
    .close = art_test_sink_close,
    .dedups_itself = 0,
};
