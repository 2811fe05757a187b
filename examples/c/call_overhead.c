/* What a C call into the embedded runtime costs:
 *   empty_call_us  eg_init(), which does nothing once started (the C -> Python crossing)
 *   depth_ms       eg_depth on a 192x256 image (median of 15; compare with the Python call)
 *   push_us        eg_pipeline_push_rgbd of a 640x480 RGB-D frame (copy + queue; mean of 6)
 *   cc call_overhead.c $(edgegeo capi --cflags) $(edgegeo capi --libs) -o call_overhead */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <edgegeo.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    if (eg_init() != 0) { fprintf(stderr, "%s\n", eg_last_error()); return 1; }
    const int calls = 100000;
    double start = now_s();
    for (int i = 0; i < calls; ++i) eg_init();
    printf("empty_call_us %.3f\n", (now_s() - start) * 1e6 / calls);

    int height = 192, width = 256;
    uint8_t *rgb = malloc((size_t)height * width * 3);
    for (int i = 0; i < height * width * 3; ++i) rgb[i] = (uint8_t)(i * 7919 % 251);
    float *out = malloc(sizeof(float) * height * width);
    eg_model *model = eg_model_load("mono-depth", "torch", NULL);
    if (!model) { fprintf(stderr, "%s\n", eg_last_error()); return 1; }
    double times[15];
    eg_depth(model, rgb, height, width, 3 * width, out);               /* warm-up */
    for (int i = 0; i < 15; ++i) {
        start = now_s();
        if (eg_depth(model, rgb, height, width, 3 * width, out)) return 1;
        times[i] = now_s() - start;
    }
    qsort(times, 15, sizeof(double), by_value);
    printf("depth_ms %.3f\n", times[7] * 1e3);

    height = 480; width = 640;
    uint8_t *frame = calloc((size_t)height * width * 3, 1);
    uint16_t *depth = calloc((size_t)height * width, 2);
    double K[9] = {500, 0, 319.5, 0, 500, 239.5, 0, 0, 1};
    double pose[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    eg_pipeline *pipeline = eg_pipeline_open("gt", "fuse = false\nqueue = 8\n");
    if (!pipeline) { fprintf(stderr, "%s\n", eg_last_error()); return 1; }
    start = now_s();
    for (int i = 0; i < 6; ++i)
        if (eg_pipeline_push_rgbd(pipeline, frame, depth, height, width, K, pose, i / 30.0))
            return 1;
    printf("push_us %.1f\n", (now_s() - start) * 1e6 / 6);
    eg_pipeline_close(pipeline);
    eg_model_free(model);
    eg_shutdown();
    return 0;
}
