/* Disparity of a rectified pair with edgegeo's stereo model, from C.
 *
 *   cc stereo.c $(edgegeo capi --cflags) $(edgegeo capi --libs) -o stereo
 *   ./stereo left.ppm right.ppm disparity.f32
 *
 * Reads two binary PPMs (P6, 8-bit RGB, same size), writes the (H, W) float32 disparity of
 * the left view in pixels, row-major. */
#include <stdio.h>
#include <stdlib.h>
#include <edgegeo.h>

static uint8_t *read_ppm(const char *path, int *width, int *height) {
    FILE *in = fopen(path, "rb");
    int maxval;
    if (!in || fscanf(in, "P6 %d %d %d", width, height, &maxval) != 3 || maxval != 255)
        return NULL;
    fgetc(in);
    size_t size = (size_t)*width * *height * 3;
    uint8_t *rgb = malloc(size);
    if (fread(rgb, 1, size, in) != size) { free(rgb); rgb = NULL; }
    fclose(in);
    return rgb;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s left.ppm right.ppm out.f32\n", argv[0]);
        return 2;
    }
    int width, height, right_width, right_height;
    uint8_t *left = read_ppm(argv[1], &width, &height);
    uint8_t *right = read_ppm(argv[2], &right_width, &right_height);
    if (!left || !right || width != right_width || height != right_height) {
        fprintf(stderr, "need two 8-bit binary PPMs of one size\n");
        return 1;
    }
    eg_model *model = eg_model_load("stereo", "torch", NULL);
    if (!model) { fprintf(stderr, "load: %s\n", eg_last_error()); return 1; }
    float *disparity = malloc(sizeof(float) * width * height);
    if (eg_stereo(model, left, right, height, width, 3 * width, disparity) != 0) {
        fprintf(stderr, "stereo: %s\n", eg_last_error());
        return 1;
    }
    if (eg_stereo(model, left, NULL, height, width, 3 * width, disparity) == 0) return 1;
    printf("NULL right: %s\n", eg_last_error());
    eg_model_free(model);
    if (eg_stereo(model, left, right, height, width, 3 * width, disparity) == 0) return 1;
    printf("freed model: %s\n", eg_last_error());
    FILE *out = fopen(argv[3], "wb");
    fwrite(disparity, sizeof(float), (size_t)width * height, out);
    fclose(out);
    eg_shutdown();
    printf("ok %dx%d\n", width, height);
    return 0;
}
