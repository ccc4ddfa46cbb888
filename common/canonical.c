/*
 * canonical.c — the HL7 v2 → canonical mapping core: the table from
 * (message type, trigger) to (domain mapper, event type), the keys, the
 * envelope every canonical record starts with, HL7 time parsing, and the
 * helpers the domain files (canonical_patient.c, canonical_result.c, ...)
 * share. See canonical.h, docs/mapping.md and docs/events.md.
 *
 * Rates: one art_canon_map_with() per ingested message; with a reused
 * mapper the only allocations are the encoded values, the event array, the
 * key and two short strings per event.
 */
#define ART_CANON_INTERNAL
#include "canonical.h"

#include <assert.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "art.h"
#include "avro_fast.h"

/* ---- the table ------------------------------------------------------------ */

/* (type, trigger) -> (domain mapper, event type). A pair with several
 * adjacent rows yields the events of each row, in order, all or nothing:
 * encounter-centred ADT events (A01, A02, A03, ...) carry a demographics
 * snapshot (patient.updated) and then their canonical.encounter event
 * (docs/events.md). */
#define ENC ART_CANON_D_ENCOUNTER, art_canon_map_encounter
#define PAT ART_CANON_D_PATIENT, art_canon_map_patient
static const struct art_canon_route art_canon_routes[] = {
	{"ADT", "A04", PAT, "patient.registered", 0},
	{"ADT", "A04", ENC, "encounter.registered", ART_CANON_RF_IF_VISIT},
	{"ADT", "A28", PAT, "patient.created", 0},
	{"ADT", "A05", PAT, "patient.preadmitted", 0},
	{"ADT", "A05", ENC, "encounter.admit_pending", ART_CANON_RF_IF_VISIT},
	{"ADT", "A08", PAT, "patient.updated", 0},
	{"ADT", "A08", ENC, "encounter.updated", ART_CANON_RF_IF_VISIT},
	{"ADT", "A31", PAT, "patient.updated", 0},
	{"ADT", "A29", PAT, "patient.deleted", 0},
	/* encounter-centred ADT: demographics snapshot, then the encounter event */
	{"ADT", "A01", PAT, "patient.updated", 0},
	{"ADT", "A01", ENC, "encounter.admitted", 0},
	{"ADT", "A02", PAT, "patient.updated", 0},
	{"ADT", "A02", ENC, "encounter.transferred", 0},
	{"ADT", "A03", PAT, "patient.updated", 0},
	{"ADT", "A03", ENC, "encounter.discharged", 0},
	{"ADT", "A06", PAT, "patient.updated", 0},
	{"ADT", "A06", ENC, "encounter.class_changed", 0},
	{"ADT", "A07", PAT, "patient.updated", 0},
	{"ADT", "A07", ENC, "encounter.class_changed", 0},
	{"ADT", "A09", PAT, "patient.updated", 0},
	{"ADT", "A09", ENC, "encounter.departed", 0},
	{"ADT", "A10", PAT, "patient.updated", 0},
	{"ADT", "A10", ENC, "encounter.arrived", 0},
	{"ADT", "A11", PAT, "patient.updated", 0},
	{"ADT", "A11", ENC, "encounter.admit_cancelled", 0},
	{"ADT", "A12", PAT, "patient.updated", 0},
	{"ADT", "A12", ENC, "encounter.transfer_cancelled", 0},
	{"ADT", "A13", PAT, "patient.updated", 0},
	{"ADT", "A13", ENC, "encounter.discharge_cancelled", 0},
	{"ADT", "A14", PAT, "patient.updated", 0},
	{"ADT", "A14", ENC, "encounter.admit_pending", 0},
	{"ADT", "A15", PAT, "patient.updated", 0},
	{"ADT", "A15", ENC, "encounter.transfer_pending", 0},
	{"ADT", "A16", PAT, "patient.updated", 0},
	{"ADT", "A16", ENC, "encounter.discharge_pending", 0},
	{"ADT", "A17", PAT, "patient.updated", 0},
	{"ADT", "A17", ENC, "encounter.transferred", 0},
	{"ADT", "A21", PAT, "patient.updated", 0},
	{"ADT", "A21", ENC, "encounter.leave_started", 0},
	{"ADT", "A22", PAT, "patient.updated", 0},
	{"ADT", "A22", ENC, "encounter.leave_ended", 0},
	{"ADT", "A25", PAT, "patient.updated", 0},
	{"ADT", "A25", ENC, "encounter.discharge_pending_cancelled", 0},
	{"ADT", "A26", PAT, "patient.updated", 0},
	{"ADT", "A26", ENC, "encounter.transfer_pending_cancelled", 0},
	{"ADT", "A27", PAT, "patient.updated", 0},
	{"ADT", "A27", ENC, "encounter.admit_pending_cancelled", 0},
	{"ADT", "A32", PAT, "patient.updated", 0},
	{"ADT", "A32", ENC, "encounter.arrival_cancelled", 0},
	{"ADT", "A33", PAT, "patient.updated", 0},
	{"ADT", "A33", ENC, "encounter.departure_cancelled", 0},
	{"ADT", "A38", PAT, "patient.updated", 0},
	{"ADT", "A38", ENC, "encounter.admit_pending_cancelled", 0},
	/* patient merges: PID = the survivor, MRG-1 = the prior identifiers */
	{"ADT", "A18", ART_CANON_D_PATIENT, art_canon_map_patient_merge, "patient.merged", 0},
	{"ADT", "A30", ART_CANON_D_PATIENT, art_canon_map_patient_merge, "patient.merged", 0},
	{"ADT", "A34", ART_CANON_D_PATIENT, art_canon_map_patient_merge, "patient.merged", 0},
	{"ADT", "A36", ART_CANON_D_PATIENT, art_canon_map_patient_merge, "patient.merged", 0},
	{"ADT", "A39", ART_CANON_D_PATIENT, art_canon_map_patient_merge, "patient.merged", 0},
	{"ADT", "A40", ART_CANON_D_PATIENT, art_canon_map_patient_merge, "patient.merged", 0},
	/* results: the event type follows OBR-25 / OBX-11 (docs/events.md) */
	{"ORU", "R01", ART_CANON_D_RESULT, art_canon_map_result, NULL, 0},
	{"OUL", "R22", ART_CANON_D_RESULT, art_canon_map_result, NULL, 0},
	/* orders: one event per order group; the type follows ORC-1 */
	{"ORM", "O01", ART_CANON_D_ORDER, art_canon_map_order, NULL, 0},
	{"OML", "O21", ART_CANON_D_ORDER, art_canon_map_order, NULL, 0},
	{"OML", "O33", ART_CANON_D_ORDER, art_canon_map_order, NULL, 0},
	{"OML", "O35", ART_CANON_D_ORDER, art_canon_map_order, NULL, 0},
	{"OMG", "O19", ART_CANON_D_ORDER, art_canon_map_order, NULL, 0},
	{"OMD", "O03", ART_CANON_D_ORDER, art_canon_map_order, NULL, 0},
	{"OMP", "O09", ART_CANON_D_ORDER, art_canon_map_order, NULL, 0},
	{"RDE", "O11", ART_CANON_D_ORDER, art_canon_map_order, NULL, 0},
	{"RDE", "O25", ART_CANON_D_ORDER, art_canon_map_order, NULL, 0},
	/* appointments */
	{"SIU", "S12", ART_CANON_D_APPOINTMENT, art_canon_map_appointment, "appointment.booked", 0},
	{"SIU", "S13", ART_CANON_D_APPOINTMENT, art_canon_map_appointment, "appointment.rescheduled", 0},
	{"SIU", "S14", ART_CANON_D_APPOINTMENT, art_canon_map_appointment, "appointment.modified", 0},
	{"SIU", "S15", ART_CANON_D_APPOINTMENT, art_canon_map_appointment, "appointment.cancelled", 0},
	{"SIU", "S16", ART_CANON_D_APPOINTMENT, art_canon_map_appointment, "appointment.discontinued", 0},
	{"SIU", "S17", ART_CANON_D_APPOINTMENT, art_canon_map_appointment, "appointment.deleted", 0},
	{"SIU", "S18", ART_CANON_D_APPOINTMENT, art_canon_map_appointment, "appointment.resource_added", 0},
	{"SIU", "S19", ART_CANON_D_APPOINTMENT, art_canon_map_appointment, "appointment.resource_modified", 0},
	{"SIU", "S20", ART_CANON_D_APPOINTMENT, art_canon_map_appointment, "appointment.resource_cancelled", 0},
	{"SIU", "S21", ART_CANON_D_APPOINTMENT, art_canon_map_appointment, "appointment.resource_discontinued", 0},
	{"SIU", "S22", ART_CANON_D_APPOINTMENT, art_canon_map_appointment, "appointment.resource_deleted", 0},
	{"SIU", "S23", ART_CANON_D_APPOINTMENT, art_canon_map_appointment, "appointment.slots_blocked", 0},
	{"SIU", "S24", ART_CANON_D_APPOINTMENT, art_canon_map_appointment, "appointment.slots_opened", 0},
	{"SIU", "S26", ART_CANON_D_APPOINTMENT, art_canon_map_appointment, "appointment.noshow", 0},
	/* documents: the "notification" and "notification and content" pairs */
	{"MDM", "T01", ART_CANON_D_DOCUMENT, art_canon_map_document, "document.created", 0},
	{"MDM", "T02", ART_CANON_D_DOCUMENT, art_canon_map_document, "document.created", 0},
	{"MDM", "T03", ART_CANON_D_DOCUMENT, art_canon_map_document, "document.status_changed", 0},
	{"MDM", "T04", ART_CANON_D_DOCUMENT, art_canon_map_document, "document.status_changed", 0},
	{"MDM", "T05", ART_CANON_D_DOCUMENT, art_canon_map_document, "document.addendum_added", 0},
	{"MDM", "T06", ART_CANON_D_DOCUMENT, art_canon_map_document, "document.addendum_added", 0},
	{"MDM", "T07", ART_CANON_D_DOCUMENT, art_canon_map_document, "document.edited", 0},
	{"MDM", "T08", ART_CANON_D_DOCUMENT, art_canon_map_document, "document.edited", 0},
	{"MDM", "T09", ART_CANON_D_DOCUMENT, art_canon_map_document, "document.replaced", 0},
	{"MDM", "T10", ART_CANON_D_DOCUMENT, art_canon_map_document, "document.replaced", 0},
	{"MDM", "T11", ART_CANON_D_DOCUMENT, art_canon_map_document, "document.cancelled", 0},
	/* immunizations: one event per RXA; the type follows RXA-21 */
	{"VXU", "V04", ART_CANON_D_IMMUNIZATION, art_canon_map_immunization, NULL, 0},
};
#undef ENC
#undef PAT

static const char *const art_canon_subjects[ART_CANON_D_MAX] = {
	[ART_CANON_D_PATIENT] = "canonical.patient",
	[ART_CANON_D_RESULT] = "canonical.result",
	[ART_CANON_D_ENCOUNTER] = "canonical.encounter",
	[ART_CANON_D_ORDER] = "canonical.order",
	[ART_CANON_D_APPOINTMENT] = "canonical.appointment",
	[ART_CANON_D_DOCUMENT] = "canonical.document",
	[ART_CANON_D_IMMUNIZATION] = "canonical.immunization",
};

/* What art_canon_route() answers for rows whose mapper picks the type. */
static const char *const art_canon_wildcards[ART_CANON_D_MAX] = {
	[ART_CANON_D_PATIENT] = "patient.*",
	[ART_CANON_D_RESULT] = "result.*",
	[ART_CANON_D_ENCOUNTER] = "encounter.*",
	[ART_CANON_D_ORDER] = "order.*",
	[ART_CANON_D_APPOINTMENT] = "appointment.*",
	[ART_CANON_D_DOCUMENT] = "document.*",
	[ART_CANON_D_IMMUNIZATION] = "immunization.*",
};

static int art_canon_route_is(const struct art_canon_route *r, const char *type, size_t tlen,
			      const char *trigger, size_t glen)
{
	return strlen(r->type) == tlen && memcmp(r->type, type, tlen) == 0 &&
	       strlen(r->trigger) == glen && memcmp(r->trigger, trigger, glen) == 0;
}

/* The first row of (type, trigger), or NULL; its other rows follow it. */
static const struct art_canon_route *art_canon_route_find(const char *type, size_t tlen,
							  const char *trigger, size_t glen)
{
	for (size_t i = 0; i < ART_ARRAY_SIZE(art_canon_routes); i++) {
		if (art_canon_route_is(&art_canon_routes[i], type, tlen, trigger, glen))
			return &art_canon_routes[i];
	}
	return NULL;
}

/* The row after r when it is for the same pair, else NULL. */
static const struct art_canon_route *art_canon_route_next(const struct art_canon_route *r)
{
	const struct art_canon_route *end = art_canon_routes + ART_ARRAY_SIZE(art_canon_routes);

	if (r + 1 >= end || strcmp(r[1].type, r->type) != 0 || strcmp(r[1].trigger, r->trigger) != 0)
		return NULL;
	return r + 1;
}

const char *art_canon_route_at(const char *type, const char *trigger, size_t index,
			       const char **subject)
{
	const struct art_canon_route *r =
		art_canon_route_find(type, strlen(type), trigger, strlen(trigger));

	for (size_t i = 0; r && i < index; i++)
		r = art_canon_route_next(r);
	if (!r)
		return NULL;
	if (subject)
		*subject = art_canon_subjects[r->domain];
	return r->event_type ? r->event_type : art_canon_wildcards[r->domain];
}

const char *art_canon_route(const char *type, const char *trigger, const char **subject)
{
	return art_canon_route_at(type, trigger, 0, subject);
}

const char *art_canon_status_name(enum art_canon_status st)
{
	switch (st) {
	case ART_CANON_MAPPED:
		return "mapped";
	case ART_CANON_UNSUPPORTED:
		return "unsupported";
	case ART_CANON_UNMAPPABLE:
		return "unmappable";
	case ART_CANON_ERROR:
		return "error";
	}
	return "?";
}

/* ---- HL7 date/time ------------------------------------------------------------ */

const char *art_canon_precision_name(enum art_canon_precision p)
{
	static const char *const names[] = {"year",   "month",  "day",         "hour",
					    "minute", "second", "millisecond", "microsecond"};

	if ((unsigned)p >= ART_ARRAY_SIZE(names))
		return "?";
	return names[p];
}

/* Reads n decimal digits at s into *out; -1 unless all n are digits. */
static int art_canon_digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int art_canon_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int art_canon_days_in_month(int y, int m)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t art_canon_days_from_civil(int y, int m, int d)
{
	int64_t yy = y - (m <= 2);
	int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
	int64_t yoe = yy - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

int art_canon_parse_time(const char *s, size_t len, struct art_canon_time *out)
{
	int part[6] = {0, 1, 1, 0, 0, 0}; /* year month day hour minute second */
	int64_t frac = 0;
	size_t i = 0, nparts = 1, nfrac = 0;
	int off = 0, has_off = 0;
	int64_t secs;

	while (len > 0 && (s[0] == ' ' || s[0] == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len < 4 || art_canon_digits(s, 4, &part[0]))
		return -1;
	i = 4;
	while (nparts < 6 && i < len && art_canon_is_digit(s[i])) {
		if (i + 2 > len || art_canon_digits(s + i, 2, &part[nparts]))
			return -1;
		i += 2;
		nparts++;
	}
	if (i < len && s[i] == '.') {
		if (nparts < 6)
			return -1;
		i++;
		while (i < len && art_canon_is_digit(s[i])) {
			if (nfrac == 6)
				return -1;
			frac = frac * 10 + (s[i] - '0');
			nfrac++;
			i++;
		}
		if (nfrac == 0)
			return -1;
		for (size_t k = nfrac; k < 6; k++)
			frac *= 10;
	}
	if (i < len && (s[i] == '+' || s[i] == '-')) {
		int hh, mm;

		if (len - i != 5 || art_canon_digits(s + i + 1, 2, &hh) ||
		    art_canon_digits(s + i + 3, 2, &mm) || hh > 14 || mm > 59)
			return -1;
		off = hh * 60 + mm;
		if (s[i] == '-')
			off = -off;
		has_off = 1;
		i = len;
	}
	if (i != len)
		return -1;
	if (part[0] < 1 || part[1] < 1 || part[1] > 12 || part[2] < 1 ||
	    part[2] > art_canon_days_in_month(part[0], part[1]) || part[3] > 23 || part[4] > 59 ||
	    part[5] > 59)
		return -1;
	memset(out, 0, sizeof(*out));
	secs = art_canon_days_from_civil(part[0], part[1], part[2]) * 86400 + part[3] * 3600 +
	       part[4] * 60 + part[5];
	out->micros = secs * 1000000 + frac - (int64_t)off * 60 * 1000000;
	out->has_offset = has_off;
	out->offset_minutes = off;
	if (nfrac > 3)
		out->precision = ART_CANON_PREC_MICRO;
	else if (nfrac > 0)
		out->precision = ART_CANON_PREC_MILLI;
	else
		out->precision = (enum art_canon_precision)(nparts - 1);
	out->year = part[0];
	out->month = nparts >= 2 ? part[1] : 0;
	out->day = nparts >= 3 ? part[2] : 0;
	return 0;
}

/* ---- hashing -------------------------------------------------------------- */

static void art_canon_hex(const unsigned char *md, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * n] = '\0';
}

/* SHA-256 of p[0..len) with the mapper's pre-fetched digest (m NULL: a
 * one-shot EVP_Digest, which fetches the algorithm on every call). */
static int art_canon_sha256(struct art_canon_mapper *m, const void *p, size_t len,
			    unsigned char md[32])
{
	unsigned int mdlen = 0;

	if (m && m->sha256 && m->mdctx) {
		if (EVP_DigestInit_ex2(m->mdctx, m->sha256, NULL) != 1 ||
		    EVP_DigestUpdate(m->mdctx, p, len) != 1 ||
		    EVP_DigestFinal_ex(m->mdctx, md, &mdlen) != 1)
			return -1;
		return mdlen == 32 ? 0 : -1;
	}
	return EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32 ? 0 : -1;
}

/* Appends the decimal digits of v. */
static int art_canon_put_dec(struct art_buf *b, size_t v)
{
	char d[24];
	size_t n = sizeof(d);

	do {
		d[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return art_buf_append(b, d + n, sizeof(d) - n);
}

/* Appends ",<len>:<bytes>" (length-prefixed: no two field lists collide). */
static int art_canon_hash_part(struct art_buf *b, const struct art_hl7_span *sp)
{
	if (art_buf_putc(b, ',') || art_canon_put_dec(b, sp->len) || art_buf_putc(b, ':') ||
	    art_buf_append(b, sp->p, sp->len))
		return -1;
	return 0;
}

/* The event id of event `index` of a message: SHA-256 of
 * "artery.event.v1:" + idempotency key + ":" + index, first 16 bytes as
 * an RFC 9562 version-8 (custom) UUID. */
static int art_canon_event_id(struct art_canon_mapper *m, const char *idem, size_t index,
			      char out[37])
{
	static const char prefix[] = "artery.event.v1:";
	char in[128], hex[33];
	unsigned char md[32];
	size_t n = sizeof(prefix) - 1, ilen = strlen(idem), o = 0;
	char d[24];
	size_t dn = sizeof(d);

	do {
		d[--dn] = (char)('0' + index % 10);
		index /= 10;
	} while (index > 0);
	if (n + ilen + 1 + (sizeof(d) - dn) > sizeof(in))
		return -1;
	memcpy(in, prefix, n);
	memcpy(in + n, idem, ilen);
	n += ilen;
	in[n++] = ':';
	memcpy(in + n, d + dn, sizeof(d) - dn);
	n += sizeof(d) - dn;
	if (art_canon_sha256(m, in, n, md))
		return -1;
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x80);
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
	art_canon_hex(md, 16, hex);
	for (size_t i = 0; i < 32; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[o++] = '-';
		out[o++] = hex[i];
	}
	out[o] = '\0';
	return 0;
}

/* ---- keys ----------------------------------------------------------------- */

static int art_canon_span_is_null(const struct art_hl7_span *sp)
{
	return sp->len == 2 && sp->p[0] == '"' && sp->p[1] == '"';
}

/* Trims spaces and tabs at both ends of b (in place). */
static void art_canon_trim(struct art_buf *b)
{
	size_t start = 0;

	if (!b->p)
		return;
	while (b->len > 0 && (b->p[b->len - 1] == ' ' || b->p[b->len - 1] == '\t'))
		b->len--;
	while (start < b->len && (b->p[start] == ' ' || b->p[start] == '\t'))
		start++;
	if (start)
		memmove(b->p, b->p + start, b->len - start);
	b->len -= start;
	b->p[b->len] = '\0';
}

/* Decodes the value at seg/field/rep/comp/sub of msg into b (reset first,
 * trimmed): 1 when there is a non-empty, non-null value. An undecodable
 * value (charset) falls back to its raw bytes — keys must always exist. */
static int art_canon_key_val(const struct art_hl7_msg *msg, size_t seg, size_t field, size_t rep,
			     size_t comp, size_t sub, struct art_buf *b)
{
	struct art_hl7_span sp;
	char err[128];

	art_buf_reset(b);
	if (!art_hl7_at(msg, seg, field, rep, comp, sub, &sp) || sp.len == 0 ||
	    art_canon_span_is_null(&sp))
		return 0;
	if (art_hl7_decode(msg, &sp, b, NULL, err, sizeof(err))) {
		art_buf_reset(b);
		if (art_buf_append(b, sp.p, sp.len))
			return 0;
	}
	art_canon_trim(b);
	return b->len > 0;
}

/* Appends "authority|value" for CX repetition rep of PID field to key.
 * Returns 1 when the repetition has a value, 0 when not, -1 when out of
 * memory. */
static int art_canon_key_cx(const struct art_hl7_msg *msg, size_t pid, size_t field, size_t rep,
			    struct art_buf *tmp, struct art_buf *key)
{
	if (!art_canon_key_val(msg, pid, field, rep, 1, 1, tmp))
		return 0;
	art_buf_reset(key);
	if (art_buf_append(key, "|", 1) || art_buf_append(key, tmp->p, tmp->len))
		return -1;
	/* authority: CX-4.1 namespace id, else CX-4.2 universal id */
	if (art_canon_key_val(msg, pid, field, rep, 4, 1, tmp) ||
	    art_canon_key_val(msg, pid, field, rep, 4, 2, tmp)) {
		if (art_buf_append(tmp, key->p, key->len))
			return -1;
		art_buf_reset(key);
		if (art_buf_append(key, tmp->p, tmp->len))
			return -1;
	}
	return 1;
}

static size_t art_canon_count_reps(const struct art_hl7_msg *msg, size_t seg, size_t field)
{
	struct art_hl7_span sp;

	if (!art_hl7_at(msg, seg, field, 0, 0, 0, &sp) || sp.len == 0)
		return 0;
	return art_hl7_span_count(&sp, art_hl7_header(msg)->delims.rep);
}

/* The patient key of the first PID (rules in docs/events.md) into key.
 * Returns 1 when found, 0 when the message has no patient identifier, -1
 * when out of memory. */
static int art_canon_patient_key(const struct art_hl7_msg *msg, struct art_buf *tmp,
				 struct art_buf *key)
{
	static const char *const types[] = {"MR", "PI"};
	static const size_t fields[] = {3, 2, 4};
	long pid = art_hl7_seg_find(msg, "PID", 0);
	size_t n;
	int rc;

	if (pid < 0)
		return 0;
	n = art_canon_count_reps(msg, (size_t)pid, 3);
	for (size_t t = 0; t < ART_ARRAY_SIZE(types); t++) {
		for (size_t r = 1; r <= n; r++) {
			if (!art_canon_key_val(msg, (size_t)pid, 3, r, 5, 1, tmp) ||
			    strcasecmp(tmp->p, types[t]) != 0)
				continue;
			rc = art_canon_key_cx(msg, (size_t)pid, 3, r, tmp, key);
			if (rc != 0)
				return rc;
		}
	}
	for (size_t f = 0; f < ART_ARRAY_SIZE(fields); f++) {
		n = art_canon_count_reps(msg, (size_t)pid, fields[f]);
		for (size_t r = 1; r <= n; r++) {
			rc = art_canon_key_cx(msg, (size_t)pid, fields[f], r, tmp, key);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

/* Appends the namespace (HD.1, else HD.2) of MSH field `field` to key. */
static int art_canon_key_hd(const struct art_hl7_msg *msg, size_t field, struct art_buf *tmp,
			    struct art_buf *key)
{
	if (art_canon_key_val(msg, 0, field, 1, 1, 1, tmp) ||
	    art_canon_key_val(msg, 0, field, 1, 2, 1, tmp))
		return art_buf_append(key, tmp->p, tmp->len);
	return 0;
}

static int art_canon_keys_buf(const struct art_hl7_msg *msg, struct art_canon_result *out,
			      struct art_canon_mapper *m, struct art_buf *tmp, struct art_buf *key,
			      char *errstr, size_t errstr_size)
{
	const struct art_hl7_header *hdr = art_hl7_header(msg);
	unsigned char md[32];
	int rc;

	/* idempotency key: SHA-256 over the raw MSH-3, MSH-4, MSH-10, MSH-7.1 */
	art_buf_reset(tmp);
	if (art_buf_puts(tmp, "artery.hl7v2.v1") || art_canon_hash_part(tmp, &hdr->sending_app) ||
	    art_canon_hash_part(tmp, &hdr->sending_facility) ||
	    art_canon_hash_part(tmp, &hdr->control_id) || art_canon_hash_part(tmp, &hdr->datetime) ||
	    art_canon_sha256(m, tmp->p, tmp->len, md)) {
		snprintf(errstr, errstr_size, "idempotency key: out of memory");
		return -1;
	}
	art_canon_hex(md, 32, out->idempotency_key);

	/* partition key: the patient, else source + control id */
	art_buf_reset(key);
	rc = art_canon_patient_key(msg, tmp, key);
	if (rc == 0) {
		art_buf_reset(key);
		if (art_canon_key_hd(msg, 3, tmp, key) || art_buf_putc(key, '|'))
			rc = -1;
		else if (art_canon_key_val(msg, 0, 10, 1, 1, 1, tmp) &&
			 art_buf_append(key, tmp->p, tmp->len))
			rc = -1;
	}
	if (rc < 0) {
		snprintf(errstr, errstr_size, "partition key: out of memory or too long");
		return -1;
	}
	out->key = strdup(key->p ? key->p : "");
	if (!out->key) {
		snprintf(errstr, errstr_size, "partition key: out of memory");
		return -1;
	}
	return 0;
}

int art_canon_keys(const struct art_hl7_msg *msg, struct art_canon_result *out, char *errstr,
		   size_t errstr_size)
{
	struct art_buf tmp, key;
	int rc;

	memset(out, 0, sizeof(*out));
	art_buf_init(&tmp, ART_CANON_MAX_VALUE);
	art_buf_init(&key, ART_CANON_MAX_VALUE);
	rc = art_canon_keys_buf(msg, out, NULL, &tmp, &key, errstr, errstr_size);
	art_buf_free(&tmp);
	art_buf_free(&key);
	return rc;
}

/* ---- mapper --------------------------------------------------------------- */

struct art_canon_mapper *art_canon_mapper_new(const struct art_schema_registry *reg)
{
	struct art_canon_mapper *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->reg = reg;
	art_buf_init(&m->tmp, ART_CANON_MAX_VALUE);
	art_buf_init(&m->text, ART_CANON_MAX_VALUE);
	art_buf_init(&m->key, ART_CANON_MAX_VALUE);
	m->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	m->mdctx = EVP_MD_CTX_new();
	if (!m->sha256 || !m->mdctx) {
		art_canon_mapper_destroy(m);
		return NULL;
	}
	return m;
}

void art_canon_mapper_destroy(struct art_canon_mapper *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < ART_CANON_D_MAX; i++)
		art_avro_value_destroy(m->vals[i]);
	art_buf_free(&m->tmp);
	art_buf_free(&m->text);
	art_buf_free(&m->key);
	EVP_MD_CTX_free(m->mdctx);
	EVP_MD_free(m->sha256);
	free(m);
}

void art_canon_result_free(struct art_canon_result *out)
{
	if (!out)
		return;
	for (size_t i = 0; i < out->cnt; i++) {
		free(out->events[i].topic);
		free(out->events[i].event_type);
		free(out->events[i].value);
	}
	free(out->events);
	free(out->key);
	memset(out, 0, sizeof(*out));
}

/* ---- fast setters ----------------------------------------------------------- */

/* Keeps the first failure in av->err (as avro_codec's setters do). */
static int art_canon_put_fail(struct art_avro_value *av, const char *name, const char *what)
{
	if (!av->err[0])
		snprintf(av->err, sizeof(av->err), "%s: %s", name, what);
	return -1;
}

/* The field `name` of at (root when NULL), entered: an optional field is
 * switched to its value branch (a record branch selected anew starts with
 * its optional fields null: the values are arena-backed, avro_fast.h).
 * Field names are string literals or static tables everywhere in the
 * mappers: art_fv_enter() caches them by address. */
static int art_canon_put_get(struct art_avro_value *av, avro_value_t *at, const char *name,
			     avro_value_t *out)
{
	if (art_fv_enter(at ? at : &av->root, name, out))
		return art_canon_put_fail(av, name, avro_strerror());
	return 0;
}

int art_canon_put_str(struct art_avro_value *av, avro_value_t *at, const char *name, const char *s,
		      size_t len)
{
	avro_value_t v;

	assert(s[len] == '\0');
	if (art_canon_put_get(av, at, name, &v))
		return -1;
	if (art_fv_set_str(&v, s, len))
		return art_canon_put_fail(av, name, avro_strerror());
	return 0;
}

int art_canon_put_cstr(struct art_avro_value *av, avro_value_t *at, const char *name, const char *s)
{
	return art_canon_put_str(av, at, name, s, strlen(s));
}

int art_canon_put_long(struct art_avro_value *av, avro_value_t *at, const char *name, int64_t x)
{
	avro_value_t v;

	if (art_canon_put_get(av, at, name, &v))
		return -1;
	if (avro_value_set_long(&v, x))
		return art_canon_put_fail(av, name, avro_strerror());
	return 0;
}

int art_canon_put_int(struct art_avro_value *av, avro_value_t *at, const char *name, int32_t x)
{
	avro_value_t v;

	if (art_canon_put_get(av, at, name, &v))
		return -1;
	if (avro_value_set_int(&v, x))
		return art_canon_put_fail(av, name, avro_strerror());
	return 0;
}

int art_canon_put_double(struct art_avro_value *av, avro_value_t *at, const char *name, double x)
{
	avro_value_t v;

	if (art_canon_put_get(av, at, name, &v))
		return -1;
	if (avro_value_set_double(&v, x))
		return art_canon_put_fail(av, name, avro_strerror());
	return 0;
}

int art_canon_put_bool(struct art_avro_value *av, avro_value_t *at, const char *name, int x)
{
	avro_value_t v;

	if (art_canon_put_get(av, at, name, &v))
		return -1;
	if (avro_value_set_boolean(&v, x ? 1 : 0))
		return art_canon_put_fail(av, name, avro_strerror());
	return 0;
}

int art_canon_put_rec(struct art_avro_value *av, avro_value_t *at, const char *name,
		      avro_value_t *out)
{
	if (art_canon_put_get(av, at, name, out))
		return -1;
	if (avro_value_get_type(out) != AVRO_RECORD)
		return art_canon_put_fail(av, name, "not a record");
	return 0;
}

int art_canon_put_append(struct art_avro_value *av, avro_value_t *at, const char *name,
			 avro_value_t *elem)
{
	avro_value_t arr;

	if (art_canon_put_get(av, at, name, &arr))
		return -1;
	if (avro_value_get_type(&arr) != AVRO_ARRAY)
		return art_canon_put_fail(av, name, "not an array");
	/* a new element: a record starts with its optional fields null */
	if (avro_value_append(&arr, elem, NULL))
		return art_canon_put_fail(av, name, avro_strerror());
	return 0;
}

int art_canon_put_item(struct art_avro_value *av, avro_value_t *at, const char *name, const char *s,
		       size_t len)
{
	avro_value_t elem;

	assert(s[len] == '\0');
	if (art_canon_put_append(av, at, name, &elem))
		return -1;
	if (art_fv_set_str(&elem, s, len))
		return art_canon_put_fail(av, name, avro_strerror());
	return 0;
}

/* Whether every union in schema s is ["null", T] (what the fast setters
 * assume). Returns 0, or -1 naming the offending field in errstr. */
static int art_canon_check_shape(avro_schema_t s, const char *name, int depth, char *errstr,
				 size_t errstr_size)
{
	while (s && is_avro_link(s))
		s = avro_schema_link_target(s);
	if (!s || depth > 32)
		return 0;
	switch (avro_typeof(s)) {
	case AVRO_RECORD:
		for (size_t i = 0; i < avro_schema_record_size(s); i++)
			if (art_canon_check_shape(avro_schema_record_field_get_by_index(s, (int)i),
						  avro_schema_record_field_name(s, (int)i),
						  depth + 1, errstr, errstr_size))
				return -1;
		return 0;
	case AVRO_ARRAY:
		return art_canon_check_shape(avro_schema_array_items(s), name, depth + 1, errstr,
					     errstr_size);
	case AVRO_MAP:
		return art_canon_check_shape(avro_schema_map_values(s), name, depth + 1, errstr,
					     errstr_size);
	case AVRO_UNION:
		if (avro_schema_union_size(s) != 2 ||
		    avro_typeof(avro_schema_union_branch(s, 0)) != AVRO_NULL) {
			snprintf(errstr, errstr_size, "field %s: unions must be [\"null\", T]", name);
			return -1;
		}
		return art_canon_check_shape(avro_schema_union_branch(s, 1), name, depth + 1,
					     errstr, errstr_size);
	default:
		return 0;
	}
}

/* ---- helpers for the domain mappers ---------------------------------------- */

enum art_canon_status art_canon_fail(struct art_canon_job *job, enum art_canon_status st,
				     const char *fmt, ...)
{
	va_list ap;

	if (job->fail != ART_CANON_MAPPED)
		return job->fail;
	job->fail = st;
	va_start(ap, fmt);
	vsnprintf(job->errstr, job->errstr_size, fmt, ap);
	va_end(ap);
	return st;
}

/* The end of the piece starting at p (the next delim, or e). */
static inline const char *art_canon_piece_end(const char *p, const char *e, char delim)
{
	if (e - p > 32) {
		const char *q = memchr(p, delim, (size_t)(e - p));

		return q ? q : e;
	}
	while (p < e && *p != delim)
		p++;
	return p;
}

/* Piece n (1-based) of in separated by delim, as art_hl7_span_piece(); when
 * piece k (1 <= k <= n) is known to start at pk, the scan starts there. */
static int art_canon_piece(const struct art_hl7_span *in, char delim, size_t n, size_t k,
			   const char *pk, struct art_hl7_span *out)
{
	const char *p = in->p, *e = in->p + in->len;

	if (n == 0)
		return 0;
	if (delim == 0) {
		if (n != 1)
			return 0;
		*out = *in;
		return 1;
	}
	if (k >= 1 && k <= n && pk) {
		p = pk;
		n -= k - 1;
	}
	for (; n > 1; n--) {
		p = art_canon_piece_end(p, e, delim);
		if (p >= e)
			return 0;
		p++;
	}
	out->p = p;
	out->len = (size_t)(art_canon_piece_end(p, e, delim) - p);
	return 1;
}

/* art_hl7_at() for the mapper: the same answer, but a read of the field,
 * repetition or a later component of the previous read resumes where that
 * one was instead of scanning the segment again (the mappers read a
 * field's components in order). */
static int art_canon_at(struct art_canon_job *job, size_t seg, size_t field, size_t rep,
			size_t comp, size_t sub, struct art_hl7_span *out)
{
	const struct art_hl7_delims *d = &job->hdr->delims;
	struct art_canon_mapper *m = job->m;
	struct art_hl7_span c;

	if (m->cur.msg != job->msg || m->cur.seg != seg || m->cur.field != field) {
		const char *id = art_hl7_seg_id(job->msg, seg);

		m->cur.msg = job->msg;
		m->cur.seg = seg;
		m->cur.field = field;
		m->cur.rep = 0;
		m->cur.comp = 0;
		m->cur.have_f = art_hl7_field(job->msg, seg, field, &m->cur.f);
		m->cur.msh12 = field <= 2 && id && memcmp(id, "MSH", 3) == 0;
	}
	if (!m->cur.have_f)
		return 0;
	if (m->cur.msh12) {
		if (rep > 1 || comp > 1 || sub > 1)
			return 0;
		*out = m->cur.f;
		return 1;
	}
	if (rep == 0 && comp == 0 && sub == 0) {
		*out = m->cur.f;
		return 1;
	}
	if (rep == 0)
		rep = 1;
	if (m->cur.rep != rep) {
		struct art_hl7_span r;

		if (!art_canon_piece(&m->cur.f, d->rep, rep, m->cur.rep,
				     m->cur.rep ? m->cur.r.p : NULL, &r))
			return 0;
		m->cur.rep = rep;
		m->cur.r = r;
		m->cur.comp = 0;
	}
	if (comp == 0 && sub == 0) {
		*out = m->cur.r;
		return 1;
	}
	if (comp == 0)
		comp = 1;
	if (!art_canon_piece(&m->cur.r, d->comp, comp, m->cur.comp, m->cur.comp ? m->cur.cp : NULL,
			     &c))
		return 0;
	m->cur.comp = comp;
	m->cur.cp = c.p;
	if (sub == 0) {
		*out = c;
		return 1;
	}
	return art_canon_piece(&c, d->sub, sub, 0, NULL, out);
}

/* Decodes seg/field/rep/comp/sub into b (appending); trims b from `from`
 * on when trim is set. */
static enum art_hl7_val art_canon_decode(struct art_canon_job *job, size_t seg, size_t field,
					 size_t rep, size_t comp, size_t sub, struct art_buf *b,
					 int trim)
{
	const struct art_hl7_delims *d = &job->hdr->delims;
	struct art_hl7_span sp;
	char err[160];
	size_t from = b->len;

	if (!art_canon_at(job, seg, field, rep, comp, sub, &sp) || sp.len == 0)
		return ART_HL7_ABSENT;
	if (art_canon_span_is_null(&sp))
		return ART_HL7_NULL;
	/* Nothing to decode (no escape, no truncation mark, a charset that is
	 * copied as is): the raw bytes, trimmed before they are copied. */
	if ((!d->esc || !memchr(sp.p, d->esc, sp.len)) && (!d->trunc || sp.p[sp.len - 1] != d->trunc) &&
	    job->hdr->charset != ART_HL7_CS_LATIN1 && job->hdr->charset != ART_HL7_CS_LATIN9) {
		const char *p = sp.p, *e = sp.p + sp.len;

		if (trim) {
			while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			while (p < e && (*p == ' ' || *p == '\t'))
				p++;
		}
		if (art_buf_append(b, p, (size_t)(e - p)) == 0)
			return b->len > from ? ART_HL7_VALUE : ART_HL7_ABSENT;
		b->len = from; /* too large: art_hl7_decode() says so below */
		if (b->p)
			b->p[from] = '\0';
	}
	if (art_hl7_decode(job->msg, &sp, b, NULL, err, sizeof(err))) {
		art_canon_fail(job, ART_CANON_UNMAPPABLE, "%s-%zu: %s", art_hl7_seg_id(job->msg, seg),
			       field, err);
		return ART_HL7_ERROR;
	}
	if (trim && b->p) {
		size_t end = b->len, start = from;

		while (end > from && (b->p[end - 1] == ' ' || b->p[end - 1] == '\t'))
			end--;
		while (start < end && (b->p[start] == ' ' || b->p[start] == '\t'))
			start++;
		if (start > from)
			memmove(b->p + from, b->p + start, end - start);
		b->len = from + (end - start);
		b->p[b->len] = '\0';
	}
	return b->len > from ? ART_HL7_VALUE : ART_HL7_ABSENT;
}

enum art_hl7_val art_canon_val(struct art_canon_job *job, size_t seg, size_t field, size_t rep,
			       size_t comp, size_t sub, const char **p, size_t *len)
{
	enum art_hl7_val v;

	art_buf_reset(&job->m->tmp);
	v = art_canon_decode(job, seg, field, rep, comp, sub, &job->m->tmp, 1);
	if (v == ART_HL7_VALUE) {
		*p = job->m->tmp.p;
		*len = job->m->tmp.len;
	} else {
		*p = "";
		*len = 0;
	}
	return v;
}

enum art_hl7_val art_canon_text(struct art_canon_job *job, size_t seg, size_t field, size_t rep,
				size_t comp)
{
	return art_canon_decode(job, seg, field, rep, comp, 0, &job->m->text, 0);
}

int art_canon_is_null(struct art_canon_job *job, size_t seg, size_t field)
{
	struct art_hl7_span sp;

	return art_canon_at(job, seg, field, 0, 0, 0, &sp) && art_canon_span_is_null(&sp);
}

size_t art_canon_reps(struct art_canon_job *job, size_t seg, size_t field)
{
	struct art_hl7_span sp;

	if (!art_canon_at(job, seg, field, 0, 0, 0, &sp) || sp.len == 0)
		return 0;
	return art_hl7_span_count(&sp, job->hdr->delims.rep);
}

enum art_hl7_val art_canon_set_str(struct art_canon_job *job, struct art_avro_value *av,
				   avro_value_t *at, const char *path, size_t seg, size_t field,
				   size_t rep, size_t comp, size_t sub)
{
	const char *p;
	size_t len;
	enum art_hl7_val v = art_canon_val(job, seg, field, rep, comp, sub, &p, &len);

	if (v == ART_HL7_VALUE)
		art_canon_put_str(av, at, path, p, len);
	return v;
}

int art_canon_set_coding(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
			 const char *path, size_t seg, size_t field, size_t rep, size_t comp)
{
	static const char *const names[] = {"code", "display", "system"};
	struct art_hl7_span r;
	const char *p;
	size_t len;
	avro_value_t coding;
	int have = 0;

	if (!art_canon_at(job, seg, field, rep, 0, 0, &r) || r.len == 0 ||
	    art_canon_span_is_null(&r))
		return 0;
	for (size_t base = comp; base <= comp + 3 && !have; base += 3) {
		for (size_t k = 0; k < 3; k++) {
			if (art_canon_val(job, seg, field, rep, base + k, 1, &p, &len) !=
			    ART_HL7_VALUE)
				continue;
			if (!have) {
				if (!path)
					coding = *at;
				else if (art_canon_put_rec(av, at, path, &coding))
					return 0;
			}
			have = 1;
			art_canon_put_str(av, &coding, names[k], p, len);
		}
	}
	return have;
}

int art_canon_set_time_text(struct art_canon_job *job, struct art_avro_value *av,
			    avro_value_t *at, const char *path, const char *s, size_t len)
{
	struct art_canon_time t;
	avro_value_t ts;

	if (art_canon_parse_time(s, len, &t))
		return 0;
	if (art_canon_put_rec(av, at, path, &ts))
		return 0;
	art_canon_put_long(av, &ts, "micros", t.micros);
	if (t.has_offset)
		art_canon_put_int(av, &ts, "utc_offset_minutes", t.offset_minutes);
	art_canon_put_cstr(av, &ts, "precision", art_canon_precision_name(t.precision));
	art_canon_put_str(av, &ts, "original", s, len);
	return 1;
}

int art_canon_set_time(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
		       const char *path, size_t seg, size_t field, size_t rep)
{
	const char *p;
	size_t len;

	if (art_canon_val(job, seg, field, rep, 1, 1, &p, &len) != ART_HL7_VALUE)
		return 0;
	return art_canon_set_time_text(job, av, at, path, p, len);
}

size_t art_canon_add_identifiers(struct art_canon_job *job, struct art_avro_value *av,
				 avro_value_t *at, const char *path, size_t seg, size_t field)
{
	size_t n = art_canon_reps(job, seg, field), added = 0;

	for (size_t r = 1; r <= n; r++) {
		const char *p;
		size_t len;
		avro_value_t id;

		if (art_canon_val(job, seg, field, r, 1, 1, &p, &len) != ART_HL7_VALUE)
			continue;
		if (art_canon_put_append(av, at, path, &id))
			break;
		art_canon_put_str(av, &id, "value", p, len);
		/* authority: CX-4.1 namespace id, else CX-4.2 universal id */
		if (art_canon_set_str(job, av, &id, "assigning_authority", seg, field, r, 4, 1) !=
		    ART_HL7_VALUE)
			art_canon_set_str(job, av, &id, "assigning_authority", seg, field, r, 4, 2);
		art_canon_set_str(job, av, &id, "type", seg, field, r, 5, 1);
		added++;
	}
	return added;
}

/* Fills the envelope's PatientRef from PID segment pid. Returns how many
 * identifiers it has. */
static size_t art_canon_patient_ref(struct art_canon_job *job, struct art_avro_value *av,
				    size_t pid)
{
	static const size_t id_fields[] = {3, 2, 4};
	avro_value_t pref;
	const char *p;
	size_t len, n, nids = 0;

	if (art_canon_put_rec(av, NULL, "patient", &pref))
		return 0;
	/* identifiers: PID-3; PID-2, then PID-4 only when PID-3 has none */
	for (size_t f = 0; f < ART_ARRAY_SIZE(id_fields) && nids == 0; f++)
		nids = art_canon_add_identifiers(job, av, &pref, "identifiers", pid, id_fields[f]);

	/* names: PID-5, every repetition (XPN) */
	n = art_canon_reps(job, pid, 5);
	for (size_t r = 1; r <= n; r++) {
		avro_value_t name;
		int any = 0;

		/* skip repetitions without a name part (e.g. "~", "", "^^^^^^^A") */
		for (size_t c = 1; c <= 5 && !any; c++)
			any = art_canon_val(job, pid, 5, r, c, 1, &p, &len) == ART_HL7_VALUE;
		if (!any)
			continue;
		if (art_canon_put_append(av, &pref, "names", &name))
			break;
		art_canon_set_str(job, av, &name, "family", pid, 5, r, 1, 1);
		/* given (XPN.2) then middle names (XPN.3), in order */
		for (size_t c = 2; c <= 3; c++) {
			if (art_canon_val(job, pid, 5, r, c, 1, &p, &len) == ART_HL7_VALUE)
				art_canon_put_item(av, &name, "given", p, len);
		}
		art_canon_set_str(job, av, &name, "suffix", pid, 5, r, 4, 1);
		art_canon_set_str(job, av, &name, "prefix", pid, 5, r, 5, 1);
		art_canon_set_str(job, av, &name, "use", pid, 5, r, 7, 1);
	}

	/* birth date: PID-7, as an ISO date at the source's precision */
	if (art_canon_val(job, pid, 7, 1, 1, 1, &p, &len) == ART_HL7_VALUE) {
		struct art_canon_time t;
		char iso[16];

		if (art_canon_parse_time(p, len, &t) == 0) {
			/* YYYY[-MM[-DD]] (the year is 1..9999: four digits) */
			size_t k = 0;

			iso[k++] = (char)('0' + t.year / 1000 % 10);
			iso[k++] = (char)('0' + t.year / 100 % 10);
			iso[k++] = (char)('0' + t.year / 10 % 10);
			iso[k++] = (char)('0' + t.year % 10);
			if (t.precision != ART_CANON_PREC_YEAR) {
				iso[k++] = '-';
				iso[k++] = (char)('0' + t.month / 10);
				iso[k++] = (char)('0' + t.month % 10);
			}
			if (t.precision != ART_CANON_PREC_YEAR && t.precision != ART_CANON_PREC_MONTH) {
				iso[k++] = '-';
				iso[k++] = (char)('0' + t.day / 10);
				iso[k++] = (char)('0' + t.day % 10);
			}
			iso[k] = '\0';
			art_canon_put_str(av, &pref, "birth_date", iso, k);
		}
	}
	art_canon_set_str(job, av, &pref, "sex", pid, 8, 1, 1, 1);
	return nids;
}

static struct art_avro_value *art_canon_value(struct art_canon_job *job,
					      enum art_canon_domain d)
{
	struct art_canon_mapper *m = job->m;

	if (!m->schemas[d]) {
		const struct art_schema *schema = art_schema_latest(m->reg, art_canon_subjects[d]);
		char err[256];

		if (!schema) {
			art_canon_fail(job, ART_CANON_ERROR, "schema %s is not in the registry",
				       art_canon_subjects[d]);
			return NULL;
		}
		if (art_canon_check_shape(schema->avro, "(root)", 0, err, sizeof(err))) {
			art_canon_fail(job, ART_CANON_ERROR, "schema %s v%d: %s", schema->subject,
				       schema->version, err);
			return NULL;
		}
		m->schemas[d] = schema;
	}
	if (!m->vals[d]) {
		m->vals[d] = art_avro_value_new(m->schemas[d]);
		if (!m->vals[d]) {
			art_canon_fail(job, ART_CANON_ERROR, "%s: out of memory",
				       art_canon_subjects[d]);
			return NULL;
		}
	} else {
		art_avro_value_reset(m->vals[d]);
	}
	return m->vals[d];
}

struct art_avro_value *art_canon_begin(struct art_canon_job *job, enum art_canon_domain domain,
				       const char *event_type, long pid)
{
	const struct art_canon_ctx *ctx = job->ctx;
	struct art_avro_value *av = art_canon_value(job, domain);
	avro_value_t src, ref;
	long evn;

	if (!av)
		return NULL;
	art_canon_put_cstr(av, NULL, "event_id", "");
	art_canon_put_cstr(av, NULL, "idempotency_key", job->out->idempotency_key);
	art_canon_put_cstr(av, NULL, "event_type", event_type);

	/* occurred_at: EVN-2 (recorded date/time), else MSH-7 */
	evn = art_hl7_seg_find(job->msg, "EVN", 0);
	if (evn < 0 || !art_canon_set_time(job, av, NULL, "occurred_at", (size_t)evn, 2, 1))
		art_canon_set_time(job, av, NULL, "occurred_at", 0, 7, 1);
	art_canon_put_long(av, NULL, "received_at", ctx->received_at_us);

	/* source: MSH-3 and MSH-4 namespace ids (HD.1, else HD.2), channel */
	if (art_canon_put_rec(av, NULL, "source", &src) == 0) {
		if (art_canon_set_str(job, av, &src, "system", 0, 3, 1, 1, 1) != ART_HL7_VALUE)
			art_canon_set_str(job, av, &src, "system", 0, 3, 1, 2, 1);
		if (art_canon_set_str(job, av, &src, "facility", 0, 4, 1, 1, 1) != ART_HL7_VALUE)
			art_canon_set_str(job, av, &src, "facility", 0, 4, 1, 2, 1);
		art_canon_put_cstr(av, &src, "channel", ctx->channel ? ctx->channel : "");
	}
	art_canon_set_str(job, av, NULL, "source_message_id", 0, 10, 1, 1, 1);

	if (pid >= 0 && art_canon_patient_ref(job, av, (size_t)pid) == 0) {
		art_canon_fail(job, ART_CANON_UNMAPPABLE,
			       "%s: no patient identifier in PID-3 (nor PID-2, PID-4)",
			       job->trigger);
		return NULL;
	}
	if (ctx->raw_topic && ctx->raw_hash && art_canon_put_rec(av, NULL, "raw_ref", &ref) == 0) {
		art_canon_put_cstr(av, &ref, "topic", ctx->raw_topic);
		art_canon_put_cstr(av, &ref, "raw_hash", ctx->raw_hash);
	}
	art_canon_put_cstr(av, NULL, "trigger", job->trigger);
	if (job->fail != ART_CANON_MAPPED)
		return NULL;
	return av;
}

int art_canon_emit(struct art_canon_job *job, struct art_avro_value *av, const char *event_type)
{
	struct art_canon_result *out = job->out;
	struct art_canon_event *ev, *events;
	char err[384];

	if (job->fail != ART_CANON_MAPPED)
		return -1;
	events = realloc(out->events, (out->cnt + 1) * sizeof(*events));
	if (!events) {
		art_canon_fail(job, ART_CANON_ERROR, "out of memory");
		return -1;
	}
	out->events = events;
	ev = &out->events[out->cnt];
	memset(ev, 0, sizeof(*ev));
	if (art_canon_event_id(job->m, out->idempotency_key, out->cnt, ev->event_id)) {
		art_canon_fail(job, ART_CANON_ERROR, "event id: hashing failed");
		return -1;
	}
	art_canon_put_cstr(av, NULL, "event_id", ev->event_id);
	art_canon_put_cstr(av, NULL, "event_type", event_type);
	if (art_avro_value_encode(av, &ev->value, &ev->value_len, err, sizeof(err))) {
		art_canon_fail(job, ART_CANON_ERROR, "%s: %s", job->trigger, err);
		return -1;
	}
	ev->schema = av->schema;
	ev->topic = strdup(av->schema->subject);
	ev->event_type = strdup(event_type);
	out->cnt++; /* from here on art_canon_result_free() owns ev */
	if (!ev->topic || !ev->event_type) {
		art_canon_fail(job, ART_CANON_ERROR, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- mapping -------------------------------------------------------------- */

/* Drops the events of out (keeps the keys): a message is never half mapped. */
static void art_canon_drop_events(struct art_canon_result *out)
{
	for (size_t i = 0; i < out->cnt; i++) {
		free(out->events[i].topic);
		free(out->events[i].event_type);
		free(out->events[i].value);
	}
	free(out->events);
	out->events = NULL;
	out->cnt = 0;
}

enum art_canon_status art_canon_map_with(struct art_canon_mapper *mapper,
					 const struct art_hl7_msg *msg,
					 const struct art_canon_ctx *ctx,
					 struct art_canon_result *out, char *errstr,
					 size_t errstr_size)
{
	const struct art_hl7_header *hdr = art_hl7_header(msg);
	struct art_canon_job job;
	const struct art_canon_route *first;
	struct art_hl7_span type = hdr->msg_type, trig = hdr->trigger;
	enum art_canon_status st;

	memset(out, 0, sizeof(*out));
	memset(&mapper->cur, 0, sizeof(mapper->cur));
	if (errstr_size)
		errstr[0] = '\0';
	if (art_canon_keys_buf(msg, out, mapper, &mapper->tmp, &mapper->key, errstr, errstr_size))
		return ART_CANON_ERROR;

	/* the trigger: MSH-9.2, else EVN-1 (HL7 2.1/2.2 senders) */
	if (trig.len == 0) {
		long evn = art_hl7_seg_find(msg, "EVN", 0);

		if (evn >= 0)
			art_hl7_at(msg, (size_t)evn, 1, 1, 1, 1, &trig);
	}
	memset(&job, 0, sizeof(job));
	first = art_canon_route_find(type.p, type.len, trig.p, trig.len);
	if (!first) {
		snprintf(errstr, errstr_size, "%.*s^%.*s is not mapped to a canonical event",
			 (int)ART_MIN(type.len, 16), type.p ? type.p : "",
			 (int)ART_MIN(trig.len, 16), trig.p ? trig.p : "");
		return ART_CANON_UNSUPPORTED;
	}
	job.m = mapper;
	job.msg = msg;
	job.hdr = hdr;
	job.ctx = ctx;
	job.out = out;
	job.errstr = errstr;
	job.errstr_size = errstr_size;
	job.fail = ART_CANON_MAPPED;
	snprintf(job.trigger, sizeof(job.trigger), "%s^%s", first->type, first->trigger);

	/* every row of the pair adds its events; the first failure ends it */
	st = ART_CANON_MAPPED;
	for (job.route = first; job.route && st == ART_CANON_MAPPED;
	     job.route = art_canon_route_next(job.route)) {
		st = job.route->map(&job);
		if (st == ART_CANON_MAPPED && job.fail != ART_CANON_MAPPED)
			st = job.fail;
	}
	if (st == ART_CANON_MAPPED && out->cnt == 0)
		st = art_canon_fail(&job, ART_CANON_UNMAPPABLE, "%s: nothing to map", job.trigger);
	if (st != ART_CANON_MAPPED)
		art_canon_drop_events(out);
	return st;
}

enum art_canon_status art_canon_map(const struct art_hl7_msg *msg, const struct art_canon_ctx *ctx,
				    struct art_canon_result *out, char *errstr,
				    size_t errstr_size)
{
	struct art_canon_mapper *m = art_canon_mapper_new(ctx->reg);
	enum art_canon_status st;

	if (!m) {
		memset(out, 0, sizeof(*out));
		snprintf(errstr, errstr_size, "out of memory");
		return ART_CANON_ERROR;
	}
	st = art_canon_map_with(m, msg, ctx, out, errstr, errstr_size);
	art_canon_mapper_destroy(m);
	return st;
}

/* ---- helpers for the encounter, order, appointment, document and
 * immunization files ---------------------------------------------------------- */

int art_canon_parse_number(const char *s, size_t len, double *out)
{
	char tmp[64];
	size_t i = 0, digits = 0;
	char *end;

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(tmp))
		return -1;
	if (s[i] == '+' || s[i] == '-')
		i++;
	for (; i < len && art_canon_is_digit(s[i]); i++)
		digits++;
	if (i < len && s[i] == '.')
		for (i++; i < len && art_canon_is_digit(s[i]); i++)
			digits++;
	if (i != len || digits == 0)
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	*out = strtod(tmp, &end);
	if (*end != '\0' || !isfinite(*out))
		return -1;
	return 0;
}

int art_canon_set_number(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
			 const char *path, size_t seg, size_t field, size_t rep, size_t comp)
{
	const char *p;
	size_t len;
	double d;

	if (art_canon_val(job, seg, field, rep, comp, comp ? 1 : 0, &p, &len) != ART_HL7_VALUE ||
	    art_canon_parse_number(p, len, &d))
		return 0;
	return art_canon_put_double(av, at, path, d) == 0;
}

int art_canon_set_int(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
		      const char *path, size_t seg, size_t field, size_t rep, size_t comp)
{
	const char *p;
	size_t len;
	long long v;

	if (art_canon_val(job, seg, field, rep, comp, comp ? 1 : 0, &p, &len) != ART_HL7_VALUE ||
	    len > 10 || art_parse_int(p, 0, INT32_MAX, &v))
		return 0;
	return art_canon_put_int(av, at, path, (int32_t)v) == 0;
}

/* Whether optional field `name` of record rec holds a value. */
static int art_canon_has(avro_value_t *rec, const char *name)
{
	return art_fv_has(rec, name);
}

int art_canon_set_coding_in(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
			    const char *path, size_t seg, size_t field, size_t rep,
			    const char *table)
{
	avro_value_t c;

	if (!art_canon_set_coding(job, av, at, path, seg, field, rep, 1))
		return 0;
	if (!path)
		c = *at;
	else if (art_canon_put_rec(av, at, path, &c))
		return 0;
	if (art_canon_has(&c, "code") && !art_canon_has(&c, "system"))
		art_canon_put_cstr(av, &c, "system", table);
	return 1;
}

size_t art_canon_add_codings(struct art_canon_job *job, struct art_avro_value *av,
			     avro_value_t *at, const char *path, size_t seg, size_t field)
{
	size_t n = art_canon_reps(job, seg, field), added = 0;

	for (size_t r = 1; r <= n; r++) {
		const char *p;
		size_t len;
		avro_value_t c;
		int any = 0;

		for (size_t k = 1; k <= 6 && !any; k++)
			any = art_canon_val(job, seg, field, r, k, 1, &p, &len) == ART_HL7_VALUE;
		if (!any)
			continue;
		if (art_canon_put_append(av, at, path, &c))
			break;
		art_canon_set_coding(job, av, &c, NULL, seg, field, r, 1);
		added++;
	}
	return added;
}

size_t art_canon_add_strings(struct art_canon_job *job, struct art_avro_value *av,
			     avro_value_t *at, const char *path, size_t seg, size_t field,
			     size_t comp)
{
	size_t n = art_canon_reps(job, seg, field), added = 0;

	for (size_t r = 1; r <= n; r++) {
		const char *p;
		size_t len;

		if (art_canon_val(job, seg, field, r, comp, 1, &p, &len) != ART_HL7_VALUE)
			continue;
		if (art_canon_put_item(av, at, path, p, len))
			break;
		added++;
	}
	return added;
}

int art_canon_set_identifier(struct art_canon_job *job, struct art_avro_value *av,
			     avro_value_t *at, const char *path, size_t seg, size_t field,
			     size_t rep)
{
	const char *p;
	size_t len;
	avro_value_t id;

	if (art_canon_val(job, seg, field, rep, 1, 1, &p, &len) != ART_HL7_VALUE)
		return 0;
	if (art_canon_put_rec(av, at, path, &id))
		return 0;
	art_canon_put_str(av, &id, "value", p, len);
	if (art_canon_set_str(job, av, &id, "assigning_authority", seg, field, rep, 4, 1) !=
	    ART_HL7_VALUE)
		art_canon_set_str(job, av, &id, "assigning_authority", seg, field, rep, 4, 2);
	art_canon_set_str(job, av, &id, "type", seg, field, rep, 5, 1);
	return 1;
}

/* The raw repetition rep of seg/field when it has content (not "" and not
 * only delimiters in the first `comps` components); 0 when not. */
static int art_canon_rep_with(struct art_canon_job *job, size_t seg, size_t field, size_t rep,
			      size_t comps, struct art_hl7_span *r)
{
	const char *p;
	size_t len;

	if (!art_canon_at(job, seg, field, rep, 0, 0, r) || r->len == 0 ||
	    art_canon_span_is_null(r))
		return 0;
	for (size_t c = 1; c <= comps; c++) {
		if (art_canon_val(job, seg, field, rep, c, 1, &p, &len) == ART_HL7_VALUE)
			return 1;
	}
	return 0;
}

int art_canon_set_provider(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
			   const char *path, size_t seg, size_t field, size_t rep)
{
	static const struct {
		size_t comp;
		const char *name;
	} parts[] = {{1, "id"}, {2, "family"}, {5, "suffix"}, {6, "prefix"}, {7, "degree"}};
	struct art_hl7_span r;
	const char *p;
	size_t len;
	avro_value_t pr;

	if (!art_canon_rep_with(job, seg, field, rep, 4, &r))
		return 0;
	if (!path)
		pr = *at;
	else if (art_canon_put_rec(av, at, path, &pr))
		return 0;
	for (size_t k = 0; k < ART_ARRAY_SIZE(parts); k++) {
		if (art_canon_val(job, seg, field, rep, parts[k].comp, 1, &p, &len) == ART_HL7_VALUE)
			art_canon_put_str(av, &pr, parts[k].name, p, len);
	}
	for (size_t c = 3; c <= 4; c++) {
		if (art_canon_val(job, seg, field, rep, c, 1, &p, &len) == ART_HL7_VALUE)
			art_canon_put_item(av, &pr, "given", p, len);
	}
	/* assigning authority: XCN.9.1 namespace id, else XCN.9.2 universal id */
	if (art_canon_val(job, seg, field, rep, 9, 1, &p, &len) == ART_HL7_VALUE)
		art_canon_put_str(av, &pr, "assigning_authority", p, len);
	else
		art_canon_set_str(job, av, &pr, "assigning_authority", seg, field, rep, 9, 2);
	return 1;
}

size_t art_canon_add_providers(struct art_canon_job *job, struct art_avro_value *av,
			       avro_value_t *at, const char *path, size_t seg, size_t field)
{
	size_t n = art_canon_reps(job, seg, field), added = 0;

	for (size_t r = 1; r <= n; r++) {
		struct art_hl7_span sp;
		avro_value_t elem;

		if (!art_canon_rep_with(job, seg, field, r, 4, &sp))
			continue;
		if (art_canon_put_append(av, at, path, &elem))
			break;
		art_canon_set_provider(job, av, &elem, NULL, seg, field, r);
		added++;
	}
	return added;
}

int art_canon_set_location(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
			   const char *path, size_t seg, size_t field, size_t rep)
{
	static const struct {
		size_t comp;
		const char *name;
	} parts[] = {{1, "point_of_care"}, {2, "room"},  {3, "bed"},
		     {7, "building"},      {8, "floor"}, {9, "description"}};
	struct art_hl7_span r;
	const char *p;
	size_t len;
	avro_value_t loc;

	if (!art_canon_rep_with(job, seg, field, rep, 9, &r))
		return 0;
	if (art_canon_put_rec(av, at, path, &loc))
		return 0;
	for (size_t k = 0; k < ART_ARRAY_SIZE(parts); k++) {
		if (art_canon_val(job, seg, field, rep, parts[k].comp, 1, &p, &len) == ART_HL7_VALUE)
			art_canon_put_str(av, &loc, parts[k].name, p, len);
	}
	/* facility: PL.4.1 namespace id, else PL.4.2 universal id */
	if (art_canon_val(job, seg, field, rep, 4, 1, &p, &len) == ART_HL7_VALUE)
		art_canon_put_str(av, &loc, "facility", p, len);
	else
		art_canon_set_str(job, av, &loc, "facility", seg, field, rep, 4, 2);
	return 1;
}

/* OBX-5 into value_text (every repetition) and the typed field of OBX-2
 * (the rules of canonical.result, docs/mapping.md). */
static void art_canon_obx_value(struct art_canon_job *job, struct art_avro_value *av,
				avro_value_t *obs, size_t seg, const char *vt)
{
	struct art_buf *b = &job->m->text;
	int text = strcmp(vt, "TX") == 0 || strcmp(vt, "FT") == 0;
	size_t n = art_canon_reps(job, seg, 5);
	const char *p;
	size_t len;

	art_buf_reset(b);
	for (size_t r = 1; r <= n; r++) {
		/* empty repetitions keep their place ("a~~b", a blank TX line) */
		if (r > 1 && art_buf_putc(b, text ? '\n' : '~'))
			break;
		art_canon_text(job, seg, 5, r, 0);
	}
	if (b->len > 0)
		art_canon_put_str(av, obs, "value_text", b->p, b->len);

	if (strcmp(vt, "NM") == 0) {
		art_canon_set_number(job, av, obs, "value_number", seg, 5, 1, 0);
	} else if (strcmp(vt, "SN") == 0) {
		art_canon_set_str(job, av, obs, "value_comparator", seg, 5, 1, 1, 1);
		art_canon_set_number(job, av, obs, "value_number", seg, 5, 1, 2);
		art_canon_set_str(job, av, obs, "value_separator", seg, 5, 1, 3, 1);
		art_canon_set_number(job, av, obs, "value_number2", seg, 5, 1, 4);
	} else if (strcmp(vt, "CWE") == 0 || strcmp(vt, "CE") == 0 || strcmp(vt, "CNE") == 0 ||
		   strcmp(vt, "CF") == 0) {
		art_canon_set_coding(job, av, obs, "value_coding", seg, 5, 1, 1);
	} else if (strcmp(vt, "DT") == 0 || strcmp(vt, "DTM") == 0 || strcmp(vt, "TS") == 0) {
		if (art_canon_val(job, seg, 5, 1, 1, 1, &p, &len) == ART_HL7_VALUE)
			art_canon_set_time_text(job, av, obs, "value_time", p, len);
	}
}

int art_canon_add_observation(struct art_canon_job *job, struct art_avro_value *av,
			      avro_value_t *at, const char *path, size_t seg, avro_value_t *obs)
{
	const char *p;
	size_t len;
	char vt[8] = "";

	if (art_canon_put_append(av, at, path, obs))
		return -1;
	art_canon_set_int(job, av, obs, "set_id", seg, 1, 1, 1);
	if (art_canon_set_str(job, av, obs, "value_type", seg, 2, 1, 1, 1) == ART_HL7_VALUE) {
		size_t n = strnlen(job->m->tmp.p, sizeof(vt) - 1);

		memcpy(vt, job->m->tmp.p, n); /* at most 7 bytes, as before */
		vt[n] = '\0';
	}
	art_canon_set_coding(job, av, obs, "code", seg, 3, 1, 1);
	art_canon_set_str(job, av, obs, "sub_id", seg, 4, 1, 1, 1);
	art_canon_obx_value(job, av, obs, seg, vt);
	art_canon_set_coding(job, av, obs, "units", seg, 6, 1, 1);
	if (art_canon_val(job, seg, 7, 1, 0, 0, &p, &len) == ART_HL7_VALUE)
		art_canon_put_str(av, obs, "reference_range", p, len);
	art_canon_add_strings(job, av, obs, "abnormal_flags", seg, 8, 1);
	art_canon_set_str(job, av, obs, "status", seg, 11, 1, 1, 1);
	art_canon_set_time(job, av, obs, "observed_at", seg, 14, 1);
	return 0;
}

void art_canon_add_note(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
			size_t seg)
{
	struct art_buf *b = &job->m->text;
	size_t n = art_canon_reps(job, seg, 3);

	art_buf_reset(b);
	for (size_t r = 1; r <= n; r++) {
		if (r > 1 && art_buf_putc(b, '\n'))
			break;
		art_canon_text(job, seg, 3, r, 0);
	}
	if (b->len > 0)
		art_canon_put_item(av, at, "notes", b->p, b->len);
}

size_t art_canon_group_end(struct art_canon_job *job, size_t pid)
{
	long next = art_hl7_seg_find(job->msg, "PID", pid + 1);

	return next >= 0 ? (size_t)next : art_hl7_seg_count(job->msg);
}

long art_canon_find_before(struct art_canon_job *job, const char *id, size_t from, size_t end)
{
	long i = art_hl7_seg_find(job->msg, id, from);

	return i >= 0 && (size_t)i < end ? i : -1;
}
