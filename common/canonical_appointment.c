/*
 * canonical_appointment.c — SIU^S12-S26 → canonical.appointment
 * (docs/mapping.md).
 *
 * One event per message (an SIU schedules one appointment, SCH): its ids,
 * status, reason and type, start and end (TQ1, else the deprecated
 * SCH-11), duration, contacts and order numbers; the patient of the first
 * PID (none for blocked or opened slots: the patient is then null); the
 * visit number of the first PV1; and every resource — AIS (service), AIG
 * (general), AIL (location), AIP (personnel) — with the RGS group it is
 * in and the NTEs after it. The event type follows the trigger (table in
 * canonical.c).
 *
 * Rates: a handful of resources per appointment; one encode.
 */
#define ART_CANON_INTERNAL
#include "canonical.h"

#include <stdio.h>
#include <string.h>

#include "art.h"

/* Field numbers of one resource segment kind. */
struct art_canon_ais {
	const char *id;     /* segment id */
	const char *kind;   /* canonical kind */
	size_t code;        /* CWE identifying the resource (0: none) */
	size_t type;        /* CWE of its type / role (0: none) */
	size_t location;    /* PL (0: none) */
	size_t person;      /* XCN (0: none) */
	size_t start;       /* start date/time */
	size_t duration;    /* duration; its units follow */
	size_t status;      /* filler status code */
};

static const struct art_canon_ais art_canon_ais_kinds[] = {
	{"AIS", "service", 3, 0, 0, 0, 4, 7, 10},
	{"AIG", "general", 3, 4, 0, 0, 8, 11, 14},
	{"AIL", "location", 0, 4, 3, 0, 6, 9, 12},
	{"AIP", "personnel", 0, 4, 0, 3, 6, 9, 12},
};

static const struct art_canon_ais *art_canon_ais_kind(const char *id)
{
	for (size_t i = 0; i < ART_ARRAY_SIZE(art_canon_ais_kinds); i++) {
		if (strcmp(art_canon_ais_kinds[i].id, id) == 0)
			return &art_canon_ais_kinds[i];
	}
	return NULL;
}

/* Appends the resource segment seg of kind k, in RGS group `group` (0:
 * outside any RGS), and stores it in *res for its NTEs. */
static void art_canon_resource(struct art_canon_job *job, struct art_avro_value *av, size_t seg,
			       const struct art_canon_ais *k, int32_t group, avro_value_t *res)
{
	if (art_canon_put_append(av, NULL, "resources", res))
		return;
	art_canon_put_cstr(av, res, "kind", k->kind);
	if (group > 0)
		art_canon_put_int(av, res, "group", group);
	if (k->code)
		art_canon_set_coding(job, av, res, "code", seg, k->code, 1, 1);
	if (k->type)
		art_canon_set_coding(job, av, res, "type", seg, k->type, 1, 1);
	if (k->location)
		art_canon_set_location(job, av, res, "location", seg, k->location, 1);
	if (k->person)
		art_canon_set_provider(job, av, res, "person", seg, k->person, 1);
	art_canon_set_time(job, av, res, "start_at", seg, k->start, 1);
	art_canon_set_number(job, av, res, "duration", seg, k->duration, 1, 1);
	art_canon_set_coding(job, av, res, "duration_units", seg, k->duration + 1, 1, 1);
	art_canon_set_str(job, av, res, "status", seg, k->status, 1, 1, 1);
}

/* SCH-11 (TQ) component comp as Timestamp `path`. */
static void art_canon_sch_tq(struct art_canon_job *job, struct art_avro_value *av,
			     const char *path, size_t sch, size_t comp)
{
	const char *p;
	size_t len;

	if (art_canon_val(job, sch, 11, 1, comp, 1, &p, &len) == ART_HL7_VALUE)
		art_canon_set_time_text(job, av, NULL, path, p, len);
}

/* The segments after SCH: its TQ1 and NTEs, then the resources. */
static void art_canon_appointment_body(struct art_canon_job *job, struct art_avro_value *av,
				       size_t sch)
{
	enum { TO_NONE, TO_APPT, TO_RES } notes_to = TO_APPT;
	size_t nseg = art_hl7_seg_count(job->msg);
	int32_t group = 0;
	long tq1 = -1;
	avro_value_t res;

	for (size_t s = sch + 1; s < nseg && job->fail == ART_CANON_MAPPED; s++) {
		const char *id = art_hl7_seg_id(job->msg, s);
		const struct art_canon_ais *k;
		long long n;

		if (strcmp(id, "NTE") == 0) {
			if (notes_to == TO_APPT)
				art_canon_add_note(job, av, NULL, s);
			else if (notes_to == TO_RES)
				art_canon_add_note(job, av, &res, s);
			continue;
		}
		if (strcmp(id, "TQ1") == 0 && notes_to == TO_APPT) {
			if (tq1 < 0)
				tq1 = (long)s;
			continue;
		}
		notes_to = TO_NONE;
		if (strcmp(id, "RGS") == 0) {
			const char *p;
			size_t len;

			/* RGS-1 set id when it is a number, else the position */
			if (art_canon_val(job, s, 1, 1, 1, 1, &p, &len) == ART_HL7_VALUE &&
			    len < 10 && art_parse_int(p, 1, INT32_MAX, &n) == 0)
				group = (int32_t)n;
			else
				group++;
			continue;
		}
		k = art_canon_ais_kind(id);
		if (k) {
			art_canon_resource(job, av, s, k, group, &res);
			notes_to = TO_RES;
		}
	}
	if (tq1 < 0 || !art_canon_set_time(job, av, NULL, "start_at", (size_t)tq1, 7, 1))
		art_canon_sch_tq(job, av, "start_at", sch, 4);
	if (tq1 < 0 || !art_canon_set_time(job, av, NULL, "end_at", (size_t)tq1, 8, 1))
		art_canon_sch_tq(job, av, "end_at", sch, 5);
}

enum art_canon_status art_canon_map_appointment(struct art_canon_job *job)
{
	const char *event_type = job->route->event_type;
	long sch = art_hl7_seg_find(job->msg, "SCH", 0);
	long pid = art_hl7_seg_find(job->msg, "PID", 0);
	long pv1 = art_hl7_seg_find(job->msg, "PV1", 0);
	struct art_avro_value *av;
	size_t s;

	if (sch < 0)
		return art_canon_fail(job, ART_CANON_UNMAPPABLE, "%s: no SCH segment", job->trigger);
	av = art_canon_begin(job, ART_CANON_D_APPOINTMENT, event_type, pid);
	if (!av)
		return job->fail;
	s = (size_t)sch;
	art_canon_set_str(job, av, NULL, "placer_appointment_id", s, 1, 1, 1, 1);
	art_canon_set_str(job, av, NULL, "filler_appointment_id", s, 2, 1, 1, 1);
	art_canon_set_str(job, av, NULL, "occurrence_number", s, 3, 1, 1, 1);
	art_canon_set_str(job, av, NULL, "placer_group_id", s, 4, 1, 1, 1);
	art_canon_set_coding(job, av, NULL, "schedule_id", s, 5, 1, 1);
	art_canon_set_coding(job, av, NULL, "event_reason", s, 6, 1, 1);
	art_canon_set_coding(job, av, NULL, "reason", s, 7, 1, 1);
	art_canon_set_coding(job, av, NULL, "appointment_type", s, 8, 1, 1);
	art_canon_set_number(job, av, NULL, "duration", s, 9, 1, 1);
	art_canon_set_coding(job, av, NULL, "duration_units", s, 10, 1, 1);
	art_canon_set_provider(job, av, NULL, "placer_contact", s, 12, 1);
	art_canon_set_provider(job, av, NULL, "filler_contact", s, 16, 1);
	art_canon_set_provider(job, av, NULL, "entered_by", s, 20, 1);
	art_canon_set_coding(job, av, NULL, "status", s, 25, 1, 1);
	art_canon_set_str(job, av, NULL, "placer_order_id", s, 26, 1, 1, 1);
	art_canon_set_str(job, av, NULL, "filler_order_id", s, 27, 1, 1, 1);
	if (pv1 >= 0)
		art_canon_set_identifier(job, av, NULL, "visit_number", (size_t)pv1, 19, 1);
	art_canon_appointment_body(job, av, s);
	if (job->fail != ART_CANON_MAPPED)
		return job->fail;
	if (art_canon_emit(job, av, event_type))
		return job->fail;
	return ART_CANON_MAPPED;
}
