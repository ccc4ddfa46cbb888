/*
 * consumer_sink.c — the small helpers of sink.h that let a sink read and
 * validate its `target:` settings the way the rest of topology.yaml is
 * validated (unknown keys and bad values are "file:line: message"), and
 * register and update its own metrics without caring whether the process
 * gave it a registry.
 */
#include "sink.h"

#include "metrics.h"
#include "topology.h"

#include <stdio.h>
#include <string.h>

const char *art_sink_conf_get(const struct art_sink_conf *conf, const char *key)
{
	if (!strcmp(key, "type"))
		return conf->type;
	if (!strcmp(key, "url"))
		return conf->target_url;
	for (size_t i = 0; i < conf->param_cnt; i++)
		if (!strcmp(conf->params[i].key, key))
			return conf->params[i].value;
	return NULL;
}

/* Returns the line of target key `key`, 0 when unknown. */
static int art_sink_conf_line(const struct art_sink_conf *conf, const char *key)
{
	for (size_t i = 0; i < conf->param_cnt; i++)
		if (!strcmp(conf->params[i].key, key))
			return conf->params[i].line;
	return 0;
}

int art_sink_conf_check(const struct art_sink_conf *conf, const char *const *allowed,
                        char *errstr, size_t errstr_size)
{
	for (size_t i = 0; i < conf->param_cnt; i++) {
		const char *k = conf->params[i].key;
		char list[256] = "type, url";
		size_t len = strlen(list);
		int ok = 0;

		for (size_t j = 0; allowed && allowed[j]; j++)
			if (!strcmp(k, allowed[j]))
				ok = 1;
		if (ok)
			continue;
		for (size_t j = 0; allowed && allowed[j]; j++) {
			int w = snprintf(list + len, sizeof(list) - len, ", %s", allowed[j]);

			if (w < 0 || (size_t)w >= sizeof(list) - len)
				break;
			len += (size_t)w;
		}
		snprintf(errstr, errstr_size,
		         "%s:%d: unknown key '%s' in target of %s (type %s; expected one of: %s)",
		         conf->topology_path ? conf->topology_path : "(topology)",
		         conf->params[i].line, k, conf->name, conf->type, list);
		return -1;
	}
	return 0;
}

int art_sink_conf_int(const struct art_sink_conf *conf, const char *key, long long min,
                      long long max, long long def, long long *out, char *errstr,
                      size_t errstr_size)
{
	const char *v = art_sink_conf_get(conf, key);

	if (!v) {
		*out = def;
		return 0;
	}
	if (art_parse_int(v, min, max, out) == -1) {
		snprintf(errstr, errstr_size, "%s:%d: target.%s must be an integer in [%lld, %lld], not '%s'",
		         conf->topology_path ? conf->topology_path : "(topology)",
		         art_sink_conf_line(conf, key), key, min, max, v);
		return -1;
	}
	return 0;
}

const struct art_sink_ops *art_sink_find(const struct art_sink_ops *const *sinks, size_t cnt,
                                         const char *type)
{
	for (size_t i = 0; i < cnt; i++)
		if (!strcmp(sinks[i]->name, type))
			return sinks[i];
	return NULL;
}

struct art_metric *art_sink_counter(const struct art_sink_conf *conf, const char *name,
                                    const char *help, const char *label)
{
	return conf->metrics ? art_metrics_counter(conf->metrics, name, help, label) : NULL;
}

struct art_metric *art_sink_histogram(const struct art_sink_conf *conf, const char *name,
                                      const char *help)
{
	return conf->metrics ? art_metrics_histogram(conf->metrics, name, help, NULL, 0) : NULL;
}

void art_sink_count(struct art_metric *m, const char *label_value, double v)
{
	if (m)
		art_metrics_add(m, label_value, v);
}

void art_sink_observe(struct art_metric *m, double seconds)
{
	if (m)
		art_metrics_observe(m, seconds);
}
