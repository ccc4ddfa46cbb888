/*
 * server.c — artery-http-in's listeners: see server.h and docs/http-in.md.
 *
 * A request goes through three states. READING: MHD hands the body in
 * pieces; it is kept up to max_request_size (beyond, only the first
 * ART_HTTP_DLQ_KEEP bytes, for the dead letter). IN_FLIGHT: the body was
 * turned into records (raw + canonical, or a dead letter) and the unit is
 * in the producer; the connection is suspended. ANSWERED: the completion
 * callback chose the response (the prepared one when Kafka stored
 * everything, 503 otherwise) and resumed the connection; the next call of
 * the handler queues it. Responses that need nothing stored (401, 404,
 * 405, an Idempotency-Key replay or conflict) are queued at once.
 *
 * Idempotency-Key: per listener, the SHA-256 of the key and of the body of
 * each answered request is kept for idempotency_window_s in an
 * open-addressing table of ART_HTTP_IDEM_SLOTS slots; a repeat with the
 * same body gets the stored response again (Idempotent-Replayed: true)
 * without producing anything, one with another body 422, one while the
 * first is in flight 409. Only definitive answers are kept (a 503 is not:
 * the client must be able to retry). The table lives in memory: after a
 * restart a repeat is produced again, with the same idempotency key, which
 * the consumers' ledgers recognise.
 *
 * Sizes: a request holds its body (up to max_request_size) until answered;
 * the table holds ~120 bytes plus the response per key.
 */
#include "server.h"

#include "art.h"
#include "avro_codec.h"
#include "buf.h"
#include "hl7_ack.h"
#include "fhir_in.h"
#include "hl7_ingest.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "producer.h"
#include "record.h"
#include "schema.h"
#include "topology.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define ART_HTTP_MAX_LISTENERS 16
#define ART_HTTP_IDEM_SLOTS    65536        /* remembered Idempotency-Keys per process */
#define ART_HTTP_DLQ_KEEP      (64 * 1024)  /* bytes of an oversize body kept in its dead letter */
#define ART_HTTP_CONN_TIMEOUT  60           /* seconds a connection may idle */
#define ART_HTTP_MAX_RECORDS   100000       /* records one request may derive */
#define ART_HTTP_EV_PRODUCER   0xffffffffu  /* epoll tag of the producer's fd */

enum art_http_route {
	ART_ROUTE_HL7 = 1,
	ART_ROUTE_FHIR_BUNDLE,
	ART_ROUTE_FHIR_RESOURCE,
};

enum art_http_state {
	ART_REQ_READING = 0,
	ART_REQ_IN_FLIGHT,
	ART_REQ_ANSWERED,
};

/* One remembered Idempotency-Key. */
struct art_idem {
	uint8_t key[ART_SHA256_LEN];  /* SHA-256 of listener name + key */
	uint8_t body[ART_SHA256_LEN]; /* SHA-256 of the body */
	int state;                    /* 0 never used, 1 in flight, 2 answered, 3 freed */
	unsigned status;
	char *resp;
	size_t resp_len;
	const char *ctype;
	int64_t expires_us;
};

struct art_http_server;

struct art_http_lsn {
	struct art_http_server *srv;
	const struct art_http_listener *conf;
	struct MHD_Daemon *d;
	int port;
	const char *token;               /* bearer token (from the environment), NULL: none */
	struct art_hl7_ingester *ing;    /* POST /hl7v2 */
	struct art_avro_value *raw_fhir; /* RawMessage of raw.fhir, reused */
	char raw_fhir_schema[64];        /* "raw.fhir:1", the artery.schema header */
};

struct art_http_server {
	struct art_http_lsn l[ART_HTTP_MAX_LISTENERS];
	size_t n;
	struct art_producer *prod;
	const struct art_schema_registry *reg;
	int epfd;
	size_t inflight; /* requests suspended on Kafka */
	struct art_idem *idem;
	size_t idem_used;
	struct art_metric *m_requests, *m_latency, *m_inflight, *m_replays, *m_not_stored;
};

struct art_http_req {
	struct art_http_lsn *l;
	struct MHD_Connection *conn;
	enum art_http_route route;
	enum art_http_state state;
	char rtype[64];         /* /fhir/<Resource> */
	struct art_buf body;    /* up to max_request_size (+1 to notice more) */
	size_t body_seen;       /* bytes the client sent */
	char idem_key[256];     /* Idempotency-Key header, "" if none */
	char remote[80];        /* host:port */
	char ctype[128];        /* Content-Type header */
	int want_hl7;           /* Accept names application/hl7-v2: answer with the ACK */
	int64_t t0_us, received_at_us;
	struct art_hl7_ingest in;    /* POST /hl7v2 */
	struct art_record_list recs; /* POST /fhir... */
	struct art_idem *slot;       /* in-flight Idempotency-Key slot */
	uint8_t body_hash[ART_SHA256_LEN];
	unsigned status; /* the answer: status, body, content type */
	char *resp;
	size_t resp_len;
	const char *resp_ctype;
	const char *outcome; /* metric label */
};

/* ---- responses --------------------------------------------------------- */

/* Sets the answer of r (takes body, malloc'd). */
static void art_http_answer(struct art_http_req *r, unsigned status, char *body, size_t len,
			    const char *ctype, const char *outcome)
{
	free(r->resp);
	r->status = status;
	r->resp = body;
	r->resp_len = len;
	r->resp_ctype = ctype;
	r->outcome = outcome;
}

/* A FHIR OperationOutcome with one issue as the answer. */
static void art_http_outcome(struct art_http_req *r, unsigned status, const char *severity,
			     const char *code, const char *outcome, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void art_http_outcome(struct art_http_req *r, unsigned status, const char *severity,
			     const char *code, const char *outcome, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	json_t *oo;
	char *body;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	oo = json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "resourceType", "OperationOutcome", "issue",
		       "severity", severity, "code", code, "diagnostics", text);
	body = oo ? json_dumps(oo, JSON_COMPACT) : NULL;
	json_decref(oo);
	art_http_answer(r, status, body, body ? strlen(body) : 0, "application/fhir+json",
			outcome);
}

/* Queues r's answer on its connection. */
static enum MHD_Result art_http_queue(struct art_http_req *r, int replayed)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		r->resp_len, r->resp ? r->resp : (char *)"", MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->resp_ctype);
	if (r->status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
	if (r->status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"artery\"");
	if (r->status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST");
	if (replayed)
		MHD_add_response_header(resp, "Idempotent-Replayed", "true");
	rc = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	art_metrics_inc(r->l->srv->m_requests, r->outcome ? r->outcome : "other");
	art_metrics_observe(r->l->srv->m_latency, (double)(art_mono_us() - r->t0_us) / 1e6);
	return rc;
}

/* ---- Idempotency-Key --------------------------------------------------- */

/* Frees a slot; it stays a tombstone (state 3) so that keys stored after
 * it in its probe run remain reachable, and is reused by the next insert
 * that passes it. */
static void art_idem_free(struct art_http_server *srv, struct art_idem *e)
{
	free(e->resp);
	memset(e, 0, sizeof(*e));
	e->state = 3;
	srv->idem_used--;
}

/* The slot of key (found), or a free slot for it, or NULL when the table
 * is full of live keys. Expired answered keys are dropped on the way.
 * O(probe run); tombstones lengthen runs, so a table that has churned
 * through many keys costs more per lookup (bounded by the table size). */
static struct art_idem *art_idem_lookup(struct art_http_server *srv,
					const uint8_t key[ART_SHA256_LEN], int *found)
{
	size_t h, i;
	int64_t now = art_mono_us();
	struct art_idem *free_slot = NULL;

	memcpy(&h, key, sizeof(h));
	*found = 0;
	for (i = 0; i < ART_HTTP_IDEM_SLOTS; i++) {
		struct art_idem *e = &srv->idem[(h + i) % ART_HTTP_IDEM_SLOTS];

		if (e->state == 2 && e->expires_us <= now)
			art_idem_free(srv, e);
		if (e->state == 0) /* linear probing: a never-used slot ends the run */
			return free_slot ? free_slot : e;
		if (e->state == 3) {
			if (!free_slot)
				free_slot = e;
			continue;
		}
		if (!memcmp(e->key, key, ART_SHA256_LEN)) {
			*found = 1;
			return e;
		}
	}
	return free_slot;
}

/* Keeps r's answer for its Idempotency-Key (definitive answers only). */
static void art_idem_settle(struct art_http_req *r)
{
	struct art_idem *e = r->slot;
	struct art_http_server *srv = r->l->srv;

	if (!e)
		return;
	r->slot = NULL;
	if (r->status == MHD_HTTP_SERVICE_UNAVAILABLE || r->status >= 500) {
		art_idem_free(srv, e); /* the client must be able to retry */
		return;
	}
	e->resp = malloc(r->resp_len ? r->resp_len : 1);
	if (!e->resp) {
		art_idem_free(srv, e);
		return;
	}
	memcpy(e->resp, r->resp, r->resp_len);
	e->resp_len = r->resp_len;
	e->ctype = r->resp_ctype;
	e->status = r->status;
	e->state = 2;
	e->expires_us = art_mono_us() + (int64_t)r->l->conf->idempotency_window_s * 1000000;
}

/* Handles the Idempotency-Key of r before anything is produced. Returns 1
 * when r was answered from the table (queue it), 0 to go on. */
static int art_idem_begin(struct art_http_req *r)
{
	struct art_http_server *srv = r->l->srv;
	uint8_t key[ART_SHA256_LEN];
	char material[512];
	struct art_idem *e;
	int found, n;

	if (!r->idem_key[0] || r->l->conf->idempotency_window_s == 0)
		return 0;
	n = snprintf(material, sizeof(material), "%s\x1f%s", r->l->conf->name, r->idem_key);
	art_sha256(material, (size_t)n, key);
	e = art_idem_lookup(srv, key, &found);
	if (found && e->state == 1) {
		art_http_outcome(r, MHD_HTTP_CONFLICT, "error", "conflict", "conflict",
				 "a request with this Idempotency-Key is in progress; retry after "
				 "it is answered");
		return 1;
	}
	if (found && memcmp(e->body, r->body_hash, ART_SHA256_LEN)) {
		art_http_outcome(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "error", "conflict", "conflict",
				 "this Idempotency-Key was used for a different body within "
				 "idempotency_window_s; use a new key for new content");
		return 1;
	}
	if (found) {
		char *copy = malloc(e->resp_len ? e->resp_len : 1);

		if (!copy)
			return 0;
		memcpy(copy, e->resp, e->resp_len);
		art_http_answer(r, e->status, copy, e->resp_len, e->ctype, "replayed");
		art_metrics_inc(srv->m_replays, r->l->conf->name);
		return 1;
	}
	if (!e) {
		art_warn("idempotency.full", "listener %s: %d keys in their window; this request "
					     "is handled without replay protection",
			 r->l->conf->name, ART_HTTP_IDEM_SLOTS);
		return 0;
	}
	memcpy(e->key, key, ART_SHA256_LEN);
	memcpy(e->body, r->body_hash, ART_SHA256_LEN);
	e->state = 1;
	srv->idem_used++;
	r->slot = e;
	return 0;
}

/* ---- records ----------------------------------------------------------- */

/* The headers DESIGN §3 puts on every record. */
static int art_http_headers(struct art_record *rec, const char *event_id, const char *idem,
			    const char *channel, const char *schema, const char *trace_id,
			    int64_t received_at_us, const char *resource_type)
{
	char ts[24];

	snprintf(ts, sizeof(ts), "%lld", (long long)received_at_us);
	return art_record_add_header_str(rec, ART_HDR_EVENT_ID, event_id) ||
	       art_record_add_header_str(rec, ART_HDR_IDEMPOTENCY_KEY, idem) ||
	       art_record_add_header_str(rec, ART_HDR_SOURCE, channel) ||
	       art_record_add_header_str(rec, ART_HDR_SCHEMA, schema) ||
	       art_record_add_header_str(rec, ART_HDR_TRACE_ID, trace_id) ||
	       art_record_add_header_str(rec, ART_HDR_RECEIVED_AT, ts) ||
	       (resource_type && art_record_add_header_str(rec, "fhir.resource_type",
							    resource_type))
		       ? -1
		       : 0;
}

/* The patient a resource is about, as a Kafka key: a Patient's first
 * identifier as system|value, else its subject or patient reference; "" if
 * none. */
static void art_http_patient_of(json_t *res, char *out, size_t size)
{
	const char *rt = json_string_value(json_object_get(res, "resourceType"));
	json_t *ref;

	out[0] = '\0';
	if (rt && !strcmp(rt, "Patient")) {
		json_t *id = json_array_get(json_object_get(res, "identifier"), 0);
		const char *sys = json_string_value(json_object_get(id, "system"));
		const char *val = json_string_value(json_object_get(id, "value"));

		if (val) {
			snprintf(out, size, "%s|%s", sys ? sys : "", val);
			return;
		}
	}
	ref = json_object_get(json_object_get(res, "subject"), "reference");
	if (!ref)
		ref = json_object_get(json_object_get(res, "patient"), "reference");
	if (json_is_string(ref))
		snprintf(out, size, "%s", json_string_value(ref));
}

/* The Kafka key of a FHIR body: the patient it is about (for a Bundle, its
 * first Patient entry, else the first entry that names a patient), else
 * the idempotency key — so one patient's requests keep their order. */
static void art_http_fhir_key(json_t *res, const char *idem, char *out, size_t size)
{
	const char *rt = json_string_value(json_object_get(res, "resourceType"));

	art_http_patient_of(res, out, size);
	if (rt && !strcmp(rt, "Bundle")) {
		json_t *entries = json_object_get(res, "entry"), *entry;
		size_t i;

		json_array_foreach(entries, i, entry) {
			json_t *r = json_object_get(entry, "resource");
			const char *t = json_string_value(json_object_get(r, "resourceType"));

			if (t && !strcmp(t, "Patient")) {
				art_http_patient_of(r, out, size);
				break;
			}
		}
		json_array_foreach(entries, i, entry) {
			if (out[0])
				break;
			art_http_patient_of(json_object_get(entry, "resource"), out, size);
		}
	}
	if (!out[0])
		snprintf(out, size, "%s", idem);
}

/* Encodes a RawMessage of raw.fhir for r's body (cut to len bytes). */
static void *art_http_raw_value(struct art_http_req *r, size_t len, const char *idem,
				const char *raw_hash, const char *control_id,
				const char *message_type, size_t *vlen, char *errstr,
				size_t errstr_size)
{
	struct art_avro_value *av = r->l->raw_fhir;
	void *out = NULL;

	art_avro_value_reset(av);
	art_avro_set_string(av, NULL, "idempotency_key", idem);
	art_avro_set_long(av, NULL, "received_at", r->received_at_us);
	art_avro_set_string(av, NULL, "source.channel", r->l->conf->name);
	art_avro_set_string(av, NULL, "source.remote_address", r->remote);
	art_avro_set_string(av, NULL, "content_type",
			    r->ctype[0] ? r->ctype : "application/fhir+json");
	art_avro_set_bytes(av, NULL, "payload", r->body.p ? r->body.p : "", len);
	art_avro_set_string(av, NULL, "raw_hash", raw_hash);
	if (control_id && *control_id)
		art_avro_set_string(av, NULL, "control_id", control_id);
	if (message_type && *message_type)
		art_avro_set_string(av, NULL, "message_type", message_type);
	if (art_avro_value_encode(av, &out, vlen, errstr, errstr_size) == -1)
		return NULL;
	return out;
}

/* Adds one record of r's body to r->recs: to topic (raw.fhir) or, with
 * reason set, as a dead letter. Returns 0 or -1 (out of memory/encode). */
static int art_http_add_fhir_record(struct art_http_req *r, const char *topic, const char *key,
				    const char *idem, const char *control_id,
				    const char *message_type, const char *reason,
				    const char *kind, char *errstr, size_t errstr_size)
{
	size_t len = ART_MIN(r->body.len, reason ? ART_HTTP_DLQ_KEEP : r->body.len), vlen = 0;
	char raw_hash[2 * ART_SHA256_LEN + 1], event_id[37], trace_id[33];
	uint8_t trace[16];
	struct art_record *rec;
	void *value;

	art_hex(r->body_hash, ART_SHA256_LEN, raw_hash);
	if (RAND_bytes(trace, sizeof(trace)) != 1)
		memcpy(trace, r->body_hash, sizeof(trace));
	art_hex(trace, sizeof(trace), trace_id);
	value = art_http_raw_value(r, len, idem, raw_hash, control_id, message_type, &vlen, errstr,
				   errstr_size);
	if (!value)
		return -1;
	rec = art_record_new(topic, key, strlen(key), value, vlen);
	if (!rec)
		return -1;
	art_derived_id(idem, reason ? "dlq" : "raw", event_id);
	if (art_http_headers(rec, event_id, idem, r->l->conf->name, r->l->raw_fhir_schema, trace_id,
			     r->received_at_us, message_type) ||
	    (reason && (art_record_add_header_str(rec, "artery.error", reason) ||
			art_record_add_header_str(rec, "artery.error.kind", kind) ||
			art_record_add_header_str(rec, "artery.attempts", "1"))) ||
	    art_record_list_add(&r->recs, rec) == -1) {
		art_record_destroy(rec);
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	return 0;
}

/* The JSON answer of a stored request: outcome, idempotency key and, per
 * record, its topic and event id. extra (may be NULL) is merged in. */
static void art_http_accepted(struct art_http_req *r, unsigned status,
			      const struct art_record_list *recs, const char *idem, json_t *extra)
{
	json_t *stored = json_array(), *o;
	char *body;

	for (size_t i = 0; i < recs->cnt; i++) {
		const char *id = art_record_header(recs->recs[i], ART_HDR_EVENT_ID, NULL);

		json_array_append_new(stored, json_pack("{s:s, s:s}", "topic", recs->recs[i]->topic,
							"event_id", id ? id : ""));
	}
	o = json_pack("{s:s, s:s, s:o}", "outcome", "accepted", "idempotency_key", idem, "stored",
		      stored);
	if (o && extra)
		json_object_update(o, extra);
	json_decref(extra);
	body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	art_http_answer(r, status, body, body ? strlen(body) : 0, "application/json", "accepted");
}

/* ---- POST /hl7v2 -------------------------------------------------------- */

/* The HL7 ACK artery-mllp-in would send for r (original mode). */
static char *art_http_hl7_ack(struct art_http_req *r, size_t *len)
{
	struct art_hl7_ack_opts o;
	struct art_buf ack;
	char errstr[256];
	int rc;

	memset(&o, 0, sizeof(o));
	o.code = r->in.code;
	o.mode = ART_ACK_AUTO;
	o.err_code = r->in.code == ART_ACK_ACCEPT ? 0 : r->in.err_code;
	o.text = r->in.reason[0] ? r->in.reason : NULL;
	art_buf_init(&ack, 64 * 1024);
	rc = r->in.msg ? art_hl7_ack_build(r->in.msg, &o, &ack, errstr, sizeof(errstr))
		       : art_hl7_ack_build_raw(r->body.p, r->body.len, &o, &ack, errstr,
					       sizeof(errstr));
	if (rc == -1) {
		art_buf_free(&ack);
		return NULL;
	}
	return art_buf_steal(&ack, len);
}

static void art_http_hl7(struct art_http_req *r)
{
	static const struct {
		enum art_hl7_ingest_kind kind;
		unsigned status;
		const char *code, *outcome;
	} errors[] = {
		{ART_INGEST_UNPARSEABLE, MHD_HTTP_BAD_REQUEST, "invalid", "rejected"},
		{ART_INGEST_UNMAPPABLE, MHD_HTTP_UNPROCESSABLE_CONTENT, "processing", "rejected"},
		{ART_INGEST_INTERNAL, MHD_HTTP_INTERNAL_SERVER_ERROR, "exception", "error"},
	};
	size_t ack_len = 0;
	char *ack;

	art_hl7_ingest_prepare(r->l->ing, r->body.p ? r->body.p : "", r->body.len, r->remote,
			       r->received_at_us, &r->in);
	ack = art_http_hl7_ack(r, &ack_len);
	if (r->want_hl7 && ack) {
		art_http_answer(r, r->in.code == ART_ACK_ACCEPT ? MHD_HTTP_ACCEPTED
				   : r->in.code == ART_ACK_REJECT ? MHD_HTTP_BAD_REQUEST
								  : MHD_HTTP_UNPROCESSABLE_CONTENT,
				ack, ack_len, "application/hl7-v2",
				r->in.code == ART_ACK_ACCEPT ? "accepted" : "rejected");
		return;
	}
	if (r->in.code == ART_ACK_ACCEPT) {
		art_http_accepted(r, MHD_HTTP_ACCEPTED, &r->in.recs, r->in.idempotency_key,
				  json_pack("{s:s, s:s, s:s, s:s}", "kind",
					    art_hl7_ingest_kind_name(r->in.kind), "control_id",
					    r->in.control_id, "message_type", r->in.message_type,
					    "ack", ack ? ack : ""));
		free(ack);
		return;
	}
	free(ack);
	for (size_t i = 0; i < ART_ARRAY_SIZE(errors); i++)
		if (errors[i].kind == r->in.kind) {
			art_http_outcome(r, errors[i].status, "error", errors[i].code,
					 errors[i].outcome, "%s (HL7 %s; the message is on %s)",
					 r->in.reason, art_hl7_ingest_kind_name(r->in.kind),
					 r->l->conf->dlq_topic);
			return;
		}
	art_http_outcome(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "error", "exception", "error", "%s",
			 r->in.reason[0] ? r->in.reason : "the message could not be handled");
}

/* ---- POST /fhir, /fhir/<Resource> ---------------------------------------- */

/* Why the body is not a resource this route takes, or NULL. */
static const char *art_http_fhir_check(const struct art_http_req *r, json_t *root, char *why,
				       size_t size)
{
	static const char *const bundle_types[] = {"transaction", "batch", "collection",
						   "message", "document", NULL};
	const char *rt = json_string_value(json_object_get(root, "resourceType"));
	const char *bt;
	size_t i;
	json_t *entry;

	if (!json_is_object(root) || !rt) {
		snprintf(why, size, "the body is not a FHIR resource: no resourceType");
		return why;
	}
	if (r->route == ART_ROUTE_FHIR_RESOURCE) {
		if (strcmp(rt, r->rtype))
			snprintf(why, size, "resourceType %s does not match the URL /fhir/%s", rt,
				 r->rtype);
		return strcmp(rt, r->rtype) ? why : NULL;
	}
	if (strcmp(rt, "Bundle")) {
		snprintf(why, size, "POST /fhir takes a Bundle, not a %s (POST /fhir/%s for one "
				    "resource)",
			 rt, rt);
		return why;
	}
	bt = json_string_value(json_object_get(root, "type"));
	for (i = 0; bundle_types[i] && (!bt || strcmp(bt, bundle_types[i])); i++)
		;
	if (!bundle_types[i]) {
		snprintf(why, size, "Bundle.type %s is not one Artery ingests (transaction, batch, "
				    "collection, message, document)",
			 bt ? bt : "(missing)");
		return why;
	}
	json_array_foreach(json_object_get(root, "entry"), i, entry) {
		json_t *res = json_object_get(entry, "resource");

		/* a transaction's DELETE or a batch's GET has a request and no resource */
		if (res ? !json_is_string(json_object_get(res, "resourceType"))
			: !json_is_object(json_object_get(entry, "request"))) {
			snprintf(why, size, "Bundle.entry[%zu] has %s", i,
				 res ? "a resource without a resourceType"
				     : "neither a resource nor a request");
			return why;
		}
	}
	return NULL;
}

/* Adds the canonical events of a FHIR body to r->recs (before the raw
 * record, which art_http_fhir() adds last). Returns the number of events,
 * or -1 with the reason in errstr when a supported resource cannot be
 * mapped (-2: out of memory). */
static int art_http_fhir_events(struct art_http_req *r, json_t *root, const char *key,
				const char *idem, char *errstr, size_t errstr_size)
{
	struct art_canon_result res;
	struct art_fhir_in_ctx ctx;
	char raw_hash[2 * ART_SHA256_LEN + 1], trace_id[33], schema[96];
	uint8_t trace[16];
	int n;

	memset(&res, 0, sizeof(res));
	art_hex(r->body_hash, ART_SHA256_LEN, raw_hash);
	memset(&ctx, 0, sizeof(ctx));
	ctx.reg = r->l->srv->reg;
	ctx.channel = r->l->conf->name;
	ctx.received_at_us = r->received_at_us;
	ctx.idempotency_key = idem;
	ctx.raw_topic = r->l->conf->fhir_raw_topic;
	ctx.raw_hash = raw_hash;
	n = art_fhir_in_map(root, &ctx, &res, errstr, errstr_size);
	if (RAND_bytes(trace, sizeof(trace)) != 1)
		memcpy(trace, r->body_hash, sizeof(trace));
	art_hex(trace, sizeof(trace), trace_id);
	for (size_t i = 0; n > 0 && i < res.cnt; i++) {
		struct art_canon_event *e = &res.events[i];
		struct art_record *rec = art_record_new(e->topic, key, strlen(key), e->value,
							e->value_len);

		e->value = NULL; /* owned by rec */
		snprintf(schema, sizeof(schema), "%s:%d", e->schema->subject, e->schema->version);
		if (!rec ||
		    art_http_headers(rec, e->event_id, idem, r->l->conf->name, schema, trace_id,
				     r->received_at_us, NULL) ||
		    art_record_list_add(&r->recs, rec) == -1) {
			art_record_destroy(rec);
			snprintf(errstr, errstr_size, "out of memory");
			n = -2;
		}
	}
	art_canon_result_free(&res);
	return n;
}

static void art_http_fhir(struct art_http_req *r)
{
	char idem[2 * ART_SHA256_LEN + 1], key[512], why[512], mtype[96], errstr[300];
	const char *control_id = NULL, *bad;
	int mapped;
	uint8_t d[ART_SHA256_LEN];
	json_error_t je;
	json_t *root = NULL;

	/* the idempotency key: the client's (per listener), else the content */
	if (r->idem_key[0]) {
		char material[512];
		int n = snprintf(material, sizeof(material), "%s\x1f%s", r->l->conf->name,
				 r->idem_key);

		art_sha256(material, (size_t)n, d);
		art_hex(d, sizeof(d), idem);
	} else {
		struct art_buf m;

		art_buf_init(&m, r->body.len + 300);
		art_buf_printf(&m, "%s\x1f", r->l->conf->name);
		art_buf_append(&m, r->body.p ? r->body.p : "", r->body.len);
		art_sha256(m.p ? m.p : "", m.len, d);
		art_hex(d, sizeof(d), idem);
		art_buf_free(&m);
	}
	if (r->body.len > r->l->conf->max_request_size) {
		snprintf(why, sizeof(why), "request body of %zu bytes exceeds max_request_size %zu",
			 r->body_seen, r->l->conf->max_request_size);
		bad = why;
	} else {
		/* a UTF-8 byte order mark is ignored (RFC 8259 §8.1); the stored
		 * bytes keep it */
		size_t bom = r->body.len >= 3 && !memcmp(r->body.p, "\xef\xbb\xbf", 3) ? 3 : 0;

		root = json_loadb(r->body.p ? r->body.p + bom : "", r->body.len - bom,
				  JSON_REJECT_DUPLICATES, &je);
		if (!root)
			snprintf(why, sizeof(why), "the body is not JSON: line %d column %d: %s",
				 je.line, je.column, je.text);
		bad = root ? art_http_fhir_check(r, root, why, sizeof(why)) : why;
	}
	if (bad) {
		if (art_http_add_fhir_record(r, r->l->conf->dlq_topic, idem, idem, NULL,
					     r->route == ART_ROUTE_FHIR_RESOURCE ? r->rtype : "Bundle",
					     bad, "invalid", errstr, sizeof(errstr)))
			art_http_outcome(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "error", "exception",
					 "error", "%s", errstr);
		else if (r->body.len > r->l->conf->max_request_size)
			art_http_outcome(r, MHD_HTTP_CONTENT_TOO_LARGE, "error", "too-long",
					 "rejected", "%s (the first %d bytes are on %s)", bad,
					 ART_HTTP_DLQ_KEEP, r->l->conf->dlq_topic);
		else
			art_http_outcome(r, MHD_HTTP_BAD_REQUEST, "error", "invalid", "rejected",
					 "%s (the body is on %s)", bad, r->l->conf->dlq_topic);
		json_decref(root);
		return;
	}
	control_id = json_string_value(json_object_get(root, "id"));
	if (r->route == ART_ROUTE_FHIR_BUNDLE)
		snprintf(mtype, sizeof(mtype), "Bundle/%s",
			 json_string_value(json_object_get(root, "type")));
	else
		snprintf(mtype, sizeof(mtype), "%s", r->rtype);
	art_http_fhir_key(root, idem, key, sizeof(key));
	mapped = art_http_fhir_events(r, root, key, idem, errstr, sizeof(errstr));
	if (mapped == -1 && r->l->conf->on_error == ART_ON_ERROR_REJECT) {
		/* unmappable and the listener rejects: dead letter only, 422 */
		char reason[400];

		snprintf(reason, sizeof(reason), "%s", errstr);
		art_record_list_clear(&r->recs);
		if (art_http_add_fhir_record(r, r->l->conf->dlq_topic, key, idem, control_id, mtype,
					     reason, "unmappable", errstr, sizeof(errstr)))
			art_http_outcome(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "error", "exception",
					 "error", "%s", errstr);
		else
			art_http_outcome(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "error", "processing",
					 "rejected", "%s (the body is on %s)", reason,
					 r->l->conf->dlq_topic);
		json_decref(root);
		return;
	}
	if (mapped == -1) {
		/* quarantine: the raw body is kept and the reason dead-lettered */
		char reason[400];

		snprintf(reason, sizeof(reason), "%s", errstr);
		art_record_list_clear(&r->recs);
		if (art_http_add_fhir_record(r, r->l->conf->dlq_topic, key, idem, control_id, mtype,
					     reason, "quarantined", errstr, sizeof(errstr)))
			mapped = -2;
	}
	if (mapped == -2 ||
	    art_http_add_fhir_record(r, r->l->conf->fhir_raw_topic, key, idem, control_id, mtype,
				     NULL, NULL, errstr, sizeof(errstr)))
		art_http_outcome(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "error", "exception", "error",
				 "%s", errstr);
	else
		art_http_accepted(r, MHD_HTTP_ACCEPTED, &r->recs, idem,
				  json_pack("{s:s, s:s}", "message_type", mtype, "kind",
					    mapped > 0 ? "mapped"
					    : mapped == 0 ? "unsupported"
							  : "quarantined"));
	json_decref(root);
}

/* ---- the request cycle --------------------------------------------------- */

/* Called by the producer (in the loop thread) once r's records are stored
 * or the unit failed. */
static void art_http_stored(void *opaque, rd_kafka_resp_err_t err, const char *errstr)
{
	struct art_http_req *r = opaque;
	struct art_http_server *srv = r->l->srv;

	if (err) {
		art_warn("kafka.not_stored", "listener %s: %s: answering 503", r->l->conf->name,
			 errstr);
		art_metrics_inc(srv->m_not_stored, r->l->conf->name);
		art_http_outcome(r, MHD_HTTP_SERVICE_UNAVAILABLE, "error", "transient", "not_stored",
				 "Kafka did not store the request (%s): nothing was accepted; "
				 "send it again",
				 errstr);
	}
	art_idem_settle(r);
	r->state = ART_REQ_ANSWERED;
	srv->inflight--;
	art_metrics_set(srv->m_inflight, NULL, (double)srv->inflight);
	MHD_resume_connection(r->conn);
}

/* Turns a complete body into records and sends them; the connection is
 * suspended until art_http_stored(). Returns 1 when r is to be answered
 * now instead (nothing to store, or the producer refused). */
static int art_http_process(struct art_http_req *r)
{
	struct art_http_server *srv = r->l->srv;
	const struct art_record_list *recs;
	char errstr[256];

	art_sha256(r->body.p ? r->body.p : "", r->body.len, r->body_hash);
	if (art_idem_begin(r))
		return 1;
	if (r->route == ART_ROUTE_HL7 && r->body.len > r->l->conf->max_request_size) {
		art_hl7_ingest_refuse(r->l->ing, r->body.p, ART_MIN(r->body.len, ART_HTTP_DLQ_KEEP),
				      r->remote,
				      r->received_at_us, "request body exceeds max_request_size",
				      &r->in);
		art_http_outcome(r, MHD_HTTP_CONTENT_TOO_LARGE, "error", "too-long", "rejected",
				 "request body of %zu bytes exceeds max_request_size %zu (the first "
				 "%d bytes are on %s)",
				 r->body_seen, r->l->conf->max_request_size, ART_HTTP_DLQ_KEEP,
				 r->l->conf->dlq_topic);
	} else if (r->route == ART_ROUTE_HL7) {
		art_http_hl7(r);
	} else {
		art_http_fhir(r);
	}
	recs = r->route == ART_ROUTE_HL7 ? &r->in.recs : &r->recs;
	if (recs->cnt == 0) {
		art_idem_settle(r);
		return 1;
	}
	if (art_producer_send(srv->prod, recs, art_http_stored, r, errstr, sizeof(errstr))) {
		art_http_outcome(r, MHD_HTTP_SERVICE_UNAVAILABLE, "error", "transient", "not_stored",
				 "Kafka did not take the request (%s): send it again", errstr);
		art_idem_settle(r);
		return 1;
	}
	r->state = ART_REQ_IN_FLIGHT;
	srv->inflight++;
	art_metrics_set(srv->m_inflight, NULL, (double)srv->inflight);
	MHD_suspend_connection(r->conn);
	return 0;
}

/* Constant-time comparison of the Authorization header with the token. */
static int art_http_authorized(const struct art_http_lsn *l, struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	size_t n;

	if (!l->token)
		return 1;
	n = strlen(l->token);
	if (!h || strncasecmp(h, "Bearer ", 7))
		return 0;
	h += 7;
	return strlen(h) == n && CRYPTO_memcmp(h, l->token, n) == 0;
}

/* Which route url is; 0 for none. */
static enum art_http_route art_http_route_of(const char *url, char *rtype, size_t size)
{
	if (!strcmp(url, "/hl7v2"))
		return ART_ROUTE_HL7;
	if (!strcmp(url, "/fhir") || !strcmp(url, "/fhir/"))
		return ART_ROUTE_FHIR_BUNDLE;
	if (!strncmp(url, "/fhir/", 6)) {
		const char *t = url + 6;
		size_t n = strlen(t);

		if (n == 0 || n >= size || t[0] < 'A' || t[0] > 'Z' ||
		    strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != n)
			return 0;
		memcpy(rtype, t, n + 1);
		return ART_ROUTE_FHIR_RESOURCE;
	}
	return 0;
}

/* The first call of a request: a context, the headers, the checks that
 * need no body. Returns 1 when r is to be answered at once. */
static int art_http_begin(struct art_http_req *r, const char *url, const char *method)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const char *v;

	r->t0_us = art_mono_us();
	r->received_at_us = art_now_us();
	art_buf_init(&r->body, r->l->conf->max_request_size + 1);
	art_record_list_init(&r->recs, ART_HTTP_MAX_RECORDS);
	if (ci && ci->client_addr) {
		char host[64] = "?";
		int port = 0;

		if (ci->client_addr->sa_family == AF_INET) {
			const struct sockaddr_in *s = (const void *)ci->client_addr;

			inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
			port = ntohs(s->sin_port);
		} else if (ci->client_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *s = (const void *)ci->client_addr;

			inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
			port = ntohs(s->sin6_port);
		}
		snprintf(r->remote, sizeof(r->remote), "%s:%d", host, port);
	}
	v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	snprintf(r->ctype, sizeof(r->ctype), "%s", v ? v : "");
	v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key");
	if (v && strlen(v) >= sizeof(r->idem_key)) {
		art_http_outcome(r, MHD_HTTP_BAD_REQUEST, "error", "invalid", "rejected",
				 "Idempotency-Key is longer than %zu bytes", sizeof(r->idem_key) - 1);
		return 1;
	}
	snprintf(r->idem_key, sizeof(r->idem_key), "%s", v ? v : "");
	v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	r->want_hl7 = v && strstr(v, "application/hl7-v2") != NULL;

	if (!art_http_authorized(r->l, r->conn)) {
		art_http_outcome(r, MHD_HTTP_UNAUTHORIZED, "error", "login", "unauthorized",
				 "a valid bearer token is required (Authorization: Bearer ...)");
		return 1;
	}
	r->route = art_http_route_of(url, r->rtype, sizeof(r->rtype));
	if (!r->route) {
		art_http_outcome(r, MHD_HTTP_NOT_FOUND, "error", "not-found", "not_found",
				 "no such endpoint %s: POST /hl7v2, /fhir or /fhir/<Resource>", url);
		return 1;
	}
	if (strcmp(method, MHD_HTTP_METHOD_POST)) {
		art_http_outcome(r, MHD_HTTP_METHOD_NOT_ALLOWED, "error", "not-supported",
				 "not_allowed", "%s takes POST, not %s", url, method);
		return 1;
	}
	return 0;
}

static enum MHD_Result art_http_handler(void *cls, struct MHD_Connection *conn, const char *url,
					const char *method, const char *version,
					const char *upload_data, size_t *upload_data_size,
					void **con_cls)
{
	struct art_http_lsn *l = cls;
	struct art_http_req *r = *con_cls;

	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->l = l;
		r->conn = conn;
		*con_cls = r;
		if (art_http_begin(r, url, method)) {
			r->state = ART_REQ_ANSWERED;
			return art_http_queue(r, 0);
		}
		return MHD_YES;
	}
	if (r->state == ART_REQ_ANSWERED) {
		*upload_data_size = 0; /* a body after an early answer is dropped */
		return r->resp ? art_http_queue(r, r->outcome && !strcmp(r->outcome, "replayed"))
			       : MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size, room = r->body.max - r->body.len;

		r->body_seen += n;
		art_buf_append(&r->body, upload_data, ART_MIN(n, room));
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->state == ART_REQ_IN_FLIGHT)
		return MHD_YES; /* resumed without an answer cannot happen; wait */
	if (art_http_process(r)) {
		r->state = ART_REQ_ANSWERED;
		return art_http_queue(r, r->outcome && !strcmp(r->outcome, "replayed"));
	}
	return MHD_YES;
}

static void art_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			       enum MHD_RequestTerminationCode toe)
{
	struct art_http_req *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!r)
		return;
	if (r->slot) /* answered early or dropped before storing: forget the key */
		art_idem_free(r->l->srv, r->slot);
	art_hl7_ingest_clear(&r->in);
	art_record_list_free(&r->recs);
	art_buf_free(&r->body);
	free(r->resp);
	free(r);
	*con_cls = NULL;
}

/* MHD's own messages into the JSON log. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void art_http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	art_warn("http.mhd", "%s", msg);
}
#pragma GCC diagnostic pop

/* ---- set-up, loop, teardown ---------------------------------------------- */

static int art_http_listen(struct art_http_server *srv, struct art_http_lsn *l,
			   const struct art_http_listener *conf, char *errstr, size_t errstr_size)
{
	struct art_hl7_ingest_conf ic;
	struct sockaddr_storage ss;
	const struct art_schema *fs = art_schema_latest(srv->reg, "raw.fhir");
	unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	int family = art_sockaddr(conf->bind, conf->port, &ss);

	l->srv = srv;
	l->conf = conf;
	if (family < 0) {
		snprintf(errstr, errstr_size, "http listener %s: bind '%s' is not an address",
			 conf->name, conf->bind);
		return -1;
	}
	if (conf->bearer_token_env) {
		l->token = getenv(conf->bearer_token_env);
		if (!l->token || !*l->token) {
			snprintf(errstr, errstr_size,
				 "http listener %s: bearer_token_env %s is not set (refusing to "
				 "serve without the token it promises)",
				 conf->name, conf->bearer_token_env);
			return -1;
		}
	} else {
		art_warn("http.no_auth", "http listener %s takes requests without authentication "
					 "(set bearer_token_env)",
			 conf->name);
	}
	if (!fs) {
		snprintf(errstr, errstr_size, "schema raw.fhir is not in the registry");
		return -1;
	}
	snprintf(l->raw_fhir_schema, sizeof(l->raw_fhir_schema), "%s:%d", fs->subject,
		 fs->version);
	l->raw_fhir = art_avro_value_new(fs);
	memset(&ic, 0, sizeof(ic));
	ic.reg = srv->reg;
	ic.channel = conf->name;
	ic.raw_topic = conf->hl7_raw_topic;
	ic.dlq_topic = conf->dlq_topic;
	ic.on_error = conf->on_error;
	ic.hl7 = art_hl7_opts_default();
	ic.hl7.max_message_size = conf->max_request_size;
	l->ing = art_hl7_ingester_new(&ic, errstr, errstr_size);
	if (!l->raw_fhir || !l->ing)
		return -1;
	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	l->d = MHD_start_daemon(flags, (uint16_t)conf->port, NULL, NULL, art_http_handler, l,
				MHD_OPTION_EXTERNAL_LOGGER, art_http_mhd_log, l,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_NOTIFY_COMPLETED, art_http_completed, l,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)ART_HTTP_CONN_TIMEOUT,
				MHD_OPTION_END);
	if (!l->d) {
		snprintf(errstr, errstr_size, "http listener %s: cannot listen on %s:%d: %s",
			 conf->name, conf->bind, conf->port, strerror(errno));
		return -1;
	}
	info = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT);
	l->port = info && info->port ? info->port : conf->port;
	art_info("http.listen", "listener %s on %s:%d (POST /hl7v2 /fhir /fhir/<Resource>)",
		 conf->name, conf->bind, l->port);
	return 0;
}

static int art_http_epoll_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

struct art_http_server *art_http_server_new(const struct art_topology *topo,
					    const struct art_schema_registry *reg,
					    struct art_producer *prod, struct art_metrics *m,
					    char *errstr, size_t errstr_size)
{
	struct art_http_server *srv = calloc(1, sizeof(*srv));

	if (!srv || topo->http_cnt > ART_HTTP_MAX_LISTENERS) {
		snprintf(errstr, errstr_size, srv ? "at most %d http listeners" : "out of memory",
			 ART_HTTP_MAX_LISTENERS);
		free(srv);
		return NULL;
	}
	srv->prod = prod;
	srv->reg = reg;
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->idem = calloc(ART_HTTP_IDEM_SLOTS, sizeof(*srv->idem));
	srv->m_requests = art_metrics_counter(m, "artery_http_requests_total",
					      "HTTP requests by outcome (accepted, rejected, "
					      "not_stored, replayed, unauthorized, ...)",
					      "outcome");
	srv->m_latency = art_metrics_histogram(m, "artery_http_request_seconds",
					       "Request received to response queued", NULL, 0);
	srv->m_inflight = art_metrics_gauge(m, "artery_http_inflight",
					    "Requests waiting for Kafka to store their records", NULL);
	srv->m_replays = art_metrics_counter(m, "artery_http_idempotent_replays_total",
					     "Requests answered from the Idempotency-Key table",
					     "listener");
	srv->m_not_stored = art_metrics_counter(m, "artery_http_not_stored_total",
						"Requests answered 503 because Kafka did not store "
						"them in time",
						"listener");
	if (srv->epfd < 0 || !srv->idem) {
		snprintf(errstr, errstr_size, "out of memory");
		art_http_server_destroy(srv);
		return NULL;
	}
	if (art_http_epoll_add(srv->epfd, art_producer_wakeup_fd(prod), ART_HTTP_EV_PRODUCER)) {
		snprintf(errstr, errstr_size, "epoll: %s", strerror(errno));
		art_http_server_destroy(srv);
		return NULL;
	}
	for (size_t i = 0; i < topo->http_cnt; i++) {
		const union MHD_DaemonInfo *info;
		struct art_http_lsn *l = &srv->l[srv->n++];

		if (art_http_listen(srv, l, &topo->http[i], errstr, errstr_size)) {
			art_http_server_destroy(srv);
			return NULL;
		}
		info = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD);
		if (!info || art_http_epoll_add(srv->epfd, info->epoll_fd, (uint32_t)i)) {
			snprintf(errstr, errstr_size, "epoll: %s", strerror(errno));
			art_http_server_destroy(srv);
			return NULL;
		}
	}
	return srv;
}

int art_http_server_port(const struct art_http_server *srv, size_t i)
{
	return i < srv->n ? srv->l[i].port : -1;
}

/* One turn: wait for the daemons or the producer, then serve both. */
static int art_http_turn(struct art_http_server *srv, int max_wait_ms)
{
	struct epoll_event evs[ART_HTTP_MAX_LISTENERS + 1];
	int wait = max_wait_ms, n, woken = 0;

	for (size_t i = 0; i < srv->n; i++) {
		MHD_UNSIGNED_LONG_LONG t;

		if (MHD_get_timeout(srv->l[i].d, &t) == MHD_YES && (long long)t < wait)
			wait = (int)t;
	}
	n = epoll_wait(srv->epfd, evs, (int)ART_ARRAY_SIZE(evs), wait);
	if (n < 0 && errno != EINTR) {
		art_error("http.loop", "epoll_wait: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++)
		woken |= evs[i].data.u32 == ART_HTTP_EV_PRODUCER;
	art_producer_serve(srv->prod, woken);
	for (size_t i = 0; i < srv->n; i++)
		MHD_run(srv->l[i].d);
	return 0;
}

int art_http_server_run(struct art_http_server *srv, void (*tick)(void *), void *arg)
{
	int64_t deadline;
	int max_timeout = 0, rc = 0;

	while (art_run) {
		if (art_http_turn(srv, 100)) {
			rc = -1;
			break;
		}
		if (tick)
			tick(arg);
	}
	/* Drain: stop accepting, answer what is in flight, let responses go. */
	art_info("http.drain", "stopping: %zu requests waiting for Kafka", srv->inflight);
	for (size_t i = 0; i < srv->n; i++) {
		MHD_socket s = MHD_quiesce_daemon(srv->l[i].d);

		if (s != MHD_INVALID_SOCKET)
			close(s);
		max_timeout = ART_MAX(max_timeout, srv->l[i].conf->kafka_timeout_ms);
	}
	deadline = art_mono_us() + (int64_t)(max_timeout + 5000) * 1000;
	while (srv->inflight > 0 && art_mono_us() < deadline)
		if (art_http_turn(srv, 50))
			break;
	/* a few more turns so the last responses are written */
	for (int i = 0; i < 10; i++)
		art_http_turn(srv, 20);
	if (srv->inflight > 0) {
		art_error("http.drain", "%zu requests still waiting for Kafka at exit", srv->inflight);
		rc = -1;
	}
	return rc;
}

void art_http_server_destroy(struct art_http_server *srv)
{
	if (!srv)
		return;
	for (size_t i = 0; i < srv->n; i++) {
		if (srv->l[i].d)
			MHD_stop_daemon(srv->l[i].d);
		art_hl7_ingester_destroy(srv->l[i].ing);
		art_avro_value_destroy(srv->l[i].raw_fhir);
	}
	for (size_t i = 0; srv->idem && i < ART_HTTP_IDEM_SLOTS; i++)
		free(srv->idem[i].resp);
	free(srv->idem);
	if (srv->epfd >= 0)
		close(srv->epfd);
	free(srv);
}
