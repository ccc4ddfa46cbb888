/*
 * metrics.h — a small Prometheus registry: counters and gauges (each
 * optionally with one label), histograms with fixed buckets, rendered in the
 * Prometheus text exposition format (version 0.0.4) for the admin server's
 * GET /metrics.
 *
 * Register metrics at start-up; update them from any thread (one mutex per
 * registry: an update is a lock, a lookup among a metric's label values and
 * an add — fine for thousands of updates per second). A labelled metric
 * keeps at most ART_METRICS_MAX_SERIES label values; later new values are
 * counted under the value "_other" so a misbehaving peer cannot grow memory
 * without bound.
 */
#ifndef ART_METRICS_H
#define ART_METRICS_H

#include <stddef.h>

#define ART_METRICS_MAX_SERIES  256      /* distinct label values per metric */
#define ART_METRICS_MAX_METRICS 256      /* metrics per registry */
#define ART_METRICS_OTHER       "_other" /* label value once MAX_SERIES is reached */

struct art_metrics; /* a registry */
struct art_metric;  /* one metric family, owned by its registry */

/* Histogram buckets (upper bounds, seconds) for ACK and delivery latencies:
 * 1 ms .. 10 s. */
extern const double art_metrics_latency_buckets[];
extern const size_t art_metrics_latency_bucket_cnt;

/* Returns a new, empty registry, or NULL when out of memory. Caller frees
 * with art_metrics_destroy(). */
struct art_metrics *art_metrics_new(void);

/* Frees the registry and every metric in it. NULL is a no-op. No other
 * thread may use it (or its metrics) any more. */
void art_metrics_destroy(struct art_metrics *m);

/* Registers a counter. name must be a valid Prometheus metric name ending
 * in "_total"; label is the label name, or NULL for an unlabelled counter.
 * Registering the same name and kind again returns the existing metric.
 * Returns NULL when out of memory, when the registry is full, when name or
 * label is not a valid Prometheus name (or a counter's name lacks
 * "_total"), or when name is already used by a metric of another kind or
 * label. The registry owns
 * the metric. Any thread. */
struct art_metric *art_metrics_counter(struct art_metrics *m, const char *name, const char *help,
                                       const char *label);

/* Registers a gauge; as art_metrics_counter() (no "_total" rule). */
struct art_metric *art_metrics_gauge(struct art_metrics *m, const char *name, const char *help,
                                     const char *label);

/* Registers an unlabelled histogram with bound_cnt increasing upper bounds
 * (the +Inf bucket is implicit); bounds NULL means the latency buckets.
 * Otherwise as art_metrics_counter(). */
struct art_metric *art_metrics_histogram(struct art_metrics *m, const char *name, const char *help,
                                         const double *bounds, size_t bound_cnt);

/* Adds v to a counter (v >= 0) or gauge. label_value must be NULL for
 * unlabelled metrics and non-NULL for labelled ones. Any thread. */
void art_metrics_add(struct art_metric *mt, const char *label_value, double v);

/* art_metrics_add(mt, label_value, 1). */
void art_metrics_inc(struct art_metric *mt, const char *label_value);

/* Sets a gauge to v. Any thread. */
void art_metrics_set(struct art_metric *mt, const char *label_value, double v);

/* Records one observation v in a histogram. Any thread. */
void art_metrics_observe(struct art_metric *mt, double v);

/* Returns the current value of a counter or gauge series (0 when the label
 * value has not been seen), or the observation count of a histogram. For
 * tests and self-checks. Any thread. */
double art_metrics_value(struct art_metric *mt, const char *label_value);

/* Renders every metric in the text exposition format. Returns a
 * NUL-terminated string (its length in *lenp when lenp is not NULL), or
 * NULL when out of memory. Caller frees. Any thread. */
char *art_metrics_render(struct art_metrics *m, size_t *lenp);

#endif
