/* Cost of one C call into the embedded runtime: eg_init() does nothing after the first call.
 *   cc call_overhead.c $(edgegeo capi --cflags) $(edgegeo capi --libs) -o call_overhead */
#include <stdio.h>
#include <time.h>
#include <edgegeo.h>

int main(void) {
    if (eg_init() != 0) { fprintf(stderr, "%s\n", eg_last_error()); return 1; }
    const int calls = 100000;
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < calls; ++i) eg_init();
    clock_gettime(CLOCK_MONOTONIC, &end);
    double us = ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / 1e3 / calls;
    printf("%.3f us per call\n", us);
    return 0;
}
