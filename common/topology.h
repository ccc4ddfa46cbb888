/*
 * topology.h — the model of topology/topology.yaml: Kafka client defaults,
 * topics, sources (MLLP listeners today), per-process settings (admin
 * port) and consumers (group, topics, reader pins, route, retry, dead
 * letters, ledger, target: docs/consumer.md). Loaded once at start-up by
 * every process (`--topology FILE`, else ARTERY_TOPOLOGY, else
 * topology/topology.yaml) and read-only afterwards, so any thread may read
 * a loaded topology. Sizes: tens of topics, a handful of listeners and
 * consumers; the file is capped at 1 MiB.
 *
 * The schema is documented at the top of topology/topology.yaml and in
 * docs/broker.md. Unknown keys and invalid values are errors reported as
 * "file:line: message".
 */
#ifndef ART_TOPOLOGY_H
#define ART_TOPOLOGY_H

#include "hl7_ack.h"
#include "kafka.h"
#include "route.h"

#include <stddef.h>

#define ART_TOPOLOGY_DEFAULT_PATH "topology/topology.yaml"
#define ART_TOPOLOGY_MAX_SIZE     (1024 * 1024) /* bytes */

/* One Kafka topic. */
struct art_topic {
	char *name;      /* legal Kafka topic name, unique */
	int partitions;  /* >= 1 */
	int replication; /* replication factor on real Kafka, default 1 */
	int line;        /* where it is declared, 0 for built-in defaults */
};

/* What an MLLP listener does with a parseable but unmappable message. */
enum art_on_error {
	ART_ON_ERROR_QUARANTINE = 0, /* AA to the sender + dead letter */
	ART_ON_ERROR_REJECT = 1,     /* AE to the sender (+ dead letter) */
};

/* One MLLP listener (sources.mllp[i]). */
struct art_mllp_listener {
	char *name;                     /* unique among MLLP listeners; the `source` of events */
	char *bind;                     /* address to bind, default "0.0.0.0" */
	int port;                       /* TCP port; 0 = any free port (tests) */
	size_t max_message_size;        /* bytes between 0x0B and 0x1C 0x0D, default 1 MiB */
	int idle_timeout_ms;            /* close idle connections, default 300000 */
	enum art_hl7_ack_mode ack_mode; /* AUTO follows the sender's MSH-15/16 (hl7_ack.h) */
	enum art_on_error on_error;
	int dedup_window_s;   /* duplicate control ids remembered, default 600 */
	int kafka_timeout_ms; /* wait for Kafka before answering AE, default 10000 */
	char *raw_topic;      /* default "raw.hl7v2"; must be a declared topic */
	char *dlq_topic;      /* default "dlq.mllp-in"; must be a declared topic */
	int line;             /* where it is declared */
};

/* One HTTP listener (sources.http[i]), served by artery-http-in. */
struct art_http_listener {
	char *name;                /* unique among HTTP listeners; the `source` of events */
	char *bind;                /* address to bind, default "0.0.0.0" */
	int port;                  /* TCP port; 0 = any free port (tests) */
	size_t max_request_size;   /* body bytes, default 10 MiB */
	int kafka_timeout_ms;      /* wait for Kafka before answering 503, default 10000 */
	enum art_on_error on_error; /* parseable but unmappable HL7 (as MLLP) */
	char *bearer_token_env;    /* environment variable holding the token; NULL = no auth */
	int idempotency_window_s;  /* Idempotency-Key replays answered this long, default 86400 */
	char *hl7_raw_topic;       /* default "raw.hl7v2" */
	char *fhir_raw_topic;      /* default "raw.fhir" */
	char *dlq_topic;           /* default "dlq.http-in" */
	int line;
};

/* Settings of one Artery process (processes.<name>). */
struct art_process_conf {
	char *name;       /* "mllp-in", "file-in", ... (binary without "artery-") */
	char *admin_bind; /* admin HTTP server address, default "127.0.0.1" */
	int admin_port;   /* admin HTTP port; 0 = any free port; -1 = disabled */
	int line;         /* where it is declared, 0 for defaults */
};

/* How a consumer retries a transient failure (consumers.<name>.retry). */
struct art_retry_conf {
	int max_attempts;       /* deliveries before dead-lettering, default 10; 0 = no limit */
	int initial_backoff_ms; /* delay after the first failure, default 500 */
	int max_backoff_ms;     /* cap on one delay, default 60000 */
	int max_elapsed_ms;     /* since the first attempt, default 600000; 0 = no limit */
};

/* The delivered-keys ledger of a consumer (consumers.<name>.ledger). */
struct art_ledger_conf {
	int enabled;         /* default 1; 0 only for targets that deduplicate themselves */
	char *path;          /* SQLite file, default ".artery/<name>.ledger.db" */
	int max_age_days;    /* rows older than this are pruned, default 30 */
	long long max_rows;  /* oldest rows beyond this are pruned, default 5000000 */
	int synchronous_full; /* 1: PRAGMA synchronous=FULL; default 0 (NORMAL) */
};

/* One free target-specific setting (consumers.<name>.target.<key>). */
struct art_kv {
	char *key;
	char *value; /* the scalar as written */
	int line;
};

/* Where a consumer delivers (consumers.<name>.target). */
struct art_target_conf {
	char *type;            /* required: picks the sink ("fhir", "ndjson", "mllp", ...) */
	char *url;             /* optional target URL */
	struct art_kv *params; /* every other key, in file order */
	size_t param_cnt;
	int line;
};

/* A reader schema version pinned for one subject (consumers.<name>.readers). */
struct art_reader_pin {
	char *subject; /* e.g. "canonical.patient" */
	int version;   /* >= 1; checked against the registry when the consumer starts */
	int line;
};

/* One consumer process (consumers.<name>): docs/consumer.md. */
struct art_consumer_conf {
	char *name;     /* "ehr-out", ... ([a-z0-9-], binary without "artery-") */
	char *group_id; /* default "artery-<name>" */
	char **topics;  /* subscribed topics, each declared in topics; at least one */
	size_t topic_cnt;
	struct art_reader_pin *readers; /* pinned versions; other subjects read at latest */
	size_t reader_cnt;
	struct art_route route;       /* which events this consumer takes */
	struct art_retry_conf retry;  /* transient failures */
	char *dlq_topic;              /* default "dlq.<name>"; must be declared */
	struct art_ledger_conf ledger;
	struct art_target_conf target;
	int session_timeout_ms;  /* librdkafka session.timeout.ms, default 45000 */
	int commit_interval_ms;  /* stored offsets are committed this often, default 1000 */
	int line;                /* where it is declared */
};

/* A loaded topology. All arrays are owned by it. */
struct art_topology {
	char *path; /* file it was loaded from, or "(defaults)" */

	struct art_kafka_prop *kafka; /* `kafka:` librdkafka properties for every client */
	size_t kafka_cnt;

	struct art_topic *topics; /* `topics:`, or the built-in defaults when absent */
	size_t topic_cnt;

	struct art_mllp_listener *mllp; /* `sources: mllp:` */
	size_t mllp_cnt;

	struct art_http_listener *http; /* `sources: http:` */
	size_t http_cnt;

	struct art_process_conf *processes; /* one per known process, defaults filled in */
	size_t process_cnt;

	struct art_consumer_conf *consumers; /* `consumers:`, in file order */
	size_t consumer_cnt;
};

/* Returns ARTERY_TOPOLOGY when set and non-empty, else
 * ART_TOPOLOGY_DEFAULT_PATH. Do not free. Any thread. */
const char *art_topology_default_path(void);

/* Loads and validates the topology file at path. Returns NULL with
 * "path:line: message" (or "path: message" when the file cannot be read) in
 * errstr. Caller frees with art_topology_destroy(). Any thread. */
struct art_topology *art_topology_load(const char *path, char *errstr, size_t errstr_size);

/* Returns the built-in topology: the default topics, no listeners, default
 * process settings (what an empty file yields). NULL only when out of
 * memory. Caller frees with art_topology_destroy(). */
struct art_topology *art_topology_new_default(void);

/* Frees t and everything it owns. NULL is a no-op. */
void art_topology_destroy(struct art_topology *t);

/* Returns the topic called name, or NULL. */
const struct art_topic *art_topology_topic(const struct art_topology *t, const char *name);

/* Returns the MLLP listener called name, or NULL. */
const struct art_mllp_listener *art_topology_mllp(const struct art_topology *t, const char *name);

/* Returns the HTTP listener called name, or NULL. */
const struct art_http_listener *art_topology_http(const struct art_topology *t, const char *name);

/* Returns the settings of process name ("mllp-in"), or NULL when Artery has
 * no such process. Every known process has an entry, with defaults when the
 * file does not mention it. */
const struct art_process_conf *art_topology_process(const struct art_topology *t, const char *name);

/* Returns the consumer called name ("ehr-out"), or NULL when the file
 * declares none. */
const struct art_consumer_conf *art_topology_consumer(const struct art_topology *t,
                                                      const char *name);

/* Returns the value of the target-specific key in tc (a key of
 * consumers.<name>.target other than type and url), or NULL. */
const char *art_target_param(const struct art_target_conf *tc, const char *key);

/* Returns the name of an ack_mode / on_error value as written in the file. */
const char *art_ack_mode_name(enum art_hl7_ack_mode mode);
const char *art_on_error_name(enum art_on_error policy);

#endif
