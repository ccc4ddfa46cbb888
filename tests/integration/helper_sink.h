/*
 * helper_sink.h — a recording delivery target for consumer tests (sink.h):
 * every deliver() call is logged (topic, partition, offset, key, event id,
 * attempt, answer, time), and the test decides the answers by Kafka key:
 * ART_FAIL for one key, ART_RETRY for the first n attempts of every event of
 * another key, a delay per call. Registered as target type "test"; it does
 * not deduplicate itself (the ledger must). Its flush (sink.h) counts its
 * calls and can be made to fail.
 *
 * The consumer runs in another thread: everything here locks. The sink
 * binds at init() to the state given to art_test_sink_use() last.
 */
#ifndef ART_HELPER_SINK_H
#define ART_HELPER_SINK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "sink.h"

/* One deliver() call. */
struct art_test_delivery {
	char topic[64];
	int32_t partition;
	int64_t offset;
	char key[64];
	char event_id[128];
	char event_type[64];
	int reader_version; /* ev->reader->version */
	int has_pcp;        /* the projected JSON has "primary_care_providers" */
	int attempt;
	enum art_res res;
	int64_t at_us; /* art_mono_us() when the call returned */
};

struct art_test_sink {
	pthread_mutex_t mu;
	struct art_test_delivery *calls;
	size_t cnt, cap;
	char fail_key[64];  /* ART_FAIL for events with this key ("" none) */
	char retry_key[64]; /* ART_RETRY for events with this key ... */
	int retry_times;    /* ... while ev->attempt <= retry_times */
	int slow_ms;        /* sleep this long in every call */
	int flush_fail;     /* flush() answers -1 */
	size_t flushes;     /* flush() calls */
};

extern const struct art_sink_ops art_test_sink_ops;

/* A new sink state (zeroed: every call answers ART_OK). */
struct art_test_sink *art_test_sink_new(void);
void art_test_sink_destroy(struct art_test_sink *s);

/* The next init() of art_test_sink_ops binds to s. */
void art_test_sink_use(struct art_test_sink *s);

/* Sets behaviour under the lock. key NULL = none. */
void art_test_sink_fail(struct art_test_sink *s, const char *key);
void art_test_sink_retry(struct art_test_sink *s, const char *key, int times);
void art_test_sink_fail_flush(struct art_test_sink *s, int fail);

/* Number of calls answered res for key (NULL: any key). */
size_t art_test_sink_count(struct art_test_sink *s, const char *key, enum art_res res);

/* Waits until art_test_sink_count(s, key, res) >= n. Returns 0, or -1
 * after timeout_ms. */
int art_test_sink_wait(struct art_test_sink *s, const char *key, enum art_res res, size_t n,
                       int timeout_ms);

/* Copies the calls for key (NULL: all) in call order into out (at most
 * max); returns how many. */
size_t art_test_sink_calls(struct art_test_sink *s, const char *key,
                           struct art_test_delivery *out, size_t max);

#endif
