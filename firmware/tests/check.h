/* A minimal test runner: CHECK() records a failure and goes on, RUN() runs one test
 * and prints a TAP line ("ok 3 - frame/crc_check_value"), check_done() prints the
 * plan and the closing line "# N tests, N passed, 0 failed" and returns the exit
 * status. */
#ifndef CHECK_H
#define CHECK_H

#include <stdbool.h>
#include <stdio.h>

extern int check_failures; /* in the current test */

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            check_failures++;                                                              \
            printf("#   %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);            \
        }                                                                                  \
    } while (0)

#define CHECK_EQ(a, b)                                                                     \
    do {                                                                                   \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                    \
        if (check_a_ != check_b_) {                                                        \
            check_failures++;                                                              \
            printf("#   %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, \
                   check_a_, check_b_);                                                    \
        }                                                                                  \
    } while (0)

void check_run(const char *name, void (*test)(void));
#define RUN(suite, fn) check_run(suite "/" #fn, fn)

/* Print the plan and the closing line; return 0 if everything passed. */
int check_done(void);

#endif
