/* C unit tests of the gateway core: core-tests [vectors.txt] */
#include "check.h"
#include "suites.h"

int main(int argc, char **argv)
{
    suite_frame();
    suite_msg();
    suite_queue();
    suite_gw();
    suite_vectors(argc > 1 ? argv[1] : "vectors.txt");
    return check_done();
}
