/* Fuse a posed RGB-D sequence into a mesh with edgegeo's gt pipeline, from C.
 *
 *   cc fuse_rgbd.c $(edgegeo capi --cflags) $(edgegeo capi --libs) -o fuse_rgbd
 *   ./fuse_rgbd SEQUENCE_DIR mesh.ply
 *
 * SEQUENCE_DIR holds meta.txt ("frames height width") and frame_NNNN.bin per frame:
 * RGB (H*W*3 uint8), depth (H*W uint16 millimetres), K (9 doubles), world_T_cam (16 doubles,
 * row-major), timestamp (1 double). */
#include <stdio.h>
#include <stdlib.h>
#include <edgegeo.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SEQUENCE_DIR mesh.ply\n", argv[0]);
        return 2;
    }
    char path[4096];
    int frames, height, width;
    snprintf(path, sizeof path, "%s/meta.txt", argv[1]);
    FILE *meta = fopen(path, "r");
    if (!meta || fscanf(meta, "%d %d %d", &frames, &height, &width) != 3) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    fclose(meta);
    size_t pixels = (size_t)height * width;
    uint8_t *rgb = malloc(pixels * 3);
    uint16_t *depth = malloc(pixels * 2);
    double K[9], pose[16], timestamp;

    eg_pipeline *pipeline = eg_pipeline_open("gt", "voxel = 0.04\nmax_depth = 4.0\n");
    if (!pipeline) { fprintf(stderr, "open: %s\n", eg_last_error()); return 1; }
    for (int i = 0; i < frames; ++i) {
        snprintf(path, sizeof path, "%s/frame_%04d.bin", argv[1], i);
        FILE *in = fopen(path, "rb");
        if (!in || fread(rgb, 1, pixels * 3, in) != pixels * 3
                || fread(depth, 2, pixels, in) != pixels || fread(K, 8, 9, in) != 9
                || fread(pose, 8, 16, in) != 16 || fread(&timestamp, 8, 1, in) != 1) {
            fprintf(stderr, "cannot read %s\n", path);
            return 1;
        }
        fclose(in);
        if (eg_pipeline_push_rgbd(pipeline, rgb, depth, height, width, K, pose, timestamp)) {
            fprintf(stderr, "push %d: %s\n", i, eg_last_error());
            return 1;
        }
    }
    if (eg_pipeline_push_rgbd(pipeline, rgb, depth, 0, width, K, pose, 0.0) == 0) return 1;
    printf("zero height: %s\n", eg_last_error());
    if (eg_pipeline_save_mesh(pipeline, argv[2]) != 0) {
        fprintf(stderr, "save: %s\n", eg_last_error());
        return 1;
    }
    eg_pipeline_close(pipeline);
    eg_shutdown();
    printf("ok %d frames -> %s\n", frames, argv[2]);
    return 0;
}
