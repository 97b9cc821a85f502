/*
 * What the fuzz targets share with replay.c: the libFuzzer entry point and an oracle failure
 * that stops the run (libFuzzer saves the input as a crash; replay names the file).
 */
#ifndef TRPC_TESTS_FUZZ_H
#define TRPC_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                                                          \
    do {                                                                                                                           \
        if (!(cond)) {                                                                                                             \
            fprintf(stderr, "%s:%d: oracle failed: %s\n", __FILE__, __LINE__, #cond);                                              \
            abort();                                                                                                               \
        }                                                                                                                          \
    } while (0)

#endif
