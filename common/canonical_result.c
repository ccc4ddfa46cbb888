/*
 * canonical_result.c — ORU^R01 (and OUL^R22) → canonical.result
 * (docs/mapping.md).
 *
 * One event per patient group (a PID and the segments up to the next PID):
 * each OBR a report, each OBX after it an observation with its value typed
 * by OBX-2, NTEs attached to the OBR or OBX right before them. The event
 * type (result.final, .preliminary, .corrected, .cancelled) follows
 * OBR-25 and OBX-11 (docs/events.md). OBX outside an OBR (OUL specimen
 * observations) and segments this version does not model (PV1, SPM, TQ1,
 * CTI, Z-segments) are not mapped; raw_ref points at the message that has
 * them.
 *
 * Rates: lab results run from one to a few hundred OBX; every OBX costs a
 * dozen decoded reads and no allocation beyond the Avro value's own.
 */
#define ART_CANON_INTERNAL
#include "canonical.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"

/* Status counts of one patient group, for the event type. */
struct art_canon_rstat {
	size_t reports;   /* OBRs */
	size_t final;     /* reports whose status is F */
	size_t cancelled; /* reports whose status is X */
	size_t corrected; /* reports with OBR-25 C or an OBX-11 C, W or D */
};

/* Status counts of the current report's OBXs. */
struct art_canon_obxstat {
	char obr;         /* OBR-25 (first letter), 0 when empty */
	size_t obx;       /* OBXs */
	size_t final;     /* OBX-11 F */
	size_t cancelled; /* OBX-11 X */
	size_t corrected; /* OBX-11 C, W, D */
};

/* Folds the current report into the group's counts. */
static void art_canon_report_done(struct art_canon_rstat *rs, const struct art_canon_obxstat *os)
{
	char st = os->obr;

	if (st == 0 && os->obx > 0) {
		if (os->corrected > 0)
			st = 'C';
		else if (os->cancelled == os->obx)
			st = 'X';
		else if (os->final > 0 && os->final + os->cancelled == os->obx)
			st = 'F';
		else
			st = 'P';
	}
	rs->reports++;
	if (st == 'C' || os->corrected > 0)
		rs->corrected++;
	else if (st == 'F')
		rs->final++;
	else if (st == 'X')
		rs->cancelled++;
}

/* The event type of a patient group (rule in docs/events.md). */
static const char *art_canon_result_type(const struct art_canon_rstat *rs)
{
	if (rs->corrected > 0)
		return "result.corrected";
	if (rs->cancelled == rs->reports)
		return "result.cancelled";
	if (rs->final > 0 && rs->final + rs->cancelled == rs->reports)
		return "result.final";
	return "result.preliminary";
}

/* One OBX appended to the report's observations; counts its status. */
static void art_canon_obx(struct art_canon_job *job, struct art_avro_value *av,
			  avro_value_t *report, size_t seg, avro_value_t *obs,
			  struct art_canon_obxstat *os)
{
	const char *p;
	size_t len;

	if (art_canon_add_observation(job, av, report, "observations", seg, obs))
		return;
	os->obx++;
	if (art_canon_val(job, seg, 11, 1, 1, 1, &p, &len) != ART_HL7_VALUE || len == 0)
		return;
	switch (p[0]) {
	case 'F':
		os->final++;
		break;
	case 'X':
		os->cancelled++;
		break;
	case 'C':
	case 'W':
	case 'D':
		os->corrected++;
		break;
	default:
		break;
	}
}

/* One OBR appended to the reports (ORC-2/3 when OBR-2/3 are empty). */
static void art_canon_obr(struct art_canon_job *job, struct art_avro_value *av, size_t seg,
			  long orc, avro_value_t *report, struct art_canon_obxstat *os)
{
	memset(os, 0, sizeof(*os));
	if (art_canon_put_append(av, NULL, "reports", report))
		return;
	if (art_canon_set_str(job, av, report, "placer_order_id", seg, 2, 1, 1, 1) !=
		    ART_HL7_VALUE &&
	    orc >= 0)
		art_canon_set_str(job, av, report, "placer_order_id", (size_t)orc, 2, 1, 1, 1);
	if (art_canon_set_str(job, av, report, "filler_order_id", seg, 3, 1, 1, 1) !=
		    ART_HL7_VALUE &&
	    orc >= 0)
		art_canon_set_str(job, av, report, "filler_order_id", (size_t)orc, 3, 1, 1, 1);
	art_canon_set_coding(job, av, report, "code", seg, 4, 1, 1);
	if (art_canon_set_str(job, av, report, "status", seg, 25, 1, 1, 1) == ART_HL7_VALUE)
		os->obr = job->m->tmp.p[0];
	art_canon_set_time(job, av, report, "observed_at", seg, 7, 1);
	art_canon_set_time(job, av, report, "reported_at", seg, 22, 1);
}

/* The patient group of PID pid, up to segment end (exclusive). */
static enum art_canon_status art_canon_result_group(struct art_canon_job *job, long pid,
						    size_t end, size_t group)
{
	enum { IN_NONE, IN_OBR, IN_OBX } in = IN_NONE;
	struct art_canon_rstat rs = {0};
	struct art_canon_obxstat os = {0};
	struct art_avro_value *av;
	avro_value_t report, obs;
	int have_report = 0;
	long orc = -1;
	const char *type;

	av = art_canon_begin(job, ART_CANON_D_RESULT, "result.preliminary", pid);
	if (!av)
		return job->fail;
	for (size_t s = (size_t)pid + 1; s < end && job->fail == ART_CANON_MAPPED; s++) {
		const char *id = art_hl7_seg_id(job->msg, s);

		if (strcmp(id, "NTE") == 0) {
			if (in == IN_OBR)
				art_canon_add_note(job, av, &report, s);
			else if (in == IN_OBX)
				art_canon_add_note(job, av, &obs, s);
			continue;
		}
		in = IN_NONE;
		if (strcmp(id, "ORC") == 0) {
			orc = (long)s;
		} else if (strcmp(id, "OBR") == 0) {
			if (have_report)
				art_canon_report_done(&rs, &os);
			art_canon_obr(job, av, s, orc, &report, &os);
			have_report = 1;
			orc = -1;
			in = IN_OBR;
		} else if (strcmp(id, "OBX") == 0 && have_report) {
			art_canon_obx(job, av, &report, s, &obs, &os);
			in = IN_OBX;
		} else if (strcmp(id, "SPM") == 0) {
			/* OUL^R22: a specimen starts a new order group */
			if (have_report)
				art_canon_report_done(&rs, &os);
			have_report = 0;
		}
	}
	if (job->fail != ART_CANON_MAPPED)
		return job->fail;
	if (have_report)
		art_canon_report_done(&rs, &os);
	if (rs.reports == 0)
		return art_canon_fail(job, ART_CANON_UNMAPPABLE,
				      "%s: patient %zu has no OBR segment", job->trigger, group);
	type = art_canon_result_type(&rs);
	if (art_canon_emit(job, av, type))
		return job->fail;
	return ART_CANON_MAPPED;
}

enum art_canon_status art_canon_map_result(struct art_canon_job *job)
{
	size_t nseg = art_hl7_seg_count(job->msg), group = 0;
	long pid = art_hl7_seg_find(job->msg, "PID", 0);

	if (pid < 0)
		return art_canon_fail(job, ART_CANON_UNMAPPABLE, "%s: no PID segment", job->trigger);
	if (art_hl7_seg_find(job->msg, "OBR", 0) < 0)
		return art_canon_fail(job, ART_CANON_UNMAPPABLE, "%s: no OBR segment", job->trigger);
	while (pid >= 0) {
		long next = art_hl7_seg_find(job->msg, "PID", (size_t)pid + 1);
		enum art_canon_status st;

		group++;
		st = art_canon_result_group(job, pid, next >= 0 ? (size_t)next : nseg, group);
		if (st != ART_CANON_MAPPED)
			return st;
		pid = next;
	}
	return ART_CANON_MAPPED;
}
