/*
 * sinks.h — the delivery targets of artery-ehr-out (sink.h ops structs),
 * selected by consumers.ehr-out.target.type in topology.yaml:
 *
 *   fhir    FHIR R4 REST: one transaction Bundle per event, conditional
 *           create/update keyed by identifiers (sink_fhir.c, libcurl);
 *   ndjson  FHIR Bulk Data NDJSON outbox: one file per resource type,
 *           appended a whole line at a time (sink_ndjson.c);
 *   mllp    HL7 v2 over MLLP: forwards raw.hl7v2 records and checks the
 *           ACK (sink_mllp.c);
 *   null    transforms to FHIR and discards (benchmarks, dry runs).
 *
 * Target settings and their defaults are in docs/ehr-out.md. Each sink is
 * used by the consumer loop's thread only (sink.h).
 */
#ifndef ART_SINKS_H
#define ART_SINKS_H

#include "sink.h"

extern const struct art_sink_ops art_sink_fhir_ops;   /* type "fhir" */
extern const struct art_sink_ops art_sink_ndjson_ops; /* type "ndjson" */
extern const struct art_sink_ops art_sink_mllp_ops;   /* type "mllp" */
extern const struct art_sink_ops art_sink_null_ops;   /* type "null" */

#endif
