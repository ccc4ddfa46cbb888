/*
 * hl7_ingest.c — one received HL7 v2 message to the records that must be in
 * Kafka before it is acknowledged. See hl7_ingest.h for the outcome table.
 *
 * The RawMessage value is built with one reused Avro value; canonical
 * values come encoded from the mapper (canonical.h). Every record gets the
 * DESIGN §3 headers; the trace id is shared by all records of one receipt.
 *
 * Per message (~500 bytes, tens of thousands a second on one thread):
 * three SHA-256 digests of this file's own (content, dedup key, raw event
 * id) on one digest context fetched at start-up — OpenSSL 3's EVP_Digest()
 * would look the algorithm up in the provider store on every call; a trace
 * id from a per-ingester generator seeded once from RAND_bytes (a trace id
 * needs to be unique, not secret); ids and numbers formatted by hand rather
 * than with snprintf().
 */
#include "hl7_ingest.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"
#include "avro_codec.h"
#include "canonical.h"
#include "ids.h"
#include "log.h"

#define ART_INGEST_MAX_RECORDS 1024 /* records derived from one message */

struct art_hl7_ingester {
	struct art_hl7_ingest_conf conf;
	const struct art_schema *raw_schema;
	struct art_avro_value *raw_value; /* reused for every RawMessage */
	struct art_canon_mapper *mapper;  /* reused Avro values of the canonical subjects */
	char raw_schema_name[96];         /* "raw.hl7v2:1" for the artery.schema header */
	EVP_MD *sha256;                   /* fetched once (NULL: use EVP_sha256()) */
	EVP_MD_CTX *mdctx;                /* reused for every digest */
	uint64_t rng;                     /* trace id generator state (splitmix64) */
	struct art_buf field;             /* scratch for decoded MSH fields */
};

static const char *const art_ingest_kind_names[] = {
	"mapped", "unsupported", "quarantined", "unmappable", "unparseable", "internal",
};

const char *art_hl7_ingest_kind_name(enum art_hl7_ingest_kind kind)
{
	return art_ingest_kind_names[kind];
}

/* SHA-256 of p[0..len) on the ingester's context. */
static void art_ingest_sha256(struct art_hl7_ingester *ing, const void *p, size_t len, uint8_t out[32])
{
	const EVP_MD *md = ing->sha256 ? ing->sha256 : EVP_sha256();
	unsigned int n = 32;

	if (!ing->mdctx || EVP_DigestInit_ex(ing->mdctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ing->mdctx, p, len) != 1 ||
	    EVP_DigestFinal_ex(ing->mdctx, out, &n) != 1)
		EVP_Digest(p, len, out, &n, md, NULL);
}

/* The next 64 random-looking bits (splitmix64). */
static uint64_t art_ingest_rand(struct art_hl7_ingester *ing)
{
	uint64_t z = (ing->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Writes v in decimal into out (at least 21 bytes), NUL-terminated. */
static void art_ingest_u64(uint64_t v, char *out)
{
	char tmp[21];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
}

/* Appends src (NUL-terminated) at *pos in out of size bytes, cutting it to
 * what fits; out stays NUL-terminated. */
static void art_ingest_cat(char *out, size_t size, size_t *pos, const char *src)
{
	size_t n = strlen(src);

	if (*pos >= size)
		return;
	if (n > size - 1 - *pos)
		n = size - 1 - *pos;
	memcpy(out + *pos, src, n);
	*pos += n;
	out[*pos] = '\0';
}

/* A UUID-formatted id (version 5 / variant bits set) from a digest of
 * "<idempotency key>:<what>", so a resend yields the same id. */
static void art_ingest_event_id(struct art_hl7_ingester *ing, const char *idem, const char *what,
				char out[37])
{
	uint8_t d[32];
	char in[128], h[33];
	size_t n = 0;

	art_ingest_cat(in, sizeof(in), &n, idem);
	art_ingest_cat(in, sizeof(in), &n, ":");
	art_ingest_cat(in, sizeof(in), &n, what);
	art_ingest_sha256(ing, in, n, d);
	d[6] = (uint8_t)((d[6] & 0x0f) | 0x50);
	d[8] = (uint8_t)((d[8] & 0x3f) | 0x80);
	art_hex(d, 16, h);
	/* 8-4-4-4-12 */
	memcpy(out, h, 8);
	out[8] = '-';
	memcpy(out + 9, h + 8, 4);
	out[13] = '-';
	memcpy(out + 14, h + 12, 4);
	out[18] = '-';
	memcpy(out + 19, h + 16, 4);
	out[23] = '-';
	memcpy(out + 24, h + 20, 12);
	out[36] = '\0';
}

struct art_hl7_ingester *art_hl7_ingester_new(const struct art_hl7_ingest_conf *conf,
					      char *errstr, size_t errstr_size)
{
	struct art_hl7_ingester *ing = calloc(1, sizeof(*ing));

	if (!ing) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	ing->conf = *conf;
	ing->raw_schema = art_schema_latest(conf->reg, "raw.hl7v2");
	if (!ing->raw_schema) {
		snprintf(errstr, errstr_size, "schema registry %s has no subject raw.hl7v2",
			 conf->reg->dir);
		free(ing);
		return NULL;
	}
	snprintf(ing->raw_schema_name, sizeof(ing->raw_schema_name), "%s:%d",
		 ing->raw_schema->subject, ing->raw_schema->version);
	ing->raw_value = art_avro_value_new(ing->raw_schema);
	ing->mapper = art_canon_mapper_new(conf->reg);
	ing->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	ing->mdctx = EVP_MD_CTX_new();
	art_buf_init(&ing->field, sizeof(((struct art_hl7_ingest *)NULL)->control_id));
	if (RAND_bytes((unsigned char *)&ing->rng, sizeof(ing->rng)) != 1)
		ing->rng = (uint64_t)art_now_us() ^ ((uint64_t)(uintptr_t)ing << 16);
	if (!ing->raw_value || !ing->mapper || !ing->mdctx) {
		snprintf(errstr, errstr_size, "out of memory");
		art_hl7_ingester_destroy(ing);
		return NULL;
	}
	return ing;
}

void art_hl7_ingester_destroy(struct art_hl7_ingester *ing)
{
	if (!ing)
		return;
	art_avro_value_destroy(ing->raw_value);
	art_canon_mapper_destroy(ing->mapper);
	EVP_MD_free(ing->sha256);
	EVP_MD_CTX_free(ing->mdctx);
	art_buf_free(&ing->field);
	free(ing);
}

/* Headers every record of a receipt carries. */
static int art_ingest_headers(struct art_record *rec, const struct art_hl7_ingest *in,
			      const char *channel, const char *event_id, const char *schema,
			      const char *trace_id, int64_t received_at_us)
{
	char ts[24];

	if (received_at_us >= 0)
		art_ingest_u64((uint64_t)received_at_us, ts);
	else
		snprintf(ts, sizeof(ts), "%lld", (long long)received_at_us);
	if (art_record_add_header_str(rec, ART_HDR_EVENT_ID, event_id) == -1 ||
	    art_record_add_header_str(rec, ART_HDR_IDEMPOTENCY_KEY, in->idempotency_key) == -1 ||
	    art_record_add_header_str(rec, ART_HDR_SOURCE, channel) == -1 ||
	    art_record_add_header_str(rec, ART_HDR_SCHEMA, schema) == -1 ||
	    art_record_add_header_str(rec, ART_HDR_TRACE_ID, trace_id) == -1 ||
	    art_record_add_header_str(rec, ART_HDR_RECEIVED_AT, ts) == -1)
		return -1;
	if (in->control_id[0] &&
	    art_record_add_header_str(rec, ART_HDR_HL7_CONTROL_ID, in->control_id) == -1)
		return -1;
	if (in->message_type[0] &&
	    art_record_add_header_str(rec, ART_HDR_HL7_MESSAGE_TYPE, in->message_type) == -1)
		return -1;
	return 0;
}

/* Encodes the RawMessage for buf. Returns the malloc'd wire bytes or NULL
 * (reason in errstr). */
static void *art_ingest_raw_value(struct art_hl7_ingester *ing, const struct art_hl7_ingest *in,
				  const char *buf, size_t len, const char *remote,
				  int64_t received_at_us, const char *raw_hash, size_t *vlen,
				  char *errstr, size_t errstr_size)
{
	struct art_avro_value *av = ing->raw_value;
	void *out = NULL;

	art_avro_value_reset(av);
	art_avro_set_string(av, NULL, "idempotency_key", in->idempotency_key);
	art_avro_set_long(av, NULL, "received_at", received_at_us);
	art_avro_set_string(av, NULL, "source.channel", ing->conf.channel);
	if (remote)
		art_avro_set_string(av, NULL, "source.remote_address", remote);
	art_avro_set_string(av, NULL, "content_type", "application/hl7-v2");
	art_avro_set_bytes(av, NULL, "payload", buf, len);
	art_avro_set_string(av, NULL, "raw_hash", raw_hash);
	if (in->control_id[0])
		art_avro_set_string(av, NULL, "control_id", in->control_id);
	if (in->message_type[0])
		art_avro_set_string(av, NULL, "message_type", in->message_type);
	if (art_avro_value_encode(av, &out, vlen, errstr, errstr_size) == -1)
		return NULL;
	return out;
}

/* Copies the decoded value at path into out, "" if absent, undecodable or
 * longer than size - 1 bytes. */
static void art_ingest_get(struct art_hl7_ingester *ing, const struct art_hl7_msg *msg,
			   const char *path, char *out, size_t size)
{
	struct art_buf *b = &ing->field;
	char err[128];

	b->max = size - 1;
	out[0] = '\0';
	if (art_hl7_get(msg, path, b, NULL, err, sizeof(err)) == ART_HL7_VALUE && b->p) {
		memcpy(out, b->p, b->len);
		out[b->len] = '\0';
	}
}

/* Fills control id, message type and the dedup key from a parsed MSH. */
static void art_ingest_header_info(struct art_hl7_ingester *ing, struct art_hl7_ingest *in)
{
	const struct art_hl7_header *h = art_hl7_header(in->msg);
	char app[256], fac[256], key[700];
	size_t n = 0, tl = ART_MIN(h->msg_type.len, 20), gl = ART_MIN(h->trigger.len, 20);

	art_ingest_get(ing, in->msg, "MSH-10", in->control_id, sizeof(in->control_id));
	if (h->msg_type.len) {
		/* TYPE^TRIGGER, each cut to 20 bytes: fits message_type[64] */
		memcpy(in->message_type, h->msg_type.p, tl);
		if (gl) {
			in->message_type[tl] = '^';
			memcpy(in->message_type + tl + 1, h->trigger.p, gl);
			tl += 1 + gl;
		}
		in->message_type[tl] = '\0';
	}
	art_ingest_get(ing, in->msg, "MSH-3", app, sizeof(app));
	art_ingest_get(ing, in->msg, "MSH-4", fac, sizeof(fac));
	art_ingest_cat(key, sizeof(key), &n, app);
	art_ingest_cat(key, sizeof(key), &n, "\x1f");
	art_ingest_cat(key, sizeof(key), &n, fac);
	art_ingest_cat(key, sizeof(key), &n, "\x1f");
	art_ingest_cat(key, sizeof(key), &n, in->control_id);
	art_ingest_sha256(ing, key, n, in->dedup_key);
	in->dedupable = in->control_id[0] != '\0';
}

/* Adds the dead letter (the RawMessage bytes + reason headers). */
static int art_ingest_add_dlq(struct art_hl7_ingester *ing, struct art_hl7_ingest *in,
			      const void *value, size_t vlen, const char *key,
			      const char *trace_id, int64_t received_at_us)
{
	struct art_record *rec;
	void *copy = malloc(vlen);
	char event_id[37];

	if (!copy)
		return -1;
	memcpy(copy, value, vlen);
	rec = art_record_new(ing->conf.dlq_topic, key, strlen(key), copy, vlen);
	copy = NULL; /* owned by rec (freed by art_record_new on failure) */
	if (!rec)
		return -1;
	art_ingest_event_id(ing, in->idempotency_key, "dlq", event_id);
	if (art_ingest_headers(rec, in, ing->conf.channel, event_id, ing->raw_schema_name,
			       trace_id, received_at_us) == -1 ||
	    art_record_add_header_str(rec, "artery.error", in->reason) == -1 ||
	    art_record_add_header_str(rec, "artery.error.kind",
				      art_hl7_ingest_kind_name(in->kind)) == -1 ||
	    art_record_add_header_str(rec, "artery.attempts", "1") == -1 ||
	    art_record_list_add(&in->recs, rec) == -1) {
		art_record_destroy(rec);
		return -1;
	}
	return 0;
}

/* 1 when buf is one message: it starts with "MSH" (after an optional
 * UTF-8 BOM) and no later line starts, after blanks, a header segment
 * (MSH, BHS, FHS, BTS, FTS), or an MLLP byte (0x0B, 0x1C) that the
 * splitter treats as a boundary. Then splitting would find exactly this one message, and the
 * hot path can skip the split. */
static int art_ingest_single_msh(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;

	if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
		p += 3;
	if (end - p < 3 || memcmp(p, "MSH", 3) != 0)
		return 0;
	if (memchr(p, 0x0b, (size_t)(end - p)) || memchr(p, 0x1c, (size_t)(end - p)))
		return 0;
	for (int t = 0; t < 2; t++) {
		const char *q = memchr(p, t ? '\n' : '\r', (size_t)(end - p));

		for (; q; q = memchr(q + 1, t ? '\n' : '\r', (size_t)(end - q - 1))) {
			const char *h = q + 1;

			/* blank lines and indentation do not hide a header */
			while (h < end && (*h == '\r' || *h == '\n' || *h == ' ' || *h == '\t'))
				h++;
			if (end - h >= 3 && (!memcmp(h, "MSH", 3) || !memcmp(h, "BHS", 3) ||
					     !memcmp(h, "FHS", 3) || !memcmp(h, "BTS", 3) ||
					     !memcmp(h, "FTS", 3)))
				return 0;
			if (q + 1 >= end)
				break;
		}
	}
	return 1;
}

void art_hl7_ingest_prepare(struct art_hl7_ingester *ing, const char *buf, size_t len,
			    const char *remote, int64_t received_at_us,
			    struct art_hl7_ingest *in)
{
	struct art_canon_result cr;
	struct art_canon_ctx cctx;
	struct art_hl7_split split;
	enum art_canon_status st = ART_CANON_UNSUPPORTED;
	char raw_hash[65], trace_id[33], event_id[37], errstr[300];
	uint64_t trace[2];
	const char *key;
	char fallback_key[160];
	void *raw = NULL;
	size_t raw_len = 0;
	int want_raw, want_dlq;

	memset(in, 0, sizeof(*in));
	memset(&cr, 0, sizeof(cr));
	art_record_list_init(&in->recs, ART_INGEST_MAX_RECORDS);
	art_ingest_sha256(ing, buf, len, in->content_hash);
	art_hex(in->content_hash, 32, raw_hash);
	trace[0] = art_ingest_rand(ing);
	trace[1] = art_ingest_rand(ing);
	art_hex((const uint8_t *)trace, sizeof(trace), trace_id);

	/* 1. Parse: exactly one message per unit. The common case (one MSH
	 * message) goes straight to the parser; anything else is split first
	 * so that batches and headerless input are named as such. */
	memset(&split, 0, sizeof(split));
	if (art_ingest_single_msh(buf, len)) {
		in->msg = art_hl7_parse(buf, len, &ing->conf.hl7, errstr, sizeof(errstr));
		if (!in->msg) {
			in->kind = ART_INGEST_UNPARSEABLE;
			snprintf(in->reason, sizeof(in->reason), "unparseable HL7 v2: %s", errstr);
		}
	} else if (art_hl7_split(buf, len, &ing->conf.hl7, &split, NULL, errstr, sizeof(errstr)) ==
		   -1) {
		in->kind = ART_INGEST_UNPARSEABLE;
		snprintf(in->reason, sizeof(in->reason), "unparseable HL7 v2: %s", errstr);
	} else if (split.nmsgs != 1) {
		in->kind = ART_INGEST_UNPARSEABLE;
		snprintf(in->reason, sizeof(in->reason),
			 "%zu messages in one unit: send one message per MLLP frame or request "
			 "(batch files go to artery-file-in)",
			 split.nmsgs);
	} else {
		in->msg = art_hl7_parse(buf, len, &ing->conf.hl7, errstr, sizeof(errstr));
		if (!in->msg) {
			in->kind = ART_INGEST_UNPARSEABLE;
			snprintf(in->reason, sizeof(in->reason), "unparseable HL7 v2: %s", errstr);
		}
	}
	art_hl7_split_free(&split);

	/* 2. Map. The mapper computes the keys first (cr.idempotency_key,
	 * cr.key), whatever the outcome, unless it ran out of memory. */
	if (in->msg) {
		art_ingest_header_info(ing, in);
		memset(&cctx, 0, sizeof(cctx));
		cctx.reg = ing->conf.reg;
		cctx.channel = ing->conf.channel;
		cctx.received_at_us = received_at_us;
		cctx.raw_topic = ing->conf.raw_topic;
		cctx.raw_hash = raw_hash;
		st = art_canon_map_with(ing->mapper, in->msg, &cctx, &cr, errstr, sizeof(errstr));
		switch (st) {
		case ART_CANON_MAPPED:
			in->kind = ART_INGEST_MAPPED;
			break;
		case ART_CANON_UNSUPPORTED:
			in->kind = ART_INGEST_UNSUPPORTED;
			break;
		case ART_CANON_UNMAPPABLE:
			in->kind = ing->conf.on_error == ART_ON_ERROR_REJECT ? ART_INGEST_UNMAPPABLE
									     : ART_INGEST_QUARANTINED;
			snprintf(in->reason, sizeof(in->reason), "unmappable: %s", errstr);
			break;
		default:
			in->kind = ART_INGEST_INTERNAL;
			snprintf(in->reason, sizeof(in->reason), "mapping failed: %s", errstr);
			break;
		}
	}

	/* 3. Keys. */
	if (in->msg && cr.idempotency_key[0]) {
		memcpy(in->idempotency_key, cr.idempotency_key, sizeof(in->idempotency_key));
	} else if (in->msg) {
		art_hex(in->dedup_key, 32, in->idempotency_key);
	} else {
		/* No MSH to key on: the bytes themselves (with the channel). */
		uint8_t d[32];
		char k[200];
		size_t n = 0;

		art_ingest_cat(k, sizeof(k), &n, ing->conf.channel);
		art_ingest_cat(k, sizeof(k), &n, "\x1f");
		art_ingest_cat(k, sizeof(k), &n, raw_hash);
		art_ingest_sha256(ing, k, n, d);
		art_hex(d, 32, in->idempotency_key);
	}
	if (cr.key && cr.key[0]) {
		key = cr.key;
	} else {
		size_t n = 0;

		art_ingest_cat(fallback_key, sizeof(fallback_key), &n, ing->conf.channel);
		art_ingest_cat(fallback_key, sizeof(fallback_key), &n, "|");
		art_ingest_cat(fallback_key, sizeof(fallback_key), &n,
			       in->control_id[0] ? in->control_id : raw_hash);
		key = fallback_key;
	}

	/* 4. Decide the answer and the records. */
	switch (in->kind) {
	case ART_INGEST_MAPPED:
	case ART_INGEST_UNSUPPORTED:
	case ART_INGEST_QUARANTINED:
		in->code = ART_ACK_ACCEPT;
		break;
	case ART_INGEST_UNMAPPABLE:
		in->code = ART_ACK_ERROR;
		in->err_code = ART_ACK_ERR_REQUIRED_MISSING;
		break;
	case ART_INGEST_UNPARSEABLE:
		in->code = ART_ACK_REJECT;
		in->err_code = ART_ACK_ERR_SEGMENT_SEQUENCE;
		break;
	case ART_INGEST_INTERNAL:
		in->code = ART_ACK_ERROR;
		in->err_code = ART_ACK_ERR_INTERNAL;
		break;
	}
	want_raw = in->code == ART_ACK_ACCEPT;
	want_dlq = in->kind >= ART_INGEST_QUARANTINED;

	raw = art_ingest_raw_value(ing, in, buf, len, remote, received_at_us, raw_hash, &raw_len,
				   errstr, sizeof(errstr));
	if (!raw) {
		snprintf(in->reason, sizeof(in->reason), "could not encode the raw record: %s",
			 errstr);
		goto internal;
	}
	if (want_raw) {
		struct art_record *rec;

		rec = art_record_new(ing->conf.raw_topic, key, strlen(key), raw, raw_len);
		raw = NULL; /* owned by rec */
		if (!rec)
			goto oom;
		art_ingest_event_id(ing, in->idempotency_key, "raw", event_id);
		if (art_ingest_headers(rec, in, ing->conf.channel, event_id, ing->raw_schema_name,
				       trace_id, received_at_us) == -1 ||
		    art_record_list_add(&in->recs, rec) == -1) {
			art_record_destroy(rec);
			goto oom;
		}
		if (want_dlq) {
			/* The dead letter needs the same bytes: take them back from the
			 * raw record just queued. */
			const struct art_record *r = in->recs.recs[in->recs.cnt - 1];
			if (art_ingest_add_dlq(ing, in, r->value, r->value_len, key, trace_id,
					       received_at_us) == -1)
				goto oom;
		}
	} else if (want_dlq) {
		int rc = art_ingest_add_dlq(ing, in, raw, raw_len, key, trace_id, received_at_us);
		free(raw);
		raw = NULL;
		if (rc == -1)
			goto oom;
	}
	free(raw);
	raw = NULL;

	/* Canonical events follow the raw record (same key: same partition
	 * order for the patient). */
	if (in->kind == ART_INGEST_MAPPED) {
		for (size_t i = 0; i < cr.cnt; i++) {
			struct art_canon_event *ev = &cr.events[i];
			struct art_record *rec;
			char schema[96], ver[24];
			size_t sn = 0;

			rec = art_record_new(ev->topic, key, strlen(key), ev->value, ev->value_len);
			ev->value = NULL; /* owned by rec */
			if (!rec)
				goto oom;
			art_ingest_u64((uint64_t)ART_MAX(ev->schema->version, 0), ver);
			art_ingest_cat(schema, sizeof(schema), &sn, ev->schema->subject);
			art_ingest_cat(schema, sizeof(schema), &sn, ":");
			art_ingest_cat(schema, sizeof(schema), &sn, ver);
			if (art_ingest_headers(rec, in, ing->conf.channel, ev->event_id, schema,
					       trace_id, received_at_us) == -1 ||
			    art_record_list_add(&in->recs, rec) == -1) {
				art_record_destroy(rec);
				goto oom;
			}
			in->events++;
		}
	}
	art_canon_result_free(&cr);
	return;

oom:
	snprintf(in->reason, sizeof(in->reason), "out of memory building records");
internal:
	free(raw);
	art_canon_result_free(&cr);
	art_record_list_clear(&in->recs);
	in->kind = ART_INGEST_INTERNAL;
	in->code = ART_ACK_ERROR;
	in->err_code = ART_ACK_ERR_INTERNAL;
	in->events = 0;
}

void art_hl7_ingest_refuse(struct art_hl7_ingester *ing, const char *buf, size_t len,
			   const char *remote, int64_t received_at_us, const char *reason,
			   struct art_hl7_ingest *in)
{
	char raw_hash[65], trace_id[33], key[160], errstr[256];
	uint8_t d[32];
	void *raw;
	size_t raw_len;
	int n;

	memset(in, 0, sizeof(*in));
	art_record_list_init(&in->recs, ART_INGEST_MAX_RECORDS);
	in->kind = ART_INGEST_UNPARSEABLE;
	in->code = ART_ACK_REJECT;
	in->err_code = ART_ACK_ERR_SEGMENT_SEQUENCE;
	snprintf(in->reason, sizeof(in->reason), "%s", reason);
	art_ingest_sha256(ing, buf, len, in->content_hash);
	art_hex(in->content_hash, 32, raw_hash);
	n = snprintf(key, sizeof(key), "%s\x1f%s", ing->conf.channel, raw_hash);
	art_ingest_sha256(ing, key, (size_t)n, d);
	art_hex(d, 32, in->idempotency_key);
	art_hex(in->content_hash, 16, trace_id);
	snprintf(key, sizeof(key), "%s|%s", ing->conf.channel, raw_hash);
	raw = art_ingest_raw_value(ing, in, buf, len, remote, received_at_us, raw_hash, &raw_len,
				   errstr, sizeof(errstr));
	if (!raw || art_ingest_add_dlq(ing, in, raw, raw_len, key, trace_id, received_at_us) == -1) {
		in->kind = ART_INGEST_INTERNAL;
		in->code = ART_ACK_ERROR;
		in->err_code = ART_ACK_ERR_INTERNAL;
		art_record_list_clear(&in->recs);
	}
	free(raw);
}

void art_hl7_ingest_clear(struct art_hl7_ingest *in)
{
	art_record_list_free(&in->recs);
	art_hl7_msg_destroy(in->msg);
	memset(in, 0, sizeof(*in));
}
