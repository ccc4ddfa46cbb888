/*
 * canonical_order.c — ORM^O01, OML^O21/O33/O35, OMG^O19, OMD^O03,
 * OMP^O09, RDE^O11/O25 → canonical.order (docs/mapping.md).
 *
 * One event per order group: an ORC and what follows it up to the next
 * order (the next ORC, or a second OBR / RXO / RXE, which starts a group of
 * its own even without an ORC), within a patient group (a PID and the
 * segments up to the next PID; a message without PID maps with a null
 * patient). The group's ORC gives the control, numbers, status, times and
 * people; its OBR (a service) or RXE/RXO (a medication) what is ordered;
 * TQ1 the priority and timing; RXR the routes; DG1 the diagnoses; OBX the
 * answers given at order entry (before any SPM: specimen observations are
 * not mapped); NTE the notes. The event type follows ORC-1 (table below).
 *
 * Rates: orders carry one to a few dozen groups; a group costs a few
 * dozen decoded reads and one encode.
 */
#define ART_CANON_INTERNAL
#include "canonical.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "art.h"

/* ORC-1 order control (HL7 table 0119) -> event type. A code not listed
 * is order.updated; no ORC (or an empty ORC-1) is order.placed. */
static const struct {
	const char *control;
	const char *event_type;
} art_canon_order_types[] = {
	{"NW", "order.placed"},         {"CH", "order.placed"},
	{"PA", "order.placed"},         {"OK", "order.accepted"},
	{"CA", "order.cancelled"},      {"OC", "order.cancelled"},
	{"CR", "order.cancelled"},      {"DC", "order.discontinued"},
	{"OD", "order.discontinued"},   {"DR", "order.discontinued"},
	{"XO", "order.updated"},        {"XX", "order.updated"},
	{"XR", "order.updated"},        {"SC", "order.status_changed"},
	{"HD", "order.held"},           {"OH", "order.held"},
	{"HR", "order.held"},           {"RL", "order.released"},
	{"OR", "order.released"},       {"RP", "order.replaced"},
	{"RU", "order.replaced"},       {"RO", "order.replaced"},
	{"RQ", "order.replaced"},       {"RR", "order.replaced"},
	{"SN", "order.number_assigned"}, {"NA", "order.number_assigned"},
	{"RE", "order.results_to_follow"},
};

/* The segments of one order group: indices, -1 when absent. */
struct art_canon_order_group {
	size_t from, end; /* [from, end) */
	long orc, obr, rxo, rxe, tq1;
};

static const char *art_canon_order_type(struct art_canon_job *job, long orc)
{
	const char *p;
	size_t len;

	if (orc < 0 || art_canon_val(job, (size_t)orc, 1, 1, 1, 1, &p, &len) != ART_HL7_VALUE)
		return "order.placed";
	for (size_t i = 0; i < ART_ARRAY_SIZE(art_canon_order_types); i++) {
		if (strlen(art_canon_order_types[i].control) == len &&
		    strncasecmp(art_canon_order_types[i].control, p, len) == 0)
			return art_canon_order_types[i].event_type;
	}
	return "order.updated";
}

/* An order number (EI): id from comp 1, authority from EI.2, else EI.3;
 * `alt` (>= 0) is the segment to read when `seg` has none. */
static void art_canon_order_ei(struct art_canon_job *job, struct art_avro_value *av,
			       const char *id, const char *authority, long seg, size_t field,
			       long alt, size_t alt_field)
{
	if (seg < 0 || art_canon_set_str(job, av, NULL, id, (size_t)seg, field, 1, 1, 1) !=
			       ART_HL7_VALUE) {
		seg = alt;
		field = alt_field;
		if (seg < 0 || art_canon_set_str(job, av, NULL, id, (size_t)seg, field, 1, 1, 1) !=
				       ART_HL7_VALUE)
			return;
	}
	if (art_canon_set_str(job, av, NULL, authority, (size_t)seg, field, 1, 2, 1) !=
	    ART_HL7_VALUE)
		art_canon_set_str(job, av, NULL, authority, (size_t)seg, field, 1, 3, 1);
}

/* Sets Timestamp `path` from component comp of a TQ field (ORC-7,
 * OBR-27). Returns 1 when set. */
static int art_canon_order_tq_time(struct art_canon_job *job, struct art_avro_value *av,
				   const char *path, long seg, size_t field, size_t comp)
{
	const char *p;
	size_t len;

	if (seg < 0 ||
	    art_canon_val(job, (size_t)seg, field, 1, comp, 1, &p, &len) != ART_HL7_VALUE)
		return 0;
	return art_canon_set_time_text(job, av, NULL, path, p, len);
}

/* The pharmacy part: RXE when present, else RXO (field numbers differ). */
static void art_canon_order_medication(struct art_canon_job *job, struct art_avro_value *av,
				       const struct art_canon_order_group *g)
{
	/* give min, give max, give units, dosage form, instructions, dispense
	 * amount, dispense units, refills */
	static const size_t rxe_f[] = {3, 4, 5, 6, 7, 10, 11, 12};
	static const size_t rxo_f[] = {2, 3, 4, 5, 7, 11, 12, 13};
	const size_t *f = g->rxe >= 0 ? rxe_f : rxo_f;
	size_t seg = (size_t)(g->rxe >= 0 ? g->rxe : g->rxo);
	avro_value_t med;
	size_t n;

	if (art_canon_put_rec(av, NULL, "medication", &med))
		return;
	art_canon_set_number(job, av, &med, "give_amount_min", seg, f[0], 1, 1);
	art_canon_set_number(job, av, &med, "give_amount_max", seg, f[1], 1, 1);
	art_canon_set_coding(job, av, &med, "give_units", seg, f[2], 1, 1);
	art_canon_set_coding(job, av, &med, "dosage_form", seg, f[3], 1, 1);
	/* instructions: each repetition's text (CWE.2), else its code */
	n = art_canon_reps(job, seg, f[4]);
	for (size_t r = 1; r <= n; r++) {
		const char *p;
		size_t len;

		if (art_canon_val(job, seg, f[4], r, 2, 1, &p, &len) == ART_HL7_VALUE ||
		    art_canon_val(job, seg, f[4], r, 1, 1, &p, &len) == ART_HL7_VALUE)
			art_canon_put_item(av, &med, "instructions", p, len);
	}
	art_canon_set_number(job, av, &med, "dispense_amount", seg, f[5], 1, 1);
	art_canon_set_coding(job, av, &med, "dispense_units", seg, f[6], 1, 1);
	art_canon_set_int(job, av, &med, "refills", seg, f[7], 1, 1);
	for (size_t s = g->from; s < g->end; s++) {
		if (strcmp(art_hl7_seg_id(job->msg, s), "RXR") == 0)
			art_canon_add_codings(job, av, &med, "routes", s, 1);
	}
}

/* The segments of the group after its ORC/OBR/RX*: notes, observations,
 * diagnoses. */
static void art_canon_order_children(struct art_canon_job *job, struct art_avro_value *av,
				     const struct art_canon_order_group *g)
{
	enum { TO_NONE, TO_ORDER, TO_OBX } notes_to = TO_NONE;
	int in_specimen = 0;
	avro_value_t obs;

	for (size_t s = g->from; s < g->end && job->fail == ART_CANON_MAPPED; s++) {
		const char *id = art_hl7_seg_id(job->msg, s);

		if (strcmp(id, "NTE") == 0) {
			if (notes_to == TO_ORDER)
				art_canon_add_note(job, av, NULL, s);
			else if (notes_to == TO_OBX)
				art_canon_add_note(job, av, &obs, s);
			continue;
		}
		notes_to = TO_NONE;
		if (strcmp(id, "ORC") == 0 || strcmp(id, "OBR") == 0 || strcmp(id, "RXO") == 0 ||
		    strcmp(id, "RXE") == 0) {
			notes_to = TO_ORDER;
		} else if (strcmp(id, "SPM") == 0) {
			in_specimen = 1;
		} else if (strcmp(id, "OBX") == 0 && !in_specimen) {
			if (art_canon_add_observation(job, av, NULL, "observations", s, &obs) == 0)
				notes_to = TO_OBX;
		} else if (strcmp(id, "DG1") == 0) {
			avro_value_t c;

			if (art_canon_put_append(av, NULL, "diagnoses", &c) == 0)
				art_canon_set_coding(job, av, &c, NULL, s, 3, 1, 1);
		}
	}
}

/* One canonical.order event for order group g of the patient group of PID
 * pid (-1: none), whose visit is PV1 pv1 (-1: none). */
static enum art_canon_status art_canon_order_event(struct art_canon_job *job, long pid, long pv1,
						   const struct art_canon_order_group *g)
{
	const char *event_type = art_canon_order_type(job, g->orc);
	struct art_avro_value *av = art_canon_begin(job, ART_CANON_D_ORDER, event_type, pid);
	long orc = g->orc, obr = g->obr, tq1 = g->tq1;
	const char *p;
	size_t len;

	if (!av)
		return job->fail;
	if (orc >= 0) {
		art_canon_set_str(job, av, NULL, "order_control", (size_t)orc, 1, 1, 1, 1);
		art_canon_set_coding(job, av, NULL, "order_control_reason", (size_t)orc, 16, 1, 1);
		art_canon_set_str(job, av, NULL, "placer_group_id", (size_t)orc, 4, 1, 1, 1);
		art_canon_set_str(job, av, NULL, "order_status", (size_t)orc, 5, 1, 1, 1);
		art_canon_set_time(job, av, NULL, "transaction_at", (size_t)orc, 9, 1);
		art_canon_set_time(job, av, NULL, "effective_at", (size_t)orc, 15, 1);
		art_canon_set_provider(job, av, NULL, "entered_by", (size_t)orc, 10, 1);
		art_canon_add_providers(job, av, NULL, "ordering_providers", (size_t)orc, 12);
		art_canon_set_str(job, av, NULL, "ordering_facility", (size_t)orc, 21, 1, 1, 1);
	}
	if (g->obr >= 0)
		art_canon_put_cstr(av, NULL, "category", "service");
	else if (g->rxe >= 0 || g->rxo >= 0)
		art_canon_put_cstr(av, NULL, "category", "medication");
	art_canon_order_ei(job, av, "placer_order_id", "placer_order_authority", orc, 2, obr, 2);
	art_canon_order_ei(job, av, "filler_order_id", "filler_order_authority", orc, 3, obr, 3);

	/* priority: TQ1-9, else the TQ of ORC-7 / OBR-27 (component 6) */
	if ((tq1 < 0 ||
	     art_canon_val(job, (size_t)tq1, 9, 1, 1, 1, &p, &len) != ART_HL7_VALUE) &&
	    (orc < 0 ||
	     art_canon_val(job, (size_t)orc, 7, 1, 6, 1, &p, &len) != ART_HL7_VALUE) &&
	    (obr < 0 || art_canon_val(job, (size_t)obr, 27, 1, 6, 1, &p, &len) != ART_HL7_VALUE))
		len = 0;
	if (len > 0)
		art_canon_put_str(av, NULL, "priority", p, len);
	/* timing: TQ1-7/8, else ORC-7.4/.5, else OBR-27.4/.5 */
	if ((tq1 < 0 || !art_canon_set_time(job, av, NULL, "start_at", (size_t)tq1, 7, 1)) &&
	    !art_canon_order_tq_time(job, av, "start_at", orc, 7, 4))
		art_canon_order_tq_time(job, av, "start_at", obr, 27, 4);
	if ((tq1 < 0 || !art_canon_set_time(job, av, NULL, "end_at", (size_t)tq1, 8, 1)) &&
	    !art_canon_order_tq_time(job, av, "end_at", orc, 7, 5))
		art_canon_order_tq_time(job, av, "end_at", obr, 27, 5);

	/* what is ordered */
	if (obr >= 0) {
		art_canon_set_coding(job, av, NULL, "code", (size_t)obr, 4, 1, 1);
		if (orc < 0 || art_canon_reps(job, (size_t)orc, 12) == 0)
			art_canon_add_providers(job, av, NULL, "ordering_providers", (size_t)obr,
						16);
		art_canon_set_str(job, av, NULL, "clinical_info", (size_t)obr, 13, 1, 1, 1);
		art_canon_add_codings(job, av, NULL, "reasons", (size_t)obr, 31);
	} else if (g->rxe >= 0) {
		art_canon_set_coding(job, av, NULL, "code", (size_t)g->rxe, 2, 1, 1);
	} else if (g->rxo >= 0) {
		art_canon_set_coding(job, av, NULL, "code", (size_t)g->rxo, 1, 1, 1);
	}
	if (g->rxe >= 0 || g->rxo >= 0)
		art_canon_order_medication(job, av, g);
	art_canon_order_children(job, av, g);
	if (pv1 >= 0)
		art_canon_set_identifier(job, av, NULL, "visit_number", (size_t)pv1, 19, 1);
	if (job->fail != ART_CANON_MAPPED)
		return job->fail;
	if (art_canon_emit(job, av, event_type))
		return job->fail;
	return ART_CANON_MAPPED;
}

/* Cuts segments [from, end) into order groups and maps each. Returns how
 * many through *ngroups. */
static enum art_canon_status art_canon_order_groups(struct art_canon_job *job, long pid,
						    size_t from, size_t end, size_t *ngroups)
{
	struct art_canon_order_group g;
	long pv1 = art_canon_find_before(job, "PV1", from, end);
	int open = 0;
	enum art_canon_status st;

	memset(&g, 0, sizeof(g));
	for (size_t s = from; s <= end; s++) {
		const char *id = s < end ? art_hl7_seg_id(job->msg, s) : "";
		int is_orc = strcmp(id, "ORC") == 0, is_obr = strcmp(id, "OBR") == 0;
		int is_rxo = strcmp(id, "RXO") == 0, is_rxe = strcmp(id, "RXE") == 0;
		/* a new group: an ORC, the end, or a second OBR / RXO / RXE */
		int cut = s == end || is_orc || (is_obr && g.obr >= 0) || (is_rxo && g.rxo >= 0) ||
			  (is_rxe && g.rxe >= 0);

		if (open && cut) {
			g.end = s;
			st = art_canon_order_event(job, pid, pv1, &g);
			if (st != ART_CANON_MAPPED)
				return st;
			(*ngroups)++;
			open = 0;
		}
		if (s == end)
			break;
		if (!open && (is_orc || is_obr || is_rxo || is_rxe)) {
			open = 1;
			g.from = s;
			g.orc = g.obr = g.rxo = g.rxe = g.tq1 = -1;
		}
		if (!open)
			continue;
		if (is_orc)
			g.orc = (long)s;
		else if (is_obr)
			g.obr = (long)s;
		else if (is_rxo)
			g.rxo = (long)s;
		else if (is_rxe)
			g.rxe = (long)s;
		else if (strcmp(id, "TQ1") == 0 && g.tq1 < 0)
			g.tq1 = (long)s;
	}
	return ART_CANON_MAPPED;
}

enum art_canon_status art_canon_map_order(struct art_canon_job *job)
{
	long pid = art_hl7_seg_find(job->msg, "PID", 0);
	size_t ngroups = 0;
	enum art_canon_status st;

	if (pid < 0) {
		/* the patient group is optional in these structures */
		st = art_canon_order_groups(job, -1, 1, art_hl7_seg_count(job->msg), &ngroups);
	} else {
		st = ART_CANON_MAPPED;
		for (; pid >= 0 && st == ART_CANON_MAPPED;
		     pid = art_hl7_seg_find(job->msg, "PID", (size_t)pid + 1))
			st = art_canon_order_groups(job, pid, (size_t)pid + 1,
						    art_canon_group_end(job, (size_t)pid),
						    &ngroups);
	}
	if (st != ART_CANON_MAPPED)
		return st;
	if (ngroups == 0)
		return art_canon_fail(job, ART_CANON_UNMAPPABLE,
				      "%s: no order (ORC, OBR, RXO or RXE segment)", job->trigger);
	return ART_CANON_MAPPED;
}
