/*
 * canonical_document.c — MDM^T01-T11 → canonical.document
 * (docs/mapping.md).
 *
 * One event per message (an MDM carries one document, TXA): the
 * document's ids, type, times, people and statuses from TXA; its text
 * from the OBX of type TX, FT and ST (decoded, \.br\ as a newline,
 * repetitions and segments joined with newlines); OBX of type ED
 * (encapsulated data, e.g. a base64 PDF) and RP (a reference pointer) as
 * attachments. Other OBX value types, CON, ORC/OBR and NTE are not mapped
 * (raw_ref). The event type follows the trigger (table in canonical.c).
 *
 * Rates: documents run to a few hundred KB (embedded PDFs); the text is
 * decoded once into the mapper's text buffer, capped at
 * ART_CANON_MAX_VALUE.
 */
#define ART_CANON_INTERNAL
#include "canonical.h"

#include <stdio.h>
#include <string.h>

#include "art.h"

/* One OBX of type ED or RP appended to the attachments. */
static void art_canon_attachment(struct art_canon_job *job, struct art_avro_value *av, size_t seg,
				 int is_ed)
{
	const char *p;
	size_t len;
	avro_value_t att;
	char mt[128];

	if (art_canon_put_append(av, NULL, "attachments", &att))
		return;
	art_canon_put_cstr(av, &att, "kind", is_ed ? "data" : "reference");
	/* ED: application .1, type .2, subtype .3, encoding .4, data .5;
	 * RP: pointer .1, application .2, type .3, subtype .4 */
	if (is_ed) {
		art_canon_set_str(job, av, &att, "application", seg, 5, 1, 1, 1);
		art_canon_set_str(job, av, &att, "encoding", seg, 5, 1, 4, 1);
		art_canon_set_str(job, av, &att, "data", seg, 5, 1, 5, 1);
	} else {
		art_canon_set_str(job, av, &att, "reference", seg, 5, 1, 1, 1);
		art_canon_set_str(job, av, &att, "application", seg, 5, 1, 2, 1);
	}
	/* media type: "type/subtype", or the type alone */
	if (art_canon_val(job, seg, 5, 1, is_ed ? 2 : 3, 1, &p, &len) == ART_HL7_VALUE) {
		int n = snprintf(mt, sizeof(mt), "%.*s", (int)ART_MIN(len, 60), p);

		if (art_canon_val(job, seg, 5, 1, is_ed ? 3 : 4, 1, &p, &len) == ART_HL7_VALUE)
			snprintf(mt + n, sizeof(mt) - (size_t)n, "/%.*s", (int)ART_MIN(len, 60), p);
		art_canon_put_cstr(av, &att, "media_type", mt);
	}
}

/* Text and attachments from the OBX segments after TXA txa. */
static void art_canon_document_content(struct art_canon_job *job, struct art_avro_value *av,
				       size_t txa)
{
	struct art_buf *b = &job->m->text;
	int have_text = 0;

	art_buf_reset(b);
	for (long s = art_hl7_seg_find(job->msg, "OBX", txa + 1);
	     s >= 0 && job->fail == ART_CANON_MAPPED;
	     s = art_hl7_seg_find(job->msg, "OBX", (size_t)s + 1)) {
		const char *p;
		size_t len, n;
		char vt[4] = "";

		if (art_canon_val(job, (size_t)s, 2, 1, 1, 1, &p, &len) == ART_HL7_VALUE && len < 4)
			snprintf(vt, sizeof(vt), "%s", p);
		if (strcmp(vt, "ED") == 0 || strcmp(vt, "RP") == 0) {
			art_canon_attachment(job, av, (size_t)s, vt[0] == 'E');
			continue;
		}
		if (strcmp(vt, "TX") != 0 && strcmp(vt, "FT") != 0 && strcmp(vt, "ST") != 0)
			continue;
		/* one line per OBX (and per repetition), blank lines kept */
		if (have_text && art_buf_putc(b, '\n'))
			break;
		have_text = 1;
		n = art_canon_reps(job, (size_t)s, 5);
		for (size_t r = 1; r <= n; r++) {
			if (r > 1 && art_buf_putc(b, '\n'))
				break;
			art_canon_text(job, (size_t)s, 5, r, 0);
		}
	}
	if (have_text && b->p)
		art_canon_put_str(av, NULL, "text", b->p, b->len);
}

enum art_canon_status art_canon_map_document(struct art_canon_job *job)
{
	const char *event_type = job->route->event_type;
	long txa = art_hl7_seg_find(job->msg, "TXA", 0);
	long pid = art_hl7_seg_find(job->msg, "PID", 0);
	long pv1 = art_hl7_seg_find(job->msg, "PV1", 0);
	struct art_avro_value *av;
	size_t t;

	if (pid < 0)
		return art_canon_fail(job, ART_CANON_UNMAPPABLE, "%s: no PID segment", job->trigger);
	if (txa < 0)
		return art_canon_fail(job, ART_CANON_UNMAPPABLE, "%s: no TXA segment", job->trigger);
	av = art_canon_begin(job, ART_CANON_D_DOCUMENT, event_type, pid);
	if (!av)
		return job->fail;
	t = (size_t)txa;
	art_canon_set_str(job, av, NULL, "document_id", t, 12, 1, 1, 1);
	art_canon_set_str(job, av, NULL, "parent_document_id", t, 13, 1, 1, 1);
	art_canon_set_coding_in(job, av, NULL, "document_type", t, 2, 1, "HL70270");
	art_canon_set_str(job, av, NULL, "content_presentation", t, 3, 1, 1, 1);
	art_canon_set_time(job, av, NULL, "activity_at", t, 4, 1);
	art_canon_set_time(job, av, NULL, "originated_at", t, 6, 1);
	art_canon_set_time(job, av, NULL, "transcribed_at", t, 7, 1);
	art_canon_set_time(job, av, NULL, "edited_at", t, 8, 1);
	art_canon_add_providers(job, av, NULL, "authors", t, 9);
	art_canon_add_providers(job, av, NULL, "authenticators", t, 10);
	art_canon_set_provider(job, av, NULL, "transcriptionist", t, 11, 1);
	art_canon_set_str(job, av, NULL, "placer_order_id", t, 14, 1, 1, 1);
	art_canon_set_str(job, av, NULL, "filler_order_id", t, 15, 1, 1, 1);
	art_canon_set_str(job, av, NULL, "file_name", t, 16, 1, 1, 1);
	art_canon_set_str(job, av, NULL, "completion_status", t, 17, 1, 1, 1);
	art_canon_set_str(job, av, NULL, "confidentiality_status", t, 18, 1, 1, 1);
	art_canon_set_str(job, av, NULL, "availability_status", t, 19, 1, 1, 1);
	art_canon_set_str(job, av, NULL, "storage_status", t, 20, 1, 1, 1);
	art_canon_set_str(job, av, NULL, "change_reason", t, 21, 1, 1, 1);
	if (pv1 >= 0)
		art_canon_set_identifier(job, av, NULL, "visit_number", (size_t)pv1, 19, 1);
	art_canon_document_content(job, av, t);
	if (job->fail != ART_CANON_MAPPED)
		return job->fail;
	if (art_canon_emit(job, av, event_type))
		return job->fail;
	return ART_CANON_MAPPED;
}
