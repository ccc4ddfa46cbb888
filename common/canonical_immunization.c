/*
 * canonical_immunization.c — VXU^V04 → canonical.immunization
 * (docs/mapping.md).
 *
 * One event per RXA (an administration, or a historical record of one):
 * the vaccine, times, dose, lots, manufacturer, people and statuses of the
 * RXA; route and site from the RXR after it; the order numbers and
 * providers of the ORC before it; the OBX after it (funding eligibility,
 * VIS dates, ...) as observations with their NTEs. The event type follows
 * RXA-21: immunization.recorded (A, or empty), .updated (U), .deleted (D).
 *
 * Rates: a VXU carries one to a few dozen RXA (a child's history); an RXA
 * costs about forty decoded reads and one encode.
 */
#define ART_CANON_INTERNAL
#include "canonical.h"

#include <stdio.h>
#include <string.h>

#include "art.h"

/* The segments of one immunization: [rxa, end), and its ORC (-1: none). */
struct art_canon_imm_group {
	size_t rxa, end;
	long orc;
};

static const char *art_canon_imm_type(struct art_canon_job *job, size_t rxa)
{
	const char *p;
	size_t len;

	if (art_canon_val(job, rxa, 21, 1, 1, 1, &p, &len) == ART_HL7_VALUE && len == 1) {
		if (p[0] == 'U' || p[0] == 'u')
			return "immunization.updated";
		if (p[0] == 'D' || p[0] == 'd')
			return "immunization.deleted";
	}
	return "immunization.recorded";
}

/* RXR, OBX and NTE after the RXA. */
static void art_canon_imm_children(struct art_canon_job *job, struct art_avro_value *av,
				   const struct art_canon_imm_group *g)
{
	enum { TO_NONE, TO_IMM, TO_OBX } notes_to = TO_IMM;
	int have_rxr = 0;
	avro_value_t obs;

	for (size_t s = g->rxa + 1; s < g->end && job->fail == ART_CANON_MAPPED; s++) {
		const char *id = art_hl7_seg_id(job->msg, s);

		if (strcmp(id, "NTE") == 0) {
			if (notes_to == TO_IMM)
				art_canon_add_note(job, av, NULL, s);
			else if (notes_to == TO_OBX)
				art_canon_add_note(job, av, &obs, s);
			continue;
		}
		notes_to = TO_NONE;
		if (strcmp(id, "RXR") == 0 && !have_rxr) {
			art_canon_set_coding(job, av, NULL, "route", s, 1, 1, 1);
			art_canon_set_coding(job, av, NULL, "site", s, 2, 1, 1);
			have_rxr = 1;
			notes_to = TO_IMM;
		} else if (strcmp(id, "OBX") == 0) {
			if (art_canon_add_observation(job, av, NULL, "observations", s, &obs) == 0)
				notes_to = TO_OBX;
		}
	}
}

/* One canonical.immunization event for group g of the patient of PID pid. */
static enum art_canon_status art_canon_imm_event(struct art_canon_job *job, size_t pid,
						 const struct art_canon_imm_group *g)
{
	const char *event_type = art_canon_imm_type(job, g->rxa);
	struct art_avro_value *av = art_canon_begin(job, ART_CANON_D_IMMUNIZATION, event_type,
						    (long)pid);
	size_t rxa = g->rxa;

	if (!av)
		return job->fail;
	art_canon_set_coding(job, av, NULL, "vaccine", rxa, 5, 1, 1);
	art_canon_set_time(job, av, NULL, "administered_at", rxa, 3, 1);
	art_canon_set_time(job, av, NULL, "administered_end_at", rxa, 4, 1);
	art_canon_set_number(job, av, NULL, "dose_amount", rxa, 6, 1, 1);
	art_canon_set_coding(job, av, NULL, "dose_units", rxa, 7, 1, 1);
	art_canon_add_codings(job, av, NULL, "administration_notes", rxa, 9);
	art_canon_add_providers(job, av, NULL, "administering_providers", rxa, 10);
	art_canon_set_location(job, av, NULL, "administered_at_location", rxa, 11, 1);
	art_canon_add_strings(job, av, NULL, "lot_numbers", rxa, 15, 1);
	art_canon_set_time(job, av, NULL, "expires_at", rxa, 16, 1);
	art_canon_set_coding(job, av, NULL, "manufacturer", rxa, 17, 1, 1);
	art_canon_add_codings(job, av, NULL, "refusal_reasons", rxa, 18);
	art_canon_set_str(job, av, NULL, "completion_status", rxa, 20, 1, 1, 1);
	art_canon_set_str(job, av, NULL, "action_code", rxa, 21, 1, 1, 1);
	if (g->orc >= 0) {
		size_t orc = (size_t)g->orc;

		art_canon_set_str(job, av, NULL, "placer_order_id", orc, 2, 1, 1, 1);
		art_canon_set_str(job, av, NULL, "filler_order_id", orc, 3, 1, 1, 1);
		art_canon_add_providers(job, av, NULL, "ordering_providers", orc, 12);
		art_canon_set_provider(job, av, NULL, "entered_by", orc, 10, 1);
	}
	art_canon_imm_children(job, av, g);
	if (job->fail != ART_CANON_MAPPED)
		return job->fail;
	if (art_canon_emit(job, av, event_type))
		return job->fail;
	return ART_CANON_MAPPED;
}

enum art_canon_status art_canon_map_immunization(struct art_canon_job *job)
{
	long pid = art_hl7_seg_find(job->msg, "PID", 0);
	struct art_canon_imm_group g = {0, 0, -1};
	long pending_orc = -1;
	size_t end, n = 0;
	int open = 0;

	if (pid < 0)
		return art_canon_fail(job, ART_CANON_UNMAPPABLE, "%s: no PID segment", job->trigger);
	end = art_canon_group_end(job, (size_t)pid);
	/* an RXA, with the ORC before it, runs to the next ORC or RXA */
	for (size_t s = (size_t)pid + 1; s <= end; s++) {
		const char *id = s < end ? art_hl7_seg_id(job->msg, s) : "";
		int is_orc = strcmp(id, "ORC") == 0, is_rxa = strcmp(id, "RXA") == 0;

		if (open && (s == end || is_orc || is_rxa)) {
			enum art_canon_status st;

			g.end = s;
			st = art_canon_imm_event(job, (size_t)pid, &g);
			if (st != ART_CANON_MAPPED)
				return st;
			n++;
			open = 0;
		}
		if (is_orc) {
			pending_orc = (long)s;
		} else if (is_rxa) {
			g.rxa = s;
			g.orc = pending_orc;
			pending_orc = -1;
			open = 1;
		}
	}
	if (n == 0)
		return art_canon_fail(job, ART_CANON_UNMAPPABLE, "%s: no RXA segment", job->trigger);
	return ART_CANON_MAPPED;
}
