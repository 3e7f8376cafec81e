/*
 * pcpdecode: libpcp's raw record loop over one archive, the baseline of the
 * decode benchmark: pmFetchArchive for every record, pmExtractValue (to
 * PM_TYPE_DOUBLE) for every numeric value, summed so nothing is optimised
 * away. Descriptors come from pmLookupDesc, once per PMID.
 *
 *   cc -O2 -o pcpdecode bench/pcpdecode.c -lpcp
 *   pcpdecode ARCHIVE [PASSES]
 *
 * Prints one JSON line per pass: records, values, seconds (the loop only;
 * opening the context is not timed) and the sum.
 */
#include <pcp/pmapi.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NSLOT 4096		/* open-addressing PMID -> type table */

static pmID slot_pmid[NSLOT];
static int slot_type[NSLOT];

static int
type_of(pmID pmid)
{
    unsigned h = (pmid * 2654435761u) & (NSLOT - 1);
    pmDesc desc;
    int sts;

    while (slot_pmid[h] != PM_ID_NULL) {
	if (slot_pmid[h] == pmid)
	    return slot_type[h];
	h = (h + 1) & (NSLOT - 1);
    }
    sts = pmLookupDesc(pmid, &desc);
    slot_pmid[h] = pmid;
    slot_type[h] = sts < 0 ? PM_TYPE_NOSUPPORT : desc.type;
    return slot_type[h];
}

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
    int passes = argc > 2 ? atoi(argv[2]) : 1;
    int pass;

    if (argc < 2 || passes < 1) {
	fprintf(stderr, "usage: pcpdecode ARCHIVE [PASSES]\n");
	return 2;
    }
    for (pass = 0; pass < passes; pass++) {
	pmResult *rp;
	uint64_t records = 0, values = 0;
	double sum = 0, t0;
	int ctx, sts, i, j;

	memset(slot_pmid, 0xff, sizeof(slot_pmid));	/* PM_ID_NULL */
	if ((ctx = pmNewContext(PM_CONTEXT_ARCHIVE, argv[1])) < 0) {
	    fprintf(stderr, "pcpdecode: %s: %s\n", argv[1], pmErrStr(ctx));
	    return 1;
	}
	t0 = now();
	while ((sts = pmFetchArchive(&rp)) >= 0) {
	    records++;
	    for (i = 0; i < rp->numpmid; i++) {
		pmValueSet *vsp = rp->vset[i];
		int type;
		if (vsp->numval <= 0)
		    continue;
		type = type_of(vsp->pmid);
		if (type < PM_TYPE_32 || type > PM_TYPE_DOUBLE)
		    continue;	/* STRING, AGGREGATE, EVENT: not samples */
		for (j = 0; j < vsp->numval; j++) {
		    pmAtomValue atom;
		    if (pmExtractValue(vsp->valfmt, &vsp->vlist[j], type, &atom, PM_TYPE_DOUBLE) >= 0) {
			sum += atom.d;
			values++;
		    }
		}
	    }
	    pmFreeResult(rp);
	}
	if (sts != PM_ERR_EOL) {
	    fprintf(stderr, "pcpdecode: %s: %s\n", argv[1], pmErrStr(sts));
	    return 1;
	}
	printf("{\"records\":%" PRIu64 ",\"values\":%" PRIu64 ",\"seconds\":%.6f,\"sum\":%.17g}\n",
	       records, values, now() - t0, sum);
	fflush(stdout);
	pmDestroyContext(ctx);
    }
    return 0;
}
