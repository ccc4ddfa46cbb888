/*
 * fuzz_fhir_in.c — libFuzzer target for the FHIR R4 → canonical mapping
 * (fhir_in.h) that artery-http-in runs on every request body: the input is
 * parsed as JSON (as the listener does, duplicates rejected); every value
 * that is an object with a resourceType is mapped, and every event it
 * yields must decode again with its own schema. Seeded with
 * ../shared/corpus/fhir by scripts/fuzz.sh.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "avro_codec.h"
#include "fhir_in.h"
#include "schema.h"

static struct art_schema_registry *reg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct art_fhir_in_ctx ctx = {.channel = "fuzz", .received_at_us = 1,
				      .idempotency_key = "fuzz", .raw_topic = "raw.fhir",
				      .raw_hash = "00"};
	struct art_canon_result res;
	char errstr[512];
	json_error_t je;
	json_t *body;
	int n;

	if (!reg) {
		reg = art_schema_registry_load(NULL, errstr, sizeof(errstr));
		if (!reg)
			abort(); /* the source tree's schemas must load */
	}
	ctx.reg = reg;
	body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
	if (!body)
		return 0;
	if (json_is_string(json_object_get(body, "resourceType"))) {
		memset(&res, 0, sizeof(res));
		n = art_fhir_in_map(body, &ctx, &res, errstr, sizeof(errstr));
		for (int i = 0; i < n; i++) {
			json_t *ev = NULL;

			if (art_avro_decode_json(reg, res.events[i].value, res.events[i].value_len,
						 &ev, NULL, errstr, sizeof(errstr)))
				abort(); /* an event that does not decode */
			json_decref(ev);
		}
		art_canon_result_free(&res);
	}
	json_decref(body);
	return 0;
}
