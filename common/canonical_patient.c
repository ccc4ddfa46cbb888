/*
 * canonical_patient.c — ADT → canonical.patient (docs/mapping.md).
 *
 * One event per PID segment of the message (one in every ADT structure
 * except A17 swaps, two, and A40-style merges, one per PID/MRG pair): the
 * patient reference (envelope) plus the demographics of PID — addresses,
 * telecoms, language, marital status, races, ethnic groups, account,
 * death — and, for merges, the prior identifiers of MRG-1. Fields the
 * source cleared with "" are listed in cleared_fields.
 *
 * Rates: per ADT message, a few dozen decoded field reads and one encode.
 */
#define ART_CANON_INTERNAL
#include "canonical.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "art.h"

/* PID fields whose "" clears a canonical field (docs/mapping.md). */
static const struct {
	size_t field;
	const char *name;
} art_canon_pid_clearable[] = {
	{5, "patient.names"},   {7, "patient.birth_date"}, {8, "patient.sex"},
	{10, "races"},          {11, "addresses"},         {13, "telecoms.home"},
	{14, "telecoms.business"}, {15, "language"},       {16, "marital_status"},
	{18, "account_number"}, {22, "ethnic_groups"},     {29, "deceased_at"},
	{30, "deceased"},
};

/* Appends prefix + the value at seg/field/rep/comp + suffix to the mapper's
 * text buffer when there is a value. Returns 1 when there was one. */
static int art_canon_tel_part(struct art_canon_job *job, size_t seg, size_t field, size_t rep,
			      size_t comp, const char *prefix, const char *suffix)
{
	const char *p;
	size_t len;
	struct art_buf *b = &job->m->text;

	if (art_canon_val(job, seg, field, rep, comp, 1, &p, &len) != ART_HL7_VALUE)
		return 0;
	if (art_buf_puts(b, prefix) || art_buf_append(b, p, len) || art_buf_puts(b, suffix))
		return 0;
	return 1;
}

/* PID-13 / PID-14 (XTN), every repetition. The value: the e-mail address
 * (XTN.4) for Internet/X.400 equipment or when XTN.1 is empty, else XTN.1,
 * else the unformatted number (XTN.12), else "+country (area) local xext"
 * from XTN.5-8. use = XTN.2, defaulting to PRN (PID-13) / WPN (PID-14). */
static void art_canon_telecoms(struct art_canon_job *job, struct art_avro_value *av, size_t pid,
			       size_t field, const char *default_use)
{
	size_t n = art_canon_reps(job, pid, field);

	for (size_t r = 1; r <= n; r++) {
		struct art_buf *b = &job->m->text;
		const char *p;
		size_t len;
		char equip[32] = "";
		avro_value_t tel;

		if (art_canon_val(job, pid, field, r, 3, 1, &p, &len) == ART_HL7_VALUE)
			snprintf(equip, sizeof(equip), "%.*s", (int)ART_MIN(len, 31), p);
		art_buf_reset(b);
		if (strcasecmp(equip, "Internet") == 0 || strcasecmp(equip, "X.400") == 0)
			art_canon_tel_part(job, pid, field, r, 4, "", "");
		if (b->len == 0)
			art_canon_tel_part(job, pid, field, r, 1, "", "");
		if (b->len == 0)
			art_canon_tel_part(job, pid, field, r, 4, "", "");
		if (b->len == 0)
			art_canon_tel_part(job, pid, field, r, 12, "", "");
		if (b->len == 0 && art_canon_val(job, pid, field, r, 7, 1, &p, &len) == ART_HL7_VALUE) {
			art_canon_tel_part(job, pid, field, r, 5, "+", " ");
			art_canon_tel_part(job, pid, field, r, 6, "(", ") ");
			art_canon_tel_part(job, pid, field, r, 7, "", "");
			art_canon_tel_part(job, pid, field, r, 8, " x", "");
		}
		if (b->len == 0)
			continue;
		if (art_canon_put_append(av, NULL, "telecoms", &tel))
			return;
		art_canon_put_str(av, &tel, "value", b->p, b->len);
		if (equip[0])
			art_canon_put_cstr(av, &tel, "system", equip);
		if (art_canon_set_str(job, av, &tel, "use", pid, field, r, 2, 1) != ART_HL7_VALUE)
			art_canon_put_cstr(av, &tel, "use", default_use);
	}
}

/* PID-11 (XAD), every repetition with something in it. */
static void art_canon_addresses(struct art_canon_job *job, struct art_avro_value *av, size_t pid)
{
	static const struct {
		size_t comp;
		const char *name;
	} parts[] = {{3, "city"}, {4, "state"}, {5, "postal_code"}, {6, "country"}, {7, "use"}};
	size_t n = art_canon_reps(job, pid, 11);

	for (size_t r = 1; r <= n; r++) {
		const char *p;
		size_t len;
		struct art_hl7_span sp;
		avro_value_t addr;

		if (!art_hl7_at(job->msg, pid, 11, r, 0, 0, &sp) || sp.len == 0 ||
		    (sp.len == 2 && sp.p[0] == '"' && sp.p[1] == '"'))
			continue;
		if (art_canon_put_append(av, NULL, "addresses", &addr))
			return;
		/* lines: XAD.1.1 (street or mailing address), XAD.2 (other designation) */
		for (size_t c = 1; c <= 2; c++) {
			if (art_canon_val(job, pid, 11, r, c, 1, &p, &len) == ART_HL7_VALUE)
				art_canon_put_item(av, &addr, "lines", p, len);
		}
		for (size_t k = 0; k < ART_ARRAY_SIZE(parts); k++)
			art_canon_set_str(job, av, &addr, parts[k].name, pid, 11, r, parts[k].comp, 1);
	}
}

/* A repeating CWE field into a Coding array. */
static void art_canon_codings(struct art_canon_job *job, struct art_avro_value *av,
			      const char *path, size_t seg, size_t field)
{
	size_t n = art_canon_reps(job, seg, field);

	for (size_t r = 1; r <= n; r++) {
		const char *p;
		size_t len;
		avro_value_t c;
		int any = 0;

		for (size_t k = 1; k <= 6 && !any; k++)
			any = art_canon_val(job, seg, field, r, k, 1, &p, &len) == ART_HL7_VALUE;
		if (!any)
			continue;
		if (art_canon_put_append(av, NULL, path, &c))
			return;
		art_canon_set_coding(job, av, &c, NULL, seg, field, r, 1);
	}
}

/* One canonical.patient event for PID segment pid (mrg >= 0: a merge). */
static enum art_canon_status art_canon_patient_event(struct art_canon_job *job, long pid,
						     long mrg, const char *event_type)
{
	struct art_avro_value *av;
	const char *p;
	size_t len, seg = (size_t)pid;
	av = art_canon_begin(job, ART_CANON_D_PATIENT, event_type, pid);
	if (!av)
		return job->fail;

	art_canon_addresses(job, av, seg);
	art_canon_telecoms(job, av, seg, 13, "PRN");
	art_canon_telecoms(job, av, seg, 14, "WPN");
	art_canon_set_coding(job, av, NULL, "marital_status", seg, 16, 1, 1);
	art_canon_set_coding(job, av, NULL, "language", seg, 15, 1, 1);
	art_canon_codings(job, av, "races", seg, 10);
	art_canon_codings(job, av, "ethnic_groups", seg, 22);
	art_canon_set_str(job, av, NULL, "account_number", seg, 18, 1, 1, 1);
	if (art_canon_val(job, seg, 30, 1, 1, 1, &p, &len) == ART_HL7_VALUE && len == 1) {
		if (p[0] == 'Y' || p[0] == 'y')
			art_canon_put_bool(av, NULL, "deceased", 1);
		else if (p[0] == 'N' || p[0] == 'n')
			art_canon_put_bool(av, NULL, "deceased", 0);
	}
	art_canon_set_time(job, av, NULL, "deceased_at", seg, 29, 1);

	for (size_t i = 0; i < ART_ARRAY_SIZE(art_canon_pid_clearable); i++) {
		if (art_canon_is_null(job, seg, art_canon_pid_clearable[i].field))
			art_canon_put_item(av, NULL, "cleared_fields",
					   art_canon_pid_clearable[i].name,
					   strlen(art_canon_pid_clearable[i].name));
	}

	if (mrg >= 0) {
		avro_value_t merge;

		if (art_canon_put_rec(av, NULL, "merge", &merge))
			return art_canon_fail(job, ART_CANON_ERROR, "%s: %s", job->trigger,
					      av->err);
		if (art_canon_add_identifiers(job, av, &merge, "prior_identifiers", (size_t)mrg,
					      1) == 0)
			return art_canon_fail(job, ART_CANON_UNMAPPABLE,
					      "%s: MRG-1 has no prior patient identifier",
					      job->trigger);
		art_canon_set_str(job, av, &merge, "prior_account", (size_t)mrg, 3, 1, 1, 1);
	}
	if (job->fail != ART_CANON_MAPPED)
		return job->fail;
	if (art_canon_emit(job, av, event_type))
		return job->fail;
	return ART_CANON_MAPPED;
}

enum art_canon_status art_canon_map_patient(struct art_canon_job *job)
{
	long pid = art_hl7_seg_find(job->msg, "PID", 0);

	if (pid < 0)
		return art_canon_fail(job, ART_CANON_UNMAPPABLE, "%s: no PID segment", job->trigger);
	for (; pid >= 0; pid = art_hl7_seg_find(job->msg, "PID", (size_t)pid + 1)) {
		enum art_canon_status st =
			art_canon_patient_event(job, pid, -1, job->route->event_type);

		if (st != ART_CANON_MAPPED)
			return st;
	}
	return ART_CANON_MAPPED;
}

enum art_canon_status art_canon_map_patient_merge(struct art_canon_job *job)
{
	long pid = art_hl7_seg_find(job->msg, "PID", 0);
	size_t pair = 0;

	if (pid < 0)
		return art_canon_fail(job, ART_CANON_UNMAPPABLE, "%s: no PID segment", job->trigger);
	while (pid >= 0) {
		long next = art_hl7_seg_find(job->msg, "PID", (size_t)pid + 1);
		long mrg = art_hl7_seg_find(job->msg, "MRG", (size_t)pid + 1);
		enum art_canon_status st;

		pair++;
		if (mrg < 0 || (next >= 0 && mrg > next))
			return art_canon_fail(job, ART_CANON_UNMAPPABLE,
					      "%s: PID %zu has no MRG segment", job->trigger, pair);
		st = art_canon_patient_event(job, pid, mrg, job->route->event_type);
		if (st != ART_CANON_MAPPED)
			return st;
		pid = next;
	}
	return ART_CANON_MAPPED;
}
