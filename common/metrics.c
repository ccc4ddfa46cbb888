/*
 * metrics.c — Prometheus registry. One mutex per registry guards every
 * metric and series; metrics are stored in registration order and rendered
 * in that order. Series of a labelled metric live in a small array searched
 * linearly (at most ART_METRICS_MAX_SERIES). Rendering builds the whole
 * text in a capped buffer (16 MiB, far above 256 metrics x 256 series).
 */
#include "metrics.h"

#include "art.h"
#include "buf.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ART_METRICS_RENDER_MAX (16 * 1024 * 1024)

const double art_metrics_latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                              0.25,  0.5,    1,     2.5,  5,     10};
const size_t art_metrics_latency_bucket_cnt = ART_ARRAY_SIZE(art_metrics_latency_buckets);

enum art_metric_kind {
	ART_METRIC_COUNTER,
	ART_METRIC_GAUGE,
	ART_METRIC_HISTOGRAM,
};

static const char *const art_metric_kind_names[] = {"counter", "gauge", "histogram"};

struct art_series {
	char *label_value; /* NULL for an unlabelled metric */
	double value;
};

struct art_metric {
	struct art_metrics *reg; /* owner, for its lock */
	enum art_metric_kind kind;
	char *name;
	char *help;
	char *label; /* label name, or NULL */

	struct art_series *series; /* counter/gauge: series_cnt entries */
	size_t series_cnt;
	size_t series_cap;

	double *bounds; /* histogram: bound_cnt upper bounds */
	size_t bound_cnt;
	uint64_t *buckets;  /* histogram: bound_cnt + 1 counts (non-cumulative) */
	uint64_t obs_count; /* histogram: observations */
	double obs_sum;     /* histogram: sum of observations */
};

struct art_metrics {
	pthread_mutex_t lock;
	struct art_metric *metrics[ART_METRICS_MAX_METRICS];
	size_t cnt;
};

static int art_metrics_name_ok(const char *s)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == ':'))
			return 0;
	return 1;
}

struct art_metrics *art_metrics_new(void)
{
	struct art_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

static void art_metric_free(struct art_metric *mt)
{
	for (size_t i = 0; i < mt->series_cnt; i++)
		free(mt->series[i].label_value);
	free(mt->series);
	free(mt->bounds);
	free(mt->buckets);
	free(mt->name);
	free(mt->help);
	free(mt->label);
	free(mt);
}

void art_metrics_destroy(struct art_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cnt; i++)
		art_metric_free(m->metrics[i]);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Finds or creates the series for label_value. Caller holds the lock.
 * Returns NULL only when out of memory. */
static struct art_series *art_metric_series(struct art_metric *mt, const char *label_value)
{
	struct art_series *s;

	assert((label_value == NULL) == (mt->label == NULL));
	for (size_t i = 0; i < mt->series_cnt; i++) {
		s = &mt->series[i];
		if (!label_value || !strcmp(s->label_value, label_value))
			return s;
	}
	if (label_value && mt->series_cnt >= ART_METRICS_MAX_SERIES) {
		for (size_t i = 0; i < mt->series_cnt; i++)
			if (!strcmp(mt->series[i].label_value, ART_METRICS_OTHER))
				return &mt->series[i];
		/* Replace nothing: the "_other" series is the one allowed extra. */
		label_value = ART_METRICS_OTHER;
	}
	if (mt->series_cnt == mt->series_cap) {
		size_t ncap = mt->series_cap ? mt->series_cap * 2 : 4;
		struct art_series *ns = realloc(mt->series, ncap * sizeof(*ns));

		if (!ns)
			return NULL;
		mt->series = ns;
		mt->series_cap = ncap;
	}
	s = &mt->series[mt->series_cnt];
	s->value = 0;
	s->label_value = NULL;
	if (label_value) {
		s->label_value = strdup(label_value);
		if (!s->label_value)
			return NULL;
	}
	mt->series_cnt++;
	return s;
}

static struct art_metric *art_metrics_register(struct art_metrics *m, enum art_metric_kind kind,
                                               const char *name, const char *help,
                                               const char *label, const double *bounds,
                                               size_t bound_cnt)
{
	struct art_metric *mt = NULL;

	if (!art_metrics_name_ok(name) || (label && !art_metrics_name_ok(label)))
		return NULL;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->cnt; i++) {
		struct art_metric *o = m->metrics[i];

		if (strcmp(o->name, name) != 0)
			continue;
		if (o->kind == kind && (!o->label) == (!label) &&
		    (!label || !strcmp(o->label, label)))
			mt = o;
		goto out;
	}
	if (m->cnt == ART_METRICS_MAX_METRICS)
		goto out;
	mt = calloc(1, sizeof(*mt));
	if (!mt)
		goto out;
	mt->reg = m;
	mt->kind = kind;
	mt->name = strdup(name);
	mt->help = strdup(help ? help : "");
	mt->label = label ? strdup(label) : NULL;
	if (!mt->name || !mt->help || (label && !mt->label))
		goto fail;
	if (kind == ART_METRIC_HISTOGRAM) {
		mt->bound_cnt = bound_cnt;
		mt->bounds = malloc(bound_cnt * sizeof(double) + 1);
		mt->buckets = calloc(bound_cnt + 1, sizeof(uint64_t));
		if (!mt->bounds || !mt->buckets)
			goto fail;
		for (size_t i = 0; i < bound_cnt; i++) {
			assert(i == 0 || bounds[i] > bounds[i - 1]);
			mt->bounds[i] = bounds[i];
		}
	} else if (!label && !art_metric_series(mt, NULL)) {
		goto fail; /* unlabelled: its one series exists from the start (value 0) */
	}
	m->metrics[m->cnt++] = mt;
	goto out;
fail:
	art_metric_free(mt);
	mt = NULL;
out:
	pthread_mutex_unlock(&m->lock);
	return mt;
}

struct art_metric *art_metrics_counter(struct art_metrics *m, const char *name, const char *help,
                                       const char *label)
{
	size_t n = strlen(name);

	if (n <= 6 || strcmp(name + n - 6, "_total") != 0)
		return NULL; /* Prometheus naming rule */
	return art_metrics_register(m, ART_METRIC_COUNTER, name, help, label, NULL, 0);
}

struct art_metric *art_metrics_gauge(struct art_metrics *m, const char *name, const char *help,
                                     const char *label)
{
	return art_metrics_register(m, ART_METRIC_GAUGE, name, help, label, NULL, 0);
}

struct art_metric *art_metrics_histogram(struct art_metrics *m, const char *name, const char *help,
                                         const double *bounds, size_t bound_cnt)
{
	if (!bounds) {
		bounds = art_metrics_latency_buckets;
		bound_cnt = art_metrics_latency_bucket_cnt;
	}
	return art_metrics_register(m, ART_METRIC_HISTOGRAM, name, help, NULL, bounds, bound_cnt);
}

void art_metrics_add(struct art_metric *mt, const char *label_value, double v)
{
	struct art_series *s;

	assert(mt->kind != ART_METRIC_HISTOGRAM);
	assert(mt->kind != ART_METRIC_COUNTER || v >= 0);
	pthread_mutex_lock(&mt->reg->lock);
	s = art_metric_series(mt, label_value);
	if (s)
		s->value += v;
	pthread_mutex_unlock(&mt->reg->lock);
}

void art_metrics_inc(struct art_metric *mt, const char *label_value)
{
	art_metrics_add(mt, label_value, 1);
}

void art_metrics_set(struct art_metric *mt, const char *label_value, double v)
{
	struct art_series *s;

	assert(mt->kind == ART_METRIC_GAUGE);
	pthread_mutex_lock(&mt->reg->lock);
	s = art_metric_series(mt, label_value);
	if (s)
		s->value = v;
	pthread_mutex_unlock(&mt->reg->lock);
}

void art_metrics_observe(struct art_metric *mt, double v)
{
	size_t i;

	assert(mt->kind == ART_METRIC_HISTOGRAM);
	pthread_mutex_lock(&mt->reg->lock);
	for (i = 0; i < mt->bound_cnt; i++)
		if (v <= mt->bounds[i])
			break;
	mt->buckets[i]++;
	mt->obs_count++;
	mt->obs_sum += v;
	pthread_mutex_unlock(&mt->reg->lock);
}

double art_metrics_value(struct art_metric *mt, const char *label_value)
{
	double v = 0;

	pthread_mutex_lock(&mt->reg->lock);
	if (mt->kind == ART_METRIC_HISTOGRAM) {
		v = (double)mt->obs_count;
	} else {
		for (size_t i = 0; i < mt->series_cnt; i++)
			if (!label_value || !strcmp(mt->series[i].label_value, label_value))
				v = mt->series[i].value;
	}
	pthread_mutex_unlock(&mt->reg->lock);
	return v;
}

/* ---- rendering --------------------------------------------------------- */

/* Formats v as Prometheus expects: integers without a fraction, others with
 * the shortest of %.15g / %.17g that reads back exactly, NaN and +-Inf. */
static void art_metrics_fmt(double v, char *out, size_t size)
{
	if (isnan(v))
		snprintf(out, size, "NaN");
	else if (isinf(v))
		snprintf(out, size, "%sInf", v > 0 ? "+" : "-");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		snprintf(out, size, "%.0f", v);
	else {
		snprintf(out, size, "%.15g", v);
		if (strtod(out, NULL) != v)
			snprintf(out, size, "%.17g", v);
	}
}

/* Appends s escaped for a HELP line (quote == 0) or a label value
 * (quote == 1). */
static int art_metrics_escape(struct art_buf *b, const char *s, int quote)
{
	for (; *s; s++) {
		int rc;

		if (*s == '\\')
			rc = art_buf_puts(b, "\\\\");
		else if (*s == '\n')
			rc = art_buf_puts(b, "\\n");
		else if (quote && *s == '"')
			rc = art_buf_puts(b, "\\\"");
		else
			rc = art_buf_putc(b, *s);
		if (rc == -1)
			return -1;
	}
	return 0;
}

static int art_metric_render(const struct art_metric *mt, struct art_buf *b)
{
	char num[64];
	uint64_t cum = 0;

	if (art_buf_printf(b, "# HELP %s ", mt->name) == -1 ||
	    art_metrics_escape(b, mt->help, 0) == -1 ||
	    art_buf_printf(b, "\n# TYPE %s %s\n", mt->name, art_metric_kind_names[mt->kind]) == -1)
		return -1;
	if (mt->kind != ART_METRIC_HISTOGRAM) {
		for (size_t i = 0; i < mt->series_cnt; i++) {
			const struct art_series *s = &mt->series[i];

			art_metrics_fmt(s->value, num, sizeof(num));
			if (art_buf_puts(b, mt->name) == -1)
				return -1;
			if (mt->label && (art_buf_printf(b, "{%s=\"", mt->label) == -1 ||
			                  art_metrics_escape(b, s->label_value, 1) == -1 ||
			                  art_buf_puts(b, "\"}") == -1))
				return -1;
			if (art_buf_printf(b, " %s\n", num) == -1)
				return -1;
		}
		return 0;
	}
	for (size_t i = 0; i <= mt->bound_cnt; i++) {
		cum += mt->buckets[i];
		if (i < mt->bound_cnt)
			art_metrics_fmt(mt->bounds[i], num, sizeof(num));
		else
			snprintf(num, sizeof(num), "+Inf");
		if (art_buf_printf(b, "%s_bucket{le=\"%s\"} %llu\n", mt->name, num,
		                   (unsigned long long)cum) == -1)
			return -1;
	}
	art_metrics_fmt(mt->obs_sum, num, sizeof(num));
	if (art_buf_printf(b, "%s_sum %s\n%s_count %llu\n", mt->name, num, mt->name,
	                   (unsigned long long)mt->obs_count) == -1)
		return -1;
	return 0;
}

char *art_metrics_render(struct art_metrics *m, size_t *lenp)
{
	struct art_buf b;
	char *out;
	size_t len = 0;
	int rc = 0;

	art_buf_init(&b, ART_METRICS_RENDER_MAX);
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->cnt && rc == 0; i++)
		rc = art_metric_render(m->metrics[i], &b);
	pthread_mutex_unlock(&m->lock);
	if (rc == -1) {
		art_buf_free(&b);
		return NULL;
	}
	out = art_buf_steal(&b, &len);
	if (!out)
		out = strdup(""); /* no metrics registered */
	if (out && lenp)
		*lenp = len;
	return out;
}
