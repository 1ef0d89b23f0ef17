#include "check.h"

int check_failures;
static int tests, failed;

void check_run(const char *name, void (*test)(void))
{
    check_failures = 0;
    test();
    tests++;
    if (check_failures) {
        failed++;
        printf("not ok %d - %s\n", tests, name);
    } else {
        printf("ok %d - %s\n", tests, name);
    }
    fflush(stdout);
}

int check_done(void)
{
    printf("1..%d\n# %d tests, %d passed, %d failed\n", tests, tests, tests - failed, failed);
    return failed ? 1 : 0;
}
