/*
 * canonical_encounter.c — ADT → canonical.encounter (docs/mapping.md,
 * docs/events.md).
 *
 * The encounter-centred ADT triggers (admit, transfer, discharge, their
 * pending and cancel forms, leave of absence, class changes, tracking) add
 * one canonical.encounter event per PID after the patient snapshot of
 * canonical_patient.c: the visit of the PV1 (and PV2) that follows that
 * PID — class, visit number, locations, providers, service, admission and
 * discharge data — plus EVN-3/EVN-4 and, for A06/A07, MRG-5. The event
 * type comes from the table in canonical.c; the status the encounter is
 * in after the event comes from the table below. Registrations (A04),
 * pre-admits (A05) and updates (A08) add the event only when their PV1
 * describes a visit (ART_CANON_RF_IF_VISIT).
 *
 * Rates: one event per ADT message (two for an A17 swap), about forty
 * decoded field reads and one encode on top of the patient event.
 */
#define ART_CANON_INTERNAL
#include "canonical.h"

#include <stdio.h>
#include <string.h>

#include "art.h"

/* Status of the encounter after each event type (FHIR Encounter.status
 * vocabulary); event types not listed leave it null (A08: unknown). */
static const struct {
	const char *event_type;
	const char *status;
} art_canon_enc_status[] = {
	{"encounter.admitted", "in-progress"},
	{"encounter.registered", "in-progress"},
	{"encounter.transferred", "in-progress"},
	{"encounter.discharged", "finished"},
	{"encounter.class_changed", "in-progress"},
	{"encounter.departed", "in-progress"},
	{"encounter.arrived", "in-progress"},
	{"encounter.admit_pending", "planned"},
	{"encounter.transfer_pending", "in-progress"},
	{"encounter.discharge_pending", "in-progress"},
	{"encounter.admit_cancelled", "cancelled"},
	{"encounter.admit_pending_cancelled", "cancelled"},
	{"encounter.transfer_cancelled", "in-progress"},
	{"encounter.discharge_cancelled", "in-progress"},
	{"encounter.transfer_pending_cancelled", "in-progress"},
	{"encounter.discharge_pending_cancelled", "in-progress"},
	{"encounter.arrival_cancelled", "in-progress"},
	{"encounter.departure_cancelled", "in-progress"},
	{"encounter.leave_started", "onleave"},
	{"encounter.leave_ended", "in-progress"},
};

/* HL7 table 0004 (patient class): the display of a class code. */
static const struct {
	char code;
	const char *display;
} art_canon_enc_classes[] = {
	{'E', "Emergency"},         {'I', "Inpatient"},         {'O', "Outpatient"},
	{'P', "Preadmit"},          {'R', "Recurring patient"}, {'B', "Obstetrics"},
	{'C', "Commercial Account"}, {'N', "Not Applicable"},    {'U', "Unknown"},
};

static const char *art_canon_enc_status_of(const char *event_type)
{
	for (size_t i = 0; i < ART_ARRAY_SIZE(art_canon_enc_status); i++) {
		if (strcmp(art_canon_enc_status[i].event_type, event_type) == 0)
			return art_canon_enc_status[i].status;
	}
	return NULL;
}

/* Whether PV1 pv1 describes a visit: a patient class other than N (not
 * applicable), or a visit number. */
static int art_canon_enc_is_visit(struct art_canon_job *job, long pv1)
{
	const char *p;
	size_t len;

	if (pv1 < 0)
		return 0;
	if (art_canon_val(job, (size_t)pv1, 2, 1, 1, 1, &p, &len) == ART_HL7_VALUE &&
	    !(len == 1 && (p[0] == 'N' || p[0] == 'n')))
		return 1;
	return art_canon_val(job, (size_t)pv1, 19, 1, 1, 1, &p, &len) == ART_HL7_VALUE;
}

/* PV1-2 as a Coding: the code as sent, system HL70004 unless stated, and
 * the table's display when the source gave none. */
static void art_canon_enc_class(struct art_canon_job *job, struct art_avro_value *av, size_t pv1)
{
	const char *p;
	size_t len;
	avro_value_t c;
	char code = 0;

	if (art_canon_val(job, pv1, 2, 1, 1, 1, &p, &len) == ART_HL7_VALUE && len == 1)
		code = p[0];
	if (!art_canon_set_coding_in(job, av, NULL, "class", pv1, 2, 1, "HL70004") || !code)
		return;
	if (art_canon_val(job, pv1, 2, 1, 2, 1, &p, &len) == ART_HL7_VALUE ||
	    art_canon_put_rec(av, NULL, "class", &c))
		return;
	for (size_t i = 0; i < ART_ARRAY_SIZE(art_canon_enc_classes); i++) {
		if (art_canon_enc_classes[i].code == code) {
			art_canon_put_cstr(av, &c, "display", art_canon_enc_classes[i].display);
			break;
		}
	}
}

/* The visit fields of PV1 pv1 (and PV2 pv2 when >= 0). */
static void art_canon_enc_visit(struct art_canon_job *job, struct art_avro_value *av, size_t pv1,
				long pv2)
{
	art_canon_enc_class(job, av, pv1);
	art_canon_set_identifier(job, av, NULL, "visit_number", pv1, 19, 1);
	art_canon_set_location(job, av, NULL, "location", pv1, 3, 1);
	art_canon_set_location(job, av, NULL, "prior_location", pv1, 6, 1);
	art_canon_set_location(job, av, NULL, "temporary_location", pv1, 11, 1);
	art_canon_set_location(job, av, NULL, "pending_location", pv1, 42, 1);
	art_canon_add_providers(job, av, NULL, "attending_providers", pv1, 7);
	art_canon_add_providers(job, av, NULL, "referring_providers", pv1, 8);
	art_canon_add_providers(job, av, NULL, "consulting_providers", pv1, 9);
	art_canon_add_providers(job, av, NULL, "admitting_providers", pv1, 17);
	art_canon_set_coding_in(job, av, NULL, "hospital_service", pv1, 10, 1, "HL70069");
	art_canon_set_coding_in(job, av, NULL, "admission_type", pv1, 4, 1, "HL70007");
	art_canon_set_coding_in(job, av, NULL, "admit_source", pv1, 14, 1, "HL70023");
	art_canon_set_coding_in(job, av, NULL, "discharge_disposition", pv1, 36, 1, "HL70112");
	art_canon_set_str(job, av, NULL, "discharged_to", pv1, 37, 1, 1, 1);
	art_canon_set_time(job, av, NULL, "admitted_at", pv1, 44, 1);
	art_canon_set_time(job, av, NULL, "discharged_at", pv1, 45, 1);
	if (pv2 < 0)
		return;
	art_canon_set_coding(job, av, NULL, "admit_reason", (size_t)pv2, 3, 1, 1);
	art_canon_set_time(job, av, NULL, "expected_admit_at", (size_t)pv2, 8, 1);
	art_canon_set_time(job, av, NULL, "expected_discharge_at", (size_t)pv2, 9, 1);
	art_canon_set_time(job, av, NULL, "expected_loa_return_at", (size_t)pv2, 47, 1);
}

/* One canonical.encounter event for the patient group of PID pid. */
static enum art_canon_status art_canon_enc_event(struct art_canon_job *job, size_t pid)
{
	const char *event_type = job->route->event_type, *status;
	size_t end = art_canon_group_end(job, pid);
	long pv1 = art_canon_find_before(job, "PV1", pid + 1, end);
	long pv2 = -1, mrg, evn;
	struct art_avro_value *av;

	if ((job->route->flags & ART_CANON_RF_IF_VISIT) && !art_canon_enc_is_visit(job, pv1))
		return job->fail; /* a registration without a visit: patient event only */
	av = art_canon_begin(job, ART_CANON_D_ENCOUNTER, event_type, (long)pid);
	if (!av)
		return job->fail;
	status = art_canon_enc_status_of(event_type);
	if (status)
		art_canon_put_cstr(av, NULL, "status", status);
	if (pv1 >= 0) {
		pv2 = art_canon_find_before(job, "PV2", (size_t)pv1 + 1, end);
		art_canon_enc_visit(job, av, (size_t)pv1, pv2);
	}
	evn = art_hl7_seg_find(job->msg, "EVN", 0);
	if (evn >= 0) {
		art_canon_set_time(job, av, NULL, "planned_at", (size_t)evn, 3, 1);
		art_canon_set_coding_in(job, av, NULL, "event_reason", (size_t)evn, 4, 1, "HL70062");
	}
	mrg = art_canon_find_before(job, "MRG", pid + 1, end);
	if (mrg >= 0)
		art_canon_set_identifier(job, av, NULL, "prior_visit_number", (size_t)mrg, 5, 1);
	if (job->fail != ART_CANON_MAPPED)
		return job->fail;
	if (art_canon_emit(job, av, event_type))
		return job->fail;
	return ART_CANON_MAPPED;
}

enum art_canon_status art_canon_map_encounter(struct art_canon_job *job)
{
	long pid = art_hl7_seg_find(job->msg, "PID", 0);

	if (pid < 0)
		return art_canon_fail(job, ART_CANON_UNMAPPABLE, "%s: no PID segment", job->trigger);
	for (; pid >= 0; pid = art_hl7_seg_find(job->msg, "PID", (size_t)pid + 1)) {
		enum art_canon_status st = art_canon_enc_event(job, (size_t)pid);

		if (st != ART_CANON_MAPPED)
			return st;
	}
	return ART_CANON_MAPPED;
}
