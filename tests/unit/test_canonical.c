/*
 * test_canonical.c — the HL7 v2 → canonical mapping, as a consumer sees
 * it: every produced event is decoded from its wire format with
 * art_avro_decode_json() and the assertions are on those JSON values.
 * Table-driven: the taxonomy per trigger, partition keys and their MR
 * fallbacks, idempotency keys across resends, HL7 times (offsets and
 * precision), "" versus empty, merges, repeated identifiers, OBX value
 * types and the result event types.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"
#include "avro_codec.h"
#include "canonical.h"
#include "hl7.h"
#include "schema.h"

#include "helper_canon.h"

TestSuite(canonical, .init = ct_setup, .fini = ct_teardown);

/* ---- fixtures ----------------------------------------------------------------- */

#define MSH_ADT(trig) "MSH|^~\\&|REG|GENHOSP|ARTERY|ARTERY|20240102133000-0500||ADT^" trig "|CTRL1|P|2.5.1"
#define EVN(trig) "EVN|" trig "|20240102132959-0500"
#define PID_FULL                                                                             \
	"PID|1|EXT9^^^OLD^PI|111-22-3333^^^SSA^SS~4711^^^GENHOSP^MR||Doe^John^Q^Jr^Dr^^L~Smith^J^^^^^A||19650304|M||" \
	"2106-3^White^CDCREC|123 Main St^Apt 4^Springfield^IL^62701^USA^H~PO Box 9^^Springfield^IL^62705^USA^M||" \
	"^PRN^PH^^1^217^5551234^12~^NET^Internet^jd@example.org|(217)555-9999^WPN^PH|en^English^ISO639|M^Married^HL70002||ACC42|||" \
	"|N^Not Hispanic^HL70189|||||||20231231|N"

/* ---- taxonomy ---------------------------------------------------------------- */

Test(canonical, taxonomy_per_trigger)
{
	static const struct {
		const char *type, *trigger;
		enum art_canon_status st;
		const char *event_type;
		const char *topic;
	} cases[] = {
		{"ADT", "A04", ART_CANON_MAPPED, "patient.registered", "canonical.patient"},
		{"ADT", "A28", ART_CANON_MAPPED, "patient.created", "canonical.patient"},
		{"ADT", "A05", ART_CANON_MAPPED, "patient.preadmitted", "canonical.patient"},
		{"ADT", "A08", ART_CANON_MAPPED, "patient.updated", "canonical.patient"},
		{"ADT", "A31", ART_CANON_MAPPED, "patient.updated", "canonical.patient"},
		{"ADT", "A01", ART_CANON_MAPPED, "patient.updated", "canonical.patient"},
		{"ADT", "A02", ART_CANON_MAPPED, "patient.updated", "canonical.patient"},
		{"ADT", "A03", ART_CANON_MAPPED, "patient.updated", "canonical.patient"},
		{"ADT", "A11", ART_CANON_MAPPED, "patient.updated", "canonical.patient"},
		{"ADT", "A13", ART_CANON_MAPPED, "patient.updated", "canonical.patient"},
		{"ADT", "A29", ART_CANON_MAPPED, "patient.deleted", "canonical.patient"},
		{"ADT", "A60", ART_CANON_UNSUPPORTED, NULL, NULL},
		{"ADT", "A41", ART_CANON_UNSUPPORTED, NULL, NULL},
		{"BAR", "P01", ART_CANON_UNSUPPORTED, NULL, NULL},
		{"DFT", "P03", ART_CANON_UNSUPPORTED, NULL, NULL},
		{"ACK", "A01", ART_CANON_UNSUPPORTED, NULL, NULL},
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		char msh[256], evn[64];
		const char *segs[] = {msh, evn, "PID|1||4711^^^GENHOSP^MR||Doe^John", NULL};
		struct ct_mapped m;

		snprintf(msh, sizeof(msh), "MSH|^~\\&|REG|GENHOSP|||20240102||%s^%s|C%zu|P|2.5.1",
			 cases[i].type, cases[i].trigger, i);
		snprintf(evn, sizeof(evn), "EVN|%s|20240102", cases[i].trigger);
		ct_map_segs(&m, segs);
		cr_assert_eq(m.st, cases[i].st, "%s^%s: %s (%s)", cases[i].type, cases[i].trigger,
			     art_canon_status_name(m.st), m.err);
		cr_assert_str_eq(m.res.key, "GENHOSP|4711", "keys even when unsupported");
		if (cases[i].st == ART_CANON_MAPPED) {
			/* encounter-centred triggers add a canonical.encounter event
			 * after this one (test_canonical_domains.c) */
			cr_assert_geq(m.res.cnt, 1);
			cr_assert_str_eq(m.res.events[0].event_type, cases[i].event_type);
			cr_assert_str_eq(m.res.events[0].topic, cases[i].topic);
			ct_assert_str(m.ev[0], "event_type", cases[i].event_type);
			cr_assert_str_eq(art_canon_route(cases[i].type, cases[i].trigger, NULL),
					 cases[i].event_type);
		} else {
			cr_assert_eq(m.res.cnt, 0);
			cr_assert_null(art_canon_route(cases[i].type, cases[i].trigger, NULL));
		}
		ct_unmap(&m);
	}
}

Test(canonical, trigger_from_evn_when_msh9_has_none)
{
	const char *segs[] = {"MSH|^~\\&|REG|GENHOSP|||20240102||ADT|C1|P|2.2", "EVN|A04|20240102",
			      "PID|1||4711^^^GENHOSP^MR||Doe^John", NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	ct_assert_str(m.ev[0], "event_type", "patient.registered");
	ct_assert_str(m.ev[0], "trigger", "ADT^A04");
	ct_unmap(&m);
}

/* ---- envelope ---------------------------------------------------------------- */

Test(canonical, envelope_of_a_registration)
{
	const char *segs[] = {MSH_ADT("A04"), EVN("A04"), PID_FULL, "PV1|1|O", NULL};
	struct ct_mapped m;
	json_t *e;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	/* the registration, then the outpatient visit PV1 describes */
	cr_assert_eq(m.res.cnt, 2);
	cr_assert_str_eq(m.res.events[1].event_type, "encounter.registered");
	e = m.ev[0];
	ct_assert_str(e, "event_id", m.res.events[0].event_id);
	ct_assert_str(e, "idempotency_key", m.res.idempotency_key);
	ct_assert_str(e, "event_type", "patient.registered");
	/* EVN-2 wins over MSH-7 */
	ct_assert_str(e, "occurred_at.original", "20240102132959-0500");
	cr_assert_eq(ct_jint(e, "occurred_at.micros"), 1704220199000000LL);
	cr_assert_eq(ct_jint(e, "occurred_at.utc_offset_minutes"), -300);
	ct_assert_str(e, "occurred_at.precision", "second");
	cr_assert_eq(ct_jint(e, "received_at"), 1700000000000000LL);
	ct_assert_str(e, "source.system", "REG");
	ct_assert_str(e, "source.facility", "GENHOSP");
	ct_assert_str(e, "source.channel", "adt-feed");
	ct_assert_str(e, "source_message_id", "CTRL1");
	ct_assert_str(e, "raw_ref.topic", "raw.hl7v2");
	ct_assert_str(e, "raw_ref.raw_hash", CT_RAW_HASH);
	ct_assert_str(e, "trigger", "ADT^A04");
	cr_assert_eq(m.res.events[0].schema, art_schema_latest(ct_reg, "canonical.patient"));
	cr_assert_str_eq(m.res.key, "GENHOSP|4711");
	ct_unmap(&m);
}

Test(canonical, patient_demographics)
{
	const char *segs[] = {MSH_ADT("A08"), EVN("A08"), PID_FULL, NULL};
	struct ct_mapped m;
	json_t *e;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	e = m.ev[0];
	/* every PID-3 repetition, in order (PID-2 is not used when PID-3 has some) */
	cr_assert_eq(ct_jlen(e, "patient.identifiers"), 2);
	ct_assert_str(e, "patient.identifiers.0.value", "111-22-3333");
	ct_assert_str(e, "patient.identifiers.0.assigning_authority", "SSA");
	ct_assert_str(e, "patient.identifiers.0.type", "SS");
	ct_assert_str(e, "patient.identifiers.1.value", "4711");
	ct_assert_str(e, "patient.identifiers.1.type", "MR");
	/* every PID-5 repetition; given + middle */
	cr_assert_eq(ct_jlen(e, "patient.names"), 2);
	ct_assert_str(e, "patient.names.0.family", "Doe");
	cr_assert_eq(ct_jlen(e, "patient.names.0.given"), 2);
	ct_assert_str(e, "patient.names.0.given.0", "John");
	ct_assert_str(e, "patient.names.0.given.1", "Q");
	ct_assert_str(e, "patient.names.0.suffix", "Jr");
	ct_assert_str(e, "patient.names.0.prefix", "Dr");
	ct_assert_str(e, "patient.names.0.use", "L");
	ct_assert_str(e, "patient.names.1.family", "Smith");
	ct_assert_str(e, "patient.names.1.use", "A");
	ct_assert_str(e, "patient.birth_date", "1965-03-04");
	ct_assert_str(e, "patient.sex", "M");
	/* addresses */
	cr_assert_eq(ct_jlen(e, "addresses"), 2);
	ct_assert_str(e, "addresses.0.lines.0", "123 Main St");
	ct_assert_str(e, "addresses.0.lines.1", "Apt 4");
	ct_assert_str(e, "addresses.0.city", "Springfield");
	ct_assert_str(e, "addresses.0.state", "IL");
	ct_assert_str(e, "addresses.0.postal_code", "62701");
	ct_assert_str(e, "addresses.0.country", "USA");
	ct_assert_str(e, "addresses.0.use", "H");
	ct_assert_str(e, "addresses.1.lines.0", "PO Box 9");
	cr_assert_eq(ct_jlen(e, "addresses.1.lines"), 1);
	/* telecoms: composed number, e-mail, business phone */
	cr_assert_eq(ct_jlen(e, "telecoms"), 3);
	ct_assert_str(e, "telecoms.0.value", "+1 (217) 5551234 x12");
	ct_assert_str(e, "telecoms.0.use", "PRN");
	ct_assert_str(e, "telecoms.0.system", "PH");
	ct_assert_str(e, "telecoms.1.value", "jd@example.org");
	ct_assert_str(e, "telecoms.1.system", "Internet");
	ct_assert_str(e, "telecoms.1.use", "NET");
	ct_assert_str(e, "telecoms.2.value", "(217)555-9999");
	ct_assert_str(e, "telecoms.2.use", "WPN");
	/* codings */
	ct_assert_str(e, "language.code", "en");
	ct_assert_str(e, "language.display", "English");
	ct_assert_str(e, "language.system", "ISO639");
	ct_assert_str(e, "marital_status.code", "M");
	cr_assert_eq(ct_jlen(e, "races"), 1);
	ct_assert_str(e, "races.0.code", "2106-3");
	ct_assert_str(e, "races.0.system", "CDCREC");
	ct_assert_str(e, "ethnic_groups.0.code", "N");
	ct_assert_str(e, "account_number", "ACC42");
	cr_assert(json_is_false(ct_jat(e, "deceased")));
	ct_assert_str(e, "deceased_at.original", "20231231");
	ct_assert_str(e, "deceased_at.precision", "day");
	ct_assert_null(e, "merge");
	cr_assert_eq(ct_jlen(e, "cleared_fields"), 0);
	ct_unmap(&m);
}

Test(canonical, telecom_default_use_and_unformatted)
{
	const char *segs[] = {MSH_ADT("A08"), EVN("A08"),
			      "PID|1||4711^^^GENHOSP^MR||Doe^John||||||||^^PH^^^^^^^^^555 0100|555-0199",
			      NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	cr_assert_eq(ct_jlen(m.ev[0], "telecoms"), 2);
	ct_assert_str(m.ev[0], "telecoms.0.value", "555 0100");
	ct_assert_str(m.ev[0], "telecoms.0.use", "PRN");
	ct_assert_str(m.ev[0], "telecoms.1.value", "555-0199");
	ct_assert_str(m.ev[0], "telecoms.1.use", "WPN");
	ct_assert_null(m.ev[0], "telecoms.1.system");
	ct_unmap(&m);
}

Test(canonical, escapes_and_charset_are_decoded)
{
	const char *segs[] = {
		"MSH|^~\\&|REG|GENHOSP|||20240102||ADT^A08|C1|P|2.5.1|||||||8859/1",
		"PID|1||47\\F\\11^^^GEN\\T\\HOSP^MR||O\\S\\Brien^Ren\xe9||19650304", NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	ct_assert_str(m.ev[0], "patient.identifiers.0.value", "47|11");
	ct_assert_str(m.ev[0], "patient.identifiers.0.assigning_authority", "GEN&HOSP");
	ct_assert_str(m.ev[0], "patient.names.0.family", "O^Brien");
	ct_assert_str(m.ev[0], "patient.names.0.given.0", "Ren\xc3\xa9");
	cr_assert_str_eq(m.res.key, "GEN&HOSP|47|11");
	ct_unmap(&m);
}

/* ---- null versus empty ----------------------------------------------------- */

Test(canonical, explicit_null_is_cleared_and_empty_is_absent)
{
	/* PID-5 family "" (component), PID-7 "" (field), PID-8 empty,
	 * PID-11 "", PID-13 "", PID-29 "" */
	const char *segs[] = {MSH_ADT("A08"), EVN("A08"),
			      "PID|1||4711^^^GENHOSP^MR||\"\"^John||\"\"||||\"\"||\"\"||||||||||||||||\"\"", NULL};
	struct ct_mapped m;
	json_t *e;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	e = m.ev[0];
	ct_assert_null(e, "patient.names.0.family");
	ct_assert_str(e, "patient.names.0.given.0", "John");
	ct_assert_null(e, "patient.birth_date");
	ct_assert_null(e, "patient.sex");
	ct_assert_null(e, "deceased_at");
	cr_assert_eq(ct_jlen(e, "addresses"), 0);
	cr_assert_eq(ct_jlen(e, "telecoms"), 0);
	cr_assert(ct_jhas(e, "cleared_fields", "patient.birth_date"));
	cr_assert(ct_jhas(e, "cleared_fields", "addresses"));
	cr_assert(ct_jhas(e, "cleared_fields", "telecoms.home"));
	cr_assert(ct_jhas(e, "cleared_fields", "deceased_at"));
	cr_assert(!ct_jhas(e, "cleared_fields", "patient.sex"), "empty is not cleared");
	cr_assert(!ct_jhas(e, "cleared_fields", "patient.names"), "a component null is not the field");
	cr_assert_eq(ct_jlen(e, "cleared_fields"), 4);
	{
		char *dump = json_dumps(e, 0);

		cr_assert_null(strstr(dump, "\\\"\\\""), "no literal \"\" anywhere");
		free(dump);
	}
	ct_unmap(&m);
}

/* ---- keys ------------------------------------------------------------------ */

Test(canonical, partition_key_rules)
{
	static const struct {
		const char *pid;
		const char *key;
	} cases[] = {
		/* the MR-typed repetition, wherever it is */
		{"PID|1||111^^^SSA^SS~222^^^HOSP^MR~333^^^HOSP^PI", "HOSP|222"},
		/* type compared case-insensitively */
		{"PID|1||111^^^SSA^SS~222^^^HOSP^mr", "HOSP|222"},
		/* no MR: PI */
		{"PID|1||111^^^SSA^SS~333^^^HOSP^PI", "HOSP|333"},
		/* neither: the first repetition with a value */
		{"PID|1||~111^^^SSA^SS~333^^^HOSP^AN", "SSA|111"},
		/* authority from the universal id when the namespace is empty */
		{"PID|1||444^^^&1.2.3.4&ISO^MR", "1.2.3.4|444"},
		/* no authority at all */
		{"PID|1||555^^^^MR", "|555"},
		/* an MR without a value is skipped */
		{"PID|1||^^^HOSP^MR~666^^^LAB^PI", "LAB|666"},
		/* PID-3 empty: PID-2 (v2.2 and older), then PID-4 */
		{"PID|1|777^^^OLD||", "OLD|777"},
		{"PID|1|||888^^^ALT", "ALT|888"},
		/* no identifier: source + control id */
		{"PID|1||||Doe^John", "REG|C9"},
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		const char *segs[] = {"MSH|^~\\&|REG^1.2.3^ISO|GENHOSP|||20240102||VXU^V04|C9|P|2.5.1",
				      cases[i].pid, NULL};
		struct ct_mapped m;

		ct_map_segs(&m, segs);
		cr_assert_str_eq(m.res.key, cases[i].key, "case %zu: %s", i, cases[i].pid);
		ct_unmap(&m);
	}
}

Test(canonical, keys_without_patient_and_for_unparsed_types)
{
	const char *segs[] = {"MSH|^~\\&|LAB|GENHOSP|||20240102||ACK^A01|ACK77|P|2.5.1",
			      "MSA|AA|C1", NULL};
	struct art_canon_result res;
	char *text = ct_join_segments(segs), err[256];
	struct art_hl7_msg *msg = art_hl7_parse(text, strlen(text), NULL, err, sizeof(err));

	cr_assert_not_null(msg, "%s", err);
	cr_assert_eq(art_canon_keys(msg, &res, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(res.key, "LAB|ACK77");
	cr_assert_eq(strlen(res.idempotency_key), 64);
	cr_assert_eq(res.cnt, 0);
	art_canon_result_free(&res);
	art_hl7_msg_destroy(msg);
	free(text);
}

Test(canonical, idempotency_key_stable_across_resends)
{
	/* a resend: same MSH-3/4/7/10, other receiver, other content */
	const char *a[] = {MSH_ADT("A08"), EVN("A08"), "PID|1||4711^^^GENHOSP^MR||Doe^John", NULL};
	const char *b[] = {"MSH|^~\\&|REG|GENHOSP|OTHER|SITE|20240102133000-0500||ADT^A08|CTRL1|P|2.5.1",
			   EVN("A08"), "PID|1||4711^^^GENHOSP^MR||Doe^Johnny", NULL};
	/* a new message: only the control id differs */
	const char *c[] = {"MSH|^~\\&|REG|GENHOSP|ARTERY|ARTERY|20240102133000-0500||ADT^A08|CTRL2|P|2.5.1",
			   EVN("A08"), "PID|1||4711^^^GENHOSP^MR||Doe^John", NULL};
	/* only the message time differs */
	const char *d[] = {"MSH|^~\\&|REG|GENHOSP|ARTERY|ARTERY|20240102133001-0500||ADT^A08|CTRL1|P|2.5.1",
			   EVN("A08"), "PID|1||4711^^^GENHOSP^MR||Doe^John", NULL};
	/* only the sending facility differs */
	const char *e[] = {"MSH|^~\\&|REG|OTHERHOSP|ARTERY|ARTERY|20240102133000-0500||ADT^A08|CTRL1|P|2.5.1",
			   EVN("A08"), "PID|1||4711^^^GENHOSP^MR||Doe^John", NULL};
	struct ct_mapped ma, mb, mc, md, me;

	ct_map_segs(&ma, a);
	ct_map_segs(&mb, b);
	ct_map_segs(&mc, c);
	ct_map_segs(&md, d);
	ct_map_segs(&me, e);
	cr_assert_eq(ma.st, ART_CANON_MAPPED, "%s", ma.err);
	cr_assert_str_eq(ma.res.idempotency_key, mb.res.idempotency_key);
	cr_assert_str_eq(ma.res.events[0].event_id, mb.res.events[0].event_id);
	cr_assert_str_neq(ma.res.idempotency_key, mc.res.idempotency_key);
	cr_assert_str_neq(ma.res.events[0].event_id, mc.res.events[0].event_id);
	cr_assert_str_neq(ma.res.idempotency_key, md.res.idempotency_key);
	cr_assert_str_neq(ma.res.idempotency_key, me.res.idempotency_key);
	/* lowercase hex sha256; the event id a version-8 UUID */
	for (size_t i = 0; i < 64; i++)
		cr_assert(strchr("0123456789abcdef", ma.res.idempotency_key[i]));
	cr_assert_eq(strlen(ma.res.events[0].event_id), 36);
	cr_assert_eq(ma.res.events[0].event_id[14], '8');
	cr_assert(strchr("89ab", ma.res.events[0].event_id[19]));
	ct_unmap(&ma);
	ct_unmap(&mb);
	ct_unmap(&mc);
	ct_unmap(&md);
	ct_unmap(&me);
}

/* ---- times ------------------------------------------------------------------ */

Test(canonical, hl7_time_parsing)
{
	static const struct {
		const char *in;
		int ok;
		long long micros;
		int has_off, off;
		const char *precision;
	} cases[] = {
		{"2024", 1, 1704067200000000LL, 0, 0, "year"},
		{"202402", 1, 1706745600000000LL, 0, 0, "month"},
		{"20240229", 1, 1709164800000000LL, 0, 0, "day"},
		{"2024022913", 1, 1709211600000000LL, 0, 0, "hour"},
		{"202402291330", 1, 1709213400000000LL, 0, 0, "minute"},
		{"20240229133005", 1, 1709213405000000LL, 0, 0, "second"},
		{"20240229133005.1", 1, 1709213405100000LL, 0, 0, "millisecond"},
		{"20240229133005.123", 1, 1709213405123000LL, 0, 0, "millisecond"},
		{"20240229133005.1234", 1, 1709213405123400LL, 0, 0, "microsecond"},
		{"20240229133005.123456", 1, 1709213405123456LL, 0, 0, "microsecond"},
		{"20240229133005-0500", 1, 1709231405000000LL, 1, -300, "second"},
		{"20240229133005+0530", 1, 1709193605000000LL, 1, 330, "second"},
		{"20240229133005.5+0000", 1, 1709213405500000LL, 1, 0, "millisecond"},
		{"202402291330-0500", 1, 1709231400000000LL, 1, -300, "minute"},
		{"20240229-0500", 1, 1709182800000000LL, 1, -300, "day"},
		{" 20240229 ", 1, 1709164800000000LL, 0, 0, "day"},
		{"19691231235959", 1, -1000000LL, 0, 0, "second"},
		{"20230229", 0, 0, 0, 0, NULL},       /* not a leap year */
		{"20241301", 0, 0, 0, 0, NULL},       /* month 13 */
		{"2024022", 0, 0, 0, 0, NULL},        /* odd digit count */
		{"20240229246000", 0, 0, 0, 0, NULL}, /* hour 24 */
		{"202402291330.5", 0, 0, 0, 0, NULL}, /* fraction without seconds */
		{"20240229133005.", 0, 0, 0, 0, NULL},
		{"20240229133005.1234567", 0, 0, 0, 0, NULL},
		{"20240229133005-05", 0, 0, 0, 0, NULL},
		{"20240229133005+1500", 0, 0, 0, 0, NULL},
		{"2024-02-29", 0, 0, 0, 0, NULL},
		{"0000", 0, 0, 0, 0, NULL},
		{"", 0, 0, 0, 0, NULL},
		{"abc", 0, 0, 0, 0, NULL},
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		struct art_canon_time t;
		int rc = art_canon_parse_time(cases[i].in, strlen(cases[i].in), &t);

		cr_assert_eq(rc == 0, cases[i].ok, "'%s'", cases[i].in);
		if (!cases[i].ok)
			continue;
		cr_assert_eq(t.micros, cases[i].micros, "'%s': %lld", cases[i].in,
			     (long long)t.micros);
		cr_assert_eq(t.has_offset, cases[i].has_off, "'%s'", cases[i].in);
		cr_assert_eq(t.offset_minutes, cases[i].off, "'%s'", cases[i].in);
		cr_assert_str_eq(art_canon_precision_name(t.precision), cases[i].precision, "'%s'",
				 cases[i].in);
	}
}

Test(canonical, occurred_at_from_msh7_without_offset_is_utc_with_null_offset)
{
	const char *segs[] = {"MSH|^~\\&|REG|GENHOSP|||202401021330||ADT^A08|C1|P|2.5.1",
			      "PID|1||4711^^^GENHOSP^MR||Doe^John||196503", NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	cr_assert_eq(ct_jint(m.ev[0], "occurred_at.micros"), 1704202200000000LL);
	ct_assert_null(m.ev[0], "occurred_at.utc_offset_minutes");
	ct_assert_str(m.ev[0], "occurred_at.precision", "minute");
	ct_assert_str(m.ev[0], "occurred_at.original", "202401021330");
	ct_assert_str(m.ev[0], "patient.birth_date", "1965-03");
	ct_unmap(&m);
}

Test(canonical, unparseable_times_are_null_not_errors)
{
	const char *segs[] = {"MSH|^~\\&|REG|GENHOSP|||yesterday||ADT^A08|C1|P|2.5.1",
			      "EVN|A08|2024-01-02", "PID|1||4711^^^GENHOSP^MR||Doe^John||19650231", NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	ct_assert_null(m.ev[0], "occurred_at");
	ct_assert_null(m.ev[0], "patient.birth_date");
	ct_unmap(&m);
}

/* ---- merges ----------------------------------------------------------------- */

Test(canonical, merge_carries_the_prior_identifiers)
{
	const char *segs[] = {MSH_ADT("A40"), EVN("A40"),
			      "PID|1||4711^^^GENHOSP^MR||Doe^John",
			      "MRG|999^^^GENHOSP^MR~888^^^LAB^PI||ACC-OLD", NULL};
	struct ct_mapped m;
	json_t *e;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	cr_assert_eq(m.res.cnt, 1);
	e = m.ev[0];
	ct_assert_str(e, "event_type", "patient.merged");
	ct_assert_str(e, "patient.identifiers.0.value", "4711");
	cr_assert_eq(ct_jlen(e, "merge.prior_identifiers"), 2);
	ct_assert_str(e, "merge.prior_identifiers.0.value", "999");
	ct_assert_str(e, "merge.prior_identifiers.0.assigning_authority", "GENHOSP");
	ct_assert_str(e, "merge.prior_identifiers.0.type", "MR");
	ct_assert_str(e, "merge.prior_identifiers.1.value", "888");
	ct_assert_str(e, "merge.prior_account", "ACC-OLD");
	cr_assert_str_eq(m.res.key, "GENHOSP|4711", "keyed by the survivor");
	ct_unmap(&m);
}

Test(canonical, merge_with_several_pairs_gives_one_event_each)
{
	const char *segs[] = {MSH_ADT("A40"), EVN("A40"),
			      "PID|1||4711^^^GENHOSP^MR||Doe^John", "MRG|999^^^GENHOSP^MR",
			      "PID|2||5000^^^GENHOSP^MR||Roe^Jane", "PD1|", "MRG|6000^^^GENHOSP^MR",
			      NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	cr_assert_eq(m.res.cnt, 2);
	ct_assert_str(m.ev[0], "merge.prior_identifiers.0.value", "999");
	ct_assert_str(m.ev[1], "patient.identifiers.0.value", "5000");
	ct_assert_str(m.ev[1], "merge.prior_identifiers.0.value", "6000");
	cr_assert_str_neq(m.res.events[0].event_id, m.res.events[1].event_id);
	ct_assert_str(m.ev[1], "idempotency_key", m.res.idempotency_key);
	ct_unmap(&m);
}

Test(canonical, merge_without_mrg_is_unmappable)
{
	const char *without[] = {MSH_ADT("A40"), EVN("A40"),
				 "PID|1||4711^^^GENHOSP^MR||Doe^John", NULL};
	const char *empty[] = {MSH_ADT("A34"), EVN("A34"),
			       "PID|1||4711^^^GENHOSP^MR||Doe^John", "MRG|||ACC", NULL};
	const char *second[] = {MSH_ADT("A40"), EVN("A40"),
				"PID|1||4711^^^GENHOSP^MR", "MRG|999^^^GENHOSP^MR",
				"PID|2||5000^^^GENHOSP^MR", NULL};
	struct ct_mapped m;

	ct_map_segs(&m, without);
	cr_assert_eq(m.st, ART_CANON_UNMAPPABLE);
	cr_assert(strstr(m.err, "MRG"), "%s", m.err);
	ct_unmap(&m);
	ct_map_segs(&m, empty);
	cr_assert_eq(m.st, ART_CANON_UNMAPPABLE);
	cr_assert(strstr(m.err, "MRG-1"), "%s", m.err);
	ct_unmap(&m);
	ct_map_segs(&m, second);
	cr_assert_eq(m.st, ART_CANON_UNMAPPABLE, "all or nothing");
	cr_assert_eq(m.res.cnt, 0);
	cr_assert_str_eq(m.res.key, "GENHOSP|4711", "keys are still there for the raw record");
	ct_unmap(&m);
}

/* ---- unmappable ----------------------------------------------------------------- */

Test(canonical, unmappable_messages_say_why)
{
	static const struct {
		const char *segs[5];
		const char *why;
	} cases[] = {
		{{MSH_ADT("A04"), EVN("A04"), "PV1|1|O", NULL}, "no PID"},
		{{MSH_ADT("A04"), EVN("A04"), "PID|1||||Doe^John", NULL}, "no patient identifier"},
		{{MSH_ADT("A04"), EVN("A04"), "PID|1||\"\"||Doe^John", NULL}, "no patient identifier"},
		{{"MSH|^~\\&|LAB|GENHOSP|||20240102||ORU^R01|C1|P|2.5.1",
		  "PID|1||4711^^^GENHOSP^MR", "OBX|1|NM|GLU||5", NULL},
		 "no OBR"},
		{{"MSH|^~\\&|LAB|GENHOSP|||20240102||ORU^R01|C1|P|2.5.1", "OBR|1||F1|GLU",
		  "OBX|1|NM|GLU||5", NULL},
		 "no PID"},
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		struct ct_mapped m;

		ct_map_segs(&m, cases[i].segs);
		cr_assert_eq(m.st, ART_CANON_UNMAPPABLE, "case %zu: %s", i,
			     art_canon_status_name(m.st));
		cr_assert(strstr(m.err, cases[i].why), "case %zu: '%s'", i, m.err);
		cr_assert_eq(m.res.cnt, 0);
		cr_assert_not_null(m.res.key);
		ct_unmap(&m);
	}
}

Test(canonical, undeclared_latin1_reaches_the_record_as_utf8)
{
	/* no MSH-18, not UTF-8: the parser reads 8859/1; the record is UTF-8 */
	const char *segs[] = {MSH_ADT("A08"), "PID|1||4711^^^GENHOSP^MR||M\xfcller^Hans", NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	ct_assert_str(m.ev[0], "patient.names.0.family", "M\xc3\xbcller");
	ct_unmap(&m);
}

/* ---- results -------------------------------------------------------------------- */

#define MSH_ORU "MSH|^~\\&|LAB|GENHOSP|||20240102133000-0500||ORU^R01^ORU_R01|R1|P|2.5.1"
#define PID_ORU "PID|1||4711^^^GENHOSP^MR||Doe^John||19650304|M"

Test(canonical, result_observation_value_types)
{
	const char *segs[] = {
		MSH_ORU, PID_ORU, "PV1|1|O",
		"ORC|RE|PL-1|FI-1",
		"OBR|1|||24331-1^Lipid panel^LN|||20240102120000-0500|||||||||||||||20240102130000-0500|||F",
		"NTE|1||Fasting sample",
		"OBX|1|NM|2093-3^Cholesterol^LN||212.5|mg/dL^milligram per deciliter^UCUM|<200|H~A|||F|||20240102121500-0500",
		"NTE|1||Repeat advised\\.br\\in 3 months",
		"NTE|2||Second note",
		"OBX|2|SN|2160-0^Creatinine^LN||<=^1.2|mg/dL|||||F",
		"OBX|3|SN|5196-1^Titer^LN||^1^:^128||||||F",
		"OBX|4|CWE|8647-2^Result^LN||260385009^Negative^SCT||||||F",
		"OBX|5|ST|COMMENT^Comment^L||Fe\\T\\Ni \\F\\ ok||||||F",
		"OBX|6|TX|REPORT^Report^L||Line one\\.br\\Line two~Line three||||||F",
		"OBX|7|DTM|COLL^Collected^L||20240102110000-0500||||||F",
		"OBX|8|ED|PDF^Report PDF^L||^application^pdf^Base64^JVBERi0x||||||F",
		"OBX|9|NM|X^Bad^L||not-a-number||||||F",
		"ZXT|1|custom",
		NULL};
	struct ct_mapped m;
	json_t *e;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	cr_assert_eq(m.res.cnt, 1);
	cr_assert_str_eq(m.res.events[0].topic, "canonical.result");
	e = m.ev[0];
	ct_assert_str(e, "event_type", "result.final");
	ct_assert_str(e, "trigger", "ORU^R01");
	ct_assert_str(e, "patient.identifiers.0.value", "4711");
	cr_assert_eq(ct_jlen(e, "reports"), 1);
	ct_assert_str(e, "reports.0.placer_order_id", "PL-1");
	ct_assert_str(e, "reports.0.filler_order_id", "FI-1");
	ct_assert_str(e, "reports.0.code.code", "24331-1");
	ct_assert_str(e, "reports.0.code.display", "Lipid panel");
	ct_assert_str(e, "reports.0.code.system", "LN");
	ct_assert_str(e, "reports.0.status", "F");
	cr_assert_eq(ct_jint(e, "reports.0.observed_at.micros"), 1704214800000000LL);
	ct_assert_str(e, "reports.0.reported_at.original", "20240102130000-0500");
	cr_assert_eq(ct_jlen(e, "reports.0.notes"), 1);
	ct_assert_str(e, "reports.0.notes.0", "Fasting sample");
	cr_assert_eq(ct_jlen(e, "reports.0.observations"), 9);

	/* NM */
	cr_assert_eq(ct_jint(e, "reports.0.observations.0.set_id"), 1);
	ct_assert_str(e, "reports.0.observations.0.value_type", "NM");
	ct_assert_str(e, "reports.0.observations.0.code.code", "2093-3");
	cr_assert_float_eq(ct_jreal(e, "reports.0.observations.0.value_number"), 212.5, 1e-9);
	ct_assert_str(e, "reports.0.observations.0.value_text", "212.5");
	ct_assert_str(e, "reports.0.observations.0.units.code", "mg/dL");
	ct_assert_str(e, "reports.0.observations.0.units.system", "UCUM");
	ct_assert_str(e, "reports.0.observations.0.reference_range", "<200");
	cr_assert_eq(ct_jlen(e, "reports.0.observations.0.abnormal_flags"), 2);
	ct_assert_str(e, "reports.0.observations.0.abnormal_flags.0", "H");
	ct_assert_str(e, "reports.0.observations.0.abnormal_flags.1", "A");
	ct_assert_str(e, "reports.0.observations.0.status", "F");
	ct_assert_str(e, "reports.0.observations.0.observed_at.original", "20240102121500-0500");
	cr_assert_eq(ct_jlen(e, "reports.0.observations.0.notes"), 2);
	ct_assert_str(e, "reports.0.observations.0.notes.0", "Repeat advised\nin 3 months");
	ct_assert_str(e, "reports.0.observations.0.notes.1", "Second note");
	/* SN */
	ct_assert_str(e, "reports.0.observations.1.value_comparator", "<=");
	cr_assert_float_eq(ct_jreal(e, "reports.0.observations.1.value_number"), 1.2, 1e-9);
	ct_assert_null(e, "reports.0.observations.1.value_number2");
	ct_assert_null(e, "reports.0.observations.2.value_comparator");
	cr_assert_float_eq(ct_jreal(e, "reports.0.observations.2.value_number"), 1, 1e-9);
	ct_assert_str(e, "reports.0.observations.2.value_separator", ":");
	cr_assert_float_eq(ct_jreal(e, "reports.0.observations.2.value_number2"), 128, 1e-9);
	/* CWE */
	ct_assert_str(e, "reports.0.observations.3.value_coding.code", "260385009");
	ct_assert_str(e, "reports.0.observations.3.value_coding.display", "Negative");
	ct_assert_str(e, "reports.0.observations.3.value_coding.system", "SCT");
	ct_assert_null(e, "reports.0.observations.3.value_number");
	/* ST with escapes */
	ct_assert_str(e, "reports.0.observations.4.value_text", "Fe&Ni | ok");
	/* TX: \.br\ and repetitions are lines */
	ct_assert_str(e, "reports.0.observations.5.value_text", "Line one\nLine two\nLine three");
	/* DTM */
	cr_assert_eq(ct_jint(e, "reports.0.observations.6.value_time.micros"), 1704211200000000LL);
	ct_assert_str(e, "reports.0.observations.6.value_time.precision", "second");
	/* anything else: text */
	ct_assert_str(e, "reports.0.observations.7.value_text", "^application^pdf^Base64^JVBERi0x");
	ct_assert_null(e, "reports.0.observations.7.value_coding");
	/* NM that is not a number: text only */
	ct_assert_null(e, "reports.0.observations.8.value_number");
	ct_assert_str(e, "reports.0.observations.8.value_text", "not-a-number");
	ct_unmap(&m);
}

Test(canonical, result_event_type_rule)
{
	static const struct {
		const char *obr25_1, *obx11_1, *obr25_2, *obx11_2;
		const char *want;
	} cases[] = {
		{"F", "F", "F", "F", "result.final"},
		{"P", "P", "F", "F", "result.preliminary"},
		{"F", "F", "C", "C", "result.corrected"},
		{"F", "C", "F", "F", "result.corrected"}, /* a corrected OBX in a final report */
		{"F", "W", "F", "F", "result.corrected"},
		{"X", "", "X", "", "result.cancelled"},
		{"F", "F", "X", "", "result.final"},      /* final, one test cancelled */
		{"", "F", "", "F", "result.final"},       /* no OBR-25: the OBX-11s */
		{"", "F", "", "P", "result.preliminary"},
		{"", "X", "", "X", "result.cancelled"},
		{"", "", "", "", "result.preliminary"},   /* nothing stated: not known final */
		{"I", "", "A", "F", "result.preliminary"},
		{"R", "R", "F", "F", "result.preliminary"},
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		char obr1[128], obx1[128], obr2[128], obx2[128];
		const char *segs[] = {MSH_ORU, PID_ORU, obr1, obx1, obr2, obx2, NULL};
		struct ct_mapped m;

		snprintf(obr1, sizeof(obr1), "OBR|1||F1|GLU|||20240102||||||||||||||||||%s",
			 cases[i].obr25_1);
		snprintf(obx1, sizeof(obx1), "OBX|1|NM|GLU||5||||||%s", cases[i].obx11_1);
		snprintf(obr2, sizeof(obr2), "OBR|2||F2|NA|||20240102||||||||||||||||||%s",
			 cases[i].obr25_2);
		snprintf(obx2, sizeof(obx2), "OBX|1|NM|NA||140||||||%s", cases[i].obx11_2);
		ct_map_segs(&m, segs);
		cr_assert_eq(m.st, ART_CANON_MAPPED, "case %zu: %s", i, m.err);
		cr_assert_str_eq(m.res.events[0].event_type, cases[i].want, "case %zu", i);
		ct_assert_str(m.ev[0], "event_type", cases[i].want);
		cr_assert_eq(ct_jlen(m.ev[0], "reports"), 2);
		ct_unmap(&m);
	}
}

Test(canonical, result_with_several_patients_and_order_ids_from_orc)
{
	const char *segs[] = {MSH_ORU,
			      "PID|1||4711^^^GENHOSP^MR||Doe^John",
			      "ORC|RE|ORD-1|LAB-1",
			      "OBR|1|||GLU|||20240102||||||||||||||||||F",
			      "OBX|1|NM|GLU||5|||||F",
			      "PID|2||5000^^^GENHOSP^MR||Roe^Jane",
			      "OBR|1|P2|F2|NA|||20240102||||||||||||||||||P",
			      "OBX|1|NM|NA||140|||||P",
			      NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	cr_assert_eq(m.res.cnt, 2);
	ct_assert_str(m.ev[0], "event_type", "result.final");
	ct_assert_str(m.ev[0], "reports.0.placer_order_id", "ORD-1");
	ct_assert_str(m.ev[0], "reports.0.filler_order_id", "LAB-1");
	ct_assert_str(m.ev[1], "event_type", "result.preliminary");
	ct_assert_str(m.ev[1], "patient.identifiers.0.value", "5000");
	ct_assert_str(m.ev[1], "reports.0.placer_order_id", "P2");
	cr_assert_str_eq(m.res.key, "GENHOSP|4711");
	ct_unmap(&m);
}

Test(canonical, oul_r22_maps_reports_and_skips_specimen_observations)
{
	const char *segs[] = {"MSH|^~\\&|LAB|GENHOSP|||20240102||OUL^R22^OUL_R22|U1|P|2.5.1",
			      "PID|1||4711^^^GENHOSP^MR||Doe^John",
			      "SPM|1|S1||BLD",
			      "OBX|1|NM|TEMP^Specimen temp||4|Cel|||||F",
			      "OBR|1|P1|F1|GLU|||20240102",
			      "OBX|1|NM|GLU||5.4|mmol/L|||||F",
			      NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	ct_assert_str(m.ev[0], "event_type", "result.final");
	cr_assert_eq(ct_jlen(m.ev[0], "reports.0.observations"), 1);
	ct_assert_str(m.ev[0], "reports.0.observations.0.code.code", "GLU");
	ct_unmap(&m);
}

Test(canonical, obr_without_obx_maps_an_empty_report)
{
	const char *segs[] = {MSH_ORU, PID_ORU, "OBR|1||F1|GLU|||20240102||||||||||||||||||X", NULL};
	struct ct_mapped m;

	ct_map_segs(&m, segs);
	cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
	ct_assert_str(m.ev[0], "event_type", "result.cancelled");
	cr_assert_eq(ct_jlen(m.ev[0], "reports.0.observations"), 0);
	ct_unmap(&m);
}

/* ---- the reusable mapper ------------------------------------------------------ */

Test(canonical, mapper_reuse_leaks_nothing_between_messages)
{
	const char *full[] = {MSH_ADT("A08"), EVN("A08"), PID_FULL, NULL};
	const char *bare[] = {"MSH|^~\\&|REG|GENHOSP|||20240102||ADT^A08|C2|P|2.5.1",
			      "PID|1||4711^^^GENHOSP^MR", NULL};
	struct art_canon_mapper *mapper = art_canon_mapper_new(ct_reg);
	struct art_canon_ctx ctx = {.reg = ct_reg, .channel = "c", .received_at_us = 1};
	char *t1 = ct_join_segments(full), *t2 = ct_join_segments(bare), err[256];
	struct art_hl7_msg *m1 = art_hl7_parse(t1, strlen(t1), NULL, err, sizeof(err));
	struct art_hl7_msg *m2 = art_hl7_parse(t2, strlen(t2), NULL, err, sizeof(err));
	struct art_canon_result r1, r2, r3;
	json_t *j;

	cr_assert_not_null(mapper);
	cr_assert_eq(art_canon_map_with(mapper, m1, &ctx, &r1, err, sizeof(err)), ART_CANON_MAPPED);
	cr_assert_eq(art_canon_map_with(mapper, m2, &ctx, &r2, err, sizeof(err)), ART_CANON_MAPPED);
	cr_assert_eq(art_canon_map_with(mapper, m1, &ctx, &r3, err, sizeof(err)), ART_CANON_MAPPED);
	/* same message, same mapper state or not: identical bytes */
	cr_assert_eq(r1.events[0].value_len, r3.events[0].value_len);
	cr_assert_eq(memcmp(r1.events[0].value, r3.events[0].value, r1.events[0].value_len), 0);
	cr_assert_eq(art_avro_decode_json(ct_reg, r2.events[0].value, r2.events[0].value_len, &j, NULL,
					  err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(ct_jlen(j, "addresses"), 0);
	cr_assert_eq(ct_jlen(j, "telecoms"), 0);
	cr_assert_eq(ct_jlen(j, "patient.names"), 0);
	ct_assert_null(j, "patient.birth_date");
	ct_assert_null(j, "language");
	ct_assert_null(j, "raw_ref");
	json_decref(j);
	art_canon_result_free(&r1);
	art_canon_result_free(&r2);
	art_canon_result_free(&r3);
	art_hl7_msg_destroy(m1);
	art_hl7_msg_destroy(m2);
	free(t1);
	free(t2);
	art_canon_mapper_destroy(mapper);
}

Test(canonical, every_canonical_schema_is_accepted_by_the_mapper)
{
	/* the mapper's setters need optional fields shaped ["null", T]; a
	 * schema breaking that is refused with ART_CANON_ERROR, never
	 * encoded wrongly: each latest canonical schema must map a message */
	static const char *const msgs[][3] = {
		{"MSH|^~\\&|A|F|||20240102||ADT^A08|1|P|2.5.1", "PID|1||1^^^H^MR", NULL},
		{"MSH|^~\\&|A|F|||20240102||ORU^R01|1|P|2.5.1", "PID|1||1^^^H^MR", "OBR|1||X|GLU"},
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(msgs); i++) {
		const char *segs[] = {msgs[i][0], msgs[i][1], msgs[i][2], NULL};
		struct ct_mapped m;

		ct_map_segs(&m, segs);
		cr_assert_eq(m.st, ART_CANON_MAPPED, "%s", m.err);
		ct_unmap(&m);
	}
}

Test(canonical, result_free_is_null_safe_and_idempotent)
{
	struct art_canon_result res;

	memset(&res, 0, sizeof(res));
	art_canon_result_free(NULL);
	art_canon_result_free(&res);
	art_canon_result_free(&res);
	art_canon_mapper_destroy(NULL);
}
