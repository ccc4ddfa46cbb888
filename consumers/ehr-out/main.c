/*
 * artery-ehr-out — delivers canonical events to an EHR: FHIR R4 over
 * REST, a FHIR NDJSON outbox, or HL7 v2 over MLLP (docs/ehr-out.md). The
 * consumer runtime (consumer.h) does the rest: group membership, decoding
 * and projection, routing, the ledger, retries, dead letters, offsets.
 */
#include "art.h"
#include "consumer.h"
#include "sinks.h"

int main(int argc, char **argv)
{
	static const struct art_sink_ops *const sinks[] = {
	    &art_sink_fhir_ops,
	    &art_sink_ndjson_ops,
	    &art_sink_mllp_ops,
	    &art_sink_null_ops,
	};

	return art_consumer_main(argc, argv, "ehr-out", sinks, ART_ARRAY_SIZE(sinks));
}
