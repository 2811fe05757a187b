/* Relative depth of an image with edgegeo's mono-depth model, from C.
 *
 *   cc mono_depth.c $(edgegeo capi --cflags) $(edgegeo capi --libs) -o mono_depth
 *   ./mono_depth image.ppm disparity.f32
 *
 * Reads a binary PPM (P6, 8-bit RGB), writes the (H, W) float32 disparity row-major.
 * The image rows are passed with a padded stride, as a camera buffer often has. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <edgegeo.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s image.ppm out.f32\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    int width, height, maxval;
    if (!in || fscanf(in, "P6 %d %d %d", &width, &height, &maxval) != 3 || maxval != 255) {
        fprintf(stderr, "cannot read %s as an 8-bit binary PPM\n", argv[1]);
        return 1;
    }
    fgetc(in);                                       /* the single whitespace after maxval */
    int stride = 3 * width + 16;                     /* padded rows */
    uint8_t *rgb = calloc((size_t)stride * height, 1);
    for (int y = 0; y < height; ++y)
        if (fread(rgb + (size_t)y * stride, 3, width, in) != (size_t)width) return 1;
    fclose(in);

    eg_model *model = eg_model_load("mono-depth", "torch", NULL);
    if (!model) { fprintf(stderr, "load: %s\n", eg_last_error()); return 1; }
    float *disparity = malloc(sizeof(float) * width * height);
    if (eg_depth(model, rgb, height, width, stride, disparity) != 0) {
        fprintf(stderr, "depth: %s\n", eg_last_error());
        return 1;
    }
    /* bad arguments are errors with a message, not crashes */
    if (eg_depth(model, NULL, height, width, stride, disparity) == 0) return 1;
    printf("NULL image: %s\n", eg_last_error());
    if (eg_depth(model, rgb, height, width, 2, disparity) == 0) return 1;
    printf("short stride: %s\n", eg_last_error());
    if (eg_model_load("no-such-model", NULL, NULL) != NULL) return 1;
    printf("unknown model: %s\n", eg_last_error());

    FILE *out = fopen(argv[2], "wb");
    fwrite(disparity, sizeof(float), (size_t)width * height, out);
    fclose(out);
    eg_model_free(model);
    eg_shutdown();
    printf("ok %dx%d\n", width, height);
    return 0;
}
