/*
 * fhir_in.h — FHIR R4 resources received over HTTP (or in files) to
 * canonical events: the reverse of fhir.h, for the resources whose
 * meaning the canonical model holds (docs/mapping.md, "From FHIR").
 *
 *   Patient                         -> canonical.patient  patient.updated
 *   DiagnosticReport (+ the Observations it lists, from the same Bundle)
 *                                   -> canonical.result   result.<status>
 *   Observation not listed by a DiagnosticReport
 *                                   -> canonical.result   (a report of one)
 *   Encounter                       -> canonical.encounter encounter.<status>
 * Other resource types (Practitioner, Organization, MessageHeader, ...)
 * add no event: they stay on raw.fhir only, as unsupported HL7 types stay
 * on raw.hl7v2.
 *
 * Events are built as canonical JSON and encoded with avro_codec.h at the
 * registry's latest version of each subject, in the wire format; event ids
 * are derived from the request's idempotency key and the resource's place
 * in the body, so a resend yields the same ids. Codes come back to the
 * canonical (HL7 v2) vocabulary where the canonical model uses it: gender
 * male -> M, LOINC's URI -> LN, Observation status final -> F.
 *
 * Stateless apart from the registry; any thread. Sizes: one event per
 * supported resource; a Bundle's references are resolved by scanning its
 * entries (O(entries^2), for the tens of entries real Bundles carry).
 */
#ifndef ART_FHIR_IN_H
#define ART_FHIR_IN_H

#include <jansson.h>
#include <stdint.h>

#include "canonical.h"
#include "schema.h"

/* Where the body came from; read-only for the call. */
struct art_fhir_in_ctx {
	const struct art_schema_registry *reg;
	const char *channel;         /* listener name: source.channel */
	int64_t received_at_us;      /* epoch micros */
	const char *idempotency_key; /* of the request (hex) */
	const char *raw_topic;       /* raw_ref.topic, e.g. "raw.fhir" */
	const char *raw_hash;        /* raw_ref.raw_hash (hex SHA-256 of the body) */
};

/* Maps body (a resource or a Bundle, already checked to have a
 * resourceType) into out->events (zero *out first; free with
 * art_canon_result_free(); out->key is not set). Returns the number of
 * events (0: nothing the canonical model holds), or -1 with the reason in
 * errstr (a supported resource that cannot be mapped: a Patient without
 * any identifier, an encoding failure). */
int art_fhir_in_map(json_t *body, const struct art_fhir_in_ctx *ctx, struct art_canon_result *out,
		    char *errstr, size_t errstr_size);

#endif
