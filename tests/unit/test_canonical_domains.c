/*
 * test_canonical_domains.c — the canonical domains added with issue #4
 * (encounter, order, appointment, document, immunization), as a consumer
 * sees them: every produced event is decoded from its wire format with
 * art_avro_decode_json() and the assertions are on those JSON values.
 * Table-driven: the event type per trigger (and per ORC-1 / RXA-21), the
 * several events of one ADT message and their all-or-nothing rule, the
 * key fields of each domain, and the schemas' shared envelope.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"
#include "avro_codec.h"
#include "canonical.h"
#include "hl7.h"
#include "schema.h"

#include "helper_canon.h"

TestSuite(canonical_domains, .init = ct_setup, .fini = ct_teardown);

#define MSH(type) "MSH|^~\\&|SND|FAC|RCV|RFAC|20240102133000-0500||" type "|CTL9|P|2.5.1"
#define PID "PID|1||4711^^^GENHOSP^MR||Doe^Jane^Q||19800203|F"

/* ---- encounter ------------------------------------------------------------------ */

Test(canonical_domains, encounter_event_per_adt_trigger)
{
	static const struct {
		const char *trigger;
		const char *patient_type; /* first event */
		const char *event_type;   /* second event, canonical.encounter */
		const char *status;       /* NULL: null */
	} cases[] = {
		{"A01", "patient.updated", "encounter.admitted", "in-progress"},
		{"A02", "patient.updated", "encounter.transferred", "in-progress"},
		{"A03", "patient.updated", "encounter.discharged", "finished"},
		{"A04", "patient.registered", "encounter.registered", "in-progress"},
		{"A05", "patient.preadmitted", "encounter.admit_pending", "planned"},
		{"A06", "patient.updated", "encounter.class_changed", "in-progress"},
		{"A07", "patient.updated", "encounter.class_changed", "in-progress"},
		{"A08", "patient.updated", "encounter.updated", NULL},
		{"A09", "patient.updated", "encounter.departed", "in-progress"},
		{"A10", "patient.updated", "encounter.arrived", "in-progress"},
		{"A11", "patient.updated", "encounter.admit_cancelled", "cancelled"},
		{"A12", "patient.updated", "encounter.transfer_cancelled", "in-progress"},
		{"A13", "patient.updated", "encounter.discharge_cancelled", "in-progress"},
		{"A14", "patient.updated", "encounter.admit_pending", "planned"},
		{"A15", "patient.updated", "encounter.transfer_pending", "in-progress"},
		{"A16", "patient.updated", "encounter.discharge_pending", "in-progress"},
		{"A21", "patient.updated", "encounter.leave_started", "onleave"},
		{"A22", "patient.updated", "encounter.leave_ended", "in-progress"},
		{"A25", "patient.updated", "encounter.discharge_pending_cancelled", "in-progress"},
		{"A26", "patient.updated", "encounter.transfer_pending_cancelled", "in-progress"},
		{"A27", "patient.updated", "encounter.admit_pending_cancelled", "cancelled"},
		{"A32", "patient.updated", "encounter.arrival_cancelled", "in-progress"},
		{"A33", "patient.updated", "encounter.departure_cancelled", "in-progress"},
		{"A38", "patient.updated", "encounter.admit_pending_cancelled", "cancelled"},
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		char msh[160];
		const char *segs[] = {msh, PID, "PV1|1|I|W1^101^A||||||||||||||||V77", NULL};
		struct ct_mapped m;
		const char *subject = NULL;

		snprintf(msh, sizeof(msh), MSH("ADT^%s"), cases[i].trigger);
		ct_map_segs(&m, segs);
		cr_assert_eq(m.st, ART_CANON_MAPPED, "%s: %s", cases[i].trigger, m.err);
		cr_assert_eq(m.res.cnt, 2, "%s: %zu events", cases[i].trigger, m.res.cnt);
		cr_assert_str_eq(m.res.events[0].topic, "canonical.patient");
		ct_assert_str(m.ev[0], "event_type", cases[i].patient_type);
		cr_assert_str_eq(m.res.events[1].topic, "canonical.encounter");
		cr_assert_str_eq(m.res.events[1].event_type, cases[i].event_type);
		ct_assert_str(m.ev[1], "event_type", cases[i].event_type);
		if (cases[i].status)
			ct_assert_str(m.ev[1], "status", cases[i].status);
		else
			ct_assert_null(m.ev[1], "status");
		ct_assert_str(m.ev[1], "visit_number.value", "V77");
		/* one message, one idempotency key, distinct event ids */
		ct_assert_str(m.ev[1], "idempotency_key", m.res.idempotency_key);
		cr_assert_str_neq(m.res.events[0].event_id, m.res.events[1].event_id);
		cr_assert_str_eq(art_canon_route_at("ADT", cases[i].trigger, 1, &subject),
				 cases[i].event_type);
		cr_assert_str_eq(subject, "canonical.encounter");
		cr_assert_null(art_canon_route_at("ADT", cases[i].trigger, 2, NULL));
		ct_unmap(&m);
	}
}

Test(canonical_domains, registration_adds_an_encounter_only_for_a_visit)
{
	static const struct {
		const char *trigger;
		const char *pv1; /* NULL: no PV1 */
		size_t events;
	} cases[] = {
		{"A04", NULL, 1},
		{"A04", "PV1|1|N", 1},          /* class N: not applicable */
		{"A04", "PV1|1", 1},            /* nothing about a visit */
		{"A04", "PV1|1|O", 2},          /* an outpatient visit */
		{"A04", "PV1|1||||||||||||||||||V1", 2}, /* a visit number */
		{"A08", "PV1|1|N", 1},
		{"A08", "PV1|1|E", 2},
		{"A28", "PV1|1|I", 1},          /* person information: never an encounter */
		{"A31", "PV1|1|I", 1},
		{"A01", NULL, 2},               /* an admission always: its fields null */
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		char msh[160];
		const char *segs[] = {msh, PID, cases[i].pv1, NULL};
		struct ct_mapped m;

		snprintf(msh, sizeof(msh), MSH("ADT^%s"), cases[i].trigger);
		ct_map_segs(&m, segs);
		cr_assert_eq(m.st, ART_CANON_MAPPED, "case %zu: %s", i, m.err);
		cr_assert_eq(m.res.cnt, cases[i].events, "case %zu: %zu events", i, m.res.cnt);
		if (cases[i].events == 2 && !cases[i].pv1) {
			ct_assert_null(m.ev[1], "class");
			ct_assert_null(m.ev[1], "location");
		}
		ct_unmap(&m);
	}
}

Test(canonical_domains, encounter_fields_of_a_transfer)
{
	const char *segs[] = {
		MSH("ADT^A02^ADT_A02"),
		"EVN|A02|20240102132959-0500|20240102140000-0500|02^Physician order",
		PID,
		"PV1|1|I|4W^401^B^GENHOSP&1.2.3&ISO^^^MAIN^4^North wing|E||ICU^12^1^GENHOSP|"
		"1001^Attend^Ann^M^Jr^Dr^MD^^NPI~1002^Second^Sam|2001^Refer^Rita||MED||||7|||"
		"3001^Admit^Al||V100^^^GENHOSP^VN|||||||||||||||||01^Home^HL70112|HOME|||||"
		"TMP^9||20240101080000-0500",
		"PV2|||CHEST^Chest pain^L|||||20240101|20240105",
		NULL,
	};
	struct ct_mapped m;
	json_t *e;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	cr_assert_eq(m.res.cnt, 2);
	e = m.ev[1];
	ct_assert_str(e, "trigger", "ADT^A02");
	ct_assert_str(e, "patient.identifiers.0.value", "4711");
	/* class: code as sent, table display, the table as system */
	ct_assert_str(e, "class.code", "I");
	ct_assert_str(e, "class.display", "Inpatient");
	ct_assert_str(e, "class.system", "HL70004");
	ct_assert_str(e, "location.point_of_care", "4W");
	ct_assert_str(e, "location.room", "401");
	ct_assert_str(e, "location.bed", "B");
	ct_assert_str(e, "location.facility", "GENHOSP");
	ct_assert_str(e, "location.building", "MAIN");
	ct_assert_str(e, "location.floor", "4");
	ct_assert_str(e, "location.description", "North wing");
	ct_assert_str(e, "prior_location.point_of_care", "ICU");
	ct_assert_str(e, "prior_location.bed", "1");
	ct_assert_null(e, "prior_location.building");
	cr_assert_eq(ct_jlen(e, "attending_providers"), 2);
	ct_assert_str(e, "attending_providers.0.id", "1001");
	ct_assert_str(e, "attending_providers.0.family", "Attend");
	cr_assert_eq(ct_jlen(e, "attending_providers.0.given"), 2);
	ct_assert_str(e, "attending_providers.0.given.1", "M");
	ct_assert_str(e, "attending_providers.0.suffix", "Jr");
	ct_assert_str(e, "attending_providers.0.prefix", "Dr");
	ct_assert_str(e, "attending_providers.0.degree", "MD");
	ct_assert_str(e, "attending_providers.0.assigning_authority", "NPI");
	ct_assert_str(e, "attending_providers.1.family", "Second");
	ct_assert_str(e, "referring_providers.0.family", "Refer");
	cr_assert_eq(ct_jlen(e, "consulting_providers"), 0);
	ct_assert_str(e, "admitting_providers.0.id", "3001");
	ct_assert_str(e, "hospital_service.code", "MED");
	ct_assert_str(e, "hospital_service.system", "HL70069");
	ct_assert_str(e, "admission_type.code", "E");
	ct_assert_str(e, "admit_source.code", "7");
	ct_assert_str(e, "visit_number.value", "V100");
	ct_assert_str(e, "visit_number.assigning_authority", "GENHOSP");
	ct_assert_str(e, "visit_number.type", "VN");
	/* a source system wins over the default table */
	ct_assert_str(e, "discharge_disposition.code", "01");
	ct_assert_str(e, "discharge_disposition.display", "Home");
	ct_assert_str(e, "discharge_disposition.system", "HL70112");
	ct_assert_str(e, "discharged_to", "HOME");
	ct_assert_str(e, "pending_location.point_of_care", "TMP");
	ct_assert_str(e, "admitted_at.original", "20240101080000-0500");
	cr_assert_eq(ct_jint(e, "admitted_at.utc_offset_minutes"), -300);
	ct_assert_null(e, "discharged_at");
	ct_assert_str(e, "admit_reason.code", "CHEST");
	ct_assert_str(e, "expected_admit_at.precision", "day");
	ct_assert_str(e, "expected_discharge_at.original", "20240105");
	/* EVN: occurred_at (EVN-2), planned_at (EVN-3), reason (EVN-4) */
	ct_assert_str(e, "occurred_at.original", "20240102132959-0500");
	ct_assert_str(e, "planned_at.original", "20240102140000-0500");
	ct_assert_str(e, "event_reason.code", "02");
	ct_assert_str(e, "event_reason.system", "HL70062");
	ct_unmap(&m);
}

Test(canonical_domains, swap_yields_an_encounter_per_patient)
{
	const char *segs[] = {
		MSH("ADT^A17"),       "EVN|A17|20240102",
		PID,                  "PV1|1|I|W1^1^A",
		"PID|1||4712^^^GENHOSP^MR||Roe^Rick", "PV1|1|I|W1^2^B",
		NULL,
	};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	cr_assert_eq(m.res.cnt, 4);
	/* the table's order: the patient rows first, then the encounter rows */
	ct_assert_str(m.ev[0], "patient.identifiers.0.value", "4711");
	ct_assert_str(m.ev[1], "patient.identifiers.0.value", "4712");
	ct_assert_str(m.ev[2], "event_type", "encounter.transferred");
	ct_assert_str(m.ev[2], "patient.identifiers.0.value", "4711");
	ct_assert_str(m.ev[2], "location.room", "1");
	ct_assert_str(m.ev[3], "patient.identifiers.0.value", "4712");
	ct_assert_str(m.ev[3], "location.bed", "B");
	ct_unmap(&m);
}

Test(canonical_domains, a_message_is_mapped_all_or_nothing)
{
	/* PV1-3 has an escape that is not valid UTF-8 (\XE9\ alone): decoding
	 * the encounter fails, so the patient event is dropped too */
	const char *segs[] = {MSH("ADT^A01"), PID, "PV1|1|I|W\\XE9\\st^1", NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_UNMAPPABLE, "%s", art_canon_status_name(m.st));
	cr_assert_eq(m.res.cnt, 0);
	cr_assert_not_null(strstr(m.err, "PV1-3"), "%s", m.err);
	cr_assert_str_eq(m.res.key, "GENHOSP|4711", "keys even when unmappable");
	ct_unmap(&m);
}

Test(canonical_domains, class_change_keeps_the_prior_visit_number)
{
	const char *segs[] = {MSH("ADT^A06"), PID, "MRG|4711^^^GENHOSP^MR||||V1^^^GENHOSP",
			      "PV1|1|I|W1||||||||||||||||V2", NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	ct_assert_str(m.ev[1], "class.code", "I");
	ct_assert_str(m.ev[1], "visit_number.value", "V2");
	ct_assert_str(m.ev[1], "prior_visit_number.value", "V1");
	ct_unmap(&m);
}

/* ---- orders ----------------------------------------------------------------------- */

Test(canonical_domains, order_event_type_follows_order_control)
{
	static const struct {
		const char *control;
		const char *event_type;
	} cases[] = {
		{"NW", "order.placed"},          {"CA", "order.cancelled"},
		{"OC", "order.cancelled"},       {"CR", "order.cancelled"},
		{"DC", "order.discontinued"},    {"OD", "order.discontinued"},
		{"XO", "order.updated"},         {"XX", "order.updated"},
		{"SC", "order.status_changed"},  {"HD", "order.held"},
		{"RL", "order.released"},        {"RP", "order.replaced"},
		{"SN", "order.number_assigned"}, {"NA", "order.number_assigned"},
		{"RE", "order.results_to_follow"}, {"OK", "order.accepted"},
		{"ZZ", "order.updated"},         /* not in table 0119 */
		{"", "order.placed"},            /* an ORC without order control */
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		char orc[64];
		const char *segs[] = {MSH("ORM^O01"), PID, orc, "OBR|1|P1||CBC^Blood count^L", NULL};
		struct ct_mapped m;

		snprintf(orc, sizeof(orc), "ORC|%s|P1", cases[i].control);
		ct_map_segs(&m, segs);
		cr_assert_eq(m.st, ART_CANON_MAPPED, "%s: %s", cases[i].control, m.err);
		cr_assert_eq(m.res.cnt, 1);
		cr_assert_str_eq(m.res.events[0].topic, "canonical.order");
		ct_assert_str(m.ev[0], "event_type", cases[i].event_type);
		ct_unmap(&m);
	}
	cr_assert_str_eq(art_canon_route("ORM", "O01", NULL), "order.*");
	cr_assert_str_eq(art_canon_route("RDE", "O11", NULL), "order.*");
}

Test(canonical_domains, order_fields_and_one_event_per_order_group)
{
	const char *segs[] = {
		MSH("OML^O21^OML_O21"),
		PID,
		"PV1|1|O|LAB||||||||||||||||VN9",
		"ORC|NW|PL1^EHR|FL1^LAB|GRP1|SC||^^^20240103080000-0500^^S||20240102130000-0500|"
		"11^Enter^Ed||22^Order^Olga^^^Dr||||^Reason|||||Clinic One",
		"TQ1|1||||||20240103090000-0500|20240103100000-0500|R^Routine^HL70485",
		"OBR|1|||57698-3^Lipid panel^LN|||||||||Fasting|||33^Other^Oscar|||||||||||||||"
		"R69^Illness^I10",
		"NTE|1||Draw before breakfast",
		"DG1|1||E10.9^Diabetes^I10",
		"OBX|1|NM|1234-5^Weight^LN||72.5|kg^kilogram^UCUM|||||F",
		"NTE|1||Patient-reported",
		"SPM|1|S1||SER^Serum^HL70487",
		"OBX|2|NM|9999-9^Specimen volume^LN||5|mL",
		"ORC|CA|PL2^EHR",
		"OBR|2|||2345-7^Glucose^LN",
		"OBR|3|||718-7^Hemoglobin^LN",
		NULL,
	};
	struct ct_mapped m;
	json_t *e;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	cr_assert_eq(m.res.cnt, 3, "ORC+OBR, ORC+OBR, and an OBR without ORC");
	e = m.ev[0];
	ct_assert_str(e, "event_type", "order.placed");
	ct_assert_str(e, "trigger", "OML^O21");
	ct_assert_str(e, "order_control", "NW");
	ct_assert_str(e, "category", "service");
	ct_assert_str(e, "placer_order_id", "PL1");
	ct_assert_str(e, "placer_order_authority", "EHR");
	ct_assert_str(e, "filler_order_id", "FL1");
	ct_assert_str(e, "filler_order_authority", "LAB");
	ct_assert_str(e, "placer_group_id", "GRP1");
	ct_assert_str(e, "order_status", "SC");
	ct_assert_str(e, "priority", "R"); /* TQ1-9 wins over ORC-7.6 */
	ct_assert_str(e, "start_at.original", "20240103090000-0500");
	ct_assert_str(e, "end_at.original", "20240103100000-0500");
	ct_assert_str(e, "transaction_at.original", "20240102130000-0500");
	ct_assert_str(e, "entered_by.family", "Enter");
	cr_assert_eq(ct_jlen(e, "ordering_providers"), 1, "ORC-12 wins over OBR-16");
	ct_assert_str(e, "ordering_providers.0.family", "Order");
	ct_assert_str(e, "order_control_reason.display", "Reason");
	ct_assert_str(e, "ordering_facility", "Clinic One");
	ct_assert_str(e, "code.code", "57698-3");
	ct_assert_str(e, "code.display", "Lipid panel");
	ct_assert_str(e, "code.system", "LN");
	ct_assert_str(e, "clinical_info", "Fasting");
	ct_assert_str(e, "reasons.0.code", "R69");
	ct_assert_str(e, "diagnoses.0.code", "E10.9");
	ct_assert_str(e, "diagnoses.0.system", "I10");
	cr_assert_eq(ct_jlen(e, "notes"), 1);
	ct_assert_str(e, "notes.0", "Draw before breakfast");
	cr_assert_eq(ct_jlen(e, "observations"), 1, "specimen OBX are not order observations");
	ct_assert_str(e, "observations.0.code.code", "1234-5");
	cr_assert_float_eq(ct_jreal(e, "observations.0.value_number"), 72.5, 1e-9);
	ct_assert_str(e, "observations.0.units.code", "kg");
	ct_assert_str(e, "observations.0.notes.0", "Patient-reported");
	ct_assert_str(e, "visit_number.value", "VN9");
	ct_assert_null(e, "medication");

	e = m.ev[1];
	ct_assert_str(e, "event_type", "order.cancelled");
	ct_assert_str(e, "placer_order_id", "PL2");
	ct_assert_str(e, "code.code", "2345-7");
	ct_assert_null(e, "priority");
	e = m.ev[2];
	ct_assert_str(e, "event_type", "order.placed");
	ct_assert_null(e, "order_control");
	ct_assert_str(e, "code.code", "718-7");
	cr_assert_str_neq(m.res.events[0].event_id, m.res.events[2].event_id);
	ct_unmap(&m);
}

Test(canonical_domains, pharmacy_order)
{
	const char *segs[] = {
		MSH("RDE^O11^RDE_O11"),
		PID,
		"ORC|NW|RX1^EHR|||||^^^^^S",
		"RXE|1^BID|00069-3150-83^Amoxicillin 500 mg^NDC|500|1000|mg^milligram^UCUM|CAP^Capsule|"
		"^Take with food~^Finish the course|||30|CAP^Capsule|2",
		"RXR|PO^Oral^HL70162",
		NULL,
	};
	struct ct_mapped m;
	json_t *e;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	cr_assert_eq(m.res.cnt, 1);
	e = m.ev[0];
	ct_assert_str(e, "event_type", "order.placed");
	ct_assert_str(e, "category", "medication");
	ct_assert_str(e, "priority", "S"); /* ORC-7.6 without TQ1 */
	ct_assert_str(e, "code.code", "00069-3150-83");
	ct_assert_str(e, "code.system", "NDC");
	cr_assert_float_eq(ct_jreal(e, "medication.give_amount_min"), 500, 1e-9);
	cr_assert_float_eq(ct_jreal(e, "medication.give_amount_max"), 1000, 1e-9);
	ct_assert_str(e, "medication.give_units.code", "mg");
	ct_assert_str(e, "medication.dosage_form.code", "CAP");
	cr_assert_eq(ct_jlen(e, "medication.instructions"), 2);
	ct_assert_str(e, "medication.instructions.1", "Finish the course");
	cr_assert_float_eq(ct_jreal(e, "medication.dispense_amount"), 30, 1e-9);
	cr_assert_eq(ct_jint(e, "medication.refills"), 2);
	ct_assert_str(e, "medication.routes.0.code", "PO");
	ct_unmap(&m);
}

Test(canonical_domains, order_without_an_order_is_unmappable)
{
	const char *segs[] = {MSH("ORM^O01"), PID, "NTE|1||nothing ordered", NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_UNMAPPABLE);
	cr_assert_eq(m.res.cnt, 0);
	cr_assert_not_null(strstr(m.err, "ORM^O01"), "%s", m.err);
	ct_unmap(&m);
}

/* ---- appointments ---------------------------------------------------------------- */

Test(canonical_domains, appointment_event_type_per_trigger)
{
	static const struct {
		const char *trigger, *event_type;
	} cases[] = {
		{"S12", "appointment.booked"},
		{"S13", "appointment.rescheduled"},
		{"S14", "appointment.modified"},
		{"S15", "appointment.cancelled"},
		{"S16", "appointment.discontinued"},
		{"S17", "appointment.deleted"},
		{"S18", "appointment.resource_added"},
		{"S19", "appointment.resource_modified"},
		{"S20", "appointment.resource_cancelled"},
		{"S21", "appointment.resource_discontinued"},
		{"S22", "appointment.resource_deleted"},
		{"S23", "appointment.slots_blocked"},
		{"S24", "appointment.slots_opened"},
		{"S26", "appointment.noshow"},
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		char msh[160];
		const char *segs[] = {msh, "SCH|A1|B1", PID, NULL};
		struct ct_mapped m;

		snprintf(msh, sizeof(msh), MSH("SIU^%s"), cases[i].trigger);
		ct_map_segs(&m, segs);
		cr_assert_eq(m.st, ART_CANON_MAPPED, "%s: %s", cases[i].trigger, m.err);
		cr_assert_eq(m.res.cnt, 1);
		cr_assert_str_eq(m.res.events[0].topic, "canonical.appointment");
		ct_assert_str(m.ev[0], "event_type", cases[i].event_type);
		cr_assert_str_eq(art_canon_route("SIU", cases[i].trigger, NULL), cases[i].event_type);
		ct_unmap(&m);
	}
	cr_assert_null(art_canon_route("SIU", "S25", NULL));
}

Test(canonical_domains, appointment_fields_and_resources)
{
	const char *segs[] = {
		MSH("SIU^S12^SIU_S12"),
		"SCH|P77^EHR|F88^SCHED|1|G5|SLOT^Slot|Add^Add|CHK^Checkup^L|ROUT^Routine|30|min|"
		"^^^20240301090000-0500^20240301093000-0500|11^Place^Paula||||||||21^Enter^Eve|||||"
		"Booked^Booked^HL70278",
		"NTE|1||Bring your card",
		PID,
		"PV1|1|O|CLIN||||||||||||||||VIS1",
		"RGS|1",
		"AIS|1|A|99213^Office visit^C4|20240301090000-0500|||30|min^Minutes^ISO||Booked",
		"NTE|1||Fasting",
		"AIL|1||CLIN^R2^^MAIN|C^Clinic^HL70305||20240301090000-0500|||30|min",
		"RGS|2",
		"AIP|1||77^Doc^Dan|MD^Physician^L||20240301091000-0500|||20|min|||Booked",
		"AIG|1||EQ1^Scale^L|EQ^Equipment^L||||20240301090000-0500|||10|min||Booked",
		NULL,
	};
	struct ct_mapped m;
	json_t *e;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	e = m.ev[0];
	ct_assert_str(e, "placer_appointment_id", "P77");
	ct_assert_str(e, "filler_appointment_id", "F88");
	ct_assert_str(e, "occurrence_number", "1");
	ct_assert_str(e, "placer_group_id", "G5");
	ct_assert_str(e, "reason.code", "CHK");
	ct_assert_str(e, "appointment_type.code", "ROUT");
	ct_assert_str(e, "status.code", "Booked");
	ct_assert_str(e, "status.system", "HL70278");
	cr_assert_float_eq(ct_jreal(e, "duration"), 30, 1e-9);
	ct_assert_str(e, "duration_units.code", "min");
	/* no TQ1: SCH-11.4 / .5 */
	ct_assert_str(e, "start_at.original", "20240301090000-0500");
	ct_assert_str(e, "end_at.original", "20240301093000-0500");
	ct_assert_str(e, "placer_contact.family", "Place");
	ct_assert_str(e, "entered_by.family", "Enter");
	ct_assert_str(e, "notes.0", "Bring your card");
	ct_assert_str(e, "visit_number.value", "VIS1");
	ct_assert_str(e, "patient.identifiers.0.value", "4711");
	cr_assert_eq(ct_jlen(e, "resources"), 4);
	ct_assert_str(e, "resources.0.kind", "service");
	cr_assert_eq(ct_jint(e, "resources.0.group"), 1);
	ct_assert_str(e, "resources.0.code.code", "99213");
	ct_assert_str(e, "resources.0.start_at.original", "20240301090000-0500");
	cr_assert_float_eq(ct_jreal(e, "resources.0.duration"), 30, 1e-9);
	ct_assert_str(e, "resources.0.duration_units.display", "Minutes");
	ct_assert_str(e, "resources.0.status", "Booked");
	ct_assert_str(e, "resources.0.notes.0", "Fasting");
	ct_assert_str(e, "resources.1.kind", "location");
	ct_assert_str(e, "resources.1.location.point_of_care", "CLIN");
	ct_assert_str(e, "resources.1.location.room", "R2");
	ct_assert_str(e, "resources.1.location.facility", "MAIN");
	ct_assert_str(e, "resources.1.type.code", "C");
	ct_assert_str(e, "resources.2.kind", "personnel");
	cr_assert_eq(ct_jint(e, "resources.2.group"), 2);
	ct_assert_str(e, "resources.2.person.id", "77");
	ct_assert_str(e, "resources.2.person.family", "Doc");
	ct_assert_str(e, "resources.2.type.code", "MD");
	ct_assert_str(e, "resources.3.kind", "general");
	ct_assert_str(e, "resources.3.code.code", "EQ1");
	ct_assert_str(e, "resources.3.status", "Booked");
	ct_unmap(&m);
}

Test(canonical_domains, appointment_without_patient_and_tq1_times)
{
	/* blocked slots carry no patient: patient null, keyed by source + control id */
	const char *segs[] = {
		MSH("SIU^S23"),
		"SCH|P1|F1",
		"TQ1|||||||20240301090000|20240301120000",
		"RGS|1",
		"AIL|1||OR1",
		NULL,
	};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	ct_assert_null(m.ev[0], "patient");
	cr_assert_str_eq(m.res.key, "SND|CTL9");
	ct_assert_str(m.ev[0], "start_at.original", "20240301090000");
	ct_assert_str(m.ev[0], "end_at.precision", "second");
	ct_assert_str(m.ev[0], "resources.0.location.point_of_care", "OR1");
	ct_unmap(&m);
}

Test(canonical_domains, appointment_without_sch_is_unmappable)
{
	const char *segs[] = {MSH("SIU^S12"), PID, NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_UNMAPPABLE);
	cr_assert_not_null(strstr(m.err, "SCH"), "%s", m.err);
	ct_unmap(&m);
}

/* ---- documents -------------------------------------------------------------------- */

Test(canonical_domains, document_event_type_per_trigger)
{
	static const struct {
		const char *trigger, *event_type;
	} cases[] = {
		{"T01", "document.created"},        {"T02", "document.created"},
		{"T03", "document.status_changed"}, {"T04", "document.status_changed"},
		{"T05", "document.addendum_added"}, {"T06", "document.addendum_added"},
		{"T07", "document.edited"},         {"T08", "document.edited"},
		{"T09", "document.replaced"},       {"T10", "document.replaced"},
		{"T11", "document.cancelled"},
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		char msh[160];
		const char *segs[] = {msh, "EVN|" , PID, "TXA|1|CN|TX", NULL};
		struct ct_mapped m;

		snprintf(msh, sizeof(msh), MSH("MDM^%s"), cases[i].trigger);
		ct_map_segs(&m, segs);
		cr_assert_eq(m.st, ART_CANON_MAPPED, "%s: %s", cases[i].trigger, m.err);
		cr_assert_eq(m.res.cnt, 1);
		cr_assert_str_eq(m.res.events[0].topic, "canonical.document");
		ct_assert_str(m.ev[0], "event_type", cases[i].event_type);
		ct_unmap(&m);
	}
}

Test(canonical_domains, document_text_and_attachments)
{
	const char *segs[] = {
		MSH("MDM^T02^MDM_T02"),
		"EVN|T02|20240102",
		PID,
		"PV1|1|I|W1||||||||||||||||V5",
		"TXA|1|DS^Discharge summary^LN|FT|20240102100000|55^Act^Amy|20240102090000|"
		"20240102093000|20240102094000~20240102095000|66^Author^Al~67^Coauthor^Cy|"
		"68^Auth^Ann|69^Typist^Ty|DOC1^EHR|DOC0^EHR|PO1|FO1|ds.txt|AU|V|AV|AC|typo",
		"OBX|1|FT|DS^Summary||Line one\\.br\\Line two~Line three||||||F",
		"OBX|2|TX|DS^Summary||Line four||||||F",
		"OBX|3|ED|PDF^Summary||EHR^application^pdf^Base64^JVBERi0=||||||F",
		"OBX|4|RP|IMG^Image||http://img.example/1^PACS^image^jpeg||||||F",
		"OBX|5|CE|X^Coded||A^Alpha||||||F",
		NULL,
	};
	struct ct_mapped m;
	json_t *e;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	e = m.ev[0];
	ct_assert_str(e, "event_type", "document.created");
	ct_assert_str(e, "document_id", "DOC1");
	ct_assert_str(e, "parent_document_id", "DOC0");
	ct_assert_str(e, "document_type.code", "DS");
	ct_assert_str(e, "document_type.system", "LN");
	ct_assert_str(e, "content_presentation", "FT");
	ct_assert_str(e, "activity_at.original", "20240102100000");
	ct_assert_str(e, "originated_at.original", "20240102090000");
	ct_assert_str(e, "transcribed_at.original", "20240102093000");
	ct_assert_str(e, "edited_at.original", "20240102094000");
	cr_assert_eq(ct_jlen(e, "authors"), 2);
	ct_assert_str(e, "authors.1.family", "Coauthor");
	ct_assert_str(e, "authenticators.0.family", "Auth");
	ct_assert_str(e, "transcriptionist.family", "Typist");
	ct_assert_str(e, "placer_order_id", "PO1");
	ct_assert_str(e, "filler_order_id", "FO1");
	ct_assert_str(e, "file_name", "ds.txt");
	ct_assert_str(e, "completion_status", "AU");
	ct_assert_str(e, "confidentiality_status", "V");
	ct_assert_str(e, "availability_status", "AV");
	ct_assert_str(e, "storage_status", "AC");
	ct_assert_str(e, "change_reason", "typo");
	ct_assert_str(e, "visit_number.value", "V5");
	/* \.br\ and repetitions and segments: one line each */
	ct_assert_str(e, "text", "Line one\nLine two\nLine three\nLine four");
	cr_assert_eq(ct_jlen(e, "attachments"), 2);
	ct_assert_str(e, "attachments.0.kind", "data");
	ct_assert_str(e, "attachments.0.media_type", "application/pdf");
	ct_assert_str(e, "attachments.0.encoding", "Base64");
	ct_assert_str(e, "attachments.0.data", "JVBERi0=");
	ct_assert_str(e, "attachments.0.application", "EHR");
	ct_assert_str(e, "attachments.1.kind", "reference");
	ct_assert_str(e, "attachments.1.reference", "http://img.example/1");
	ct_assert_str(e, "attachments.1.application", "PACS");
	ct_assert_str(e, "attachments.1.media_type", "image/jpeg");
	ct_assert_null(e, "attachments.1.data");
	ct_unmap(&m);
}

Test(canonical_domains, document_without_content_or_txa)
{
	const char *with_txa[] = {MSH("MDM^T01"), PID, "TXA|1|CN|TX|||||||||DOC9", NULL};
	const char *without[] = {MSH("MDM^T01"), PID, "OBX|1|TX|X||text", NULL};
	struct ct_mapped m;

	ct_map_segs(&m, with_txa);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	ct_assert_null(m.ev[0], "text"); /* a notification: no content */
	cr_assert_eq(ct_jlen(m.ev[0], "attachments"), 0);
	ct_assert_str(m.ev[0], "document_id", "DOC9");
	ct_assert_str(m.ev[0], "document_type.system", "HL70270");
	ct_unmap(&m);

	ct_map_segs(&m, without);
	cr_assert_eq(m.st, ART_CANON_UNMAPPABLE);
	cr_assert_not_null(strstr(m.err, "TXA"), "%s", m.err);
	ct_unmap(&m);
}

/* ---- immunizations ------------------------------------------------------------------ */

Test(canonical_domains, immunization_per_rxa_and_action_code)
{
	const char *segs[] = {
		MSH("VXU^V04^VXU_V04"),
		PID,
		"ORC|RE|PO1^EHR|FO1^IIS|||||||7^Enter^Ed||8^Order^Olga",
		"RXA|0|1|20240110093000-0500||140^Influenza^CVX|0.5|mL^milliliter^UCUM||"
		"00^New record^NIP001|9^Nurse^Nia|^^^CLINIC1||||LOT1~LOT2|20250101|SKB^GSK^MVX|||CP|A",
		"RXR|C28161^Intramuscular^NCIT|LD^Left deltoid^HL70163",
		"OBX|1|CE|64994-7^Eligibility^LN|1|V02^Medicaid^HL70064||||||F",
		"NTE|1||checked",
		"OBX|2|DT|29769-7^VIS presented^LN|2|20240110||||||F",
		"ORC|RE||FO2^IIS",
		"RXA|0|1|20230101||88^Flu^CVX|999|||01^Historical^NIP001|||||||||||CP|U",
		"RXA|0|1|20220101||88^Flu^CVX|999||||||||||||RE^Refused^NIP002||RE|D",
		NULL,
	};
	struct ct_mapped m;
	json_t *e;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	cr_assert_eq(m.res.cnt, 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert_str_eq(m.res.events[i].topic, "canonical.immunization");
	e = m.ev[0];
	ct_assert_str(e, "event_type", "immunization.recorded");
	ct_assert_str(e, "vaccine.code", "140");
	ct_assert_str(e, "vaccine.system", "CVX");
	ct_assert_str(e, "administered_at.original", "20240110093000-0500");
	cr_assert_eq(ct_jint(e, "administered_at.utc_offset_minutes"), -300);
	cr_assert_float_eq(ct_jreal(e, "dose_amount"), 0.5, 1e-9);
	ct_assert_str(e, "dose_units.code", "mL");
	ct_assert_str(e, "administration_notes.0.code", "00");
	ct_assert_str(e, "administering_providers.0.family", "Nurse");
	ct_assert_str(e, "administered_at_location.facility", "CLINIC1");
	cr_assert_eq(ct_jlen(e, "lot_numbers"), 2);
	ct_assert_str(e, "lot_numbers.1", "LOT2");
	ct_assert_str(e, "expires_at.original", "20250101");
	ct_assert_str(e, "manufacturer.code", "SKB");
	ct_assert_str(e, "manufacturer.system", "MVX");
	ct_assert_str(e, "completion_status", "CP");
	ct_assert_str(e, "action_code", "A");
	ct_assert_str(e, "route.code", "C28161");
	ct_assert_str(e, "site.code", "LD");
	ct_assert_str(e, "site.display", "Left deltoid");
	ct_assert_str(e, "placer_order_id", "PO1");
	ct_assert_str(e, "filler_order_id", "FO1");
	ct_assert_str(e, "ordering_providers.0.family", "Order");
	ct_assert_str(e, "entered_by.family", "Enter");
	cr_assert_eq(ct_jlen(e, "observations"), 2);
	ct_assert_str(e, "observations.0.code.code", "64994-7");
	ct_assert_str(e, "observations.0.value_coding.code", "V02");
	ct_assert_str(e, "observations.0.notes.0", "checked");
	ct_assert_str(e, "observations.1.value_time.precision", "day");

	e = m.ev[1];
	ct_assert_str(e, "event_type", "immunization.updated");
	ct_assert_str(e, "filler_order_id", "FO2");
	ct_assert_str(e, "administration_notes.0.code", "01");
	cr_assert_eq(ct_jlen(e, "observations"), 0);
	e = m.ev[2];
	ct_assert_str(e, "event_type", "immunization.deleted");
	ct_assert_null(e, "filler_order_id"); /* an RXA without its own ORC */
	ct_assert_str(e, "completion_status", "RE");
	ct_assert_str(e, "refusal_reasons.0.code", "RE");
	cr_assert_str_eq(art_canon_route("VXU", "V04", NULL), "immunization.*");
	ct_unmap(&m);
}

Test(canonical_domains, immunization_without_rxa_is_unmappable)
{
	const char *segs[] = {MSH("VXU^V04"), PID, NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_UNMAPPABLE);
	cr_assert_not_null(strstr(m.err, "RXA"), "%s", m.err);
	ct_unmap(&m);
}

/* ---- schemas ---------------------------------------------------------------------- */

/* Every union of s is ["null", T] with default null, every array has
 * default []; nested records checked too. */
static void check_optional_shape(json_t *fields, const char *subject)
{
	json_t *f;
	size_t i;

	json_array_foreach(fields, i, f) {
		json_t *type = json_object_get(f, "type"), *def = json_object_get(f, "default");
		const char *name = json_string_value(json_object_get(f, "name"));
		json_t *inner = type;

		if (json_is_array(type)) {
			cr_assert_eq(json_array_size(type), 2, "%s.%s", subject, name);
			cr_assert_str_eq(json_string_value(json_array_get(type, 0)), "null",
					 "%s.%s", subject, name);
			cr_assert(def && json_is_null(def), "%s.%s: default null", subject, name);
			inner = json_array_get(type, 1);
		}
		if (json_is_object(inner) &&
		    strcmp(json_string_value(json_object_get(inner, "type")), "array") == 0) {
			cr_assert(json_is_array(def) && json_array_size(def) == 0,
				  "%s.%s: default []", subject, name);
			inner = json_object_get(inner, "items");
		}
		if (json_is_object(inner) &&
		    strcmp(json_string_value(json_object_get(inner, "type")), "record") == 0)
			check_optional_shape(json_object_get(inner, "fields"), subject);
	}
}

Test(canonical_domains, schemas_share_the_envelope)
{
	static const struct {
		const char *subject;
		int id;
	} subjects[] = {
		{"canonical.encounter", 10},   {"canonical.order", 11},
		{"canonical.appointment", 12}, {"canonical.document", 13},
		{"canonical.immunization", 14},
	};
	static const char *const envelope[] = {"event_id", "idempotency_key", "event_type",
					       "occurred_at", "received_at", "source",
					       "source_message_id", "patient", "raw_ref"};
	const struct art_schema *patient = art_schema_by_subject(ct_reg, "canonical.patient", 1);
	json_error_t jerr;
	json_t *pj;

	cr_assert_not_null(patient);
	pj = json_loads(patient->text, 0, &jerr);
	cr_assert_not_null(pj, "%s", jerr.text);
	for (size_t i = 0; i < ART_ARRAY_SIZE(subjects); i++) {
		const struct art_schema *s = art_schema_by_subject(ct_reg, subjects[i].subject, 1);
		json_t *sj, *fields;

		cr_assert_not_null(s, "%s", subjects[i].subject);
		cr_assert_eq(s->id, subjects[i].id, "%s", subjects[i].subject);
		cr_assert_eq(art_schema_by_id(ct_reg, subjects[i].id), s);
		sj = json_loads(s->text, 0, &jerr);
		cr_assert_not_null(sj, "%s", jerr.text);
		fields = json_object_get(sj, "fields");
		for (size_t k = 0; k < ART_ARRAY_SIZE(envelope); k++) {
			json_t *f = json_array_get(fields, k);

			cr_assert_str_eq(json_string_value(json_object_get(f, "name")), envelope[k],
					 "%s field %zu", subjects[i].subject, k);
			cr_assert(json_equal(f, json_array_get(json_object_get(pj, "fields"), k)),
				  "%s: envelope field %s differs from canonical.patient v1",
				  subjects[i].subject, envelope[k]);
		}
		ct_assert_str(fields, "9.name", "trigger");
		check_optional_shape(fields, subjects[i].subject);
		json_decref(sj);
	}
	json_decref(pj);
}
