/*
 * Fuzz target for a stream definition as the store holds it (src/stream_def.c): the bytes are the
 * value of a record, read back at start-up, which a damaged store or another broker may have
 * written. The oracles: decode returns 0 or -EINVAL; a refusal has a non-empty reason; an accepted
 * definition keeps the rules (1 to STREAM_SUBJECTS_MAX valid, non-overlapping subjects of at most
 * the topic limit; retention limits in range), and encoded again it decodes to an equal one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver/topic.h"
#include "src/stream.h"
#include "tests/fuzz/fuzz.h"

#define MAX_TOPIC 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stream_def d, again;
    char why[256] = "", why2[256];
    size_t len = 0;
    char *enc;
    int ret = stream_def_decode("fuzz", data, size, MAX_TOPIC, &d, why, sizeof(why));

    FUZZ_ASSERT(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
    if (ret != 0) {
        FUZZ_ASSERT(why[0] != '\0' && strlen(why) < sizeof(why));
        return 0;
    }
    FUZZ_ASSERT(d.nsubjects >= 1 && d.nsubjects <= STREAM_SUBJECTS_MAX);
    for (unsigned i = 0; i < d.nsubjects; i++) {
        size_t l = strlen(d.subjects[i]);

        FUZZ_ASSERT(l <= MAX_TOPIC && topic_check_pattern(d.subjects[i], l) == 0);
        for (unsigned j = 0; j < i; j++)
            FUZZ_ASSERT(!stream_patterns_overlap(d.subjects[i], l, d.subjects[j], strlen(d.subjects[j])));
    }
    FUZZ_ASSERT(d.lim.max_age_ms <= STREAM_MAX_AGE_MS_MAX && d.lim.discard <= STREAM_DISCARD_NEW);
    enc = stream_def_encode(&d, &len);
    FUZZ_ASSERT(enc != NULL);
    FUZZ_ASSERT(stream_def_decode("fuzz", enc, len, MAX_TOPIC, &again, why2, sizeof(why2)) == 0);
    FUZZ_ASSERT(stream_def_equal(&d, &again) && d.created_ns == again.created_ns);
    free(enc);
    stream_def_free(&again);
    stream_def_free(&d);
    return 0;
}
